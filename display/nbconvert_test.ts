import assert from "node:assert/strict";
import { tableFromGeoJSON } from "../client/formats/geo.ts";
import { resetAssets } from "./assets.ts";
import { chart } from "./chart.ts";
import { mapToMimeBundle } from "./map.ts";
import type { MimeBundle } from "./mime.ts";
import { hasChromium, waitForMap, withPage } from "./browser.ts";

function hasNbconvert(): boolean {
  try {
    return new Deno.Command("jupyter", {
      args: ["nbconvert", "--version"],
      stdout: "null",
      stderr: "null",
    })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** A notebook whose cells' outputs are the given bundles, as the kernel would save them. */
function notebook(bundles: MimeBundle[]): string {
  return JSON.stringify({
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { name: "fused", display_name: "Deno (Fused)", language: "typescript" },
    },
    cells: bundles.map((b, i) => ({
      cell_type: "code",
      id: `c${i}`,
      execution_count: i + 1,
      metadata: {},
      source: [`display(${i})`],
      outputs: [{ output_type: "display_data", data: b.data, metadata: b.metadata ?? {} }],
    })),
  });
}

Deno.test({
  name: "maps and charts still work after jupyter nbconvert --to html, MapLibre unpacked once",
  ignore: !hasChromium() || !hasNbconvert(),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    resetAssets();
    const geo = tableFromGeoJSON({
      type: "FeatureCollection",
      features: [
        {
          type: "Feature",
          geometry: { type: "Point", coordinates: [2.35, 48.86] },
          properties: { n: 1 },
        },
        {
          type: "Feature",
          geometry: { type: "Polygon", coordinates: [[[5, 45], [10, 45], [10, 47], [5, 45]]] },
          properties: { n: 2 },
        },
      ],
    });
    const first = await mapToMimeBundle(geo);
    const second = await mapToMimeBundle(geo, { color: "n" });
    const c = await chart([{ a: "x", b: 2 }], {
      mark: "bar",
      encoding: { x: { field: "a", type: "nominal" }, y: { field: "b", type: "quantitative" } },
    }).toMimeBundle();
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(`${dir}/maps.ipynb`, notebook([first, second, c]));
      const out = await new Deno.Command("jupyter", {
        args: ["nbconvert", "--to", "html", `${dir}/maps.ipynb`],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
      const html = await Deno.readTextFile(`${dir}/maps.html`);
      // Each map output carries the asset script (MapLibre, its worker, the basemap).
      assert.equal((html.match(/__fusedMapAssets\)return;/g) ?? []).length, 2);
      const ids = [first, second].map((b) =>
        (b.metadata?.["text/html"] as Record<string, { id: string }>)["fused:map"].id
      );
      await withPage(html, async ({ page, blocked }) => {
        for (const id of ids) {
          const state = await waitForMap(page, id);
          assert.equal(state.loaded, true, state.error ?? "");
        }
        // deno-lint-ignore no-explicit-any
        const evaluated = await page.evaluate(() => (globalThis as any).__fusedMapAssetsEvaluated);
        assert.equal(evaluated, 1);
        await page.waitForFunction(
          () =>
            // deno-lint-ignore no-explicit-any
            (globalThis as any).document.querySelector(".fused-chart[data-rendered=true]") !== null,
          null,
          { timeout: 30_000 },
        );
        await page.screenshot({ path: "tests/artifacts/nbconvert_page.png", fullPage: true });
        // Only nbconvert's own template reaches out (require.js, MathJax); our outputs never do.
        const ours = blocked.filter((u) => !/require\.js|mathjax|jquery/i.test(u));
        assert.deepEqual(ours, []);
      }, { timeoutMs: 90_000 });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
