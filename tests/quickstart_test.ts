/**
 * End-to-end test of notebooks/quickstart.ipynb, the notebook that shows every magic and every
 * display: Debian's `jupyter nbconvert --execute` runs it on the real kernel (kernelspec installed
 * into a temporary prefix), the outputs are checked cell by cell, then the notebook is exported
 * with `nbconvert --to html` and opened in headless Chromium with every request that would leave
 * 127.0.0.1 aborted.
 *
 * The live tile layer: the notebook's `%fused serve` service ends with the kernel, so the test
 * gives the notebook its data folder and port (`FUSED_SERVER_DIR`, `FUSED_QUICKSTART_PORT`) and
 * starts the service again on both before opening the HTML; the share token saved by the notebook
 * then still serves the tiles, as it would for a user who runs `deno task serve` again. Nothing
 * stands between the page and the service: the browser sees the service's own CORS headers.
 *
 * Every child process and browser step has a timeout; the browser, servers and temp folders are
 * closed or removed in finally blocks and at unload.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { chromium } from "playwright-core";
import type { Browser, Page } from "playwright-core";
import { decode } from "fast-png";
import { installedKernelEnv, PYTHON } from "./_jupyter.ts";
import { startServer } from "../server/mod.ts";
import { CHROMIUM_ARGS } from "../display/browser.ts";
import { notebookHtmlArgs } from "../display/notebook_html.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const NOTEBOOK = join(ROOT, "notebooks", "quickstart.ipynb");
const ARTIFACTS = join(ROOT, "tests", "artifacts");
const CHROMIUM = "/usr/bin/chromium";
/** Debian's Python, which has jupyter_client and nbconvert. */
const dec = new TextDecoder();

const TABLE = ["application/vnd.dataresource+json", "text/html", "text/plain"];
const HTML = ["text/html", "text/plain"];
const PLAIN = ["text/plain"];
const PNG = ["image/png", "text/plain"];
const CHART = ["application/vnd.vegalite.v5+json", "image/svg+xml", "text/html", "text/plain"];
const MAP = ["image/png", "text/html", "text/plain"];

/** What each code cell (by id) must show: its rich outputs' MIME types in order, and streams. */
interface Expected {
  /** MIME types of each display_data / execute_result, in order (sorted within one). */
  mimes: string[][];
  /** The cell's stdout, all chunks joined. */
  stdout?: RegExp;
  /** The cell's stderr, all chunks joined. */
  stderr?: RegExp;
  /** The text/plain of its last rich output. */
  plain?: RegExp;
  /** The text/html of its last rich output. */
  html?: RegExp;
}

const URL_RE = String.raw`http://127\.0\.0\.1:\d+/v1`;

const EXPECTED: Record<string, Expected> = {
  "lsmagic": { mimes: [], stdout: /%fused[\s\S]*%lsmagic[\s\S]*%%capture\s+%%fused\s+%%time/ },
  "help": { mimes: [], stdout: /Subcommands:[\s\S]*serve[\s\S]*whoami/ },
  "help-run": { mimes: [], stdout: /Usage: %fused run NAME_OR_PATH[\s\S]*--cache-max-age/ },
  "help-cell": { mimes: [], stdout: /^Usage: %%fused NAME [\s\S]*--share[\s\S]*--map/ },
  "setup": { mimes: [PLAIN], plain: /^"1707 earthquakes"$/ },
  "define": { mimes: [HTML], plain: /^Udf "double"/, html: /class="fused-udf"/ },
  "run-out": { mimes: [PLAIN], plain: /^42$/ },
  "answer": { mimes: [PLAIN], plain: /^43$/ },
  "line-run": { mimes: [PLAIN], plain: /^10$/ },
  "cache": { mimes: [PLAIN], plain: /^144$/, stdout: /^Wall time: / },
  "cache-hit": {
    mimes: [PLAIN],
    plain: /^144$/,
    stdout: /Cached UDF result returned\.[\s\S]*Wall time: /,
  },
  "no-cache": { mimes: [PLAIN], plain: /^144$/, stdout: /^Wall time: / },
  "tile": { mimes: [PNG], plain: /^Raster 128×128 float32, bounds \[-90, 0, 0, 66\.5/ },
  "table": { mimes: [TABLE], plain: /\[1,707 rows × 5 columns\]/, html: /<table/ },
  "chart": { mimes: [CHART], plain: /bar mark/ },
  "raster": { mimes: [PNG], plain: /^Raster 96×96 float32/ },
  "raster-rgb": { mimes: [PNG], plain: /^Raster 3×96×96 uint8/ },
  "map-points": { mimes: [MAP], plain: /^Map: 1,707 points/ },
  "map-countries": { mimes: [MAP], plain: /^Map: 177 line\/polygon features/ },
  "html": { mimes: [HTML], html: /^<span[^>]*>quick: M4\.5<\/span>$/ },
  "error-udf": { mimes: [HTML], plain: /^Udf "checked_sqrt"/ },
  "error": {
    mimes: [HTML],
    plain: /UDF "checked_sqrt" failed \(line 2[\s\S]*RangeError: n must be 0 or more, got -1/,
    html: /class="fused-error"/,
  },
  // nbconvert has no widget manager: the kernel opens no widget comms, the HTML is the display.
  "pool": { mimes: [HTML], plain: /^JobPool: 8\/8 done \(8 success\)/ },
  "pool-wait": { mimes: [PLAIN], plain: /success: 8/ },
  "collect": { mimes: [TABLE], plain: /\[4 rows × 2 columns\]/ },
  "serve-setup": { mimes: [] },
  "serve": { mimes: [], stdout: new RegExp(`^Embedded Fused service at ${URL_RE}`) },
  "whoami": { mimes: [], stdout: /^admin@localhost/ },
  "options-one": { mimes: [], stdout: /^defaultUdfRunEngine: "local"/ },
  "options": { mimes: [], stdout: new RegExp(`FusedOptions \\{[\\s\\S]*baseUrl: "${URL_RE}"`) },
  "save": { mimes: [HTML], stdout: /^Saved UDF station_ids/, plain: /saved: station_ids/ },
  "share": {
    mimes: [HTML],
    stdout: new RegExp(
      `Shared doubled_shared with token fsh_\\w+\\n  run: +${URL_RE}/realtime-shared/fsh_\\w+/run\\n` +
        `  tiles: +${URL_RE}/realtime-shared/fsh_\\w+/run/tiles/\\{z\\}/\\{x\\}/\\{y\\}`,
    ),
    plain: /shared: http/,
  },
  "load": { mimes: [HTML], plain: /^Udf "station_ids"/ },
  "run-remote": { mimes: [TABLE], plain: /\[4 rows × 1 column\]/ },
  "map-udf": { mimes: [MAP, TABLE], plain: /\[85 rows × 4 columns\]/ },
  "map-tiles": {
    mimes: [MAP],
    stdout: /^Saved UDF wave_tiles[\s\S]*Shared wave_tiles/,
    plain: new RegExp(`^Map: tiles ${URL_RE}/realtime-shared/fsh_\\w+/run/tiles/`),
  },
  // The run of big_quakes with the map cell's parameters comes from the cache.
  "files-setup": { mimes: [], stdout: /^Cached UDF result returned\.\n$/ },
  "cp": { mimes: [], stdout: /^Copied .*big_quakes\.csv to fd:\/\/quickstart\/big_quakes\.csv/ },
  "ls": { mimes: [HTML], plain: /big_quakes\.csv/, html: /class="fused-files"/ },
  "sign": { mimes: [], stdout: new RegExp(`^${URL_RE}/files/signed\\?path=fd%3A.*signature=`) },
  "cp-back": { mimes: [], stdout: /^Copied fd:\/\/quickstart\/big_quakes\.csv to / },
  "rm": { mimes: [], stdout: /^Deleted fd:\/\/quickstart\/big_quakes\.csv/ },
  "time": { mimes: [PLAIN], plain: /^200$/, stdout: /^Wall time: / },
  "capture": { mimes: [] },
  "time-line": { mimes: [PLAIN], plain: /^6$/, stdout: /^Wall time: / },
  "capture-show": { mimes: [PLAIN], plain: /^14$/, stdout: /^this line is captured, not shown\n$/ },
};

/** Cells whose output is a map, and the map that must load tiles from the service. */
const MAP_CELLS = ["map-points", "map-countries", "map-udf", "map-tiles"];
const TILE_MAP_CELL = "map-tiles";

interface Output {
  output_type: string;
  name?: string;
  text?: string | string[];
  data?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
  ename?: string;
  evalue?: string;
}
interface Cell {
  cell_type: string;
  id: string;
  source: string | string[];
  outputs?: Output[];
}
interface Notebook {
  cells: Cell[];
  metadata: Record<string, unknown>;
}

function joined(text: unknown): string {
  return Array.isArray(text) ? text.join("") : String(text ?? "");
}

/** A free port on 127.0.0.1 (listened on, then released). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** The shared run: temp folders, the executed notebook and its HTML export. */
interface Run {
  dir: string;
  env: Record<string, string>;
  servicePort: number;
  serviceDir: string;
  executed: Notebook;
  executeSeconds: number;
  executeResult: { code: number; stderr: string };
  htmlPath?: string;
}

let runPromise: Promise<Run> | undefined;

/** Installs the kernelspec into a temp prefix and executes the notebook (once per test run). */
function executed(): Promise<Run> {
  runPromise ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "fused-quickstart-test-" });
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch {
        // already gone
      }
    });
    const kernelEnv = await installedKernelEnv(join(dir, "prefix"));
    const serviceDir = join(dir, "service");
    const tmp = join(dir, "tmp");
    await Deno.mkdir(tmp);
    const servicePort = freePort();
    const env = {
      ...kernelEnv,
      // Keep the kernel's settings, caches, temp files and the service's state in the temp dir.
      FUSED_HOME: join(dir, "fused-home"),
      FUSED_SERVER_DIR: serviceDir,
      FUSED_QUICKSTART_PORT: String(servicePort),
      TMPDIR: tmp,
    };
    const started = performance.now();
    const out = await new Deno.Command(PYTHON, {
      args: [
        "-m",
        "nbconvert",
        "--to",
        "notebook",
        "--execute",
        "--ExecutePreprocessor.timeout=90",
        "--output-dir",
        dir,
        "--output",
        "executed",
        NOTEBOOK,
      ],
      cwd: join(ROOT, "notebooks"),
      env,
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(240_000),
    }).output();
    const executeSeconds = (performance.now() - started) / 1000;
    const executeResult = { code: out.code, stderr: dec.decode(out.stderr) };
    let executed: Notebook = { cells: [], metadata: {} };
    if (out.code === 0) {
      executed = JSON.parse(await Deno.readTextFile(join(dir, "executed.ipynb")));
    }
    return {
      dir,
      env,
      servicePort,
      serviceDir,
      executed,
      executeSeconds,
      executeResult,
    };
  })();
  return runPromise;
}

function codeCells(nb: Notebook): Cell[] {
  return nb.cells.filter((c) => c.cell_type === "code");
}

function richOutputs(cell: Cell): Output[] {
  return (cell.outputs ?? []).filter((o) =>
    o.output_type === "display_data" || o.output_type === "execute_result"
  );
}

function stream(cell: Cell, name: string): string {
  return (cell.outputs ?? []).filter((o) => o.output_type === "stream" && o.name === name)
    .map((o) => joined(o.text)).join("");
}

function mapId(output: Output): string {
  const meta = output.metadata?.["text/html"] as Record<string, { id?: string }> | undefined;
  const id = meta?.["fused:map"]?.id;
  assert.ok(id, `a map output has no "fused:map" id in its metadata`);
  return id;
}

Deno.test("nbconvert executes the quickstart notebook with no cell failing", async () => {
  const run = await executed();
  assert.equal(run.executeResult.code, 0, run.executeResult.stderr);
  const cells = codeCells(run.executed);
  assert.ok(cells.length > 0);
  for (const cell of cells) {
    const errors = (cell.outputs ?? []).filter((o) => o.output_type === "error");
    assert.deepEqual(
      errors.map((e) => `${e.ename}: ${e.evalue}`),
      [],
      `cell ${cell.id} failed`,
    );
  }
  console.log(`quickstart executed in ${run.executeSeconds.toFixed(1)} s`);
});

Deno.test("every quickstart cell shows the MIME types and text of its step", async () => {
  const run = await executed();
  assert.equal(run.executeResult.code, 0, run.executeResult.stderr);
  const cells = codeCells(run.executed);
  // Every code cell has an expectation, and every expectation a cell.
  assert.deepEqual(cells.map((c) => c.id).sort(), Object.keys(EXPECTED).sort());
  for (const cell of cells) {
    const want = EXPECTED[cell.id];
    const rich = richOutputs(cell);
    assert.deepEqual(
      rich.map((o) => Object.keys(o.data ?? {}).sort()),
      want.mimes,
      `MIME types of cell ${cell.id}`,
    );
    const stdout = stream(cell, "stdout");
    const stderr = stream(cell, "stderr");
    if (want.stdout) assert.match(stdout, want.stdout, `stdout of cell ${cell.id}`);
    else assert.equal(stdout, "", `stdout of cell ${cell.id}`);
    if (want.stderr) assert.match(stderr, want.stderr, `stderr of cell ${cell.id}`);
    const last = rich.at(-1);
    if (want.plain) assert.match(joined(last?.data?.["text/plain"]), want.plain, cell.id);
    if (want.html) assert.match(joined(last?.data?.["text/html"]), want.html, cell.id);
  }
});

Deno.test("the error cell shows the UdfRuntimeError bundle with the UDF's line", async () => {
  const run = await executed();
  assert.equal(run.executeResult.code, 0, run.executeResult.stderr);
  const cell = codeCells(run.executed).find((c) => c.id === "error")!;
  assert.ok(cell.outputs!.every((o) => o.output_type !== "error"));
  const html = joined(richOutputs(cell)[0].data!["text/html"]);
  assert.match(html, /checked_sqrt/);
  assert.match(html, /n must be 0 or more, got -1/);
  // The failing line of the UDF is quoted, escaped.
  assert.match(html, /if \(n &lt; 0\) throw new RangeError/);
});

Deno.test("the saved notebook keeps the JobPool's final HTML and each map's id", async () => {
  const run = await executed();
  assert.equal(run.executeResult.code, 0, run.executeResult.stderr);
  const pool = codeCells(run.executed).find((c) => c.id === "pool")!;
  const html = joined(richOutputs(pool)[0].data!["text/html"]);
  assert.match(html, /<b>8\/8<\/b>/);
  assert.doesNotMatch(html, /<script/, "the final HTML is static");
  const ids = MAP_CELLS.map((id) => {
    const cell = codeCells(run.executed).find((c) => c.id === id)!;
    return mapId(richOutputs(cell)[0]);
  });
  assert.equal(new Set(ids).size, MAP_CELLS.length);
});

/** Exports the executed notebook to HTML, with page assets pointed at 127.0.0.1. */
async function exportHtml(run: Run): Promise<string> {
  if (run.htmlPath) return run.htmlPath;
  // The page as `fused demo` writes it: it must stand alone, so nothing else is served to it.
  const out = await new Deno.Command(PYTHON, {
    args: [
      "-m",
      "nbconvert",
      ...notebookHtmlArgs(join(run.dir, "executed.ipynb"), {
        outDir: run.dir,
        output: "quickstart",
      }),
    ],
    env: run.env,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  assert.equal(out.code, 0, dec.decode(out.stderr));
  run.htmlPath = join(run.dir, "quickstart.html");
  return run.htmlPath;
}

/** Serves the page at `/`, and nothing else, on 127.0.0.1. */
function servePage(html: Uint8Array): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    if (new URL(req.url).pathname === "/") {
      return new Response(html as Uint8Array<ArrayBuffer>, {
        headers: { "content-type": "text/html; charset=utf-8" },
      });
    }
    return new Response("not found", { status: 404 });
  });
}

/** Pixels of a decoded PNG that are mid grey (r = g = b, neither black nor white). */
function greyPixels(img: ReturnType<typeof decode>): number {
  const d = img.data as Uint8Array;
  const ch = img.channels;
  let n = 0;
  for (let i = 0; i < img.width * img.height; i++) {
    const r = d[i * ch], g = d[i * ch + 1], b = d[i * ch + 2];
    if (r === g && g === b && r > 20 && r < 235) n++;
  }
  return n;
}

/** Distinct colours of a PNG screenshot (a blank canvas has one). */
function colourCount(png: Uint8Array): number {
  const img = decode(png);
  const d = img.data as Uint8Array;
  const ch = img.channels;
  const colours = new Set<number>();
  for (let i = 0; i < img.width * img.height; i++) {
    colours.add((d[i * ch] << 16) | (d[i * ch + 1] << 8) | d[i * ch + 2]);
  }
  return colours.size;
}

Deno.test({
  name: "the exported HTML shows maps, tiles, charts and tables in Chromium without the network",
  // Playwright keeps its own connection and timers after close; the finally blocks close them.
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const run = await executed();
    assert.equal(run.executeResult.code, 0, run.executeResult.stderr);
    const htmlPath = await exportHtml(run);
    const pageHtml = await Deno.readTextFile(htmlPath);
    // Nothing of this machine (Debian's template loads require.js and MathJax from file://).
    assert.doesNotMatch(pageHtml, /(src|href)="file:|file:\/\/\/usr\//);
    assert.deepEqual(pageHtml.match(/<script[^>]*\ssrc=[^>]*>/g) ?? [], []);
    await Deno.mkdir(ARTIFACTS, { recursive: true });
    const cells = run.executed.cells;
    const mapIds = Object.fromEntries(MAP_CELLS.map((id) => {
      const cell = cells.find((c) => c.id === id)!;
      return [id, mapId(richOutputs(cell)[0])];
    }));
    // The service again, on the notebook's data folder and port: the tile layer's share token
    // was saved there.
    const service = await startServer({
      port: run.servicePort,
      dataDir: run.serviceDir,
      quiet: true,
    });
    const page = servePage(await Deno.readFile(htmlPath));
    let browser: Browser | undefined;
    try {
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: CHROMIUM_ARGS,
        headless: true,
        timeout: 30_000,
      });
      const tab: Page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
      tab.setDefaultTimeout(60_000);
      const blocked: string[] = [];
      const pageErrors: string[] = [];
      tab.on("pageerror", (e) => pageErrors.push(String(e)));
      await tab.route("**/*", (route) => {
        const url = route.request().url();
        if (/^(data:|blob:)/.test(url) || /^http:\/\/127\.0\.0\.1[:/]/.test(url)) {
          return route.continue();
        }
        blocked.push(url);
        return route.abort();
      });
      await tab.goto(`http://127.0.0.1:${page.addr.port}/`, { timeout: 60_000 });

      for (const [cellId, id] of Object.entries(mapIds)) {
        await tab.waitForFunction(
          (mapId: string) => {
            // deno-lint-ignore no-explicit-any
            const s = (globalThis as any).__fusedMaps?.[mapId];
            return s && (s.loaded || s.error);
          },
          id,
          { timeout: 60_000 },
        );
        const state = await tab.evaluate((mapId: string) => {
          // deno-lint-ignore no-explicit-any
          const s = (globalThis as any).__fusedMaps[mapId];
          return { loaded: s.loaded, error: s.error, points: s.pointCount, shapes: s.shapeCount };
        }, id);
        assert.equal(state.error, null, `map of cell ${cellId}: ${state.error}`);
        assert.equal(state.loaded, true, `map of cell ${cellId} did not load`);
        const element = tab.locator(`#${id}`);
        await element.scrollIntoViewIfNeeded();
        const png = new Uint8Array(
          await element.screenshot({ path: join(ARTIFACTS, `quickstart_${cellId}.png`) }),
        );
        assert.ok(colourCount(png) > 16, `the map of cell ${cellId} looks blank`);
        if (cellId === "map-points") assert.equal(state.points, 1707);
        if (cellId === "map-udf") assert.equal(state.points, 85);
        if (cellId === "map-countries") assert.equal(state.shapes, 177);
      }

      // The tile layer loaded its tiles from the service and drew them: the wave UDF's tiles
      // are grey (r = g = b), which neither the basemap nor the land has.
      const tileMap = mapIds[TILE_MAP_CELL];
      const tileState = await tab.evaluate((mapId: string) => {
        // deno-lint-ignore no-explicit-any
        const s = (globalThis as any).__fusedMaps[mapId];
        return {
          hasSource: !!s.map.getSource("fused-tiles"),
          loaded: s.map.isSourceLoaded("fused-tiles"),
          tileError: s.tileError ?? null,
        };
      }, tileMap);
      assert.deepEqual(tileState, { hasSource: true, loaded: true, tileError: null });
      const tilePng = decode(
        new Uint8Array(await tab.locator(`#${tileMap} .fused-map-canvas canvas`).screenshot()),
      );
      assert.ok(greyPixels(tilePng) > 5000, "the tile layer drew no tile pixels");

      // Charts render interactively; tables and rasters are in the page.
      await tab.waitForFunction(
        // deno-lint-ignore no-explicit-any
        () => (globalThis as any).document.querySelector(".fused-chart[data-rendered=true]"),
        null,
        { timeout: 60_000 },
      );
      assert.ok(
        await tab.locator(
          ".fused-chart[data-rendered=true] svg, .fused-chart[data-rendered=true] canvas",
        ).count() > 0,
      );
      // Tables of the cells table, collect, run-remote and map-udf.
      assert.equal(await tab.locator(".fused-table table").count(), 4);
      assert.ok(await tab.locator(".fused-error").count() === 1);
      assert.ok(await tab.locator(".fused-files").count() === 1);
      const pngs = ["tile", "raster", "raster-rgb"].length;
      assert.ok(await tab.locator('img[src^="data:image/png"]').count() >= pngs);
      await tab.screenshot({ path: join(ARTIFACTS, "quickstart_page.png"), fullPage: true });

      assert.deepEqual(blocked, [], "requests that would have left the machine");
      assert.deepEqual(pageErrors, []);
    } finally {
      await browser?.close();
      await page.shutdown();
      await service.close();
    }
  },
});
