import assert from "node:assert/strict";
import { udf } from "../client/udf.ts";
import type { RunResponse } from "../client/engine_types.ts";
import { RunService, type RunSpec, type UdfRunner } from "./runs.ts";
import { SharedRunCache } from "./shared_run_cache.ts";
import { LocalStorage } from "./storage.ts";

const SPEC: RunSpec = {
  udf: udf("export default () => 'hi'", { name: "hi" }),
  udfId: "u1",
  parameters: { n: "1" },
  format: "json",
  cacheMaxAge: 3600,
};

Deno.test("a result computed through one run service is a hit through another, until cleared", async () => {
  const dir = await Deno.makeTempDir();
  let computed = 0;
  const runner: UdfRunner = () => {
    computed++;
    return Promise.resolve(
      { data: "hi", logs: { stdout: "", stderr: "" }, timeTakenMs: 1 } as RunResponse,
    );
  };
  const store = new LocalStorage(dir);
  const service = () =>
    new RunService(runner, { runTimeoutMs: 10_000, sharedCache: new SharedRunCache(store) });
  try {
    const [a, b, c] = [service(), service(), service()];
    const first = await a.execute(SPEC);
    assert.equal(first.headers["x-fused-cached"], undefined);
    const second = await b.execute(SPEC);
    assert.equal(computed, 1, "B did not compute it again");
    assert.equal(second.headers["x-fused-cached"], "true");
    assert.deepEqual(second.body, first.body);
    // Other parameters, or no cache at all, are computed.
    await b.execute({ ...SPEC, parameters: { n: "2" } });
    await b.execute({ ...SPEC, cacheMaxAge: 0 });
    assert.equal(computed, 3);
    await a.clearSharedCache("u1");
    await c.execute(SPEC);
    assert.equal(computed, 4, "a cleared entry is computed again");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an entry older than the run's cache age is not used", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const cache = new SharedRunCache(new LocalStorage(dir));
    const answer = { status: 200, body: new Uint8Array([1, 2]), headers: { etag: "x" } };
    await cache.put(null, "k", answer);
    assert.deepEqual(await cache.get(null, "k", 60), answer);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(await cache.get(null, "k", 0.01), undefined);
    assert.equal(await cache.get("u1", "k", 60), undefined, "another UDF's entry is apart");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("one user's cached answer is never another's, on one service or across them", async () => {
  const dir = await Deno.makeTempDir();
  // The same code answers per caller, as a UDF reading its caller's own folder would.
  const runner: UdfRunner = (_udf, options) =>
    Promise.resolve({
      data: `secret of ${options.callerId}`,
      logs: { stdout: "", stderr: "" },
      timeTakenMs: 1,
    } as RunResponse);
  const store = new LocalStorage(dir);
  const service = () =>
    new RunService(runner, { runTimeoutMs: 10_000, sharedCache: new SharedRunCache(store) });
  const text = (a: { body: Uint8Array }) => new TextDecoder().decode(a.body);
  try {
    const [a, b] = [service(), service()];
    assert.match(text(await a.execute({ ...SPEC, callerId: "alice" })), /secret of alice/);
    assert.match(text(await a.execute({ ...SPEC, callerId: "bob" })), /secret of bob/);
    assert.match(text(await b.execute({ ...SPEC, callerId: "mallory" })), /secret of mallory/);
    const again = await b.execute({ ...SPEC, callerId: "alice" });
    assert.equal(again.headers["x-fused-cached"], "true");
    assert.match(text(again), /secret of alice/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
