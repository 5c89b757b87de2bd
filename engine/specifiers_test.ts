import assert from "node:assert/strict";
import { findSpecifiers, rewriteSpecifiers } from "./specifiers.ts";

function specifiers(code: string): string[] {
  return findSpecifiers(code).map((s) => s.specifier);
}

Deno.test("every import and export form yields its specifier", () => {
  const code = [
    `import { a } from "utils";`,
    `import * as b from 'b';`,
    `import c, { d } from "c"`,
    `import "side";`,
    `import type { T } from "types";`,
    `export { e } from "e";`,
    `export * from "star";`,
    `export * as ns from "ns";`,
    `const m = await import("dyn");`,
    `type X = import("typeonly").X;`,
    `import {\n  f,\n  g,\n} from\n  "multi";`,
  ].join("\n");
  assert.deepEqual(specifiers(code), [
    "utils",
    "b",
    "c",
    "side",
    "types",
    "e",
    "star",
    "ns",
    "dyn",
    "typeonly",
    "multi",
  ]);
});

Deno.test("strings, comments, templates and regexes that look like imports are skipped", () => {
  const code = [
    `// import { x } from "comment1";`,
    `/* export * from "comment2"; */`,
    `const s = 'import "string1"';`,
    `const t = \`import x from "tpl" \${ "from" } \${ { a: "b" }.a } end\`;`,
    `const r = /import "regex" from "x"/g;`,
    `const d = 4 / 2; const e = a / b / c;`,
    `const obj = { from: "prop", import: "prop2" };`,
    `import { real } from "real";`,
  ].join("\n");
  assert.deepEqual(specifiers(code), ["real"]);
});

Deno.test("code after a template with nested braces is still read", () => {
  const code = 'const t = `${ {a: `${1}`}.a }`;\nimport x from "after";';
  assert.deepEqual(specifiers(code), ["after"]);
});

Deno.test("TypeScript syntax does not confuse the lexer", () => {
  const code = [
    `function f<T extends { a: string }>(x: T): Array<T> { return [x] as T[]; }`,
    `const y = <number> z / 2;`,
    `enum E { A = 1 / 2 }`,
    `export default async function udf({ n = 10 }: { n?: number }): Promise<number> { return n / 2; }`,
    `import { h } from "h";`,
  ].join("\n");
  assert.deepEqual(specifiers(code), ["h"]);
});

Deno.test("rewriting replaces only the mapped specifiers and keeps line numbers", () => {
  const code =
    `import { f } from "utils";\nimport "other";\nconst s = "utils";\nexport * from "utils";\n`;
  const out = rewriteSpecifiers(code, (s) => (s === "utils" ? "./utils.ts" : undefined));
  assert.equal(
    out,
    `import { f } from "./utils.ts";\nimport "other";\nconst s = "utils";\nexport * from "./utils.ts";\n`,
  );
  assert.equal(out.split("\n").length, code.split("\n").length);
});

Deno.test("import.meta and property names called import are not specifiers", () => {
  const code = `const u = import.meta.url; obj.import("x"); foo.from "y";`;
  assert.deepEqual(specifiers(code), []);
});
