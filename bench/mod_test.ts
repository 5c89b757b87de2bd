import assert from "node:assert/strict";
import { type BenchModule, main } from "./mod.ts";
import { reportRow } from "./_summary.ts";

Deno.test("each bench runs whole: its main gets no arguments, not the names of the benches", async () => {
  const seen: Record<string, string[] | undefined> = {};
  const fake = (name: string): () => Promise<BenchModule> => () =>
    Promise.resolve({
      main: (args?: string[]) => {
        seen[name] = args;
        return Promise.resolve();
      },
    });
  await main(["server", "engine"], { benches: { server: fake("server"), engine: fake("engine") } });
  assert.deepEqual(seen, { server: [], engine: [] });
});

Deno.test("an unknown bench name is refused with the names to choose from", async () => {
  await assert.rejects(
    main(["nosuch"], { benches: { server: () => Promise.reject(new Error("not loaded")) } }),
    /^Error: Unknown benchmark nosuch: choose from server$/,
  );
});

Deno.test("the rows the benches report are printed together at the end, each against its goal", async () => {
  const printed: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => void printed.push(a.join(" "));
  try {
    const bench = (value: number): () => Promise<BenchModule> => () =>
      Promise.resolve({
        main: () => {
          reportRow({ path: `row ${value}`, value, unit: "x", baseline: "raw", atMost: 1.3 });
          return Promise.resolve();
        },
      });
    await main(["a", "b"], { benches: { a: bench(1.25), b: bench(2) } });
  } finally {
    console.log = log;
  }
  const summary = printed.at(-1)!;
  assert.match(summary, /^\n# Summary/);
  assert.match(summary, /\| row 1.25 \| 1.25x \| raw \| ≤ 1.3x \| yes \|/);
  assert.match(summary, /\| row 2 \| 2.00x \| raw \| ≤ 1.3x \| no \|/);
});

Deno.test("a row without exactly one goal, or with no number, is refused", () => {
  assert.throws(() => reportRow({ path: "p", value: 1, unit: "x", baseline: "b" }), /exactly one/);
  assert.throws(
    () => reportRow({ path: "p", value: NaN, unit: "s", baseline: "b", atMost: 3 }),
    /NaN/,
  );
});
