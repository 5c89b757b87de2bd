import assert from "node:assert/strict";
import { shortMessage } from "./backend_errors.ts";

Deno.test("an error as a plain object (as pg-boss emits some) is read, not [object Object]", () => {
  const emitted = { ...new Error("x"), message: "Connection terminated unexpectedly.", queue: "q" };
  assert.equal(shortMessage(emitted), "Connection terminated unexpectedly");
  assert.equal(shortMessage({ code: "ECONNRESET" }), '{"code":"ECONNRESET"}');
  assert.equal(shortMessage(new Error("first line.\nsecond")), "first line");
  assert.equal(shortMessage("plain"), "plain");
});
