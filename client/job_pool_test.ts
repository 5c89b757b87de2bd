import assert from "node:assert/strict";
import * as arrow from "apache-arrow";
import { JobPool, type RunTask } from "./job_pool.ts";
import { FusedError, UdfCancelledError, UdfRuntimeError, UdfTimeoutError } from "./errors.ts";
import { udf } from "./udf.ts";
import type { RunResponse } from "./engine_types.ts";

const U = udf("export default () => 1", { name: "pool" });

function response(data: unknown, stdout = ""): RunResponse {
  // deno-lint-ignore no-explicit-any
  return { data: data as any, udf: U, logs: { stdout, stderr: "" }, cached: false, timeTakenMs: 1 };
}

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** A task that records concurrency and finishes when released. */
function gatedTasks() {
  const gates = new Map<number, { promise: Promise<void>; resolve: () => void }>();
  let active = 0;
  let peak = 0;
  const run: RunTask = async (args, signal) => {
    active++;
    peak = Math.max(peak, active);
    const gate = deferred<void>();
    gates.set(args.i as number, gate);
    try {
      await Promise.race([
        gate.promise,
        new Promise((_, reject) =>
          signal.addEventListener("abort", () => reject(new UdfCancelledError("pool")), {
            once: true,
          })
        ),
      ]);
      return response({ i: args.i }, `log ${args.i}`);
    } finally {
      active--;
    }
  };
  return { run, gates, peak: () => peak };
}

Deno.test("concurrency is bounded by maxWorkers", async () => {
  const { run, gates, peak } = gatedTasks();
  const pool = new JobPool(run, Array.from({ length: 10 }, (_, i) => ({ i })), { maxWorkers: 3 });
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(pool.running().size, 3);
  assert.equal(pool.pending().size, 7);
  for (let round = 0; round < 10; round++) {
    for (const [i, gate] of gates) {
      gates.delete(i);
      gate.resolve();
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  await pool.wait();
  assert.equal(peak(), 3);
  assert.ok(pool.done() && pool.allSucceeded() && pool.anySucceeded() && !pool.anyFailed());
  assert.deepEqual(await pool.results(), Array.from({ length: 10 }, (_, i) => ({ i })));
  assert.equal(pool.times().filter((t) => t !== null).length, 10);
  assert.ok(pool.totalTime() > 0);
  assert.match(pool.logs()[4]!, /stdout\n------\nlog 4/);
  assert.equal(pool.firstLog(), pool.logs()[0]);
  assert.equal(String(pool), "<JobPool with 10 jobs [10 success]>");
});

Deno.test("cancel stops pending tasks at once and aborts running ones", async () => {
  const { run } = gatedTasks();
  const pool = new JobPool(run, Array.from({ length: 200 }, (_, i) => ({ i })), { maxWorkers: 4 });
  await new Promise((r) => setTimeout(r, 5));
  const cancelled = pool.cancel();
  assert.equal(cancelled, 200);
  await pool.wait();
  assert.equal(pool.status().cancelled, 200);
  assert.equal(pool.cancelled().size, 200);
  await assert.rejects(() => pool.results(), /cancel/);
});

Deno.test("failures are retried with backoff unless they are the UDF's own error", async () => {
  const attempts = new Map<number, number>();
  const run: RunTask = (args) => {
    const i = args.i as number;
    attempts.set(i, (attempts.get(i) ?? 0) + 1);
    if (i === 0) return Promise.reject(new Error("network down"));
    if (i === 1) {
      return Promise.reject(
        new UdfRuntimeError("pool", {
          message: "bad",
          exceptionClass: "Error",
          lineno: 2,
          logs: { stdout: "udf said hi", stderr: "" },
        }),
      );
    }
    if (i === 2) return Promise.reject(new UdfTimeoutError("pool", 10));
    if (i === 3 && attempts.get(i)! < 2) return Promise.reject(new Error("flaky"));
    return Promise.resolve(response(i));
  };
  const pool = new JobPool(run, [{ i: 0 }, { i: 1 }, { i: 2 }, { i: 3 }], {
    maxRetry: 2,
    retryBaseDelayMs: 1,
  });
  await pool.wait();
  assert.equal(attempts.get(0), 3);
  assert.equal(attempts.get(1), 1);
  assert.equal(attempts.get(3), 2);
  assert.deepEqual(pool.status(), {
    running: 0,
    timeout: 1,
    error: 2,
    success: 1,
    pending: 0,
    cancelled: 0,
  });
  assert.ok(pool.anyFailed());
  assert.equal(pool.errors().size, 3);
  const first = pool.firstError();
  assert.ok(first instanceof FusedError);
  assert.match(first!.message, /^\[Run #0 \{"i":0\}\] network down/);
  assert.match(pool.progress().firstError!.message, /network down/);
  assert.match(pool.logs()[1]!, /udf said hi/);
  const results = await pool.results({ returnExceptions: true });
  assert.ok(results[0] instanceof Error);
  assert.equal(results[3], 3);
  await assert.rejects(() => pool.collect(), /Run #0/);
});

Deno.test("retry reruns only failed tasks in the same pool", async () => {
  let failing = true;
  const run: RunTask = (args) =>
    failing && args.i === 1
      ? Promise.reject(
        new UdfRuntimeError("pool", {
          message: "x",
          exceptionClass: "Error",
          logs: { stdout: "", stderr: "" },
        }),
      )
      : Promise.resolve(response(args.i));
  const pool = new JobPool(run, [{ i: 0 }, { i: 1 }], { maxRetry: 0 });
  await pool.wait();
  assert.equal(pool.status().error, 1);
  failing = false;
  assert.equal(pool.retry(), 1);
  await pool.wait();
  assert.ok(pool.allSucceeded());
  assert.deepEqual(await pool.results(), [0, 1]);
});

Deno.test("collect concatenates table results with argument columns first", async () => {
  const run: RunTask = (args) =>
    Promise.resolve(response(arrow.tableFromArrays({
      v: Float64Array.from([1, 2].map((x) => x * (args.k as number))),
    })));
  const pool = new JobPool(run, [{ k: 1, name: "a" }, { k: 10, name: "b" }]);
  const table = await pool.collect();
  assert.deepEqual(table.schema.fields.map((f) => f.name), ["k", "name", "v"]);
  assert.deepEqual(table.toArray().map((r) => r.toJSON()), [
    { k: 1, name: "a", v: 1 },
    { k: 1, name: "a", v: 2 },
    { k: 10, name: "b", v: 10 },
    { k: 10, name: "b", v: 20 },
  ]);
});

Deno.test("collect puts other results in a result column, and df/argDf describe the pool", async () => {
  const run: RunTask = (args) => Promise.resolve(response({ double: (args.n as number) * 2 }));
  const pool = new JobPool(run, [{ n: 1 }, { n: 2 }]);
  const table = await pool.collect();
  assert.deepEqual(table.toArray().map((r) => [r.n, r.result.toJSON()]), [
    [1, { double: 2 }],
    [2, { double: 4 }],
  ]);
  assert.deepEqual(pool.argDf().toArray().map((r) => r.toJSON()), [{ n: 1 }, { n: 2 }]);
  const df = pool.df();
  assert.deepEqual(df.schema.fields.map((f) => f.name), [
    "n",
    "status",
    "time",
    "logs",
    "result",
    "error",
  ]);
  assert.equal(df.get(0)!.status, "success");
  assert.deepEqual(df.get(1)!.result.toJSON(), { double: 4 });
});

Deno.test("flatten: false and df() give nested values, not JSON text", async () => {
  const run: RunTask = (args) =>
    Promise.resolve(response(
      args.i === 0
        ? arrow.tableFromArrays({ a: Float64Array.of(1, 2) })
        : [{ a: 3, tags: ["x", "y"] }],
    ));
  const pool = new JobPool(run, [{ i: 0 }, { i: 1 }]);
  const rows = await pool.collect({ flatten: false });
  const cells = rows.toArray().map((r) =>
    r.result.toJSON().map((x: arrow.StructRow) => x.toJSON())
  );
  assert.deepEqual(cells[0].map((x: { a: number }) => x.a), [1, 2]);
  assert.equal(cells[1][0].a, 3);
  assert.deepEqual(cells[1][0].tags.toJSON(), ["x", "y"]);
  const df = pool.df();
  assert.equal(df.get(0)!.result.get(1).a, 2);
});

Deno.test("collect with mismatched table schemas says how to proceed", async () => {
  const run: RunTask = (args) =>
    Promise.resolve(response(arrow.tableFromArrays(
      args.i === 0 ? { a: Int32Array.of(1) } : { b: Float64Array.of(1) },
    )));
  const pool = new JobPool(run, [{ i: 0 }, { i: 1 }]);
  await assert.rejects(() => pool.collect(), /flatten: false/);
  const rows = await pool.collect({ flatten: false });
  assert.equal(rows.numRows, 2);
});

Deno.test("onProgress reports counts as tasks finish", async () => {
  const seen: number[] = [];
  const run: RunTask = () => Promise.resolve(response(1));
  const pool = new JobPool(run, [{}, {}, {}], { maxWorkers: 1 });
  pool.onProgress((p) => seen.push(p.counts.success));
  await pool.wait();
  assert.equal(seen.at(-1), 3);
  assert.ok(pool.progress().done);
});

Deno.test("bad maxWorkers is refused", () => {
  assert.throws(
    () => new JobPool(() => Promise.resolve(response(1)), [{}], { maxWorkers: 0 }),
    /maxWorkers/,
  );
});

Deno.test("a pool of 150,000 tasks finishes and reports its total time", async () => {
  // Spreading every end time into Math.max overflowed the stack past ~100k tasks.
  const run: RunTask = () => Promise.resolve(response(1));
  const pool = new JobPool(run, Array.from({ length: 150_000 }, () => ({})), { maxWorkers: 64 });
  await pool.wait({ progress: false });
  assert.equal(pool.status().success, 150_000);
  assert.ok(Number.isFinite(pool.totalTime()));
});

Deno.test("totalTime and times are seconds, as fused-py's timedelta", async () => {
  const run: RunTask = async () => {
    await new Promise((r) => setTimeout(r, 300));
    return response(1);
  };
  const pool = new JobPool(run, [{ i: 0 }, { i: 1 }], { maxWorkers: 2 });
  await pool.wait({ progress: false });
  assert.ok(pool.totalTime() >= 0.25 && pool.totalTime() < 10, `totalTime ${pool.totalTime()}`);
  for (const t of pool.times()) assert.ok(t !== null && t >= 0.25 && t < 10, `time ${t}`);
  assert.ok(pool.progress().elapsedMs >= 250);
  const time = pool.df().getChild("time")!.toArray() as number[];
  assert.ok(time.every((t) => t >= 0.25 && t < 10));
});

Deno.test("getStatusDf and getResultsDf give the arguments with each task's status or result", async () => {
  const run: RunTask = (args) =>
    args.n === 2
      ? Promise.reject(
        new UdfRuntimeError("pool", {
          message: "no",
          exceptionClass: "Error",
          logs: { stdout: "", stderr: "" },
        }),
      )
      : Promise.resolve(response({ double: (args.n as number) * 2 }));
  const pool = new JobPool(run, [{ n: 1 }, { n: 2 }], { maxRetry: 0 });
  await pool.wait({ progress: false });
  const status = pool.getStatusDf();
  assert.deepEqual(status.toArray().map((r) => r.toJSON()), [
    { n: 1, status: "success" },
    { n: 2, status: "error" },
  ]);
  const results = pool.getResultsDf();
  assert.deepEqual(results.schema.fields.map((f) => f.name), ["n", "result"]);
  assert.deepEqual(results.get(0)!.result.toJSON(), { double: 2 });
  assert.equal(results.get(1)!.result, null);
});
