import assert from "node:assert/strict";
import { withInterruptChecks } from "./interrupt_checks.ts";

const TICK = "$tick";

Deno.test("every loop and function body starts with a check, on the same lines", () => {
  const src = [
    "export default function udf({ n = 1 }: { n?: number }): number {",
    "  let s: number = 0;",
    "  for (let i = 0; i < n; i++) s += i;",
    "  do { s--; } while (s > 10);",
    "  const f = (x: number): number => x * 2;",
    "  return f(s);",
    "}",
  ].join("\n");
  const out = withInterruptChecks(src, TICK);
  assert.equal(out.split("\n").length, src.split("\n").length);
  assert.equal(out.match(/\$tick\(\)/g)?.length, 4);
  assert.match(out, /for \(let i = 0; i < n; i\+\+\) \{\$tick\(\);s \+= i;\}/);
  assert.match(out, /=> \(\$tick\(\), \(x \* 2\)\)/);
});

Deno.test("the checked code still computes the same and a set flag stops a spin", () => {
  const js = withInterruptChecks(
    "export function sum(n: number): number { let s = 0; for (let i = 0; i < n; i++) s += i; return s; }",
    TICK,
  );
  const body = js.replace("export ", "").replace(/: number/g, "");
  let calls = 0;
  const sum = new Function(TICK, `${body}; return sum;`)(() => calls++);
  assert.equal(sum(10), 45);
  assert.equal(calls, 11);
  const spin = new Function(TICK, withInterruptChecks("while (true) {}", TICK));
  let ticks = 0;
  assert.throws(() =>
    spin(() => {
      if (++ticks > 1000) throw new Error("stopped");
    }), /stopped/);
});

Deno.test("code that cannot be stripped in place or parsed is left as it is", () => {
  const withEnum = "enum Color { Red }\nexport default () => { while (true) {} };";
  assert.equal(withInterruptChecks(withEnum, TICK), withEnum);
  const broken = "export default function ( {";
  assert.equal(withInterruptChecks(broken, TICK), broken);
});
