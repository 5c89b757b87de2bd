import assert from "node:assert/strict";
import { withEvaluator } from "./_evaluator_harness.ts";

Deno.test("%%fused --run --map works as the first cell of a fresh kernel, without import", async () => {
  await withEvaluator(async (h) => {
    const cell = "first-cell";
    const out = await h.run(
      "%%fused pts --run --map --no-cache\n" +
        "export default function udf() {\n" +
        '  return { type: "FeatureCollection", features: [{ type: "Feature", properties: {}, ' +
        'geometry: { type: "Point", coordinates: [1, 2] } }] };\n}',
      cell,
    );
    assert.equal(out.status, "ok", JSON.stringify(out));
    const maps = h.events.filter((e) =>
      e.kind === "display" && e.cell === cell &&
      String(e.bundle.data["text/html"]).includes("fused-map")
    );
    assert.ok(maps.length >= 1, "the map was displayed");
  });
});
