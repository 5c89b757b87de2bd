/**
 * Display benchmarks, measured in one run:
 *
 * 1. Maps in classic Notebook 6 (Debian's `jupyter-notebook` on 127.0.0.1, the real kernel) in
 *    headless Chromium with SwiftShader: execute → drawn (from the execute request of the map
 *    cell to the map's first `idle`, both on the page's clock) for 1,000 points (the baseline),
 *    1,000,000 points and 10,000,000 points (capped to a spatial sample), and the saved
 *    `.ipynb` size. Targets: 1 M ≤ 5 s and ≤ 12 MB; 10 M ≤ 10 s.
 * 2. The same notebook exported with `jupyter nbconvert --to html`: HTML size and navigation →
 *    idle of the 1 M map.
 * 3. Building the MIME bundle of a 10,000,000-row table divided by a 10-row one. Target ≤ 2.
 *
 * Run: `deno run -A --unstable-worker-options bench/display_bench.ts`
 *
 * @module
 */

import * as arrow from "apache-arrow";
import { join } from "node:path";
import { toMimeBundle } from "../display/mod.ts";
import { hasChromium, waitForMap, withPage } from "../display/browser.ts";
// The Notebook 6 harness of the end-to-end tests: the bench drives the same frontend.
import {
  launchBrowser,
  type Notebook6Server,
  openNotebook,
  runCells,
  saveNotebook,
  startNotebook6,
} from "../tests/_notebook6.ts";
import { PYTHON } from "../tests/_jupyter.ts";
import { notebookJson } from "../tests/_helpers.ts";

/** One map measured in Notebook 6. */
export interface NotebookMapFigure {
  /** Points in the table. */
  points: number;
  /** Points the map embedded. */
  embedded: number;
  /** Milliseconds from the cell's execute request to the map's first idle. */
  executeToDrawnMs: number;
  /** Of which: from the renderer's start (output on the page) to idle. */
  renderMs: number;
}

/** Results of one benchmark run. */
export interface DisplayBenchResult {
  /** Maps measured in Notebook 6 (1 k baseline, 1 M, 10 M). */
  notebook: NotebookMapFigure[];
  /** Bytes of the saved `.ipynb` holding the 1 M map. */
  ipynbBytes?: number;
  /** Bytes of its exported HTML. */
  htmlBytes?: number;
  /** Milliseconds from navigation to the 1 M map's idle in the exported HTML. */
  htmlIdleMs?: number;
  /** Median milliseconds to build a 10-row table bundle. */
  table10Ms: number;
  /** Median milliseconds to build a 10,000,000-row table bundle. */
  table10MMs: number;
  /** table10MMs / table10Ms. */
  tableRatio: number;
}

function numbers(n: number): arrow.Table {
  const id = new Int32Array(n), x = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    id[i] = i;
    x[i] = i * 0.25;
  }
  return arrow.tableFromArrays({ id, x });
}

async function median(runs: number, f: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await f();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(runs / 2)];
}

/** Code of a cell that makes `points_N`, uniform random over Europe with a value column. */
function tableCell(n: number): string {
  return `import { tableFromArrays } from "apache-arrow";
{
  const n = ${n};
  const lon = new Float64Array(n), lat = new Float64Array(n), value = new Float64Array(n);
  let seed = 7;
  const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  for (let i = 0; i < n; i++) {
    lon[i] = -10 + rnd() * 40;
    lat[i] = 35 + rnd() * 25;
    value[i] = rnd() * 100;
  }
  (globalThis as any).points_${n} = tableFromArrays({ lon, lat, value });
}
"ok"`;
}

const SIZES = [1_000, 1_000_000, 10_000_000];

/** Runs the maps in Notebook 6 and the exported HTML; fills the notebook figures. */
async function notebookFigures(result: DisplayBenchResult): Promise<void> {
  let nb: Notebook6Server | undefined;
  const browser = await launchBrowser();
  try {
    nb = await startNotebook6({ prefix: "fused-display-bench-" });
    // The first map of a kernel also packs MapLibre and loads resvg: a warm-up map takes that.
    const cells = [
      'import * as fused from "fused";\nfused.map({ type: "Point", coordinates: [0, 0] })',
    ];
    for (const n of SIZES) {
      cells.push(tableCell(n));
      cells.push(`fused.map(points_${n}, { color: "value" })`);
    }
    await Deno.writeTextFile(join(nb.root, "bench.ipynb"), notebookJson(cells));
    const { page } = await openNotebook(browser, nb, "bench.ipynb", { timeoutMs: 120_000 });
    await runCells(page, [0]);
    for (const [k, n] of SIZES.entries()) {
      await runCells(page, [1 + 2 * k], 300_000);
      const mapCell = 2 + 2 * k;
      const started = await page.evaluate(() => performance.now());
      await runCells(page, [mapCell], 300_000);
      const id = await page.evaluate((i: number) => {
        // deno-lint-ignore no-explicit-any
        const cell = (globalThis as any).Jupyter.notebook.get_cell(i);
        return cell.output_area.element[0].querySelector(".fused-map")?.id as string | undefined;
      }, mapCell);
      if (!id) throw new Error(`The ${n}-point map cell shows no map`);
      const state = await waitForMap(page, id, 300_000);
      if (!state.loaded) throw new Error(`The ${n}-point map failed: ${state.error}`);
      const embedded = await page.evaluate(
        // deno-lint-ignore no-explicit-any
        (mapId: string) => (globalThis as any).__fusedMaps[mapId].pointCount as number,
        id,
      );
      result.notebook.push({
        points: n,
        embedded,
        executeToDrawnMs: state.idleSinceNavigation! - started,
        renderMs: state.idleMs!,
      });
      if (n === 1_000_000) {
        // The saved notebook with the baseline and the 1 M map only (cleared before 10 M).
        await saveNotebook(page);
        const saved = join(nb.root, "bench.ipynb");
        result.ipynbBytes = (await Deno.stat(saved)).size;
        await exportedHtml(nb, saved, result);
      }
    }
  } finally {
    await browser.close();
    await nb?.close();
  }
}

/** Exports the saved notebook to HTML and times the 1 M map there. */
async function exportedHtml(
  nb: Notebook6Server,
  saved: string,
  result: DisplayBenchResult,
): Promise<void> {
  const out = await new Deno.Command(PYTHON, {
    args: ["-m", "nbconvert", "--to", "html", "--output-dir", nb.dir, "--output", "bench", saved],
    env: nb.env,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(120_000),
  }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  const html = await Deno.readTextFile(join(nb.dir, "bench.html"));
  result.htmlBytes = new TextEncoder().encode(html).length;
  const ids = [...html.matchAll(/<div id="(fused-map-[0-9a-f]+)" class="fused-map"/g)].map((m) =>
    m[1]
  );
  await withPage(html, async ({ page }) => {
    const state = await waitForMap(page, ids.at(-1)!, 300_000);
    if (!state.loaded) throw new Error(`The exported 1 M map failed: ${state.error}`);
    result.htmlIdleMs = state.idleSinceNavigation;
  }, { timeoutMs: 300_000 });
}

/** Runs the benchmarks and prints a summary. */
export async function main(): Promise<DisplayBenchResult> {
  const small = numbers(10);
  const big = numbers(10_000_000);
  await toMimeBundle(small); // warm up the code paths
  await toMimeBundle(big);
  const table10Ms = await median(201, () => toMimeBundle(small));
  const table10MMs = await median(201, () => toMimeBundle(big));
  const result: DisplayBenchResult = {
    notebook: [],
    table10Ms,
    table10MMs,
    tableRatio: table10MMs / table10Ms,
  };

  if (hasChromium()) await notebookFigures(result);
  else console.log("Chromium not found at /usr/bin/chromium: map benchmarks skipped");

  const f = (n?: number) => (n === undefined ? "n/a" : n.toFixed(1));
  const mb = (n?: number) => (n === undefined ? "n/a" : `${(n / 1e6).toFixed(1)} MB`);
  const base = result.notebook[0]?.executeToDrawnMs;
  const rows = result.notebook.map((m) =>
    `  ${m.points.toLocaleString("en")} points (embedded ${
      m.embedded.toLocaleString("en")
    }): execute → drawn ${f(m.executeToDrawnMs)} ms, ${
      base ? (m.executeToDrawnMs / base).toFixed(2) : "n/a"
    }× the 1,000-point map (output on the page → drawn ${f(m.renderMs)} ms)`
  );
  console.log(`display_bench (deno run -A --unstable-worker-options bench/display_bench.ts)
  table bundle, 10 rows:          ${f(result.table10Ms)} ms (median of 201)
  table bundle, 10,000,000 rows:  ${f(result.table10MMs)} ms (median of 201)
  ratio 10M / 10:                 ${result.tableRatio.toFixed(2)} (target <= 2)
 Notebook 6 + Chromium (SwiftShader), targets 1 M <= 5,000 ms and <= 12 MB, 10 M <= 10,000 ms:
${rows.join("\n")}
  saved .ipynb with the 1,000 and 1,000,000-point maps: ${mb(result.ipynbBytes)}
 Exported HTML (nbconvert --to html) of that notebook:
  ${mb(result.htmlBytes)}, navigation → 1 M map idle ${f(result.htmlIdleMs)} ms`);
  return result;
}

if (import.meta.main) await main();
