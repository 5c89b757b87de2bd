import assert from "node:assert/strict";
import { udf } from "../client/udf.ts";
import type { RunResponse } from "../client/engine_types.ts";
import { SharedPolledRuns } from "./polled_runs.ts";
import { siblingStoreUrl } from "./s3_storage.ts";
import { RunService, type RunSpec, type UdfRunner } from "./runs.ts";
import { LocalStorage } from "./storage.ts";

const ANSWER = {
  status: 200,
  body: new TextEncoder().encode('"hello"'),
  headers: { "content-type": "application/json" },
};

Deno.test("the run store is a sibling of the fd:// store, out of every fd:// path", () => {
  assert.equal(siblingStoreUrl("s3://bucket/fused", "runs"), "s3://bucket/fused.runs");
  assert.equal(siblingStoreUrl("s3://bucket/a/b/", "runs"), "s3://bucket/a/b.runs");
  assert.equal(siblingStoreUrl("s3://bucket", "runs"), "s3://bucket/.fused.runs");
  assert.equal(siblingStoreUrl("/srv/fused/store/", "cache"), "/srv/fused/store.cache");
});

Deno.test("a shared run is running, then answered, only for its owner, until forgotten", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const runs = new SharedPolledRuns(new LocalStorage(dir));
    assert.equal(await runs.find("ann", "r1"), undefined);
    await runs.begin("ann", "r1", Date.now() + 60_000);
    assert.equal(await runs.find("ann", "r1"), null);
    assert.equal(await runs.find("bob", "r1"), undefined, "another user's run is unknown");
    await runs.finish("ann", "r1", ANSWER);
    assert.deepEqual(await runs.find("ann", "r1"), ANSWER);
    await runs.forget("ann", "r1");
    assert.equal(await runs.find("ann", "r1"), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a shared run past its time with no answer is reported lost, as a 503", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const runs = new SharedPolledRuns(new LocalStorage(dir));
    await runs.begin("ann", "r2", Date.now() - 1);
    const lost = await runs.find("ann", "r2");
    assert.equal(lost?.status, 503);
    assert.match(new TextDecoder().decode(lost!.body), /was lost: the service running it stopped/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a run started on one run service is polled through another sharing the store", async () => {
  const dir = await Deno.makeTempDir();
  const release = Promise.withResolvers<void>();
  const slow: UdfRunner = async () => {
    await release.promise;
    return { data: "hello", logs: { stdout: "", stderr: "" }, timeTakenMs: 1 } as RunResponse;
  };
  const never: UdfRunner = () => Promise.reject(new Error("B runs nothing"));
  const store = new LocalStorage(dir);
  const options = { runTimeoutMs: 60_000, startWaitMs: 10, pollWaitMs: 10 };
  const a = new RunService(slow, { ...options, shared: new SharedPolledRuns(store) });
  const b = new RunService(never, { ...options, shared: new SharedPolledRuns(store) });
  const spec: RunSpec = {
    udf: udf("export default () => 'hello'", { name: "hello" }),
    udfId: null,
    parameters: {},
    format: "json",
    cacheMaxAge: 0,
  };
  try {
    assert.equal(await a.start(spec, "run-1", "ann"), null, "still running: a 202");
    assert.equal(await b.poll("run-1", "ann"), null);
    assert.equal(await b.poll("run-1", "bob"), undefined);
    release.resolve();
    await a.drain();
    const answer = await b.poll("run-1", "ann");
    assert.equal(answer?.status, 200);
    assert.equal(new TextDecoder().decode(answer!.body), '"hello"');
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
