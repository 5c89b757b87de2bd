import assert from "node:assert/strict";
import * as arrow from "apache-arrow";
import * as fused from "../mod.ts";
import { withTempCache } from "./_helpers.ts";

const SQUARE = `
import * as arrow from "apache-arrow";
export default function udf({ n = 0, scale = 1 }) {
  return arrow.tableFromArrays({ square: Float64Array.of(n * n * scale) });
}`;

Deno.test("submit over values feeds the first parameter and collects one table", async () => {
  await withTempCache(async () => {
    const u = fused.udf(SQUARE, { name: "square" });
    const table = await fused.submit(u, [1, 2, 3], { engine: "local", scale: 10 }) as arrow.Table;
    assert.deepEqual(table.toArray().map((r) => r.toJSON()), [
      { n: 1, square: 10 },
      { n: 2, square: 40 },
      { n: 3, square: 90 },
    ]);
  });
});

Deno.test("submit takes any iterable of arguments, as fused-py's range(10)", async () => {
  await withTempCache(async () => {
    const u = fused.udf(SQUARE, { name: "square_iter" });
    function* range(n: number): Generator<number> {
      for (let i = 0; i < n; i++) yield i;
    }
    const fromGenerator = await fused.submit(u, range(3), { engine: "local" }) as arrow.Table;
    assert.deepEqual(fromGenerator.getChild("square")!.toJSON(), [0, 1, 4]);
    const fromSet = await fused.submit(u, new Set([{ n: 5 }]), { engine: "local" }) as arrow.Table;
    assert.deepEqual(fromSet.getChild("square")!.toJSON(), [25]);
  });
});

Deno.test("submit takes udf.job(params): the job's parameters hold for every run", async () => {
  await withTempCache(async () => {
    const u = fused.udf(SQUARE, { name: "square_job" });
    const table = await fused.submit(u.job({ scale: 2 }), [1, 3], {
      engine: "local",
    }) as arrow.Table;
    assert.deepEqual(table.getChild("square")!.toJSON(), [2, 18]);
  });
});

Deno.test("submit over objects or an Arrow table gives the same rows", async () => {
  await withTempCache(async () => {
    const u = fused.udf(SQUARE, { name: "square2" });
    const fromObjects = await fused.submit(u, [{ n: 2 }, { n: 4 }], {
      engine: "local",
    }) as arrow.Table;
    const args = arrow.tableFromArrays({ n: Float64Array.of(2, 4) });
    const fromTable = await fused.submit(u, args, { engine: "local" }) as arrow.Table;
    assert.deepEqual(
      fromTable.toArray().map((r) => r.toJSON()),
      fromObjects.toArray().map((r) => r.toJSON()),
    );
  });
});

Deno.test("collected results are cached and cache: false recomputes", async () => {
  await withTempCache(async () => {
    const u = fused.udf(
      `export default function udf({ n = 0 }) { return { n, at: performance.now() } }`,
      { name: "stamp" },
    );
    const a = await fused.submit(u, [1, 2], { engine: "local" }) as arrow.Table;
    const b = await fused.submit(u, [1, 2], { engine: "local" }) as arrow.Table;
    assert.deepEqual(b.toArray().map((r) => r.toJSON()), a.toArray().map((r) => r.toJSON()));
    const c = await fused.submit(u, [1, 2], { engine: "local", cache: false }) as arrow.Table;
    assert.notDeepEqual(c.toArray().map((r) => r.toJSON()), a.toArray().map((r) => r.toJSON()));
  });
});

Deno.test("collect: false returns a live JobPool, and errors can be ignored", async () => {
  await withTempCache(async () => {
    const u = fused.udf(
      `export default function udf({ n = 0 }) { if (n === 2) throw new Error("two"); return n * 10 }`,
      { name: "some_fail" },
    );
    const pool = await fused.submit(u, [1, 2, 3], { engine: "local", collect: false });
    assert.ok(pool instanceof fused.JobPool);
    await pool.wait();
    assert.deepEqual(pool.status().success, 2);
    assert.match(pool.firstError()!.message, /Run #1 .*two/);
    await assert.rejects(() => fused.submit(u, [1, 2, 3], { engine: "local" }), /two/);
    const partial = await fused.submit(u, [1, 2, 3], {
      engine: "local",
      ignoreExceptions: true,
    }) as arrow.Table;
    assert.deepEqual(partial.toArray().map((r) => r.toJSON()), [
      { n: 1, result: 10 },
      { n: 3, result: 30 },
    ]);
  });
});

Deno.test("debugMode runs only the first argument and returns its result", async () => {
  const u = fused.udf(`export default ({ n = 0 }) => n + 100`, { name: "debug" });
  assert.equal(
    await fused.submit(u, [5, 6, 7], { engine: "local", debugMode: true, cache: false }),
    105,
  );
});

Deno.test("bad argument lists are refused", async () => {
  const u = fused.udf(`export default ({ n = 0 }) => n`, { name: "bad_args" });
  await assert.rejects(() => fused.submit(u, [], { engine: "local" }), /at least one/);
  await assert.rejects(
    () => fused.submit(u, "nope" as unknown as unknown[], { engine: "local" }),
    /a list or other iterable/,
  );
  const noParams = fused.udf(`export default () => 1`, { name: "no_params" });
  await assert.rejects(() => fused.submit(noParams, [1], { engine: "local" }), /pass objects/);
});

Deno.test("rows that carry the argument concatenate as rows, without a second n column", async () => {
  await withTempCache(async () => {
    // The commonest fused-py pattern: each run returns its rows, argument included.
    const u = fused.udf(
      `export default function udf({ n = 0 }) { return [{ n, sq: n * n }]; }`,
      { name: "rows_with_arg" },
    );
    const table = await fused.submit(u, [1, 2, 3]) as arrow.Table;
    assert.deepEqual(table.schema.fields.map((f) => f.name), ["n", "sq"]);
    assert.deepEqual(table.toArray().map((r) => r.toJSON()), [
      { n: 1, sq: 1 },
      { n: 2, sq: 4 },
      { n: 3, sq: 9 },
    ]);
  });
});

Deno.test("arrays of records come back as rows, with the argument as a leading column", async () => {
  await withTempCache(async () => {
    const u = fused.udf(
      `export default function udf({ n = 0 }) {
        return Array.from({ length: n }, (_, i) => ({ i, label: "row " + i }));
      }`,
      { name: "records" },
    );
    const table = await fused.submit(u, [1, 2]) as arrow.Table;
    assert.deepEqual(table.toArray().map((r) => r.toJSON()), [
      { n: 1, i: 0, label: "row 0" },
      { n: 2, i: 0, label: "row 0" },
      { n: 2, i: 1, label: "row 1" },
    ]);
  });
});

Deno.test("a table column named like the argument keeps the table's own values", async () => {
  await withTempCache(async () => {
    const u = fused.udf(
      `import { tableFromArrays } from "apache-arrow";
      export default function udf({ n = 0 }) {
        return tableFromArrays({ n: Float64Array.of(n * 10), half: Float64Array.of(n / 2) });
      }`,
      { name: "clobber" },
    );
    const table = await fused.submit(u, [1, 2]) as arrow.Table;
    assert.deepEqual(table.toArray().map((r) => r.toJSON()), [
      { n: 10, half: 0.5 },
      { n: 20, half: 1 },
    ]);
  });
});

Deno.test("pool.df() has the results of runs that return tables", async () => {
  await withTempCache(async () => {
    const u = fused.udf(SQUARE, { name: "square_df" });
    const pool = await fused.submit(u, [2, 3], { collect: false });
    await pool.wait();
    const df = pool.df().toArray();
    assert.deepEqual(
      df.map((r) => [r.n, r.status, r.result.toJSON().map((x: arrow.StructRow) => x.toJSON())]),
      [
        [2, "success", [{ square: 4 }]],
        [3, "success", [{ square: 9 }]],
      ],
    );
  });
});

Deno.test("executionType and instanceType are submit's options, not UDF parameters", async () => {
  await withTempCache(async () => {
    const u = fused.udf(SQUARE, { name: "square_exec" });
    const pooled = await fused.submit(u, [2], { executionType: "async_loop" }) as arrow.Table;
    assert.deepEqual(pooled.toArray().map((r) => r.toJSON()), [{ n: 2, square: 4 }]);
    await assert.rejects(
      () => fused.submit(u, [2], { executionType: "processes" as "async_loop" }),
      /Unknown executionType "processes": use "thread_pool" or "async_loop"/,
    );
    // A batch instance type reaches fused.run, which says where batch runs go.
    await assert.rejects(
      () => fused.submit(u, [2], { engine: "local", instanceType: "small", cache: false }),
      /instanceType "small" runs as a batch job on the service: use engine: "remote"/,
    );
  });
});

Deno.test("submit runs a Python UDF over 100 arguments and collects its DataFrames", async () => {
  await withTempCache(async () => {
    const u = fused.udf(
      `import pandas as pd

@fused.udf
def udf(n: int = 0, scale: float = 1.0):
    return pd.DataFrame({"square": [n * n * scale]})
`,
      { name: "py_square" },
    );
    const table = await fused.submit(u, Array.from({ length: 100 }, (_, i) => i), {
      engine: "local",
      scale: 0.5,
    }) as arrow.Table;
    assert.equal(table.numRows, 100);
    assert.deepEqual(table.toArray().slice(0, 3).map((r) => r.toJSON()), [
      { n: 0, square: 0 },
      { n: 1, square: 0.5 },
      { n: 2, square: 2 },
    ]);
    assert.equal(table.getChild("square")!.get(99), 99 * 99 * 0.5);
  });
});
