import assert from "node:assert/strict";
import * as acorn from "acorn";
import { applyEdits, interruptCheckEdits } from "./interrupt_checks.ts";

const TICK = "$tick";

/** JavaScript with a check at the start of every loop and function body. */
function withChecks(js: string): string {
  const ast = acorn.parse(js, { ecmaVersion: "latest", sourceType: "module" });
  return applyEdits(js, interruptCheckEdits(ast, TICK));
}

Deno.test("every loop and function body starts with a check, on the same lines", () => {
  const src = [
    "export default function udf({ n = 1 }) {",
    "  let s = 0;",
    "  for (let i = 0; i < n; i++) s += i;",
    "  do { s--; } while (s > 10);",
    "  const f = (x) => x * 2;",
    "  return f(s);",
    "}",
  ].join("\n");
  const out = withChecks(src);
  assert.equal(out.split("\n").length, src.split("\n").length);
  assert.equal(out.match(/\$tick\(\)/g)?.length, 4);
  assert.match(out, /for \(let i = 0; i < n; i\+\+\) \{\$tick\(\);s \+= i;\}/);
  assert.match(out, /=> \(\$tick\(\), \(x \* 2\)\)/);
});

Deno.test("the checked code still computes the same and a set flag stops a spin", () => {
  const js = withChecks(
    "function sum(n) { let s = 0; for (let i = 0; i < n; i++) s += i; return s; }",
  );
  let calls = 0;
  const sum = new Function(TICK, `${js}; return sum;`)(() => calls++);
  assert.equal(sum(10), 45);
  assert.equal(calls, 11);
  const spin = new Function(TICK, withChecks("while (true) {}"));
  let ticks = 0;
  assert.throws(() =>
    spin(() => {
      if (++ticks > 1000) throw new Error("stopped");
    }), /stopped/);
});
