import assert from "node:assert/strict";
import {
  AWAIT_NAME,
  CellSyntaxError,
  checkComplete,
  resolveSpecifier,
  TICK_NAME,
  transformCell,
} from "./_transform.ts";

Deno.test("type annotations are stripped without moving lines", () => {
  const { js, linesExact } = transformCell("const a: number = 1;\n\nconst b: string = 'x';", {
    interruptChecks: false,
  });
  assert.equal(linesExact, true);
  assert.equal(js.split("\n").length, 3);
  assert.match(js.split("\n")[2], /^const b\s+= 'x';$/);
});

Deno.test("enums fall back to a full transform", () => {
  const { js, linesExact } = transformCell("enum E { A, B }\nE.B", { interruptChecks: false });
  assert.equal(linesExact, false);
  assert.match(js, /E\[E\["B"\] = 1\]/);
});

Deno.test("static imports become awaited dynamic imports with the same bindings", () => {
  const { js } = transformCell(
    'import d, { a as b, c } from "./m.ts";\nimport * as ns from "node:path";\nimport "npm:x";',
    { cwd: "/nb", interruptChecks: false },
  );
  const lines = js.split("\n");
  const w = AWAIT_NAME;
  assert.equal(lines[0], `const { default: d, a: b, c } = await ${w}(import("file:///nb/m.ts"));`);
  assert.equal(lines[1], `const ns = await ${w}(import("node:path"));`);
  assert.equal(lines[2], `await ${w}(import("npm:x"));`);
});

Deno.test("a multi-line import keeps the line count", () => {
  const { js } = transformCell('import {\n  a,\n  b,\n} from "node:fs";\nx', {
    interruptChecks: false,
  });
  assert.equal(js.split("\n").length, 5);
  assert.equal(js.split("\n")[4], "x");
});

Deno.test("loop bodies and function bodies get an interrupt check", () => {
  const { js } = transformCell("while (true) x++;\nfunction f() { return 1 }\nconst g = () => 2;");
  assert.equal(js.split(TICK_NAME).length - 1, 3);
  assert.match(js, new RegExp(`while \\(true\\) \\{\\${TICK_NAME}\\(\\);x\\+\\+;\\}`));
});

Deno.test("top-level awaits go through the interruptible await, nested ones do not", () => {
  const { js } = transformCell("await a();\nasync function f() { await b(); }");
  assert.equal(js.split(AWAIT_NAME).length - 1, 1);
  assert.match(js, new RegExp(`await \\${AWAIT_NAME}\\(a\\(\\)\\)`));
});

Deno.test("export keywords are dropped at the top level", () => {
  const { js } = transformCell("export const q = 1;", { interruptChecks: false });
  assert.equal(js, "const q = 1;");
});

Deno.test("a syntax error carries the cell line and column", () => {
  assert.throws(() => transformCell("let a = 1;\nlet b = = 2;"), (e) => {
    assert.ok(e instanceof CellSyntaxError);
    assert.equal(e.line, 2);
    assert.equal(e.column, 8);
    return true;
  });
});

Deno.test("relative and absolute specifiers resolve against the notebook directory", () => {
  assert.equal(resolveSpecifier("./a.ts", "/work/nb"), "file:///work/nb/a.ts");
  assert.equal(resolveSpecifier("../b.ts", "/work/nb/"), "file:///work/b.ts");
  assert.equal(resolveSpecifier("/abs/c.ts", "/x"), "file:///abs/c.ts");
  assert.equal(resolveSpecifier("npm:zod@4", "/x"), "npm:zod@4");
  assert.equal(resolveSpecifier("fused", "/x"), "fused");
});

Deno.test("checkComplete asks for more lines for open brackets and templates", () => {
  assert.deepEqual(checkComplete("if (x) {"), { status: "incomplete", indent: "  " });
  assert.equal(checkComplete("const s = `abc").status, "incomplete");
  assert.equal(checkComplete("foo(1,").status, "incomplete");
  assert.equal(checkComplete("a)").status, "invalid");
  assert.equal(checkComplete("const ok = 1").status, "complete");
  assert.equal(checkComplete("%%time").status, "complete");
});
