/**
 * The quick-start notebook in JupyterLab 4's own components (tests/_jupyterlab.ts: its notebook,
 * rendermime, output area, services and widget-manager packages, driven in headless Chromium
 * against a real Jupyter server on 127.0.0.1), as a JupyterLab user meets it: Run All, every
 * map drawn, the live tile layer fetching tiles, the chart, table and rasters shown, a UDF error
 * with its line, cells nobody prepared (a GeoJSON map, a chart of rows, an uncaught UDF error),
 * then save and reload (trusted: the server signed what JupyterLab saved) and reload untrusted
 * (an edit outside JupyterLab): every map and chart shows its static image.
 *
 * Run All stops short of `%fused serve --stop` (the tile map and the reloads need the service);
 * the stop cell runs last.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { hasChromium } from "../display/browser.ts";
import { freePort } from "./_notebook6.ts";
import {
  appendAndRun,
  cellElement,
  everyMapDraws,
  KNOWN_MISSING_ENDPOINTS,
  KNOWN_SERVER_PAIRING,
  labCellIndex,
  type LabGlobals,
  type LabPage,
  labTrusted,
  mapCells,
  outputText,
  reloadLab,
  runCells,
  saveLab,
  startJupyterLab,
  staticImages,
} from "./_jupyterlab.ts";
import { ARTIFACTS, mapState, pixels } from "./_map_checks.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const NAME = "quickstart.ipynb";

Deno.test({
  name: "quick-start in JupyterLab's components: run, draw, save, reload trusted and untrusted",
  ignore: !hasChromium(),
  // Playwright keeps its own connection and timers after close; finally blocks close them.
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const lab = await startJupyterLab({ env: { FUSED_QUICKSTART_PORT: String(freePort()) } });
    let tab: LabPage | undefined;
    try {
      // The notebook reads ../node_modules (vega-datasets) as it does from notebooks/.
      await Deno.symlink(join(ROOT, "node_modules"), join(lab.server.dir, "node_modules"));
      await lab.server.copyIn(join(ROOT, "notebooks", NAME), NAME);
      tab = await lab.open(NAME);
      const page = tab.page;
      // The last code cell is run after the others: until then it shows how an unrun cell stays.
      const lastCell = (await page.evaluate(() => (globalThis as LabGlobals).labPage!.cells()))
        .findLastIndex((c) => c.type === "code");
      const chartCell = await labCellIndex(page, "fused.chart(quakes");
      const tableCell = await labCellIndex(page, "const quakes = tableFromArrays");
      const errorCell = await labCellIndex(page, "let failure");
      assert.ok(Math.min(lastCell, chartCell, tableCell, errorCell) > 0);
      assert.equal(await labTrusted(page), false, "a notebook nobody signed opens untrusted");
      let maps = 0;
      // Each step also fails on a console error of its own (not the server pairing's).
      let seen = 0;
      const step = (name: string, fn: () => Promise<void>) =>
        t.step(name, async () => {
          await fn();
          const fresh = tab!.errors.slice(seen).filter((e) => !KNOWN_SERVER_PAIRING.test(e));
          seen = tab!.errors.length;
          assert.deepEqual(fresh, [], "the page logged errors during this step");
        });

      await step("Run All executes every cell without an error", async () => {
        const all = Array.from({ length: lastCell }, (_, i) => i);
        const run = await runCells(page, all, 400_000);
        assert.deepEqual(run.errors, [], lab.server.log().slice(-3000));
        assert.equal(run.ok, true);
        const cells = await page.evaluate(() => (globalThis as LabGlobals).labPage!.cells());
        const ran = cells.filter((c, i) => c.type === "code" && i < lastCell);
        assert.ok(ran.every((c) => c.trusted), "cells run in the session are trusted");
        assert.equal(cells[lastCell].trusted, false, "the cell not run stays untrusted");
        const last = await runCells(page, [lastCell]);
        assert.deepEqual(last.errors, []);
        console.log(`Run All: ${((run.ms + last.ms) / 1000).toFixed(1)} s`);
      });

      await step("every map canvas is drawn", async () => {
        maps = (await everyMapDraws(page, "run", 4)).length;
      });

      await step("the tile-layer map draws tiles from the kernel's service", async () => {
        const tileCell = await labCellIndex(page, "%%fused wave_tiles --map");
        const cell = await cellElement(page, tileCell);
        const id = (await cell.$eval(".fused-map", (e) => e.id))!;
        const state = await mapState(page, id);
        assert.equal(state.tile ?? null, null, `tile error: ${state.tile}`);
        await page.waitForFunction(
          (mapId: string) =>
            // deno-lint-ignore no-explicit-any
            (globalThis as any).__fusedMaps[mapId].map.isSourceLoaded("fused-tiles"),
          id,
          { timeout: 60_000 },
        );
        const shot = await pixels(page, `#${id} .fused-map-canvas canvas`, "lab_tiles.png");
        assert.ok(shot.grey > 5000, `only ${shot.grey} tile (grey) pixels`);
      });

      await step("the chart, the table, the rasters and the UDF error are shown", async () => {
        const chart = await cellElement(page, chartCell);
        await chart.waitForSelector(
          ".fused-chart[data-rendered='true'] canvas, " +
            ".fused-chart[data-rendered='true'] svg",
        );
        const table = await outputText(page, tableCell);
        assert.match(table, /rows × \d+ columns?/);
        for (const source of ["fused.Raster(distance", "new fused.Raster(rgb"]) {
          const cell = await cellElement(page, await labCellIndex(page, source));
          const width = await cell.$eval(
            ".jp-RenderedImage img",
            (i) => (i as unknown as { naturalWidth: number }).naturalWidth,
          );
          assert.equal(width, 96, `${source}: the raster image`);
        }
        assert.match(await outputText(page, errorCell), /line 2: if \(n < 0\) throw/);
      });

      await step("cells nobody prepared: a GeoJSON map, a chart of rows, an error", async () => {
        const geo = await appendAndRun(
          page,
          `fused.map({ type: "FeatureCollection", features: [
  { type: "Feature", properties: { name: "route" },
    geometry: { type: "LineString", coordinates: [[2.35, 48.86], [13.4, 52.52], [21.01, 52.23]] } },
  { type: "Feature", properties: { name: "zone" },
    geometry: { type: "Polygon", coordinates: [[[0, 40], [10, 40], [10, 45], [0, 45], [0, 40]]] } },
] })`,
        );
        assert.deepEqual(geo.errors, []);
        maps = (await everyMapDraws(page, "new", maps + 1)).length;
        const rows = await appendAndRun(
          page,
          `fused.chart([{ day: 1, runs: 3 }, { day: 2, runs: 5 }, { day: 3, runs: 4 }], {
  mark: "line", encoding: { x: { field: "day", type: "quantitative" }, y: { field: "runs", type: "quantitative" } },
})`,
        );
        assert.deepEqual(rows.errors, []);
        const n = await page.evaluate(() => (globalThis as LabGlobals).labPage!.cells().length);
        const chart = await cellElement(page, n - 1);
        await chart.waitForSelector(".fused-chart[data-rendered='true']");
        const failed = await appendAndRun(page, "await fused.run(checked_sqrt, { n: -4 })");
        assert.equal(failed.errors.length, 1);
        assert.equal(failed.errors[0].ename, "UdfRuntimeError");
        assert.match(await outputText(page, n), /line 2: if \(n < 0\)[^]*RangeError: n must be 0/);
      });

      await step("saved and reloaded trusted, every map and chart draws again", async () => {
        await saveLab(page);
        await reloadLab(page);
        assert.equal(await labTrusted(page), true, "JupyterLab's save signed the notebook");
        await everyMapDraws(page, "trusted", maps);
        const chart = await cellElement(page, chartCell);
        await chart.waitForSelector(".fused-chart[data-rendered='true']");
      });

      await step("reloaded untrusted, maps and charts show their static images", async () => {
        await lab.server.untrust(NAME);
        await reloadLab(page);
        assert.equal(await labTrusted(page), false);
        for (const index of await mapCells(page)) {
          const images = (await staticImages(page, index)).filter((i) => i.alt.startsWith("Map: "));
          assert.equal(images.length, 1, `map cell ${index}: ${JSON.stringify(images)}`);
          assert.equal(images[0].w, 800);
          assert.match(await outputText(page, index), /Trust Notebook/);
        }
        const charts = (await staticImages(page, chartCell)).filter((i) =>
          i.alt.startsWith("Vega-Lite chart")
        );
        assert.equal(charts.length, 1, "the untrusted chart shows its static image");
        assert.ok(charts[0].w > 100);
        // Untrusted: no script of ours ran.
        // deno-lint-ignore no-explicit-any
        assert.equal(await page.evaluate(() => (globalThis as any).__fusedMapAssets), undefined);
        const cell = await cellElement(page, chartCell);
        const shot = await cell.$(".jp-RenderedHTML img");
        await shot!.screenshot({ path: join(ARTIFACTS, "lab_untrusted_chart.png") });
      });

      await t.step("the page never reached beyond 127.0.0.1", () => {
        assert.deepEqual(tab!.blocked, []);
        const ours = tab!.errors.filter((e) => !KNOWN_SERVER_PAIRING.test(e));
        assert.deepEqual(ours, []);
        assert.deepEqual(tab!.failed.filter((f) => !KNOWN_MISSING_ENDPOINTS.test(f)), []);
      });
    } finally {
      await lab.close();
    }
  },
});
