import assert from "node:assert/strict";
import {
  describeMagics,
  formatDuration,
  getMagic,
  parseCell,
  registerMagic,
  UnknownMagicError,
} from "./registry.ts";

Deno.test("a cell magic on the first line takes the rest of the cell as its body", () => {
  assert.deepEqual(parseCell("%%time -q\nconst a = 1;\na"), {
    type: "cell_magic",
    name: "time",
    args: "-q",
    body: "const a = 1;\na",
    bodyLine: 2,
  });
});

Deno.test("line magics split a cell into segments that keep their line numbers", () => {
  const parsed = parseCell("const a = 1;\n%lsmagic\nconsole.log(a);");
  assert.equal(parsed.type, "segments");
  if (parsed.type !== "segments") return;
  assert.deepEqual(parsed.segments, [
    { type: "code", code: "const a = 1;", firstLine: 1 },
    { type: "line_magic", name: "lsmagic", args: "", line: 2 },
    { type: "code", code: "console.log(a);", firstLine: 3 },
  ]);
});

Deno.test("a % line inside a template literal is not a magic", () => {
  const parsed = parseCell("const t = `\n%notmagic\n`;");
  assert.equal(parsed.type, "segments");
  assert.equal(parsed.type === "segments" && parsed.segments.length, 1);
});

Deno.test("the built-in magics are registered", () => {
  assert.ok(getMagic("line", "lsmagic"));
  assert.ok(getMagic("cell", "time"));
  assert.ok(getMagic("cell", "capture"));
  assert.match(describeMagics(), /%%capture/);
});

Deno.test("a registered magic shows in the listing and unknown-magic errors", () => {
  registerMagic({ name: "demo_magic", kind: "cell", help: "demo", run: () => 1 });
  assert.match(describeMagics(), /%%demo_magic/);
  assert.match(new UnknownMagicError("cell", "nope").message, /%%demo_magic/);
});

Deno.test("a magic name with spaces is rejected with a clear error", () => {
  assert.throws(
    () => registerMagic({ name: "bad name", kind: "line", help: "", run: () => undefined }),
    /Cannot register magic "bad name"/,
  );
});

Deno.test("durations print like IPython", () => {
  assert.equal(formatDuration(12.34), "12.3 ms");
  assert.equal(formatDuration(1520), "1.52 s");
  assert.equal(formatDuration(0.045), "45 µs");
});
