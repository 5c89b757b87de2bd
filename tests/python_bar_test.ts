/**
 * Issue 21's bar in one place: fused-py-style UDFs written for it (a DataFrame with typed
 * parameters, a GeoDataFrame on a map, a tile UDF as MVT, `@fused.cache` across runs and
 * processes, a folder with a `utils.py` header, Python calling TypeScript and back, `submit` over
 * 100 arguments, a batch job) run locally, on a real `fused serve` and on a real `fused worker`
 * (PostgreSQL + S3), each result checked for what its code implies. Steps are named UDF × place.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type * as arrow from "apache-arrow";
import { VectorTile } from "@mapbox/vector-tile";
import { PbfReader } from "pbf";
import * as fused from "../mod.ts";
import * as api from "../client/api/mod.ts";
import { Transport } from "../client/api/transport.ts";
import { geoMetadata, geometryFromWKB } from "../client/formats/geo.ts";
import { isTable } from "../client/formats/types.ts";
import { mapToMimeBundle } from "../display/map.ts";
import { startServer } from "../server/serve.ts";
import { startWorker } from "../server/worker.ts";
import { createDatabase } from "./_postgres.ts";
import { createBucket, useS3Env } from "./_s3.ts";
import { withTempCache } from "./_helpers.ts";
import { writeCatalogFolder } from "../engine/_engine_test_util.ts";

const WAIT = { pollIntervalSeconds: 0.05, timeout: 120 };

// (1) A DataFrame with typed parameters: each column's dtype follows from its code.
const FRAME = `import pandas as pd

@fused.udf
def udf(bounds: fused.types.Bounds = None, n: int = 10, scale: float = 1.0, label: str = "a", flag: bool = False):
    print("rows", n)
    return pd.DataFrame({
        "i": pd.Series(range(n), dtype="int64"),
        "x": [i * scale for i in range(n)],
        "label": [label] * n,
        "flag": [flag] * n,
        "has_bounds": [bounds is not None] * n,
    })
`;

function checkFrame(table: unknown, n: number, scale: number, label: string, flag: boolean) {
  assert.ok(isTable(table), `a table, got ${Object.prototype.toString.call(table)}`);
  const t = table as arrow.Table;
  assert.deepEqual(
    t.schema.fields.map((f) => [f.name, String(f.type)]),
    [["i", "Int64"], ["x", "Float64"], ["label", "Utf8"], ["flag", "Bool"], [
      "has_bounds",
      "Bool",
    ]],
  );
  assert.deepEqual([...t.getChild("i")!], Array.from({ length: n }, (_, i) => BigInt(i)));
  assert.deepEqual([...t.getChild("x")!], Array.from({ length: n }, (_, i) => i * scale));
  assert.deepEqual([...t.getChild("label")!], Array(n).fill(label));
  assert.deepEqual([...t.getChild("flag")!], Array(n).fill(flag));
  assert.deepEqual([...t.getChild("has_bounds")!], Array(n).fill(false));
}

// (2) A GeoDataFrame of three cities in EPSG:4326.
const CITIES = `import geopandas as gpd
from shapely.geometry import Point

@fused.udf
def udf(n: int = 3):
    cities = [("Paris", 2.35, 48.86), ("Berlin", 13.4, 52.52), ("Madrid", -3.7, 40.42)][:n]
    return gpd.GeoDataFrame(
        {"name": [c[0] for c in cities]},
        geometry=[Point(c[1], c[2]) for c in cities],
        crs="EPSG:4326",
    )
`;

function checkCities(value: unknown, n = 3) {
  assert.ok(isTable(value));
  const t = value as arrow.Table;
  assert.deepEqual([...t.getChild("name")!], ["Paris", "Berlin", "Madrid"].slice(0, n));
  const geo = geoMetadata(t)!;
  assert.equal(geo.primary_column, "geometry");
  const crs = geo.columns.geometry.crs as { id?: { authority: string; code: number } };
  assert.deepEqual(crs.id, { authority: "EPSG", code: 4326 });
  const points = [...t.getChild("geometry")!].map((wkb) => geometryFromWKB(wkb as Uint8Array));
  assert.deepEqual(
    points.map((p) => p.coordinates),
    [[2.35, 48.86], [13.4, 52.52], [
      -3.7,
      40.42,
    ]].slice(0, n),
  );
}

// (3) A tile UDF: the tile's center and a point a quarter of the way in, labelled.
const TILE = `import geopandas as gpd
from shapely.geometry import Point

@fused.udf
def udf(bounds: fused.types.TileGDF = None, label: str = "mid"):
    w, s, e, n = bounds.total_bounds
    return gpd.GeoDataFrame(
        {"label": [label, "quarter"]},
        geometry=[Point((w + e) / 2, (s + n) / 2), Point(w + (e - w) / 4, s + (n - s) / 4)],
        crs=bounds.crs,
    )
`;

// Tile 2/1/1 spans lon [-90, 0], lat [0, 66.51].
const TILE_BOUNDS = [-90, 0, 0, 66.51326044311186];
function checkTile(value: unknown, label: string) {
  assert.ok(isTable(value));
  const t = value as arrow.Table;
  assert.deepEqual([...t.getChild("label")!], [label, "quarter"]);
  const [center] = [...t.getChild("geometry")!].map((w) =>
    geometryFromWKB(w as Uint8Array).coordinates as number[]
  );
  assert.equal(center[0], -45);
  assert.ok(Math.abs(center[1] - 33.257) < 0.01, String(center[1]));
}

// (4) @fused.cache: the cached function's token is the first run's in every later run and
// process; the UDF's own token is new each run. `version` changes the UDF's code, so it runs in
// another process (one per UDF version), whose mark (kept in builtins, which outlive a run) differs.
const cached = (version: number) =>
  `import builtins
import secrets
import fused

@fused.cache
def expensive(n):
    return {"square": n * n, "token": secrets.token_hex(8)}

@fused.udf
def udf(n: int = 3):
    # version ${version}
    if not hasattr(builtins, "bar_process"):
        builtins.bar_process = secrets.token_hex(8)
    return {"cached": expensive(n), "run": secrets.token_hex(8), "process": builtins.bar_process}
`;

interface CachedRun {
  cached: { square: number; token: string };
  run: string;
  process: string;
}

function checkCached(values: unknown[]) {
  const runs = values as CachedRun[];
  assert.ok(runs.length >= 2);
  for (const r of runs) assert.equal(r.cached.square, 9);
  assert.equal(new Set(runs.map((r) => r.cached.token)).size, 1, "one computation");
  assert.equal(new Set(runs.map((r) => r.run)).size, runs.length, "each UDF ran");
  assert.notEqual(runs[0].process, runs.at(-1)!.process, "the last run is in another process");
}

// (5) A folder laid out as Fused's catalog: meta.json, the UDF's .py and a utils.py header
// (engine/_engine_test_util.ts writes it).
function checkGrid(value: unknown) {
  assert.ok(isTable(value));
  const t = value as arrow.Table;
  // meta.json's n = 3: a 3 x 3 grid over the code's default bounds.
  assert.deepEqual([...t.getChild("id")!], [0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n]);
  assert.deepEqual(geoMetadata(t)!.columns.geometry.bbox, [-122.5, 37.7, -122.3, 37.8]);
  const [x, y] = geometryFromWKB([...t.getChild("geometry")!][4] as Uint8Array)
    .coordinates as number[];
  assert.ok(Math.abs(x + 122.4) < 1e-9 && Math.abs(y - 37.75) < 1e-9, `center ${x},${y}`);
}

// (6) Python runs TypeScript code, which runs Python code: each level adds its own mark.
const INNER_PY = `@fused.udf
def udf(n: int = 1):
    return {"inner": "python", "n": n * 2}
`;
const MIDDLE_TS = `import { run, udf } from "fused";
export default async function udf_({ n = 1 }: { n?: number }) {
  const inner = udf(${JSON.stringify(INNER_PY)}, { name: "inner_py" });
  return { middle: "typescript", got: await run(inner, { parameters: { n: n + 1 } }) };
}
`;
const OUTER_PY = `@fused.udf
def udf(n: int = 1):
    ts = ${JSON.stringify(MIDDLE_TS)}
    got = fused.run(ts, n=n)
    return {"outer": "python", "type": type(got).__name__, "got": got}
`;

function checkChain(value: unknown, n: number) {
  assert.deepEqual(value, {
    outer: "python",
    type: "dict",
    got: { middle: "typescript", got: { inner: "python", n: (n + 1) * 2 } },
  });
}

// (7) A function fed 100 arguments by fused.submit.
const SQUARE = `import pandas as pd

@fused.udf
def udf(n: int = 0, scale: float = 1.0):
    return pd.DataFrame({"square": [n * n * scale]})
`;
// The same, submitted from inside a Python UDF (one job on a worker).
const SUBMITS = `import pandas as pd

@fused.udf
def square(n: int = 0, scale: float = 1.0):
    return pd.DataFrame({"square": [n * n * scale]})

@fused.udf
def udf(count: int = 100, scale: float = 1.0):
    df = fused.submit(square, list(range(count)), scale=scale)
    return df
`;

function checkSquares(value: unknown, scale: number) {
  assert.ok(isTable(value));
  const t = value as arrow.Table;
  assert.equal(t.numRows, 100);
  assert.deepEqual([...t.getChild("n")!].map(Number), Array.from({ length: 100 }, (_, i) => i));
  assert.deepEqual(
    [...t.getChild("square")!],
    Array.from({ length: 100 }, (_, i) => i * i * scale),
  );
}

// (8) A batch job: prints go to its logs, its DataFrame is its result.
const BATCH = `import pandas as pd

@fused.udf
def udf(n: int = 2, label: str = "a"):
    print("batch python", n, label)
    return pd.DataFrame({"i": range(n), "label": [label] * n})
`;

function checkBatch(value: unknown, n: number, label: string) {
  assert.ok(isTable(value));
  const t = value as arrow.Table;
  assert.deepEqual([...t.getChild("i")!], Array.from({ length: n }, (_, i) => BigInt(i)));
  assert.deepEqual([...t.getChild("label")!], Array(n).fill(label));
}

const py = (code: string, name: string) => fused.udf(code, { name });

Deno.test({
  name: "issue 21's bar: fused-py-style UDFs locally, on the service and on a worker",
  // pg-boss keeps timers and pooled connections for the life of its instance.
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    await useS3Env();
    const home = await Deno.makeTempDir({ prefix: "python_bar_" });
    const databaseUrl = await createDatabase("pybar");
    const storageUrl = `s3://${await createBucket("pybar")}/fused`;
    const server = await startServer({
      port: 0,
      dataDir: join(home, "server"),
      quiet: true,
      databaseUrl,
      storageUrl,
    });
    const worker = await startWorker({
      databaseUrl,
      storageUrl,
      dataDir: join(home, "worker"),
      concurrency: 1,
      quiet: true,
    });
    const transport = new Transport({ baseUrl: server.baseUrl, token: server.adminToken });
    const before = Deno.env.get("FUSED_HOME");
    Deno.env.set("FUSED_HOME", join(home, "fused"));
    // Runs a UDF as a batch job on the worker and gives back its one stored result.
    const onWorker = async (u: fused.Udf, parameters: Record<string, unknown> = {}) => {
      const job = await api.startJob(u, { transport, parameters });
      const done = await api.jobWaitForJob(job, { transport, ...WAIT });
      const messages = (await api.jobGetLogs(job, { transport })).map((r) => r.message);
      assert.equal(done.job_status, "Done", messages.join("\n"));
      assert.ok(
        messages.some((m) => m.startsWith(`Job started on worker ${worker.name}`)),
        messages.join("\n"),
      );
      const results = await api.jobGetResults(job, { transport });
      assert.equal(results.length, 1);
      return { value: results[0], messages };
    };
    const remote = { engine: "remote" as const, cache: false, verbose: false };
    const local = { engine: "local" as const, cache: false, verbose: false };
    try {
      await withTempCache(async () => {
        await fused.api.login({ token: server.adminToken, baseUrl: server.baseUrl });

        const frame = py(FRAME, "py_frame");
        await t.step("(1) DataFrame with typed parameters × local", async () => {
          const value = await fused.run(frame, { ...local, n: "4", scale: "0.5", flag: "true" });
          checkFrame(value, 4, 0.5, "a", true);
        });
        await t.step("(1) DataFrame with typed parameters × service", async () => {
          const value = await fused.run(frame, { ...remote, n: "4", scale: "2", label: "s" });
          checkFrame(value, 4, 2, "s", false);
        });
        await t.step("(1) DataFrame with typed parameters × worker", async () => {
          const { value, messages } = await onWorker(frame, { n: 3, label: "w" });
          checkFrame(value, 3, 1, "w", false);
          assert.ok(messages.includes("rows 3"), messages.join("\n"));
        });

        const cities = py(CITIES, "py_cities");
        await t.step("(2) GeoDataFrame on a map × local", async () => {
          const value = await fused.run(cities, local);
          checkCities(value);
          const bundle = await mapToMimeBundle(value);
          const facts = (bundle.metadata!["text/html"] as Record<string, Record<string, unknown>>)[
            "fused:map"
          ];
          assert.equal(facts.totalFeatures, 3);
          assert.deepEqual(facts.bounds, [-3.7, 40.42, 13.4, 52.52]);
          assert.match(String(bundle.data["text/plain"]), /^Map: 3 points/);
        });
        await t.step("(2) GeoDataFrame on a map × service (share token)", async () => {
          await cities.toFused({ overwrite: true });
          const token = (await cities.createAccessToken()).token;
          const res = await fetch(`${server.url}/${token}/run/file?format=geojson&n=2`);
          assert.equal(res.status, 200, await res.clone().text());
          const collection = await res.json();
          assert.deepEqual(
            collection.features.map((f: { properties: { name: string } }) => f.properties.name),
            ["Paris", "Berlin"],
          );
          assert.deepEqual(collection.features[1].geometry, {
            type: "Point",
            coordinates: [13.4, 52.52],
          });
          const parquet = await fetch(`${server.url}/${token}/run/file?format=parquet`);
          assert.equal(parquet.status, 200);
          checkCities(
            await fused.formats.decodeResult(
              new Uint8Array(await parquet.arrayBuffer()),
              parquet.headers.get("content-type")!,
            ),
          );
          checkCities(await fused.run(token, { ...remote, n: 2 }), 2);
        });
        await t.step("(2) GeoDataFrame on a map × worker", async () => {
          const { value } = await onWorker(cities);
          checkCities(value);
          const bundle = await mapToMimeBundle(value);
          assert.match(String(bundle.data["text/plain"]), /^Map: 3 points/);
        });

        const tile = py(TILE, "py_tile");
        await t.step("(3) tile UDF as MVT × local", async () => {
          checkTile(await fused.run(tile, { ...local, x: 1, y: 1, z: 2 }), "mid");
        });
        await t.step("(3) tile UDF as MVT × service", async () => {
          await tile.toFused({ overwrite: true });
          const token = (await tile.createAccessToken()).token;
          const res = await fetch(`${server.url}/${token}/run/tiles/2/1/1?format=mvt&label=m`);
          assert.equal(res.status, 200, await res.clone().text());
          assert.equal(res.headers.get("content-type"), "application/vnd.mapbox-vector-tile");
          const layer = new VectorTile(new PbfReader(new Uint8Array(await res.arrayBuffer())))
            .layers.udf;
          assert.equal(layer.length, 2);
          const features = [layer.feature(0), layer.feature(1)];
          const byLabel = Object.fromEntries(
            features.map((f) => [f.properties.label, f.loadGeometry()[0][0]]),
          );
          assert.deepEqual(Object.keys(byLabel).sort(), ["m", "quarter"]);
          // Where the points the UDF made in lon/lat land in the tile's 4096 Web Mercator extent.
          const lat = (l: number) => l * Math.PI / 180;
          const tileY = (l: number) =>
            ((1 - Math.log(Math.tan(lat(l)) + 1 / Math.cos(lat(l))) / Math.PI) / 2 * 4 - 1) * 4096;
          const [, south, , north] = TILE_BOUNDS;
          const expected = {
            m: [2048, tileY((south + north) / 2)],
            quarter: [1024, tileY(south + (north - south) / 4)],
          };
          for (const [label, [x, y]] of Object.entries(expected)) {
            const got = byLabel[label];
            assert.ok(
              Math.abs(got.x - x) <= 1 && Math.abs(got.y - y) <= 1,
              `${label}: got ${got.x},${got.y}, expected ${x},${y}`,
            );
          }
          checkTile(await fused.run(tile, { ...remote, x: 1, y: 1, z: 2, label: "r" }), "r");
        });
        await t.step("(3) tile UDF as MVT × worker", async () => {
          const { value } = await onWorker(tile, { bounds: TILE_BOUNDS });
          checkTile(value, "mid");
        });

        await t.step("(4) @fused.cache across runs and processes × local", async () => {
          const runs: unknown[] = [];
          for (const version of [1, 1, 2]) {
            runs.push(await fused.run(py(cached(version), "py_cached"), local));
          }
          checkCached(runs);
        });
        await t.step("(4) @fused.cache across runs and processes × service", async () => {
          const runs: unknown[] = [];
          for (const version of [1, 1, 2]) {
            runs.push(await fused.run(py(cached(version), "py_cached"), remote));
          }
          checkCached(runs);
        });
        await t.step("(4) @fused.cache across runs and processes × worker", async () => {
          const runs: unknown[] = [];
          for (const version of [1, 2]) {
            runs.push((await onWorker(py(cached(version), "py_cached"))).value);
          }
          checkCached(runs);
        });

        const grid = await fused.load(await writeCatalogFolder(join(home, "catalog")));
        await t.step("(5) folder with a utils.py header × local", async () => {
          assert.equal(grid.language, "python");
          checkGrid(await fused.run(grid, local));
        });
        await t.step("(5) folder with a utils.py header × service", async () => {
          checkGrid(await fused.run(grid, remote));
        });
        await t.step("(5) folder with a utils.py header × worker", async () => {
          checkGrid((await onWorker(grid)).value);
        });

        const chain = py(OUTER_PY, "py_calls_ts");
        await t.step("(6) Python → TypeScript → Python × local", async () => {
          checkChain(await fused.run(chain, { ...local, n: 3 }), 3);
        });
        await t.step("(6) Python → TypeScript → Python × service", async () => {
          checkChain(await fused.run(chain, { ...remote, n: 4 }), 4);
        });
        await t.step("(6) Python → TypeScript → Python × worker", async () => {
          checkChain((await onWorker(chain, { n: 5 })).value, 5);
        });

        const square = py(SQUARE, "py_square");
        const args = Array.from({ length: 100 }, (_, i) => i);
        await t.step("(7) submit over 100 arguments × local", async () => {
          checkSquares(await fused.submit(square, args, { ...local, scale: 0.5 }), 0.5);
        });
        await t.step("(7) submit over 100 arguments × service", async () => {
          checkSquares(await fused.submit(square, args, { ...remote, scale: 2 }), 2);
        });
        await t.step("(7) submit over 100 arguments × worker (inside one job)", async () => {
          checkSquares((await onWorker(py(SUBMITS, "py_submits"), { scale: 3 })).value, 3);
        });

        const batch = py(BATCH, "py_batch");
        await t.step("(8) batch job × local (the job's parameters run here)", async () => {
          checkBatch(await fused.run(batch.job({ n: 3, label: "l" }), local), 3, "l");
        });
        await t.step("(8) batch job × service (runBatch through the SDK)", async () => {
          const job = await batch.job({ n: 2, label: "s" }).runBatch({ instanceType: "small" });
          const done = await job.waitForJob({ pollIntervalSeconds: 0.05, timeout: 120 });
          assert.equal(done.job_status, "Done");
          checkBatch(await job.getResult(), 2, "s");
        });
        await t.step("(8) batch job × worker", async () => {
          const { value, messages } = await onWorker(batch, { n: 4, label: "w" });
          checkBatch(value, 4, "w");
          assert.ok(messages.includes("batch python 4 w"), messages.join("\n"));
        });
      });
    } finally {
      await fused.api.logout().catch(() => {});
      fused.options.reset();
      if (before === undefined) Deno.env.delete("FUSED_HOME");
      else Deno.env.set("FUSED_HOME", before);
      await worker.close();
      await server.close();
      await Deno.remove(home, { recursive: true });
    }
  },
});
