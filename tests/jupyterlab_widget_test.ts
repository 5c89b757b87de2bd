/**
 * The JobPool widget in JupyterLab's components (tests/_jupyterlab.ts): a cell typed into a new
 * notebook displays a pool and awaits `pool.wait()`; `@jupyter-widgets/jupyterlab-manager`,
 * set up by its own plugins, renders the widget from the live kernel's comms; a click on its
 * Cancel button ends the cell. Saved and reloaded, the manager restores the live widget from
 * the kernel; reloaded untrusted, the output shows the pool's HTML (the widget view is not a
 * safe MIME type in JupyterLab).
 */
import assert from "node:assert/strict";
import { hasChromium } from "../display/browser.ts";
import {
  appendAndRun,
  appendCell,
  KNOWN_MISSING_ENDPOINTS,
  KNOWN_SERVER_PAIRING,
  type LabGlobals,
  labTrusted,
  reloadLab,
  saveLab,
  startJupyterLab,
  waitRun,
} from "./_jupyterlab.ts";

const NAME = "pool.ipynb";

/** A notebook with no cells, for the fused kernel. */
const EMPTY = JSON.stringify({
  nbformat: 4,
  nbformat_minor: 5,
  metadata: { kernelspec: { name: "fused", display_name: "Deno (Fused)", language: "typescript" } },
  cells: [],
});

/** Runs 120 tasks of 400 ms, four at a time: long enough to be cancelled by a click. */
const POOL_CELL = `import * as fused from "fused";
const nap = fused.udf(
  "export default async function udf({ i = 0 }) { await new Promise((r) => setTimeout(r, 400)); return i * 2; }",
  { name: "nap_lab" },
);
const pool = await fused.submit(nap, Array.from({ length: 120 }, (_, i) => ({ i })), {
  collect: false, engine: "local", maxWorkers: 4, cache: false,
});
display(pool);
await pool.wait();
"pool ended"`;

Deno.test({
  name: "JupyterLab's widget manager renders the JobPool widget and its Cancel ends pool.wait()",
  ignore: !hasChromium(),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const lab = await startJupyterLab();
    try {
      await Deno.writeTextFile(`${lab.server.root}/${NAME}`, EMPTY);
      const tab = await lab.open(NAME);
      const page = tab.page;
      const cancel = page.locator(".jp-OutputArea .widget-button", { hasText: "Cancel" });
      let cancelled = 0;

      await t.step("the widget renders live and Cancel ends the awaiting cell", async () => {
        const run = await appendCell(page, POOL_CELL);
        await cancel.waitFor({ state: "visible" });
        await page.waitForFunction(() => {
          // deno-lint-ignore no-explicit-any
          const doc = (globalThis as any).document;
          const bar = doc.querySelector(".jp-OutputArea .widget-hprogress .progress-bar");
          return bar !== null && parseFloat(bar.style.width) > 0;
        });
        assert.ok(await page.locator(".widget-html-content", { hasText: "/120" }).count() > 0);
        const running = await page.evaluate(
          (id: string) => (globalThis as LabGlobals).labPage!.runs[id].done,
          run,
        );
        assert.equal(running, false, "the cell still awaits pool.wait() before the click");
        await cancel.click();
        const done = await waitRun(page, run, 120_000);
        assert.deepEqual(done.errors, []);
        const cells = await page.evaluate(() => (globalThis as LabGlobals).labPage!.cells());
        const result = cells.at(-1)!.outputs.find((o) => o.output_type === "execute_result");
        assert.equal((result?.data as Record<string, string>)["text/plain"], '"pool ended"');
      });

      await t.step("the kernel's pool agrees and the widget shows the final counts", async () => {
        const status = await appendAndRun(page, "console.log(JSON.stringify(pool.status()))");
        assert.deepEqual(status.errors, []);
        const cells = await page.evaluate(() => (globalThis as LabGlobals).labPage!.cells());
        const text = cells.at(-1)!.outputs.map((o) => String(o.text ?? "")).join("");
        const counts = JSON.parse(text) as Record<string, number>;
        cancelled = counts.cancelled;
        assert.ok(cancelled > 0, `cancelled: ${cancelled}`);
        assert.equal(counts.success + counts.cancelled, 120);
        await page.locator(".widget-html-content", { hasText: `${cancelled} cancelled` }).waitFor();
        assert.equal(await cancel.isDisabled(), true, "Cancel is disabled once the pool is done");
      });

      await t.step(
        "saved and reloaded, the manager restores the widget from the kernel",
        async () => {
          await saveLab(page);
          await reloadLab(page);
          assert.equal(await labTrusted(page), true);
          await page.locator(".widget-html-content", { hasText: `${cancelled} cancelled` })
            .waitFor();
          assert.equal(await cancel.isDisabled(), true);
        },
      );

      await t.step("reloaded untrusted, the output shows the pool's HTML", async () => {
        await lab.server.untrust(NAME);
        await reloadLab(page);
        assert.equal(await labTrusted(page), false);
        const html = page.locator(".jp-RenderedHTML", { hasText: `${cancelled} cancelled` });
        await html.waitFor();
        assert.equal(await page.locator(".jp-OutputArea .widget-button").count(), 0);
      });

      await t.step("nothing left 127.0.0.1 and the page logged no error of ours", () => {
        assert.deepEqual(tab.blocked, []);
        assert.deepEqual(tab.errors.filter((e) => !KNOWN_SERVER_PAIRING.test(e)), []);
        assert.deepEqual(tab.failed.filter((f) => !KNOWN_MISSING_ENDPOINTS.test(f)), []);
      });
    } finally {
      await lab.close();
    }
  },
});
