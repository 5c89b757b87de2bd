import assert from "node:assert/strict";
import { UdfRuntimeError, ValidationError } from "../client/errors.ts";
import { udf } from "../client/udf.ts";
import { runError } from "./_run_errors.ts";

const LOGS = { stdout: "out", stderr: "" };
const BROKEN = udf(`export default function udf() {\n  return missing();\n}`, { name: "broken" });

Deno.test("a validation failure becomes a ValidationError with its message", () => {
  const err = runError(BROKEN, {
    kind: "validation",
    message: "Unknown parameter x",
    exceptionClass: "ValidationError",
  }, LOGS);
  assert.ok(err instanceof ValidationError);
  assert.equal(err.message, "Unknown parameter x");
});

Deno.test("a runtime failure names the UDF's line, keeps its logs and its frames", () => {
  const err = runError(BROKEN, {
    kind: "runtime",
    message: "missing is not defined",
    exceptionClass: "ReferenceError",
    lineno: 2,
    stack: "ReferenceError: missing is not defined\n    at udf (udf.ts:2:3)\nnoise",
  }, LOGS);
  assert.ok(err instanceof UdfRuntimeError);
  assert.equal(err.exceptionClass, "ReferenceError");
  assert.equal(err.line, "  return missing();");
  assert.deepEqual(err.logs, LOGS);
  assert.equal(err.stack, `${err.name}: ${err.message}\n    at udf (udf.ts:2:3)`);
});

Deno.test("a refusal of the sandbox names the run options that allow it", () => {
  const err = runError(BROKEN, {
    kind: "runtime",
    message: 'Requires net access to "example.com:443"',
    exceptionClass: "NotCapable",
  }, LOGS);
  assert.match(err.message, /a UDF runs in a sandbox: .*allowNet, env, allowRead, allowWrite/);
});

Deno.test("a failed npm import drops Deno's project advice and says how a UDF imports packages", () => {
  const err = runError(BROKEN, {
    kind: "runtime",
    message:
      `Could not find a matching package for 'npm:h3-js@99'. Ensure you have all your JSR and npm dependencies listed in your deno.json file.\n    hint: If you want to use the npm package 'h3-js', add it to deno.json`,
    exceptionClass: "TypeError",
  }, LOGS);
  assert.doesNotMatch(err.message, /deno\.json/);
  assert.match(err.message, /by an npm: specifier written in its code, such as "npm:h3-js@4"/);
});
