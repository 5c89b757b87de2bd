import assert from "node:assert/strict";
import { UdfRuntimeError, ValidationError } from "../client/errors.ts";
import { isUdfRuntimeError, udfErrorToMimeBundle } from "./error.ts";

function failure(stdout = "", stderr = ""): UdfRuntimeError {
  return new UdfRuntimeError("my_udf", {
    message: "x is <undefined>",
    exceptionClass: "TypeError",
    lineno: 7,
    line: "  return x.y;",
    logs: { stdout, stderr },
  });
}

Deno.test("a UDF error shows its message, the UDF line and the logs", () => {
  const b = udfErrorToMimeBundle(failure("step 1\nstep 2\n", "warning!\n"));
  const plain = String(b.data["text/plain"]);
  assert.match(plain, /UDF "my_udf" failed \(line 7: return x\.y;\): TypeError/);
  assert.match(plain, /--- stdout ---\nstep 1\nstep 2/);
  assert.match(plain, /--- stderr ---\nwarning!/);
  const html = String(b.data["text/html"]);
  assert.match(html, /at <b>line 7: return x\.y;<\/b>/);
  assert.match(html, /x is &lt;undefined&gt;/);
  assert.match(html, /step 2/);
});

Deno.test("long logs keep their end, where the failure is", () => {
  const b = udfErrorToMimeBundle(failure("a".repeat(1000) + "THE END"), { maxLogChars: 50 });
  const plain = String(b.data["text/plain"]);
  assert.match(plain, /characters cut/);
  assert.match(plain, /THE END/);
});

Deno.test("only UdfRuntimeError is displayed as a UDF error", () => {
  assert.equal(isUdfRuntimeError(failure()), true);
  assert.equal(isUdfRuntimeError(new ValidationError("no")), false);
});
