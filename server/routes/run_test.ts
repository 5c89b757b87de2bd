import assert from "node:assert/strict";
import { decodeResult } from "../../client/formats/mod.ts";
import { VectorTile } from "@mapbox/vector-tile";
import { PbfReader } from "pbf";
import { metadataOf, runBody, saveUdf, shareUdf, udfJson, withServer } from "../_testing.ts";

const RT = "/realtime/local/api/v1/run/udf";
const DOUBLE = udfJson(
  "double",
  `export default function udf({ n = 1 }: { n?: number }) {
  console.log("doubling", n);
  return { n: n * 2 };
}`,
);
const TABLE = udfJson(
  "table",
  `import { tableFromArrays } from "apache-arrow";
export default function udf({ rows = 3 }: { rows?: number }) {
  return tableFromArrays({ id: Int32Array.from({ length: rows }, (_, i) => i) });
}`,
);
const SLOW = udfJson(
  "slow",
  `export default async function udf({ ms = 1500 }: { ms?: number }) {
  await new Promise((r) => setTimeout(r, ms));
  return "done";
}`,
);

Deno.test("code-included runs answer results with logs in x-fused-metadata", async (t) => {
  await withServer(async (server) => {
    await t.step("POST /run/udf/start answers 200 with the result when it is quick", async () => {
      const res = await server.api(`${RT}/start?n=21`, { method: "POST", json: runBody(DOUBLE) });
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { n: 42 });
      const meta = metadataOf(res);
      assert.equal(meta.stdout, "doubling 21\n");
      assert.equal(meta.has_exception, false);
      assert.equal(typeof meta.time_taken_ms, "number");
    });
    await t.step("the same run again comes from the cache and says so", async () => {
      const res = await server.api(`${RT}/start?n=21`, { method: "POST", json: runBody(DOUBLE) });
      assert.deepEqual(await res.json(), { n: 42 });
      assert.equal(res.headers.get("x-fused-cached"), "true");
    });
    await t.step("cache_max_age=0 runs again", async () => {
      const res = await server.api(`${RT}?n=21&cache_max_age=0`, {
        method: "POST",
        json: runBody(DOUBLE),
      });
      assert.deepEqual(await res.json(), { n: 42 });
      assert.equal(res.headers.get("x-fused-cached"), null);
    });
    await t.step("parameters in the JSON body reach the UDF as well", async () => {
      const res = await server.api(RT, { method: "POST", json: runBody(DOUBLE, { n: 5 }) });
      assert.deepEqual(await res.json(), { n: 10 });
    });
    await t.step("a table comes back as Parquet that decodes to the same rows", async () => {
      const res = await server.api(`${RT}?rows=4`, { method: "POST", json: runBody(TABLE) });
      assert.equal(res.headers.get("content-type"), "application/octet-stream");
      const table = await decodeResult(
        new Uint8Array(await res.arrayBuffer()),
        res.headers.get("content-type")!,
      ) as { numRows: number };
      assert.equal(table.numRows, 4);
    });
    await t.step("format=csv picks CSV for a table", async () => {
      const res = await server.api(`${RT}?rows=2`, {
        method: "POST",
        json: runBody(TABLE, { format: "csv" }),
      });
      assert.match(res.headers.get("content-type")!, /text\/csv/);
      assert.equal((await res.text()).trim().split("\n").length, 3);
    });
    await t.step("an unknown format is a 400 listing the known ones", async () => {
      const res = await server.api(RT, {
        method: "POST",
        json: runBody(TABLE, { format: "xlsx" }),
      });
      assert.equal(res.status, 400);
      assert.match((await res.json()).detail, /Unknown format "xlsx"/);
    });
  });
});

Deno.test("a slow run answers 202 and is collected by polling its run id", async () => {
  await withServer(async (server) => {
    const runId = crypto.randomUUID();
    const start = await server.api(`${RT}/start?cache_max_age=0`, {
      method: "POST",
      json: runBody(SLOW),
      headers: { "fused-run-id": runId },
    });
    assert.equal(start.status, 202);
    assert.equal((await start.json()).run_id, runId);
    let res: Response | undefined;
    for (let i = 0; i < 20; i++) {
      res = await server.api(`${RT}/get/${runId}`);
      if (res.status !== 202) break;
      await res.body?.cancel();
    }
    assert.equal(res?.status, 200);
    assert.equal(await res!.text(), "done");
    const unknown = await server.api(`${RT}/get/${crypto.randomUUID()}`);
    assert.equal(unknown.status, 404);
    assert.match((await unknown.json()).detail, /No run/);
  }, { startWaitMs: 200 });
});

Deno.test("tile runs receive bounds and carry ETag and Cache-Control, honouring If-None-Match", async () => {
  await withServer(async (server) => {
    const tileUdf = udfJson(
      "bounds",
      "export default function udf({ bounds }: { bounds: number[] }) { return bounds }",
      {
        cache_max_age: 600,
      },
    );
    const res = await server.api(`${RT}/tiles/1/0/0`, { method: "POST", json: runBody(tileUdf) });
    assert.equal(res.status, 200);
    const bounds = await res.json();
    assert.equal(bounds[0], -180);
    assert.equal(bounds[2], 0);
    assert.equal(res.headers.get("cache-control"), "max-age=600");
    const etag = res.headers.get("etag");
    assert.ok(etag);
    const again = await server.api(`${RT}/tiles/1/0/0`, {
      method: "POST",
      json: runBody(tileUdf),
      headers: { "if-none-match": etag! },
    });
    assert.equal(again.status, 304);
    await again.body?.cancel();
    const bad = await server.api(`${RT}/tiles/1/2/0`, { method: "POST", json: runBody(tileUdf) });
    assert.equal(bad.status, 400);
    assert.match((await bad.json()).detail, /x must be an integer from 0 to 1/);
  });
});

Deno.test("saved UDFs run by owner and name, and only for those allowed to read them", async () => {
  await withServer(async (server) => {
    await saveUdf(server, "double", DOUBLE.code as string);
    const byEmail = await server.api(`${RT}/saved/admin@localhost/double?n=4`);
    assert.deepEqual(await byEmail.json(), { n: 8 });
    const byHandle = await server.api(`${RT}/saved/admin/double/tiles/0/0/0?n=5`);
    assert.deepEqual(await byHandle.json(), { n: 10 });
    assert.ok(byHandle.headers.get("etag"));
    const missing = await server.api(`${RT}/saved/admin/nothing`);
    assert.equal(missing.status, 404);
    await server.api("/admin/users", { method: "POST", json: { email: "eve@x.org" } });
    const { access_token } =
      await (await server.api("/admin/tokens", { method: "POST", json: { email: "eve@x.org" } }))
        .json();
    const denied = await server.api(`${RT}/saved/admin/double`, { token: access_token });
    assert.equal(denied.status, 403);
    const otherInstance = await server.api("/realtime/elsewhere/api/v1/run/udf/saved/admin/double");
    assert.equal(otherInstance.status, 404);
    assert.match((await otherInstance.json()).detail, /Unknown realtime instance/);
  });
});

const PY_POINTS = `import geopandas as gpd
from shapely.geometry import Point

@fused.udf
def udf(bounds: fused.types.TileGDF = None, label: str = "center"):
    w, s, e, n = bounds.total_bounds
    return gpd.GeoDataFrame({"label": [label, "quarter"]},
                            geometry=[Point((w + e) / 2, (s + n) / 2), Point(w + (e - w) / 4, s + (n - s) / 4)],
                            crs="EPSG:4326")
`;

Deno.test("a Python UDF runs on the service: JSON results, and its GeoDataFrame as MVT tiles", async () => {
  await withServer(async (server) => {
    const py = {
      ...udfJson(
        "py",
        "@fused.udf\ndef udf(n: int = 1):\n    print('n is', n)\n    return {'n': n * 2}\n",
      ),
      type: "geopandas_v2",
      entrypoint: "udf",
    };
    const res = await server.api(`${RT}?n=21`, { method: "POST", json: runBody(py) });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { n: 42 });
    assert.equal(metadataOf(res).stdout, "n is 21\n");
    const body = { ...udfJson("py_points", PY_POINTS), type: "geopandas_v2", entrypoint: "udf" };
    const created = await server.api("/udf/new", {
      method: "POST",
      json: { slug: "py_points", udf_body: JSON.stringify(body) },
    });
    assert.equal(created.status, 201);
    const token = await shareUdf(server, (await created.json()).id);
    const tileRes = await fetch(`${server.url}/${token}/run/tiles/2/1/1?format=mvt&label=mid`);
    assert.equal(tileRes.status, 200, await tileRes.clone().text());
    assert.equal(tileRes.headers.get("content-type"), "application/vnd.mapbox-vector-tile");
    const layer = new VectorTile(new PbfReader(new Uint8Array(await tileRes.arrayBuffer())))
      .layers.udf;
    assert.equal(layer.length, 2);
    const labels = [layer.feature(0).properties.label, layer.feature(1).properties.label].sort();
    assert.deepEqual(labels, ["mid", "quarter"]);
  });
});

Deno.test("a Python UDF on the service runs and loads a saved TypeScript UDF as its caller", async () => {
  await withServer(async (server) => {
    await saveUdf(server, "double", DOUBLE.code as string);
    const py = {
      ...udfJson(
        "calls_ts",
        "@fused.udf\ndef udf(n: int = 1):\n    loaded = fused.load('double')\n" +
          "    return [fused.run('double', n=n), fused.run(loaded, n=n + 1), loaded.name]\n",
      ),
      type: "geopandas_v2",
      entrypoint: "udf",
    };
    const res = await server.api(`${RT}?n=4`, { method: "POST", json: runBody(py) });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), [{ n: 8 }, { n: 10 }, "double"]);
    const missing = {
      ...py,
      code: "@fused.udf\ndef udf():\n    return fused.run('nothing_saved')\n",
    };
    const refused = await server.api(RT, { method: "POST", json: runBody(missing) });
    assert.equal(refused.status, 422);
    assert.match((await refused.json()).detail, /line 3.*nothing_saved/s);
  });
});

Deno.test("a batch job of a JSON chart node is refused as a JSON document, not as Python code", async () => {
  await withServer(async (server) => {
    const chart = {
      ...udfJson("chart", '{"$schema": "https://vega.github.io/schema/vega-lite/v5.json"}'),
      type: "geopandas_v2",
    };
    const res = await server.api("/run", {
      method: "POST",
      json: { config: { steps: [{ type: "udf", udf: chart }] } },
    });
    assert.equal(res.status, 400);
    const detail = String((await res.json()).detail);
    assert.match(detail, /^Step 1: UDF "chart" is a JSON document/);
    assert.doesNotMatch(detail, /Python/);
  });
});
