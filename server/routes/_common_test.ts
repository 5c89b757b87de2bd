import assert from "node:assert/strict";
import { runParameters } from "./_common.ts";

Deno.test("run parameters: query over body, reserved keys and nulls left out, values as text", () => {
  const body = { a: "body", n: 3, list: [1, 2], skip: null, format: "json" };
  const query = { a: "query", cache_max_age: "0", b: "x" };
  assert.deepEqual(runParameters(query, body), {
    a: "query",
    n: "3",
    list: "[1,2]",
    b: "x",
  });
  assert.deepEqual(runParameters({}), {});
});
