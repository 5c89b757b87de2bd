/**
 * fused-py habits, written as a fused-py user writes them in TypeScript: `fused.run` with `type`,
 * `sync: false`, `_ignore_unknown_arguments`, a share token object or `udf.job()` as the UDF, and
 * a UDF that returns a typed array with a shape (a numpy array, in Python).
 */
import assert from "node:assert/strict";
import type * as arrow from "apache-arrow";
import { join } from "node:path";
import * as fused from "../mod.ts";
import { startServer } from "../server/mod.ts";
import { withTempCache } from "./_helpers.ts";

const BOUNDS =
  `export default function udf({ bounds }: { bounds?: number[] }) { return bounds ?? "no tile"; }`;
const DOUBLE =
  `export default function udf({ n = 1 }: { n?: number }) { return { n, doubled: n * 2 }; }`;

Deno.test('run type: "tile" runs for the tile and "file" for no tile; a mismatch is refused', async () => {
  await withTempCache(async () => {
    const u = fused.udf(BOUNDS, { name: "bounds_of" });
    const tile = await fused.run(u, { type: "tile", x: 1, y: 1, z: 2, verbose: false });
    assert.deepEqual((tile as number[]).map(Math.round), [-90, 0, 0, 67]);
    assert.equal(await fused.run(u, { type: "file", verbose: false }), "no tile");
    await assert.rejects(fused.run(u, { type: "tile" }), /type "tile" needs x, y and z/);
    await assert.rejects(
      fused.run(u, { type: "file", x: 1, y: 1, z: 2 }),
      /type "file" takes no x, y or z/,
    );
    await assert.rejects(
      fused.run(u, { type: "raster" as "tile" }),
      /Unknown run type "raster": use "tile" or "file"/,
    );
  });
});

Deno.test("run with sync: false gives a promise of the result, as fused-py's coroutine", async () => {
  await withTempCache(async () => {
    const u = fused.udf(DOUBLE, { name: "async_double" });
    const pending = fused.run(u, { sync: false, n: 4, verbose: false });
    assert.ok(pending instanceof Promise);
    const [a, b] = await Promise.all([pending, fused.run(u, { sync: false, n: 5 })]);
    assert.deepEqual([a, b], [{ n: 4, doubled: 8 }, { n: 5, doubled: 10 }]);
    await assert.rejects(
      fused.run(u, { sync: "no" as unknown as boolean }),
      /sync must be true or false/,
    );
  });
});

Deno.test("ignoreUnknownArguments drops the parameters the UDF does not take", async () => {
  await withTempCache(async () => {
    const u = fused.udf(DOUBLE, { name: "strict_double" });
    await assert.rejects(
      fused.run(u, { n: 2, colour: "red", verbose: false }),
      /unexpected parameter "colour"/,
    );
    const value = await fused.run(u, {
      n: 2,
      colour: "red",
      ignoreUnknownArguments: true,
      verbose: false,
    });
    assert.deepEqual(value, { n: 2, doubled: 4 });
  });
});

Deno.test("fused-py's underscore run options are mapped or refused, never passed to the UDF", async () => {
  await withTempCache(async () => {
    const u = fused.udf(DOUBLE, { name: "underscore_double" });
    const value = await fused.run(u, {
      n: 3,
      colour: "red",
      _ignore_unknown_arguments: true,
      verbose: false,
    });
    assert.deepEqual(value, { n: 3, doubled: 6 });
    const refused: [string, unknown, RegExp][] = [
      ["_return_response", true, /fused\.runDetailed\(udf, options\)/],
      ["_dtype_out_vector", "csv", /fused\.options\.defaultDtypeOutVector/],
      ["_dtype_out_raster", "png", /fused\.options\.defaultDtypeOutRaster/],
      ["_cancel_callback", () => false, /signal: an AbortSignal/],
      ["_client_id", "abc", /fused\.options\.realtimeClientId/],
    ];
    for (const [name, given, spelling] of refused) {
      await assert.rejects(fused.run(u, { n: 1, [name]: given, verbose: false }), (err: Error) => {
        assert.ok(err instanceof fused.NotSupportedError, name);
        assert.match(err.message, new RegExp(`fused-py's ${name}`));
        assert.match(err.message, spelling);
        return true;
      });
    }
  });
});

Deno.test("run takes udf.job(params) and runs the UDF with the job's parameters", async () => {
  await withTempCache(async () => {
    const u = fused.udf(DOUBLE, { name: "job_double" });
    assert.deepEqual(await fused.run(u.job({ n: 21 }), { verbose: false }), {
      n: 21,
      doubled: 42,
    });
    // Keyword parameters win over the job's, as they do over a UDF's defaults.
    assert.deepEqual(await fused.run(u.job({ n: 21 }), { n: 1, verbose: false }), {
      n: 1,
      doubled: 2,
    });
  });
});

Deno.test("run takes the share token object createAccessToken() returned", async () => {
  await withTempCache(async () => {
    const home = await Deno.makeTempDir({ prefix: "fused-habits-" });
    const server = await startServer({ dataDir: join(home, "server"), port: 0, quiet: true });
    const before = Deno.env.get("FUSED_HOME");
    Deno.env.set("FUSED_HOME", join(home, "fused"));
    try {
      await fused.api.login({ token: server.adminToken, baseUrl: server.baseUrl });
      const u = fused.udf(DOUBLE, { name: "shared_double" });
      await u.toFused({ overwrite: true });
      const token = await u.createAccessToken();
      assert.deepEqual(await fused.run(token, { n: 3, verbose: false }), { n: 3, doubled: 6 });
      assert.deepEqual(await fused.run(token, { engine: "remote", n: 4 }), { n: 4, doubled: 8 });
      // One-line code runs as code on the service, never as a saved name in a URL.
      assert.equal(await fused.run("export default () => 7", { engine: "remote" }), 7);
      const pooled = await fused.submit(token, [5, 6], { engine: "local", cache: false });
      assert.deepEqual((pooled as arrow.Table).toArray().map((r) => r.result.doubled), [10, 12]);
      await assert.rejects(
        fused.run(42 as unknown as string),
        /Cannot run number: give a Udf, a name, path or URL, a share token/,
      );
    } finally {
      await fused.api.logout().catch(() => {});
      fused.options.reset();
      if (before === undefined) Deno.env.delete("FUSED_HOME");
      else Deno.env.set("FUSED_HOME", before);
      await server.close();
      await Deno.remove(home, { recursive: true });
    }
  });
});

Deno.test("a UDF returning { data: Float32Array, shape: [h, w] } gives a Raster", async () => {
  await withTempCache(async () => {
    const u = fused.udf(
      `export default function udf({ h = 2, w = 3 }) {
        return { data: Float32Array.from({ length: h * w }, (_, i) => i / 2), shape: [h, w] };
      }`,
      { name: "numpy_like" },
    );
    const value = await fused.run(u, { verbose: false });
    assert.ok(value instanceof fused.Raster, `got ${Object.prototype.toString.call(value)}`);
    assert.deepEqual([value.dtype, value.height, value.width, value.data[5]], [
      "float32",
      2,
      3,
      2.5,
    ]);
    const png = await fused.formats.encodeResult(value, { format: "png" });
    assert.equal(png.contentType, "image/png");
    await assert.rejects(fused.run(u, { h: 2, w: 3.5, verbose: false }), /shape .* is not valid/);
  });
});
