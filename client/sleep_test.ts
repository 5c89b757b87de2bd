import assert from "node:assert/strict";
import { sleep } from "./sleep.ts";

Deno.test("sleep waits, and a signal ends it with its reason, also one aborted before", async () => {
  assert.equal(await sleep(1), undefined);
  const controller = new AbortController();
  const waiting = sleep(60_000, controller.signal);
  controller.abort(new Error("stop"));
  await assert.rejects(waiting, /stop/);
  await assert.rejects(sleep(10, controller.signal), /stop/);
});
