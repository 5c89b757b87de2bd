import assert from "node:assert/strict";
import type * as arrow from "apache-arrow";
import * as fused from "../mod.ts";
import { withTempCache } from "./_helpers.ts";

const COUNTER = `
export default function udf({ n = 1, tag = "a" }) {
  console.log("computing", n, tag);
  return { n, tag, at: performance.now() };
}`;

Deno.test("run passes keyword parameters and the parameters option, coerced", async () => {
  await withTempCache(async () => {
    const u = fused.udf(COUNTER, { name: "kw" });
    const a = await fused.run(u, { n: "5", verbose: false }) as { n: number; tag: string };
    assert.equal(a.n, 5);
    const b = await fused.run(u, { parameters: { n: 6, tag: "b" }, verbose: false }) as {
      n: number;
      tag: string;
    };
    assert.deepEqual([b.n, b.tag], [6, "b"]);
  });
});

Deno.test("runs are cached by code and parameters, and cache: false recomputes", async () => {
  await withTempCache(async () => {
    const u = fused.udf(COUNTER, { name: "cached" });
    const first = await fused.runDetailed(u, { n: 2, verbose: false });
    const second = await fused.runDetailed(u, { n: 2, verbose: false });
    assert.equal(first.cached, false);
    assert.equal(second.cached, true);
    assert.deepEqual(second.data, first.data);
    assert.match(second.logs.stdout, /computing 2 a/);
    const other = await fused.runDetailed(u, { n: 3, verbose: false });
    assert.equal(other.cached, false);
    const fresh = await fused.runDetailed(u, { n: 2, cache: false, verbose: false });
    assert.equal(fresh.cached, false);
    assert.notDeepEqual(fresh.data, first.data);
    const changedDefaults = await fused.runDetailed(u.withParameters({ tag: "z" }), {
      n: 2,
      verbose: false,
    });
    assert.equal(changedDefaults.cached, false);
  });
});

Deno.test("deleteCache removes a UDF's cached runs", async () => {
  await withTempCache(async () => {
    const u = fused.udf(COUNTER, { name: "deletable" });
    await fused.run(u, { n: 1, verbose: false });
    assert.equal((await fused.runDetailed(u, { n: 1, verbose: false })).cached, true);
    assert.ok(await u.deleteCache() >= 1);
    assert.equal((await fused.runDetailed(u, { n: 1, verbose: false })).cached, false);
  });
});

Deno.test("a bad cacheMaxAge is refused before running", async () => {
  const u = fused.udf(COUNTER, { name: "bad_age" });
  await assert.rejects(
    () => fused.run(u, { cacheMaxAge: "10 minutes" }),
    /number followed by s, m, h or d/,
  );
  await assert.rejects(
    () => fused.run(u, { cache: false, cacheMaxAge: "1h" }),
    /either cache: false or cacheMaxAge/,
  );
});

Deno.test("a tile run gives the UDF mercantile bounds", async () => {
  await withTempCache(async () => {
    const u = fused.udf(`export default function udf({ bounds }) { return bounds; }`, {
      name: "tile",
    });
    const bounds = await fused.run(u, { x: 0, y: 0, z: 0, verbose: false }) as number[];
    assert.equal(bounds.length, 4);
    assert.equal(bounds[0], -180);
    assert.ok(Math.abs(bounds[3] - 85.0511287798066) < 1e-9);
    await assert.rejects(() => fused.run(u, { x: 0, y: 0 }), /all of x, y and z/);
  });
});

Deno.test("a UDF error carries its line and logs, and is not retried", async () => {
  await withTempCache(async () => {
    const u = fused.udf(
      `export default function udf() {\n  console.log("before");\n  throw new RangeError("boom");\n}`,
      { name: "thrower" },
    );
    const err = await fused.run(u, { maxRetry: 3, verbose: false }).then(
      () => undefined,
      (e) => e,
    );
    assert.ok(err instanceof fused.UdfRuntimeError, String(err));
    assert.equal(err.lineno, 3);
    assert.equal(err.exceptionClass, "RangeError");
    assert.match(err.logs.stdout, /before/);
  });
});

Deno.test("a runaway UDF is stopped by runTimeout and the next run works", async () => {
  await withTempCache(async () => {
    const u = fused.udf(`export default function udf() { while (true) {} }`, { name: "spin" });
    await assert.rejects(
      () => fused.run(u, { runTimeout: 300, cache: false }),
      fused.UdfTimeoutError,
    );
    const ok = fused.udf(`export default () => 1`, { name: "after_spin" });
    assert.equal(await fused.run(ok, { cache: false }), 1);
  });
});

Deno.test("maxRetry retries a timeout with backoff", async () => {
  await withTempCache(async () => {
    fused.options.requestRetryBaseDelay = 0.01;
    try {
      const u = fused.udf(`export default function udf() { while (true) {} }`, { name: "spin2" });
      const errors: string[] = [];
      const original = console.error;
      console.error = (msg: string) => errors.push(String(msg));
      try {
        await assert.rejects(
          () => fused.run(u, { runTimeout: 100, cache: false, maxRetry: 2 }),
          fused.UdfTimeoutError,
        );
      } finally {
        console.error = original;
      }
      assert.equal(errors.filter((e) => e.includes("retrying in")).length, 2);
    } finally {
      fused.options.requestRetryBaseDelay = 1;
    }
  });
});

Deno.test("an AbortSignal cancels a run", async () => {
  const u = fused.udf(`export default async function udf() { await new Promise(() => {}); }`, {
    name: "forever",
  });
  const controller = new AbortController();
  const pending = fused.run(u, { signal: controller.signal, cache: false });
  setTimeout(() => controller.abort(), 100);
  await assert.rejects(() => pending, fused.UdfCancelledError);
});

Deno.test("a Python UDF runs locally through fused.run, its parameter coerced", async () => {
  const u = fused.udf("@fused.udf\ndef udf(n: int = 1):\n    return n * 2\n");
  assert.equal(await fused.run(u, { n: "21", cache: false }), 42);
});

Deno.test("a table result comes back as an Arrow table and caches", async () => {
  await withTempCache(async () => {
    const u = fused.udf(
      `import * as arrow from "apache-arrow";
export default function udf({ n = 3 }) {
  return arrow.tableFromArrays({ id: Int32Array.from({ length: n }, (_, i) => i) });
}`,
      { name: "table" },
    );
    const first = await fused.runDetailed(u, { n: 4, verbose: false });
    const again = await fused.runDetailed(u, { n: 4, verbose: false });
    assert.equal(again.cached, true);
    for (const r of [first, again]) {
      const t = r.data as arrow.Table;
      assert.equal(t.numRows, 4);
      assert.deepEqual([...t.getChild("id")!], [0, 1, 2, 3]);
    }
  });
});

Deno.test("a UDF can import fused itself, e.g. to build a georeferenced Raster", async () => {
  const u = fused.udf(
    `import * as fused from "fused";
export default function udf({ n = 3 }) {
  return fused.Raster.from(Float32Array.from({ length: n * n }, (_, i) => i), [n, n], {
    bounds: [0, 0, 1, 1],
  });
}`,
    { name: "imports_fused" },
  );
  const raster = await fused.run(u, { cache: false }) as fused.Raster;
  assert.deepEqual(raster.shape, [3, 3]);
  assert.deepEqual(raster.bounds, [0, 0, 1, 1]);
  assert.equal(raster.dtype, "float32");
});
