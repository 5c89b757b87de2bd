/** Tile runs, UDFs the executor cannot run (JSON chart nodes), and Python for a service caller. */
import assert from "node:assert/strict";
import { NotSupportedError, ValidationError } from "../client/errors.ts";
import { tileBounds } from "../client/tiles.ts";
import { Udf, udf } from "../client/udf.ts";
import { localCaller } from "./_local_host.ts";
import { unrunnableReason } from "./_run_errors.ts";
import { ts, withEngine } from "./_engine_test_util.ts";

Deno.test("a tile run passes the tile's bounds and the tile to the UDF", async () => {
  await withEngine({}, async (engine) => {
    const u = ts(`export default function udf({ bounds, tile }) { return { bounds, tile } }`);
    const { value } = await engine.run({ udf: u, tile: { x: 486, y: 332, z: 10 } });
    assert.deepEqual(value, { bounds: tileBounds(486, 332, 10), tile: { x: 486, y: 332, z: 10 } });
    const noTile = ts(`export default function udf({ n = 1 }) { return n }`, "no_tile");
    assert.equal((await engine.run({ udf: noTile, tile: { x: 0, y: 0, z: 0 } })).value, 1);
    await assert.rejects(engine.run({ udf: u, tile: { x: 2, y: 0, z: 1 } }), ValidationError);
  });
});

Deno.test("a tile run passes x, y and z to a UDF that declares them, as fused-py's Tile", async () => {
  await withEngine({}, async (engine) => {
    const u = ts(`export default function udf({ x, y, z }) { return [x, y, z] }`, "xyz");
    const { value } = await engine.run({ udf: u, tile: { x: 486, y: 332, z: 10 } });
    assert.deepEqual(value, [486, 332, 10]);
    const both = ts(`export default function udf({ z, bounds }) { return { z, bounds } }`, "zb");
    const run = await engine.run({ udf: both, tile: { x: 1, y: 1, z: 1 } });
    assert.deepEqual(run.value, { z: 1, bounds: tileBounds(1, 1, 1) });
  });
});

Deno.test("a JSON chart node of the catalog is called a JSON document, not Python code", async () => {
  await withEngine({}, async (engine) => {
    const chart = Udf.fromJSON({
      name: "chart",
      type: "geopandas_v2",
      code: '{"$schema": "https://vega.github.io/schema/vega-lite/v5.json", "mark": "bar"}',
      entrypoint: "udf",
    });
    await assert.rejects(engine.run({ udf: chart }), (err: Error) => {
      assert.ok(err instanceof NotSupportedError);
      assert.match(err.message, /^UDF "chart" is a JSON document \(a chart or data node/);
      assert.doesNotMatch(err.message, /Python/);
      return true;
    });
  });
});

Deno.test("a Python UDF runs for a service's caller too", async () => {
  await withEngine({}, async (engine, dataDir) => {
    const py = udf(`@fused.udf\ndef udf(n: int = 1):\n    return n * 2\n`);
    const onService = { ...localCaller(engine), id: "user-1", dataDir, cacheDir: dataDir };
    const run = await engine.run({ udf: py, caller: onService, parameters: { n: "4" } });
    assert.equal(run.value, 8);
    assert.equal(unrunnableReason(py), undefined);
  });
});
