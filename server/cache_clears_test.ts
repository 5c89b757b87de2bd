import assert from "node:assert/strict";
import { udf } from "../client/udf.ts";
import type { RunResponse } from "../client/engine_types.ts";
import { createDatabase } from "../tests/_postgres.ts";
import { announceCacheClear, clearLocalCaches, followCacheClears } from "./cache_clears.ts";
import { ResponseMemo } from "./_response_memo.ts";
import { PostgresRegistry } from "./registry/postgres.ts";
import { RunService, type UdfRunner } from "./runs.ts";

const RUNNER: UdfRunner = () =>
  Promise.resolve({ data: "hi", logs: { stdout: "", stderr: "" }, timeTakenMs: 1 } as RunResponse);

/** A run service holding one cached answer of UDF `u1`. */
async function cachedService(): Promise<RunService> {
  const runs = new RunService(RUNNER, { runTimeoutMs: 10_000 });
  await runs.execute({
    udf: udf("export default () => 'hi'", { name: "hi" }),
    udfId: "u1",
    parameters: {},
    format: "json",
    cacheMaxAge: 3600,
  });
  assert.equal(runs.cacheEntries, 1);
  return runs;
}

Deno.test("a clear removes this service's cached answers and memo", async () => {
  const runs = await cachedService();
  const memo = new ResponseMemo();
  memo.remember("http://x/a", new Uint8Array([1]), {}, 10_000);
  assert.equal(await clearLocalCaches({ runs, memo }, { udfId: "other", folder: null }), 0);
  assert.equal(runs.cacheEntries, 1);
  assert.equal(await clearLocalCaches({ runs, memo }, { udfId: "u1", folder: null }), 1);
  assert.equal(runs.cacheEntries, 0);
  assert.equal(memo.answer(new Request("http://x/a")), undefined);
});

Deno.test("a clear announced by one service empties the caches of every service following", async () => {
  const url = await createDatabase("clears");
  const [a, b] = [await PostgresRegistry.open(url), await PostgresRegistry.open(url)];
  const [runsA, runsB] = [await cachedService(), await cachedService()];
  const stops = [
    await followCacheClears(a, { runs: runsA }),
    await followCacheClears(b, { runs: runsB }),
  ];
  try {
    await announceCacheClear(a, { udfId: "u1", folder: null });
    for (let i = 0; i < 100 && runsA.cacheEntries + runsB.cacheEntries > 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(runsB.cacheEntries, 0, "the other service cleared its cache");
    assert.equal(runsA.cacheEntries, 0);
  } finally {
    for (const stop of stops) await stop();
    await a.close();
    await b.close();
  }
});
