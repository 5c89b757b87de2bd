/**
 * The JobPool in classic Notebook 6 without ipywidgets (Debian's `jupyter-notebook`, started on
 * 127.0.0.1 by the test), driven in headless Chromium as a user meets it: the pool's HTML shows
 * live progress and a Cancel button that ends the cell awaiting `pool.wait()`, the toolbar's
 * Stop cancels a pool the cell awaits, no widget comm errors reach the console, the saved
 * notebook keeps the final state, and a cell added after load is highlighted as TypeScript.
 *
 * One notebook server, one kernel and one browser serve every step; each wait is bounded.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Page } from "playwright-core";
import {
  launchBrowser,
  type NotebookPage,
  openNotebook,
  outputSelector,
  reloadNotebook,
  saveNotebook,
  startNotebook6,
} from "./_notebook6.ts";

const NAME = "job_pool.ipynb";

const slowPool = (name: string, variable: string) =>
  `import * as fused from "fused";
const ${name} = fused.udf(
  "export default async function udf({ n = 0 }) { await new Promise((r) => setTimeout(r, 300)); return n; }",
  { name: "${name}" },
);
const ${variable} = await fused.submit(${name}, Array.from({ length: 200 }, (_, n) => ({ n })), {
  collect: false, engine: "local", maxWorkers: 4, cache: false,
});
display(${variable});
await ${variable}.wait();
"waited"`;

const CELLS = [
  slowPool("slow_cancel", "pool"),
  "console.log(JSON.stringify(pool.status()))",
  slowPool("slow_stop", "stopped"),
  "console.log(JSON.stringify(stopped.status()))",
];

function notebook(): Record<string, unknown> {
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { name: "fused", display_name: "Deno (Fused)", language: "typescript" },
    },
    cells: CELLS.map((source, i) => ({
      cell_type: "code",
      id: `cell-${i}`,
      metadata: {},
      execution_count: null,
      outputs: [],
      source,
    })),
  };
}

/** Starts executing cell `index` (as Shift-Enter does) without waiting for it. */
async function startCell(page: Page, index: number): Promise<void> {
  await page.evaluate((i: number) => {
    // deno-lint-ignore no-explicit-any
    (globalThis as any).Jupyter.notebook.execute_cells([i]);
  }, index);
}

/** Waits until cell `index` has run (its prompt has a number) and the kernel is idle. */
async function cellDone(page: Page, index: number): Promise<void> {
  await page.waitForFunction(
    (i: number) => {
      // deno-lint-ignore no-explicit-any
      const nb = (globalThis as any).Jupyter.notebook;
      const cell = nb.get_cell(i);
      return typeof cell.input_prompt_number === "number" && !nb.kernel_busy;
    },
    index,
    { timeout: 120_000, polling: 200 },
  );
}

/** The text of cell `index`'s outputs (streams and text/plain results). */
async function outputText(page: Page, index: number): Promise<string> {
  return await page.evaluate((i: number) => {
    // deno-lint-ignore no-explicit-any
    const outputs = (globalThis as any).Jupyter.notebook.get_cell(i).output_area.outputs;
    // deno-lint-ignore no-explicit-any
    return outputs.map((o: any) => o.text ?? o.data?.["text/plain"] ?? "").join("");
  }, index);
}

/** Waits until cell `index` shows its pool with some runs finished. */
async function progressShown(page: Page, index: number): Promise<void> {
  await page.waitForFunction(
    (sel: string) => {
      // deno-lint-ignore no-explicit-any
      const bar = (globalThis as any).document.querySelector(`${sel} progress`);
      return bar !== null && Number(bar.value) >= 4;
    },
    outputSelector(index),
    { timeout: 120_000, polling: 200 },
  );
}

Deno.test("JobPool in Notebook 6 without ipywidgets: Cancel and Stop end the cell, no widget errors", async (t) => {
  const nb = await startNotebook6({ prefix: "fused-nb6-widget-" });
  const browser = await launchBrowser();
  let session: NotebookPage | undefined;
  try {
    await Deno.writeTextFile(join(nb.root, NAME), JSON.stringify(notebook(), null, 1));
    session = await openNotebook(browser, nb, NAME);
    const { page } = session;

    await t.step("a cell added after load is highlighted as TypeScript", async () => {
      // Notebook 6 loads a kernel's CodeMirror mode asynchronously once kernel_info arrives, as
      // a user sees "Kernel ready" before typing: wait for that, not a fixed time.
      await page.waitForFunction(
        () => {
          // deno-lint-ignore no-explicit-any
          const g = globalThis as any;
          return g.Jupyter?.notebook?.kernel?.info_reply?.language_info !== undefined &&
            g.CodeMirror?.modes?.javascript !== undefined;
        },
        undefined,
        { timeout: 60_000, polling: 100 },
      );
      const seen = await page.evaluate(() => {
        // deno-lint-ignore no-explicit-any
        const J = (globalThis as any).Jupyter;
        const cell = J.notebook.insert_cell_at_bottom("code");
        cell.set_text("let limit: number = 1;");
        const cm = cell.code_mirror;
        const mode = cm.getMode().name;
        const option = cm.getOption("mode");
        // "number" after the colon is a type only in TypeScript.
        const token = cm.getTokenTypeAt({ line: 0, ch: "let limit: num".length });
        J.notebook.delete_cell(J.notebook.find_cell_index(cell));
        return { mode, option, token };
      });
      assert.equal(seen.mode, "javascript");
      assert.deepEqual(seen.option, { name: "javascript", typescript: true });
      assert.equal(seen.token, "type");
    });

    await t.step("the HTML's Cancel button ends the cell awaiting pool.wait()", async () => {
      await startCell(page, 0);
      await progressShown(page, 0);
      const button = page.locator(`${outputSelector(0)} .fused-job-pool-cancel-button`);
      await button.waitFor({ state: "visible", timeout: 60_000 });
      assert.equal(await button.textContent(), "Cancel");
      await button.click();
      await cellDone(page, 0);
      assert.match(await outputText(page, 0), /"waited"/);
      await startCell(page, 1);
      await cellDone(page, 1);
      const status = JSON.parse(await outputText(page, 1)) as Record<string, number>;
      assert.equal(status.pending + status.running, 0);
      assert.ok(status.cancelled > 0, `cancelled: ${status.cancelled}`);
      // The final state replaced the live HTML: counts, no button.
      const final = page.locator(outputSelector(0));
      await final.getByText(`${status.cancelled} cancelled`).waitFor();
      assert.equal(await button.count(), 0, "a finished pool shows no Cancel");
    });

    await t.step("Stop during await pool.wait() cancels the pool and says so", async () => {
      await startCell(page, 2);
      await progressShown(page, 2);
      // The toolbar's Stop button (Kernel > Interrupt).
      await page.click('button[data-jupyter-action="jupyter-notebook:interrupt-kernel"]');
      await cellDone(page, 2);
      const text = await outputText(page, 2);
      assert.match(text, /Interrupted: JobPool: cancelled \d+ pending runs/);
      await startCell(page, 3);
      await cellDone(page, 3);
      const status = JSON.parse(await outputText(page, 3)) as Record<string, number>;
      assert.equal(status.pending + status.running, 0, "nothing runs on after Stop");
      assert.ok(status.cancelled > 0);
    });

    await t.step(
      "the saved and reloaded notebook shows the final, static state of the pool",
      async () => {
        await saveNotebook(page);
        const saved = await nb.read(NAME);
        const outputs = saved.cells[0].outputs ?? [];
        const shown = outputs.filter((o) => o.output_type === "display_data");
        assert.equal(shown.length, 1);
        const html = String(shown[0].data?.["text/html"]);
        assert.doesNotMatch(html, /<b>200\/200<\/b>/, "a cancelled pool shows no full bar");
        assert.match(html, /<b>\d+\/200<\/b>/);
        assert.match(html, / · cancelled</);
        assert.doesNotMatch(html, /<script/);
        assert.ok(!("application/vnd.jupyter.widget-view+json" in (shown[0].data ?? {})));
        // A reload shows that final state from the file.
        await reloadNotebook(page);
        const reloaded = page.locator(outputSelector(0));
        await reloaded.getByText(/^\d+\/200$/).waitFor();
        assert.equal(await reloaded.locator(".fused-job-pool-cancel-button").count(), 0);
      },
    );

    await t.step("no widget comm errors reached the console", () => {
      const widgetErrors = session!.console.filter((l) =>
        /not found in registry|jupyter\.widget|Could not open comm/i.test(l)
      );
      assert.deepEqual(widgetErrors, []);
      assert.deepEqual(session!.blocked, [], "nothing was loaded from the network");
    });
  } catch (e) {
    throw new Error(`${e}\nconsole:\n${session?.console.join("\n")}\nserver:\n${nb.log()}`);
  } finally {
    await browser.close();
    await nb.close();
  }
});
