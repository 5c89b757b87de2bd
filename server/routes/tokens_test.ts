import assert from "node:assert/strict";
import { VectorTile } from "@mapbox/vector-tile";
import { PbfReader } from "pbf";
import type { Table } from "apache-arrow";
import { decodeResult } from "../../client/formats/mod.ts";
import { metadataOf, saveUdf, shareUdf, withServer } from "../_testing.ts";

const COUNTER = `let calls = 0;
export default function udf({ name = "x" }: { name?: string }) {
  calls += 1;
  console.log("call", calls);
  return { hello: name };
}`;

const POINTS = `import { Binary, Table, vectorFromArray } from "apache-arrow";
function point(x: number, y: number): Uint8Array {
  const bytes = new Uint8Array(21);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, 1);
  view.setUint32(1, 1, true);
  view.setFloat64(5, x, true);
  view.setFloat64(13, y, true);
  return bytes;
}
export default function udf({ bounds }: { bounds: number[] }) {
  const [w, s, e, n] = bounds;
  return new Table({
    label: vectorFromArray(["center", "quarter"]),
    geometry: vectorFromArray([point((w + e) / 2, (s + n) / 2), point(w + (e - w) / 4, s + (n - s) / 4)], new Binary()),
  });
}`;

Deno.test("share tokens are created, listed, read, updated and deleted by their owner", async (t) => {
  await withServer(async (server) => {
    const saved = await saveUdf(server, "hello", COUNTER);
    let token = "";
    await t.step(
      "POST /udf-access-token/new by slug makes an fsh_ token for that UDF",
      async () => {
        const res = await server.api("/udf-access-token/new", {
          method: "POST",
          json: { udf_slug: "hello" },
        });
        assert.equal(res.status, 201);
        const body = await res.json();
        token = body.token;
        assert.match(token, /^fsh_/);
        assert.equal(body.udf_id, saved.id);
        assert.equal(body.udf_email, "admin@localhost");
        assert.equal(body.cache, true);
      },
    );
    await t.step("GET /udf-access-token/self lists it", async () => {
      const list = await (await server.api("/udf-access-token/self")).json();
      assert.deepEqual(list.map((x: { token: string }) => x.token), [token]);
    });
    await t.step("POST by-token updates fields and GET by-token shows them", async () => {
      const res = await server.api(`/udf-access-token/by-token/${token}`, {
        method: "POST",
        json: { cache: false, metadata_json: { a: 1 } },
      });
      assert.equal(res.status, 200);
      const got = await (await server.api(`/udf-access-token/by-token/${token}`)).json();
      assert.equal(got.cache, false);
      assert.deepEqual(got.metadata_json, { a: 1 });
    });
    await t.step("bad create bodies and unknown UDFs are refused with a reason", async () => {
      const empty = await server.api("/udf-access-token/new", { method: "POST", json: {} });
      assert.equal(empty.status, 400);
      assert.match((await empty.json()).detail, /udf_id/);
      const unknown = await server.api("/udf-access-token/new", {
        method: "POST",
        json: { udf_id: crypto.randomUUID() },
      });
      assert.equal(unknown.status, 404);
      const wrongType = await server.api(`/udf-access-token/by-token/${token}`, {
        method: "POST",
        json: { enabled: "yes" },
      });
      assert.equal(wrongType.status, 400);
      assert.match((await wrongType.json()).detail, /enabled/);
    });
    await t.step("DELETE by-token removes it and the token no longer runs", async () => {
      const res = await server.api(`/udf-access-token/by-token/${token}`, { method: "DELETE" });
      assert.equal((await res.json()).token, token);
      const run = await fetch(`${server.url}/${token}/run/file`);
      assert.equal(run.status, 404);
      assert.match((await run.json()).detail, /Unknown share token/);
    });
  });
});

Deno.test("token URLs run their UDF without authentication, at the root and under /v1", async (t) => {
  await withServer(async (server) => {
    const saved = await saveUdf(server, "hello", COUNTER);
    const token = await shareUdf(server, saved.id);
    await t.step("/{token}/run/file passes query parameters", async () => {
      const res = await fetch(`${server.url}/${token}/run/file?name=ann`);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { hello: "ann" });
      assert.equal(metadataOf(res).stdout, "call 1\n");
    });
    await t.step("the same URL under /v1/realtime-shared is served from the cache", async () => {
      const res = await fetch(`${server.baseUrl}/realtime-shared/${token}/run/file?name=ann`);
      assert.deepEqual(await res.json(), { hello: "ann" });
      assert.equal(res.headers.get("x-fused-cached"), "true");
      assert.ok(res.headers.get("etag"));
      assert.match(res.headers.get("cache-control")!, /^max-age=\d+$/);
    });
    await t.step("If-None-Match with the ETag gets 304", async () => {
      const first = await fetch(`${server.url}/${token}/run?name=bo`);
      const etag = first.headers.get("etag")!;
      await first.body?.cancel();
      const second = await fetch(`${server.url}/${token}/run?name=bo`, {
        headers: { "if-none-match": etag },
      });
      assert.equal(second.status, 304);
      await second.body?.cancel();
    });
    await t.step("/{token}.json picks the format by extension", async () => {
      const res = await fetch(`${server.url}/${token}.json?name=cy`);
      assert.equal(res.headers.get("content-type"), "application/json");
      assert.deepEqual(await res.json(), { hello: "cy" });
      const badExt = await fetch(`${server.url}/${token}.xlsx`);
      assert.equal(badExt.status, 400);
      assert.match((await badExt.json()).detail, /Unknown format "xlsx"/);
    });
    await t.step("deleting the UDF cache makes the next run compute again", async () => {
      const del = await server.api(`/realtime-shared/local/udf-cache/by-id/${saved.id}/delete`, {
        method: "DELETE",
      });
      assert.equal(del.status, 200);
      assert.ok((await del.json()).removed >= 1);
      const res = await fetch(`${server.url}/${token}/run/file?name=ann`);
      assert.equal(res.headers.get("x-fused-cached"), null);
      await res.body?.cancel();
    });
    await t.step("a disabled token is a 403 and an unknown one a 404", async () => {
      await server.api(`/udf-access-token/by-token/${token}`, {
        method: "POST",
        json: { enabled: false },
      });
      const disabled = await fetch(`${server.url}/${token}/run/file`);
      assert.equal(disabled.status, 403);
      assert.match((await disabled.json()).detail, /disabled/);
      const unknown = await fetch(`${server.url}/fsh_${"0".repeat(40)}/run/file`);
      assert.equal(unknown.status, 404);
      await unknown.body?.cancel();
    });
    await t.step("a deleted token stops answering at once, a memoized URL included", async () => {
      const doomed = await shareUdf(server, saved.id);
      const url = `${server.url}/${doomed}.json?name=rv`;
      for (let i = 0; i < 2; i++) {
        const res = await fetch(url);
        assert.equal(res.status, 200);
        assert.deepEqual(await res.json(), { hello: "rv" });
      }
      const del = await server.api(`/udf-access-token/by-token/${doomed}`, { method: "DELETE" });
      assert.equal(del.status, 200);
      await del.body?.cancel();
      const gone = await fetch(url);
      assert.equal(gone.status, 404);
      assert.match((await gone.json()).detail, /deleted or never existed/);
    });
    await t.step("a token with cache off always runs afresh", async () => {
      const uncached = await shareUdf(server, saved.id, { cache: false });
      for (let i = 0; i < 2; i++) {
        const res = await fetch(`${server.url}/${uncached}/run/file?name=zed`);
        assert.equal(res.headers.get("x-fused-cached"), null);
        assert.equal(res.headers.get("cache-control"), "no-cache");
        await res.body?.cancel();
      }
    });
    await t.step("a public-listed UDF runs as UDF_<name> without a token", async () => {
      await saveUdf(server, "open", COUNTER, { allow_public_list: true });
      const res = await fetch(`${server.url}/UDF_open/run/file?name=pub`);
      assert.deepEqual(await res.json(), { hello: "pub" });
    });
  });
});

Deno.test("a tile token URL with format=mvt answers a vector tile that a Mapbox decoder reads", async () => {
  await withServer(async (server) => {
    const saved = await saveUdf(server, "points", POINTS);
    const token = await shareUdf(server, saved.id);
    const res = await fetch(`${server.url}/${token}/run/tiles/2/1/1?format=mvt`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/vnd.mapbox-vector-tile");
    const tile = new VectorTile(new PbfReader(new Uint8Array(await res.arrayBuffer())));
    const layer = tile.layers.udf;
    assert.equal(layer.length, 2);
    const labels = [layer.feature(0).properties.label, layer.feature(1).properties.label].sort();
    assert.deepEqual(labels, ["center", "quarter"]);
    const notTile = await fetch(`${server.url}/${token}.mvt`);
    assert.equal(notTile.status, 400);
    assert.match((await notTile.json()).detail, /MVT output needs a tile/);
  });
});

const FEATURES = `export default function udf({ bounds = [0, 0, 10, 10] }: { bounds?: number[] }) {
  const [w, s, e, n] = bounds;
  return {
    type: "FeatureCollection",
    features: [{
      type: "Feature",
      geometry: { type: "Point", coordinates: [(w + e) / 2, (s + n) / 2] },
      properties: { label: "center" },
    }],
  };
}`;

Deno.test("a UDF returning a GeoJSON FeatureCollection is geodata: .geojson, .parquet and MVT tiles", async () => {
  await withServer(async (server) => {
    const saved = await saveUdf(server, "features", FEATURES);
    const token = await shareUdf(server, saved.id);
    const geojson = await fetch(`${server.url}/${token}.geojson`);
    assert.equal(geojson.status, 200);
    assert.equal(geojson.headers.get("content-type"), "application/geo+json");
    const fc = await geojson.json();
    assert.equal(fc.features[0].properties.label, "center");
    assert.deepEqual(fc.features[0].geometry, { type: "Point", coordinates: [5, 5] });
    const parquet = await fetch(`${server.url}/${token}.parquet`);
    assert.equal(parquet.status, 200);
    const table = await decodeResult(
      new Uint8Array(await parquet.arrayBuffer()),
      parquet.headers.get("content-type"),
    ) as Table;
    assert.equal(table.numRows, 1);
    assert.equal(table.getChild("label")?.get(0), "center");
    assert.ok(table.getChild("geometry"));
    // The default format list keeps the object the UDF returned.
    const plain = await fetch(`${server.url}/${token}/run/file`);
    assert.equal(plain.headers.get("content-type"), "application/json");
    assert.equal((await plain.json()).type, "FeatureCollection");
    const tile = await fetch(`${server.url}/${token}/run/tiles/2/1/1?format=mvt`);
    assert.equal(tile.status, 200);
    const layer =
      new VectorTile(new PbfReader(new Uint8Array(await tile.arrayBuffer()))).layers.udf;
    assert.equal(layer.feature(0).properties.label, "center");
  });
});
