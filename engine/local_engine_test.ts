import assert from "node:assert/strict";
import { UdfCancelledError, UdfTimeoutError, ValidationError } from "../client/errors.ts";
import { isTable } from "../client/formats/types.ts";
import { Raster } from "../client/formats/raster.ts";
import { options } from "../client/options.ts";
import { udf } from "../client/udf.ts";
import { LocalEngine } from "./mod.ts";
import { runtimeError, ts, withEngine } from "./_engine_test_util.ts";

Deno.test("a run returns the UDF's value and its console output split into stdout and stderr", async () => {
  await withEngine({}, async (engine) => {
    const u = ts(`export default function udf({ name = "world" }) {
  console.log("hello", name, { n: 1 });
  console.info("info");
  console.warn("careful");
  console.error("bad");
  return "hi " + name;
}`);
    const { value, logs } = await engine.run({ udf: u, parameters: { name: "deno" } });
    assert.equal(value, "hi deno");
    assert.equal(logs.stdout, "hello deno { n: 1 }\ninfo\n");
    assert.equal(logs.stderr, "careful\nbad\n");
  });
});

Deno.test("string parameters are coerced by the types of the defaults", async () => {
  await withEngine({}, async (engine) => {
    const u = ts(
      `export default function udf({ n = 10, flag = true, tags = [], opts = {}, name = "x", bounds, raw }) {
  return { n, flag, tags, opts, name, bounds, raw };
}`,
    );
    const { value } = await engine.run({
      udf: u,
      parameters: {
        n: "2.5",
        flag: "FALSE",
        tags: '["a","b"]',
        opts: '{"k":1}',
        name: "42",
        bounds: "-1, -2, 3, 4",
        raw: "7",
      },
    });
    assert.deepEqual(value, {
      n: 2.5,
      flag: false,
      tags: ["a", "b"],
      opts: { k: 1 },
      name: "42",
      bounds: [-1, -2, 3, 4],
      raw: "7",
    });
  });
});

Deno.test("a string that is not a number is refused, naming the parameter", async () => {
  await withEngine({}, async (engine) => {
    const u = ts(`export default function udf({ n = 10 }) { return n }`);
    await assert.rejects(
      engine.run({ udf: u, parameters: { n: "ten" } }),
      (err: Error) =>
        err instanceof ValidationError &&
        err.message === 'Parameter "n" must be a number, got "ten"',
    );
  });
});

Deno.test("an unknown parameter is refused with the names the UDF takes", async () => {
  await withEngine({}, async (engine) => {
    const u = ts(`export default function udf({ n = 10, bounds }) { return n }`);
    await assert.rejects(
      engine.run({ udf: u, parameters: { foo: 1 } }),
      (err: Error) =>
        err instanceof ValidationError &&
        err.message === 'udf() got an unexpected parameter "foo": known parameters are n, bounds',
    );
    const rest = ts(`export default function udf({ n = 1, ...rest }) { return rest }`, "rest");
    assert.deepEqual((await engine.run({ udf: rest, parameters: { foo: "1" } })).value, {
      foo: "1",
    });
  });
});

Deno.test("the UDF's default parameters apply under the call's, unknown ones dropped", async () => {
  await withEngine({}, async (engine) => {
    const u = udf(`export default function udf({ a = 0, b = 0 }) { return [a, b] }`, {
      name: "defaults",
      defaultParameters: { a: 5, b: "6", gone: 1 },
    });
    assert.deepEqual((await engine.run({ udf: u })).value, [5, 6]);
    assert.deepEqual((await engine.run({ udf: u, parameters: { b: "7" } })).value, [5, 7]);
  });
});

Deno.test("a zod schema exported as params coerces, validates and fills defaults", async () => {
  await withEngine({}, async (engine) => {
    const u = ts(`import { z } from "zod";
export const params = z.object({
  n: z.number().int().min(1).default(3).describe("how many"),
  flag: z.boolean().optional(),
  tags: z.array(z.string()).default([]),
});
export default function udf({ n, flag, tags }: z.infer<typeof params>) {
  return { n, flag: flag ?? null, tags };
}`);
    assert.deepEqual(
      (await engine.run({ udf: u, parameters: { n: "4", flag: "true", tags: '["x"]' } })).value,
      { n: 4, flag: true, tags: ["x"] },
    );
    assert.deepEqual((await engine.run({ udf: u })).value, { n: 3, flag: null, tags: [] });
    await assert.rejects(
      engine.run({ udf: u, parameters: { n: "0" } }),
      (err: Error) => err instanceof ValidationError && /parameter "n"/.test(err.message),
    );
    await assert.rejects(
      engine.run({ udf: u, parameters: { m: "0" } }),
      /unexpected parameter "m": known parameters are n, flag, tags/,
    );
    const sig = await engine.describe(u);
    assert.equal(sig.schema, true);
    assert.deepEqual(sig.parameters[0], {
      name: "n",
      default: 3,
      type: "number",
      description: "how many",
    });
  });
});

Deno.test("describe lists parameters with defaults and types from the source", async () => {
  await withEngine({}, async (engine) => {
    const u = ts(
      `export default async function udf({ n = 10, flag = false, tags = ["a"], when = Date.now(), bounds }: { n?: number; flag?: boolean; tags?: string[]; when?: number; bounds?: number[] }) { return n }`,
    );
    assert.deepEqual(await engine.describe(u), {
      parameters: [
        { name: "n", default: 10, type: "number" },
        { name: "flag", default: false, type: "boolean" },
        { name: "tags", default: ["a"], type: "array" },
        { name: "when" },
        { name: "bounds", type: "bounds" },
      ],
      hasRest: false,
      schema: false,
    });
  });
});

Deno.test("headers are imported by their bare names, also from other headers", async () => {
  await withEngine({}, async (engine) => {
    const u = udf(
      `import { twice } from "utils";
import "side";
export { twice } from "utils";
export default async function udf({ n = 2 }) {
  const dyn = await import("utils");
  return [twice(n), dyn.twice(1), (globalThis as any).sideEffect];
}`,
      {
        name: "with_headers",
        headers: {
          utils:
            `import { factor } from "consts";\nexport function twice(x: number) { return x * factor; }`,
          consts: `export const factor = 2;`,
          side: `(globalThis as any).sideEffect = "ran";`,
        },
      },
    );
    assert.deepEqual((await engine.run({ udf: u, parameters: { n: 5 } })).value, [10, 2, "ran"]);
  });
});

Deno.test("mapped bare names and npm: specifiers load packages and a table comes back", async () => {
  await withEngine({}, async (engine) => {
    const u = ts(`import * as arrow from "apache-arrow";
import { tableFromArrays } from "npm:apache-arrow@21.2.0";
export default function udf({ n = 3 }) {
  const ids = Int32Array.from({ length: n }, (_, i) => i);
  const t = tableFromArrays({ id: ids });
  return arrow.tableFromArrays({ id: t.getChild("id")!.toArray(), x: Float64Array.from(ids, (i) => i / 2) });
}`);
    const { value } = await engine.run({ udf: u, parameters: { n: "4" } });
    assert.ok(isTable(value));
    assert.equal(value.numRows, 4);
    assert.deepEqual([...value.getChild("x")!.toArray()], [0, 0.5, 1, 1.5]);
  });
});

Deno.test("a syntax error is a UdfRuntimeError with its line", async () => {
  await withEngine({}, async (engine) => {
    const u = ts(`export default function udf() {
  const x = 1;
  let y = x +;
}`);
    const err = await runtimeError(engine.run({ udf: u }));
    assert.equal(err.exceptionClass, "SyntaxError");
    assert.equal(err.lineno, 3);
    assert.equal(err.line, "  let y = x +;");
  });
});

Deno.test("an exception carries its class, UDF line, line text and the logs before it", async () => {
  await withEngine({}, async (engine) => {
    const u = ts(`type Row = { a: number };
export default function udf({ n = 1 }) {
  const row: Row = { a: n };
  console.log("before", row.a);
  if (row.a > 0) throw new RangeError("n too big: " + n);
  return row;
}`);
    const err = await runtimeError(engine.run({ udf: u }));
    assert.equal(err.exceptionClass, "RangeError");
    assert.equal(err.lineno, 5);
    assert.equal(err.line, '  if (row.a > 0) throw new RangeError("n too big: " + n);');
    assert.equal(err.logs.stdout, "before 1\n");
    assert.match(err.message, /UDF "t" failed \(line 5: .*\): RangeError: n too big: 1/);
    assert.match(err.stack ?? "", /t\.ts:5:/);
  });
});

Deno.test("a UDF that never ends is stopped by the timeout and the pool keeps serving", async () => {
  await withEngine({ maxWorkers: 1 }, async (engine) => {
    const forever = ts(`export default function udf() { while (true) {} }`, "forever");
    await assert.rejects(engine.run({ udf: forever, timeoutMs: 300 }), UdfTimeoutError);
    assert.equal(engine.stats.workers, 0);
    const ok = ts(`export default function udf() { return 1 }`, "ok");
    assert.equal((await engine.run({ udf: ok })).value, 1);
  });
});

Deno.test("reading an environment variable is denied unless the run gives it", async () => {
  await withEngine({}, async (engine) => {
    const u = ts(
      `export default function udf({ name = "HOME" }) { return Deno.env.get(name) ?? null }`,
    );
    const err = await runtimeError(engine.run({ udf: u }));
    assert.equal(err.exceptionClass, "NotCapable");
    assert.match(err.message, /Requires env access to "HOME".*unless the run allows them/);
    const given = await engine.run({
      udf: u,
      parameters: { name: "TOKEN" },
      env: { TOKEN: "s3cret" },
    });
    assert.equal(given.value, "s3cret");
  });
});

Deno.test("reading a file outside the UDF's folders is denied unless allowRead lists it", async () => {
  const outside = await Deno.makeTempFile({ prefix: "engine_outside_" });
  try {
    await Deno.writeTextFile(outside, "secret");
    await withEngine({}, async (engine) => {
      const u = ts(
        `export default function udf({ path = "" }) { return Deno.readTextFileSync(path) }`,
      );
      for (const path of ["/etc/hostname", outside]) {
        const err = await runtimeError(engine.run({ udf: u, parameters: { path } }));
        assert.equal(err.exceptionClass, "NotCapable");
        assert.match(err.message, new RegExp(`Requires read access to "${path}"`));
      }
      const allowed = await engine.run({
        udf: u,
        parameters: { path: outside },
        allowRead: [outside],
      });
      assert.equal(allowed.value, "secret");
    });
  } finally {
    await Deno.remove(outside);
  }
});

Deno.test("warm runs keep each run's own reach: allowRead once, fused.options' folders moved", async () => {
  const outside = await Deno.makeTempFile({ prefix: "engine_outside_" });
  const moved = await Deno.makeTempDir({ prefix: "engine_moved_" });
  try {
    await Deno.writeTextFile(outside, "secret");
    await withEngine({}, async (engine) => {
      const read = ts(
        `export default function udf({ path = "" }) { return Deno.readTextFileSync(path) }`,
      );
      const parameters = { path: outside };
      const allowed = await engine.run({ udf: read, parameters, allowRead: [outside] });
      assert.equal(allowed.value, "secret");
      // The same version again without allowRead: another process, without that path.
      for (let i = 0; i < 2; i++) {
        const err = await runtimeError(engine.run({ udf: read, parameters }));
        assert.equal(err.exceptionClass, "NotCapable");
      }
      // The local caller's data folder is fused.options' now, not the one of the runs before.
      const write = ts(
        `export default function udf({ path = "" }) { Deno.writeTextFileSync(path, "x"); return "ok" }`,
      );
      const path = `${moved}/out.txt`;
      assert.match(
        (await runtimeError(engine.run({ udf: write, parameters: { path } }))).message,
        /Requires write access/,
      );
      options.update({ dataDirectory: moved });
      try {
        assert.equal((await engine.run({ udf: write, parameters: { path } })).value, "ok");
      } finally {
        options.reset();
      }
      assert.match(
        (await runtimeError(engine.run({ udf: write, parameters: { path } }))).message,
        /Requires write access/,
      );
    });
  } finally {
    await Deno.remove(outside);
    await Deno.remove(moved, { recursive: true });
  }
});

Deno.test("writing a file is denied unless allowWrite lists it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "engine_write_" });
  try {
    await withEngine({}, async (engine) => {
      const u = ts(
        `export default function udf({ path = "" }) { Deno.writeTextFileSync(path, "x"); return "ok" }`,
      );
      const path = `${dir}/out.txt`;
      const err = await runtimeError(engine.run({ udf: u, parameters: { path } }));
      assert.match(err.message, /Requires write access/);
      assert.equal(
        (await engine.run({ udf: u, parameters: { path }, allowWrite: [dir] })).value,
        "ok",
      );
      assert.equal(await Deno.readTextFile(path), "x");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the network is denied unless allowNet lists the host", async () => {
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    () => new Response("pong"),
  );
  try {
    const url = `http://127.0.0.1:${server.addr.port}/`;
    await withEngine({}, async (engine) => {
      const u = ts(
        `export default async function udf({ url = "" }) { return await (await fetch(url)).text() }`,
      );
      const err = await runtimeError(engine.run({ udf: u, parameters: { url } }));
      assert.equal(err.exceptionClass, "NotCapable");
      assert.match(err.message, /Requires net access to "127\.0\.0\.1:\d+"/);
      const ok = await engine.run({
        udf: u,
        parameters: { url },
        allowNet: [`127.0.0.1:${server.addr.port}`],
      });
      assert.equal(ok.value, "pong");
    });
  } finally {
    ac.abort();
    await server.finished;
  }
});

Deno.test("unsupported return values are refused with what a UDF may return", async () => {
  await withEngine({ maxWorkers: 1 }, async (engine) => {
    const cases: [string, RegExp][] = [
      [`() => 1`, /it is a function/],
      [`Symbol("s")`, /it is a symbol/],
      [`new (class Foo {})()`, /instance of Foo/],
      [`10n`, /BigInt/],
      [`(() => { const a: any = {}; a.self = a; return a; })()`, /circular/],
    ];
    for (const [expr, expected] of cases) {
      const u = ts(`export default function udf() { return ${expr} }`, "unsupported");
      const err = await runtimeError(engine.run({ udf: u }));
      assert.match(err.message, /returned an unsupported value/);
      assert.match(err.message, expected);
      assert.match(err.message, /a UDF may return/);
    }
  });
});

Deno.test("rasters, (array, bounds) tuples, bytes and nested number arrays come back", async () => {
  await withEngine({ maxWorkers: 1 }, async (engine) => {
    const tuple = ts(
      `export default function udf() { return [Float32Array.from([1, 2, 3, 4]), [0, 0, 2, 2]] }`,
      "tuple",
    );
    const raster = (await engine.run({ udf: tuple })).value;
    assert.ok(raster instanceof Raster);
    assert.deepEqual(raster.shape, [2, 2]);
    assert.deepEqual(raster.bounds, [0, 0, 2, 2]);
    assert.deepEqual([...raster.data], [1, 2, 3, 4]);
    const bytes = ts(`export default function udf() { return new Uint8Array([1, 2, 3]) }`, "bytes");
    assert.deepEqual((await engine.run({ udf: bytes })).value, new Uint8Array([1, 2, 3]));
    const nested = ts(`export default function udf() { return [[1, 2], [3, 4]] }`, "nested");
    assert.deepEqual((await engine.run({ udf: nested })).value, [[1, 2], [3, 4]]);
    const flat = ts(
      `export default function udf() { return [new Uint8Array(3), [0, 0, 1, 1]] }`,
      "flat",
    );
    assert.match(
      (await runtimeError(engine.run({ udf: flat }))).message,
      /Raster\.from\(data, \[height, width\]\)/,
    );
  });
});

Deno.test("aborting a running UDF stops it and the next run works", async () => {
  await withEngine({ maxWorkers: 1 }, async (engine) => {
    const slow = ts(
      `export default async function udf() { await new Promise((r) => setTimeout(r, 60_000)); return 1 }`,
      "slow",
    );
    const ac = new AbortController();
    const running = engine.run({ udf: slow, signal: ac.signal });
    const queued = engine.run({ udf: slow, signal: ac.signal });
    while (engine.stats.busy === 0) await new Promise((r) => setTimeout(r, 5));
    assert.equal(engine.stats.queued, 1);
    ac.abort("user stop");
    await assert.rejects(
      running,
      (err: Error) => err instanceof UdfCancelledError && /user stop/.test(err.message),
    );
    await assert.rejects(queued, UdfCancelledError);
    assert.deepEqual({ ...engine.stats, started: 0 }, {
      workers: 0,
      busy: 0,
      queued: 0,
      started: 0,
      spares: 0,
      npmInstalls: 0,
    });
    await assert.rejects(engine.run({ udf: slow, signal: ac.signal }), UdfCancelledError);
    const ok = ts(`export default function udf() { return "after" }`, "ok");
    assert.equal((await engine.run({ udf: ok })).value, "after");
  });
});

Deno.test("a second run of the same version reuses the warm Worker and its loaded module", async () => {
  await withEngine({}, async (engine) => {
    const u = ts(`let runs = 0;
export default function udf() { runs += 1; return runs }`);
    assert.equal((await engine.run({ udf: u })).value, 1);
    assert.equal((await engine.run({ udf: u })).value, 2);
    assert.equal(engine.stats.started, 1);
    const other = ts(
      `let runs = 0;\nexport default function udf() { runs += 1; return -runs }`,
      "other",
    );
    assert.equal((await engine.run({ udf: other })).value, -1);
    assert.equal(engine.stats.started, 2);
    assert.equal((await engine.run({ udf: u })).value, 3);
  });
});

Deno.test("each warm run gets its own parameters and environment, nothing left by the run before", async () => {
  await withEngine({ maxWorkers: 1 }, async (engine) => {
    const u = ts(`let runs = 0;
export default function udf({ n = 1, tags = [], name = "x" }) {
  runs += 1;
  tags.push("seen");
  return { runs, n, tags, name, k: Deno.env.toObject().K ?? null };
}`);
    const run = async (parameters: Record<string, unknown>, env?: Record<string, string>) =>
      (await engine.run({ udf: u, parameters, env })).value as Record<string, unknown>;
    // Runs asking the same, then something else, then the same again: each sees its own values.
    const steps: [Record<string, unknown>, Record<string, string> | undefined, unknown][] = [
      [{ n: 2 }, undefined, { n: 2, tags: ["seen"], name: "x", k: null }],
      [{ n: 2 }, undefined, { n: 2, tags: ["seen"], name: "x", k: null }],
      [{ n: 3 }, undefined, { n: 3, tags: ["seen"], name: "x", k: null }],
      [{ n: 3 }, { K: "a" }, { n: 3, tags: ["seen"], name: "x", k: "a" }],
      [{ n: 3 }, { K: "b" }, { n: 3, tags: ["seen"], name: "x", k: "b" }],
      [{ n: 3 }, undefined, { n: 3, tags: ["seen"], name: "x", k: null }],
      [{ n: 3, name: "y" }, undefined, { n: 3, tags: ["seen"], name: "y", k: null }],
      [{ n: 3 }, undefined, { n: 3, tags: ["seen"], name: "x", k: null }],
      // An array the UDF changes: the next run with the same one still gets it unchanged.
      [{ tags: ["a"] }, undefined, { n: 1, tags: ["a", "seen"], name: "x", k: null }],
      [{ tags: ["a"] }, undefined, { n: 1, tags: ["a", "seen"], name: "x", k: null }],
      [{ tags: '["b"]' }, undefined, { n: 1, tags: ["b", "seen"], name: "x", k: null }],
      [{ tags: '["b"]' }, undefined, { n: 1, tags: ["b", "seen"], name: "x", k: null }],
      [{}, undefined, { n: 1, tags: ["seen"], name: "x", k: null }],
      [{}, undefined, { n: 1, tags: ["seen"], name: "x", k: null }],
    ];
    for (const [i, [parameters, env, expected]] of steps.entries()) {
      const { runs, ...value } = await run(parameters, env);
      assert.equal(runs, i + 1, "one process served every run");
      assert.deepEqual(value, expected, `run ${i + 1}`);
    }
    assert.equal(engine.stats.started, 1);
  });
});

Deno.test("output from microtasks a UDF queued and did not await is in its run's logs", async () => {
  await withEngine({ maxWorkers: 1 }, async (engine) => {
    const u = ts(`export default function udf() {
  Promise.resolve().then(() => console.log("a")).then(() => console.log("b"));
  queueMicrotask(() => console.error("c"));
  return 1;
}`);
    for (let i = 0; i < 3; i++) {
      const { value, logs } = await engine.run({ udf: u });
      assert.equal(value, 1);
      assert.deepEqual(logs, { stdout: "a\nb\n", stderr: "c\n" });
    }
  });
});

Deno.test("strings and JSON values come back alike, small or large, under the result cap", async () => {
  await withEngine({ maxWorkers: 1 }, async (engine) => {
    const u = ts(`export default function udf({ kind = "s", n = 1 }) {
  const text = "é".repeat(n);
  if (kind === "s") return text;
  if (kind === "lone") return "\\ud800" + text;
  if (kind === "o") return { text, list: [1, 2.5, null, true], lone: "\\udfff" };
  return [text, n];
}`);
    const run = async (kind: string, n: number) =>
      (await engine.run({ udf: u, parameters: { kind, n } })).value;
    // Around the size where a value stops travelling in the answer's header.
    for (const n of [0, 1, 2000, 4094, 4095, 4096, 5000, 100_000]) {
      const text = "é".repeat(n);
      assert.equal(await run("s", n), text);
      // A lone surrogate in a string result becomes U+FFFD (it travels as UTF-8); inside a JSON
      // value it stays escaped, as JSON keeps it.
      assert.equal(await run("lone", n), "\ufffd" + text);
      assert.deepEqual(await run("o", n), { text, list: [1, 2.5, null, true], lone: "\udfff" });
      assert.deepEqual(await run("a", n), [text, n]);
    }
  });
  await withEngine({ maxWorkers: 1, maxResultBytes: 100 }, async (engine) => {
    const u = ts(`export default function udf({ n = 1 }) { return "x".repeat(n) }`);
    // Under the cap in bytes, whether or not it would fit the header three bytes a character.
    assert.equal((await engine.run({ udf: u, parameters: { n: 30 } })).value, "x".repeat(30));
    assert.equal((await engine.run({ udf: u, parameters: { n: 100 } })).value, "x".repeat(100));
    const err = await runtimeError(engine.run({ udf: u, parameters: { n: 101 } }));
    assert.equal(err.exceptionClass, "ResultTooLargeError");
    assert.match(err.message, /the result is 101 bytes, over the limit of 100/);
  });
});

Deno.test("a full pool stops its least recently used idle Worker for a new version", async () => {
  await withEngine({ maxWorkers: 1 }, async (engine) => {
    const a = ts(`export default function udf() { return "a" }`, "a");
    const b = ts(`export default function udf() { return "b" }`, "b");
    await engine.run({ udf: a });
    await engine.run({ udf: b });
    await engine.run({ udf: b });
    assert.deepEqual(engine.stats, {
      workers: 1,
      busy: 0,
      queued: 0,
      started: 2,
      spares: 0,
      npmInstalls: 0,
    });
  });
});

Deno.test("with maxWorkers 2, four slow runs go two at a time in FIFO order", async () => {
  await withEngine({ maxWorkers: 2 }, async (engine) => {
    const u = ts(`export default async function udf({ i = 0 }) {
  const start = performance.timeOrigin + performance.now();
  await new Promise((r) => setTimeout(r, 150));
  return { i, start, end: performance.timeOrigin + performance.now() };
}`);
    const runs = await Promise.all(
      [0, 1, 2, 3].map((i) => engine.run({ udf: u, parameters: { i } })),
    );
    const spans = runs.map((r) => r.value as { i: number; start: number; end: number });
    const maxOverlap = Math.max(
      ...spans.map((s) => spans.filter((o) => o.start <= s.start && s.start < o.end).length),
    );
    assert.equal(maxOverlap, 2);
    // FIFO: the last two start only after one of the first two ended.
    const firstEnd = Math.min(spans[0].end, spans[1].end);
    assert.ok(spans[2].start >= firstEnd && spans[3].start >= firstEnd);
    assert.equal(engine.stats.started, 2);
  });
});

Deno.test("closing the engine rejects runs still waiting or running", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "engine_test_" });
  const engine = new LocalEngine({ dataDir, maxWorkers: 1 });
  const slow = ts(
    `export default async function udf() { await new Promise((r) => setTimeout(r, 60_000)) }`,
    "slow",
  );
  const running = engine.run({ udf: slow });
  const waiting = engine.run({ udf: slow });
  while (engine.stats.busy === 0) await new Promise((r) => setTimeout(r, 5));
  await engine.close();
  await assert.rejects(running, UdfCancelledError);
  await assert.rejects(waiting, UdfCancelledError);
  await assert.rejects(engine.run({ udf: slow }), /engine is closed/);
  await Deno.remove(dataDir, { recursive: true });
});

Deno.test("an error the UDF did not await fails the run and the pool recovers", async () => {
  await withEngine({ maxWorkers: 1 }, async (engine) => {
    const u = ts(`export default function udf() {
  setTimeout(() => { throw new TypeError("late") }, 0);
  return new Promise(() => {});
}`);
    const err = await runtimeError(engine.run({ udf: u }));
    assert.equal(err.exceptionClass, "TypeError");
    assert.match(err.message, /late/);
    const ok = ts(`export default function udf() { return 2 }`, "ok");
    assert.equal((await engine.run({ udf: ok })).value, 2);
  });
});

async function runScript(source: string, flags: string[]): Promise<{ code: number; out: string }> {
  const dir = await Deno.makeTempDir({
    dir: new URL(".", import.meta.url).pathname,
    prefix: "_script_",
  });
  try {
    await Deno.writeTextFile(`${dir}/main.ts`, source);
    const cmd = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", ...flags, `${dir}/main.ts`],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    });
    const child = cmd.spawn();
    // Bound the wait: a script kept alive by a Worker would otherwise hang the test.
    const timer = setTimeout(() => child.kill(), 20_000);
    const out = await child.output();
    clearTimeout(timer);
    const dec = new TextDecoder();
    return { code: out.code, out: dec.decode(out.stdout) + dec.decode(out.stderr) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const SCRIPT = `import { udf } from "../../client/udf.ts";
import { defaultEngine } from "../mod.ts";
const r = await defaultEngine().run({ udf: udf("export default function udf() { return 7 }", { name: "seven" }) });
console.log("value", r.value, defaultEngine().stats.workers);
`;

Deno.test("idle processes of the default engine do not keep a script running, and no flag is needed", async () => {
  const { code, out } = await runScript(SCRIPT, []);
  assert.equal(code, 0, out);
  assert.match(out, /value 7 1/);
});

Deno.test("a UDF spinning in a loop is really stopped: the script exits on its own", async () => {
  // A spinning UDF's process is SIGKILLed at its timeout; nothing of it keeps the script alive.
  const spin = `import { udf } from "../../client/udf.ts";
import { defaultEngine } from "../mod.ts";
const spin = udf("export default function udf() { let n = 0; while (true) { n++; } }", { name: "spin" });
const helper = udf("function busy() { for (;;) {} }\\nexport default function udf() { busy(); }", { name: "spin2" });
for (const u of [spin, helper]) {
  try {
    await defaultEngine().run({ udf: u, timeoutMs: 200 });
  } catch (err) {
    console.log("stopped", (err as Error).name);
  }
}
`;
  const { code, out } = await runScript(spin, []);
  assert.equal(code, 0, out);
  assert.equal(out.match(/stopped UdfTimeoutError/g)?.length, 2, out);
});

Deno.test("a UDF that allocates without end fails at its memory limit and the pool recovers", async () => {
  await withEngine({ maxWorkers: 1, memoryLimitMb: 128 }, async (engine) => {
    const hog = ts(
      `export default function udf() { const keep = []; while (true) keep.push(new Array(1e5).fill(1)); }`,
      "hog",
    );
    const err = await runtimeError(engine.run({ udf: hog, timeoutMs: 60_000 }));
    assert.equal(err.exceptionClass, "MemoryLimitError");
    assert.match(err.message, /ran out of memory \(limit 128 MB\)/);
    assert.equal(engine.stats.workers, 0); // the process that held the garbage is gone
    assert.equal((await engine.run({ udf: ts("export default () => 2", "after_hog") })).value, 2);
    await assert.rejects(
      engine.run({ udf: ts("export default () => 1", "bad_limit"), memoryLimitMb: 0 }),
      /memoryLimitMb must be at least 128 \(MB\)/,
    );
  });
});

Deno.test("onOutput receives the UDF's output while it runs, before the answer", async () => {
  await withEngine({}, async (engine) => {
    const chatty = ts(
      `export default async function udf() {
  console.log("first");
  await new Promise((r) => setTimeout(r, 300));
  console.error("second");
  return 1;
}`,
      "chatty",
    );
    const seen: string[] = [];
    let answered = false;
    const firstSeen = Promise.withResolvers<boolean>();
    const run = engine.run({
      udf: chatty,
      onOutput: ({ stdout, stderr }) => {
        seen.push(stdout + stderr);
        if (stdout.includes("first")) firstSeen.resolve(answered);
      },
    }).then((r) => {
      answered = true;
      return r;
    });
    assert.equal(await firstSeen.promise, false); // streamed while the UDF was still waiting
    const result = await run;
    assert.equal(seen.join(""), "first\nsecond\n");
    assert.deepEqual(result.logs, { stdout: "first\n", stderr: "second\n" });
  });
});

Deno.test("short runs queue inside a busy process, and one behind a run that times out runs elsewhere", async () => {
  await withEngine({ maxWorkers: 1 }, async (engine) => {
    const u = ts(
      `export default async function udf({ n = 0, wait = 0 }) { if (wait) await new Promise((r) => setTimeout(r, wait)); return n }`,
      "short",
    );
    for (let i = 0; i < 5; i++) await engine.run({ udf: u, parameters: { n: i } }); // short average
    const many = await Promise.all(
      Array.from({ length: 20 }, (_, n) => engine.run({ udf: u, parameters: { n } })),
    );
    assert.deepEqual(many.map((r) => r.value), Array.from({ length: 20 }, (_, n) => n));
    const slow = engine.run({ udf: u, parameters: { n: -1, wait: 60_000 }, timeoutMs: 500 });
    const behind = engine.run({ udf: u, parameters: { n: 7 } });
    await assert.rejects(slow, UdfTimeoutError);
    assert.equal((await behind).value, 7);
  });
});

Deno.test("a run cancelled while queued inside a busy process never runs", async () => {
  await withEngine({ maxWorkers: 1 }, async (engine, dataDir) => {
    const marks = `${dataDir}/marks`;
    await Deno.mkdir(marks);
    const u = ts(
      `export default async function udf({ id = "", wait = 0 }) { if (wait) await new Promise((r) => setTimeout(r, wait)); Deno.writeTextFileSync(${
        JSON.stringify(marks)
      } + "/" + id, "ran"); return id }`,
      "marker",
    );
    for (let i = 0; i < 5; i++) {
      await engine.run({ udf: u, parameters: { id: `warm${i}` }, allowWrite: [marks] });
    }
    const first = engine.run({
      udf: u,
      parameters: { id: "first", wait: 300 },
      allowWrite: [marks],
    });
    const ac = new AbortController();
    const second = engine.run({
      udf: u,
      parameters: { id: "second" },
      allowWrite: [marks],
      signal: ac.signal,
    });
    assert.equal(engine.stats.queued, 1);
    ac.abort("changed my mind");
    await assert.rejects(second, UdfCancelledError);
    assert.equal((await first).value, "first");
    assert.equal(
      (await engine.run({ udf: u, parameters: { id: "third" }, allowWrite: [marks] })).value,
      "third",
    );
    assert.throws(() => Deno.statSync(`${marks}/second`), Deno.errors.NotFound);
  });
});

Deno.test("a bare square typed array comes back as a square raster, a non-square one is refused", async () => {
  await withEngine({ maxWorkers: 1 }, async (engine) => {
    const square = ts(`export default function udf() { return new Float32Array(16 * 16) }`, "sq");
    const raster = (await engine.run({ udf: square })).value;
    assert.ok(raster instanceof Raster);
    assert.deepEqual(raster.shape, [16, 16]);
    assert.equal(raster.bounds, undefined);
    const oblong = ts(`export default function udf() { return new Float32Array(10) }`, "oblong");
    assert.match(
      (await runtimeError(engine.run({ udf: oblong }))).message,
      /Raster\.from\(data, \[height, width\]\)/,
    );
  });
});
