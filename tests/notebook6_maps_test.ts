/**
 * The quick-start's maps in classic Notebook 6 (Debian's `jupyter-notebook`, started on
 * 127.0.0.1 by the test) driven in headless Chromium, as a user meets them: Run All, every map
 * drawn, the live tile layer drawing tiles straight from the kernel's service (no proxy: the
 * browser sees the service's own CORS headers), then save and reload, trusted and untrusted, a
 * re-run of the first map, and the first map's output cleared with the last cell moved to the top.
 *
 * One notebook server, one kernel and one browser serve every step; each wait is bounded.
 *
 * Run All stops short of the last cell (`%fused serve --stop`): the tile map asks for its tiles
 * while later cells run, and the reload steps need the service too; the stop cell runs last.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { hasChromium } from "../display/browser.ts";
import {
  cellIndex,
  freePort,
  isTrusted,
  launchBrowser,
  type NotebookPage,
  openNotebook,
  reloadNotebook,
  runCells,
  saveNotebook,
  startNotebook6,
} from "./_notebook6.ts";
import { ARTIFACTS, assertMapDrawn, mapIds as mapsIn, mapState, pixels } from "./_map_checks.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const NAME = "quickstart.ipynb";

/** The map outputs of the notebook, in page order. */
const mapIds = (page: Page) => mapsIn(page, ".output_area");

/** Asserts every map on the page is drawn by MapLibre, with a non-blank canvas. */
async function everyMapDraws(page: Page, label: string, expected: number): Promise<string[]> {
  const ids = await mapIds(page);
  assert.equal(ids.length, expected, `${label}: map outputs on the page`);
  for (const [i, id] of ids.entries()) {
    await assertMapDrawn(page, id, `${label}: map ${i}`, `nb6_${label}_${i}.png`);
  }
  return ids;
}

Deno.test({
  name: "quick-start maps in classic Notebook 6: run, save, reload, trusted and untrusted",
  ignore: !hasChromium(),
  // Playwright keeps its own connection and timers after close; finally blocks close them.
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    await Deno.mkdir(ARTIFACTS, { recursive: true });
    const nb = await startNotebook6({
      prefix: "fused-nb6-maps-",
      env: { FUSED_QUICKSTART_PORT: String(freePort()) },
    });
    const browser = await launchBrowser();
    let tab: NotebookPage | undefined;
    try {
      // The notebook reads ../node_modules (vega-datasets) as it does from notebooks/.
      await Deno.symlink(join(ROOT, "node_modules"), join(nb.dir, "node_modules"));
      await Deno.writeTextFile(
        join(nb.root, NAME),
        await Deno.readTextFile(join(ROOT, "notebooks", NAME)),
      );
      tab = await openNotebook(browser, nb, NAME);
      const page = tab.page;
      const firstMap = await cellIndex(page, { source: "fused.map(quakes" });
      assert.ok(firstMap > 0);
      let maps = 0;

      // Every cell, as Run All: the notebook leaves its service running for the tile layer.
      await t.step("Run All executes every cell without an error", async () => {
        const report = await runCells(page, "all", 300_000);
        assert.deepEqual(report.errors, [], nb.log().slice(-3000));
        assert.ok(report.executed > 40, `${report.executed} cells ran`);
        console.log(`Run All: ${report.executed} cells in ${(report.ms / 1000).toFixed(1)} s`);
      });

      await t.step("every map canvas is drawn", async () => {
        maps = (await everyMapDraws(page, "run", 4)).length;
      });

      await t.step("the tile-layer map draws tiles from the kernel's service", async () => {
        const ids = await mapIds(page);
        const tileMap = ids.at(-1)!;
        const state = await mapState(page, tileMap);
        assert.equal(state.tile ?? null, null, `tile error: ${state.tile}`);
        await page.waitForFunction(
          (mapId: string) => {
            // deno-lint-ignore no-explicit-any
            const m = (globalThis as any).__fusedMaps[mapId].map;
            return m.isSourceLoaded("fused-tiles");
          },
          tileMap,
          { timeout: 60_000 },
        );
        const shot = await pixels(page, `#${tileMap} .fused-map-canvas canvas`, "nb6_tiles.png");
        assert.ok(shot.grey > 5000, `only ${shot.grey} tile (grey) pixels`);
      });

      await t.step("saved and reloaded trusted, every map draws again", async () => {
        await saveNotebook(page);
        await nb.trust(NAME);
        await reloadNotebook(page);
        assert.equal(await isTrusted(page), true);
        await everyMapDraws(page, "trusted", maps);
      });

      await t.step("the first map re-run, saved and reloaded: every map draws", async () => {
        const before = await mapIds(page);
        const report = await runCells(page, [firstMap]);
        assert.deepEqual(report.errors, []);
        const after = await mapIds(page);
        assert.notEqual(after[0], before[0], "the re-run made a new map output");
        await saveNotebook(page);
        await reloadNotebook(page);
        assert.equal(await isTrusted(page), true);
        const ids = await everyMapDraws(page, "rerun", maps);
        assert.equal(ids[0], after[0]);
      });

      await t.step(
        "the first map cleared and the last moved to the top: every map draws",
        async () => {
          const lastMap = await cellIndex(page, { source: "%%fused wave_tiles --map" });
          await page.evaluate(([first, last]: number[]) => {
            // deno-lint-ignore no-explicit-any
            const notebook = (globalThis as any).Jupyter.notebook;
            notebook.get_cell(first).clear_output();
            for (let i = last; i > 0; i--) notebook.move_cell_up(i);
          }, [firstMap, lastMap]);
          await saveNotebook(page);
          await reloadNotebook(page);
          maps -= 1;
          await everyMapDraws(page, "cleared", maps);
        },
      );

      await t.step("reloaded untrusted, every map and the chart show static images", async () => {
        await saveNotebook(page);
        await nb.untrust(NAME);
        await reloadNotebook(page);
        assert.equal(await isTrusted(page), false);
        const images = await page.evaluate(() =>
          Array.from(
            // deno-lint-ignore no-explicit-any
            (globalThis as any).document.querySelectorAll(
              ".output_html img[src^='data:image/']",
            ),
            // deno-lint-ignore no-explicit-any
            (img: any) => ({ w: img.naturalWidth, h: img.naturalHeight, alt: img.alt }),
          )
        );
        const mapImages = images.filter((i) => i.alt.startsWith("Map: "));
        assert.equal(mapImages.length, maps, JSON.stringify(images));
        for (const img of mapImages) assert.ok(img.w === 800 && img.h > 0, JSON.stringify(img));
        // The chart's static SVG survives the sanitizer as an image too.
        const charts = images.filter((i) => i.alt.startsWith("Vega-Lite chart"));
        assert.equal(charts.length, 1, JSON.stringify(images));
        assert.ok(charts[0].w > 100, JSON.stringify(charts[0]));
        // Untrusted: no map script ran.
        // deno-lint-ignore no-explicit-any
        assert.equal(await page.evaluate(() => (globalThis as any).__fusedMapAssets), undefined);
        const shot = await pixels(page, ".output_html img[alt^='Map: ']", "nb6_untrusted.png");
        assert.ok(shot.colours > 16, "the static image of the first map looks blank");
      });

      await t.step("the page never reached beyond 127.0.0.1", () => {
        assert.deepEqual(tab!.blocked, []);
        const ours = tab!.errors.filter((e) => /\bfused\b|maplibre|ERR_CONNECTION/i.test(e));
        assert.deepEqual(ours, []);
      });

      await t.step("with the service stopped, the tile map says it is not running", async () => {
        const stop = await page.evaluate(() => {
          // deno-lint-ignore no-explicit-any
          const notebook = (globalThis as any).Jupyter.notebook;
          notebook.insert_cell_at_bottom("code").set_text("%fused serve --stop");
          return notebook.get_cells().length - 1;
        });
        assert.deepEqual((await runCells(page, [stop])).errors, []);
        await saveNotebook(page);
        await nb.trust(NAME);
        await reloadNotebook(page);
        const note = page.locator(".fused-map-error", { hasText: "tile layer" }).first();
        await note.waitFor({ timeout: 60_000 });
        const text = (await note.textContent()) ?? "";
        assert.match(text, /the service at http:\/\/127\.0\.0\.1:\d+ is not running/);
        assert.doesNotMatch(text, /CORS/);
      });
    } finally {
      await browser.close();
      await nb.close();
    }
  },
});
