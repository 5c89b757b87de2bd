/**
 * The other shipped notebooks (`notebooks/main.ipynb`, `notebooks/kernel_basics.ipynb`) in
 * JupyterLab's components (tests/_jupyterlab.ts): Run All without an error, every map drawn,
 * every chart interactive, and the rich HTML of `display(html...)` rendered. The quick-start has
 * its own test (tests/jupyterlab_quickstart_test.ts).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { hasChromium } from "../display/browser.ts";
import {
  cellElement,
  everyMapDraws,
  KNOWN_MISSING_ENDPOINTS,
  KNOWN_SERVER_PAIRING,
  labCellIndex,
  type LabGlobals,
  runAll,
  startJupyterLab,
} from "./_jupyterlab.ts";

const ROOT = new URL("..", import.meta.url).pathname;

Deno.test({
  name: "main.ipynb and kernel_basics.ipynb run in JupyterLab's components with every output shown",
  ignore: !hasChromium(),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const lab = await startJupyterLab({ prefix: "fused-jupyterlab-notebooks-" });
    try {
      await Deno.symlink(join(ROOT, "node_modules"), join(lab.server.dir, "node_modules"));
      for (const name of ["main.ipynb", "kernel_basics.ipynb"]) {
        await lab.server.copyIn(join(ROOT, "notebooks", name), name);
      }

      await t.step("main.ipynb: Run All, its maps drawn and its chart interactive", async () => {
        const tab = await lab.open("main.ipynb");
        const run = await runAll(tab.page, 400_000);
        assert.deepEqual(run.errors, [], lab.server.log().slice(-3000));
        await everyMapDraws(tab.page, "main", 2);
        const chart = await cellElement(tab.page, await labCellIndex(tab.page, "fused.chart("));
        await chart.waitForSelector(".fused-chart[data-rendered='true']");
        assert.deepEqual(tab.blocked, []);
        assert.deepEqual(tab.errors.filter((e) => !KNOWN_SERVER_PAIRING.test(e)), []);
        assert.deepEqual(tab.failed.filter((f) => !KNOWN_MISSING_ENDPOINTS.test(f)), []);
        await tab.page.close();
      });

      await t.step("kernel_basics.ipynb: Run All, streams, values and HTML shown", async () => {
        const tab = await lab.open("kernel_basics.ipynb");
        const run = await runAll(tab.page);
        assert.deepEqual(run.errors, []);
        const cells = await tab.page.evaluate(() => (globalThis as LabGlobals).labPage!.cells());
        const code = cells.filter((c) => c.type === "code");
        assert.ok(code.every((c) => c.outputs.length > 0), "every code cell shows an output");
        const rich = await cellElement(tab.page, await labCellIndex(tab.page, "display(html"));
        const bold = await rich.$eval(".jp-RenderedHTML b", (b) => b.textContent);
        assert.equal(bold, "Rich output");
        const stderr = await tab.page.locator("[data-mime-type='application/vnd.jupyter.stderr']")
          .count();
        assert.ok(stderr > 0, "console.error shows as stderr");
        assert.deepEqual(tab.errors.filter((e) => !KNOWN_SERVER_PAIRING.test(e)), []);
        await tab.page.close();
      });
    } finally {
      await lab.close();
    }
  },
});
