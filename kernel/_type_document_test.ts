import assert from "node:assert/strict";
import { buildTypeDocument } from "./_type_document.ts";

const cwd = "/tmp/notebook";

Deno.test("the document is the executed cells then the current cell, cursor mapped", () => {
  const code = "const b = a;\nb.";
  const doc = buildTypeDocument(["const a = 1;"], code, code.length, { cwd })!;
  const lines = doc.text.split("\n");
  assert.equal(lines[doc.line].slice(0, doc.character), "b.");
  assert.ok(doc.text.indexOf("const a = 1;") < doc.text.indexOf("const b = a;"));
});

Deno.test("a name declared again in a later cell is renamed in the earlier one", () => {
  const doc = buildTypeDocument(
    ["function g(): { old: number } { return { old: 1 }; }", "function g(): { fresh: 1 } { }"],
    "g().",
    4,
    { cwd },
  )!;
  assert.equal(doc.text.match(/function g\(/g)?.length, 1);
  assert.match(doc.text, /function g__fusedShadow0\(\): \{ old: number \}/);
});

Deno.test("shorthand imports and destructuring keep their key when renamed", () => {
  const doc = buildTypeDocument(
    ['import { tableFromIPC } from "apache-arrow";\nconst { x } = { x: 1 };'],
    "const x = 2; const tableFromIPC = 3;",
    0,
    { cwd },
  )!;
  assert.match(doc.text, /import \{ tableFromIPC as tableFromIPC__fusedShadow0 \}/);
  assert.match(doc.text, /const \{ x: x__fusedShadow0 \}/);
});

Deno.test("the current cell's declarations shadow earlier ones even while it does not parse", () => {
  const code = "const t = arrow.tableFrom(\nt.";
  const doc = buildTypeDocument(["const t = 1;"], code, code.length, { cwd })!;
  assert.match(doc.text, /const t__fusedShadow0 = 1;/);
});

Deno.test("magic lines are blanked and cell magics left out", () => {
  const code = "%time 1\nconst z = 1;\nz";
  const doc = buildTypeDocument(["%%time\nconst hidden = 1;"], code, code.length, { cwd })!;
  assert.doesNotMatch(doc.text, /hidden|%/);
  assert.equal(doc.text.split("\n")[doc.line].slice(0, doc.character), "z");
});

Deno.test("a cursor in a magic gets no document", () => {
  assert.equal(buildTypeDocument([], "%%fused --eng", 13, { cwd }), undefined);
  assert.equal(buildTypeDocument([], "const a = 1;\n%tim", 17, { cwd }), undefined);
});

Deno.test("relative imports become absolute file URLs and the cursor follows", () => {
  const code = 'import { u } from "./lib.ts";\nu.';
  const doc = buildTypeDocument(['import "../setup.ts";'], code, code.length, { cwd })!;
  assert.match(doc.text, /import "file:\/\/\/tmp\/setup\.ts";/);
  assert.match(doc.text, /from "file:\/\/\/tmp\/notebook\/lib\.ts"/);
  assert.equal(doc.text.split("\n")[doc.line].slice(0, doc.character), "u.");
});
