import assert from "node:assert/strict";
import { startEvaluator } from "./evaluator.ts";
import type { ExecuteOutcome } from "./evaluator_types.ts";

async function run(code: string): Promise<ExecuteOutcome> {
  const ev = await startEvaluator();
  try {
    return await ev.execute(code, {
      cell: "c1",
      silent: false,
      allowStdin: false,
      requestInput: () => Promise.reject(new Error("no stdin")),
    });
  } finally {
    await ev.shutdown();
  }
}

Deno.test("an Arrow table value shows as an HTML table with its shape", async () => {
  const out = await run(`
import * as arrow from "apache-arrow";
arrow.tableFromArrays({ id: Int32Array.of(1, 2, 3), name: ["a", "b", "<c>"] })`);
  assert.equal(out.status, "ok");
  const data = out.status === "ok" ? out.result!.data : {};
  assert.match(String(data["text/html"]), /3 rows/);
  assert.match(String(data["text/html"]), /&lt;c&gt;/);
  assert.ok(data["application/vnd.dataresource+json"]);
});

Deno.test("an HTML string shows as HTML and a plain string keeps REPL quoting", async () => {
  const out = await run(`"<b>bold</b>"`);
  assert.equal(out.status === "ok" && out.result!.data["text/html"], "<b>bold</b>");
  const plain = await run(`"hello"`);
  assert.equal(plain.status === "ok" && plain.result!.data["text/html"], undefined);
  assert.equal(plain.status === "ok" && plain.result!.data["text/plain"], '"hello"');
});

Deno.test("a Udf value shows its name and code", async () => {
  const out = await run(`
import * as fused from "fused";
fused.udf("export default function udf({ n = 1 }) { return n }", { name: "shown" })`);
  const data = out.status === "ok" ? out.result!.data : {};
  assert.match(String(data["text/html"]), /shown/);
  assert.match(String(data["text/html"]), /export default function udf/);
});

Deno.test("a map made with fused.map keeps its bundle metadata (the map's id) in the output", async () => {
  const out = await run(`
import * as fused from "fused";
fused.map({ type: "Point", coordinates: [2.35, 48.86] })`);
  assert.equal(out.status, "ok");
  const result = out.status === "ok" ? out.result! : undefined;
  const meta = result?.metadata?.["text/html"] as Record<string, { id: string }> | undefined;
  assert.match(String(meta?.["fused:map"]?.id), /^fused-map-/);
  assert.ok(String(result?.data["text/html"]).includes(`id="${meta?.["fused:map"]?.id}"`));
});
