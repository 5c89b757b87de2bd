import assert from "node:assert/strict";
import { type BenchModule, main } from "./mod.ts";

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
