import assert from "node:assert/strict";
import { tableFromGeoJSON } from "../client/formats/geo.ts";
import { resetAssets } from "./assets.ts";
import { chart } from "./chart.ts";
import { mapToMimeBundle } from "./map.ts";
import type { MimeBundle } from "./mime.ts";
import { hasChromium, waitForMap, withPage } from "./browser.ts";
import { notebookHtmlArgs } from "./notebook_html.ts";

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

/**
 * A notebook whose cells' outputs are the given bundles, as the kernel would save them, with a
 * saved widget state (as nbclient stores it) so that nbconvert would reach for its widget renderer.
 */
function notebook(bundles: MimeBundle[]): string {
  return JSON.stringify({
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { name: "fused", display_name: "Deno (Fused)", language: "typescript" },
      widgets: {
        "application/vnd.jupyter.widget-state+json": {
          version_major: 2,
          version_minor: 0,
          state: {
            w1: {
              model_name: "HTMLModel",
              model_module: "@jupyter-widgets/controls",
              model_module_version: "2.0.0",
              state: { value: "<b>pool</b>" },
            },
          },
        },
      },
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
  name: "the exported page stands alone: maps, charts and a widget's HTML, nothing from elsewhere",
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
    const widget: MimeBundle = {
      data: {
        "application/vnd.jupyter.widget-view+json": { model_id: "w1", version_major: 2 },
        "text/html": '<div class="saved-widget-html">40/40 done</div>',
        "text/plain": "JobPool(40/40 done)",
      },
    };
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(`${dir}/maps.ipynb`, notebook([first, second, c, widget]));
      const out = await new Deno.Command("jupyter", {
        args: [
          "nbconvert",
          ...notebookHtmlArgs(`${dir}/maps.ipynb`, { outDir: dir, output: "maps" }),
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
      const html = await Deno.readTextFile(`${dir}/maps.html`);
      // Nothing of the machine that made it, nothing from a CDN.
      assert.doesNotMatch(html, /(src|href)="file:|file:\/\/\/usr\//);
      assert.deepEqual(html.match(/<script[^>]*\ssrc=[^>]*>/g) ?? [], []);
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
        assert.equal(await page.locator(".saved-widget-html").textContent(), "40/40 done");
        assert.deepEqual(blocked, []);
      }, { timeoutMs: 90_000 });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
