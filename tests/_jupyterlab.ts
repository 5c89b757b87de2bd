/**
 * A harness for tests that open notebooks in JupyterLab 4's own components (its notebook, cell,
 * output area, rendermime, services and widget-manager packages from npm, wired as JupyterLab's
 * plugins wire them: tests/jupyterlab_page.ts) and drive them in headless Chromium like
 * tests/_notebook6.ts. The page is bundled offline with esbuild from node_modules, once per
 * `deno.lock` and page source (cached in the temp folder), and served by a real Jupyter server
 * (Debian's Notebook 6 server, tests/_notebook6.ts) from its own origin, so it reaches the
 * server's REST API and kernel websocket as JupyterLab does.
 *
 * ```ts ignore
 * const lab = await startJupyterLab();
 * try {
 *   await lab.server.copyIn("/path/to/quickstart.ipynb", "quickstart.ipynb");
 *   const tab = await lab.open("quickstart.ipynb");
 *   await runAll(tab.page);
 * } finally {
 *   await lab.close();
 * }
 * ```
 *
 * JupyterLab itself (its application shell, menus and extension system) is not here: it cannot
 * be installed from npm alone. What renders outputs, keeps trust and runs widgets is its code.
 *
 * @module
 */
import { join } from "node:path";
import * as esbuild from "esbuild";
import assert from "node:assert/strict";
import type { Browser, ElementHandle, Page } from "playwright-core";
import {
  launchBrowser,
  type Notebook6Options,
  type Notebook6Server,
  startNotebook6,
} from "./_notebook6.ts";
import { assertMapDrawn } from "./_map_checks.ts";

const HERE = new URL(".", import.meta.url).pathname;
const ROOT = join(HERE, "..");
const PAGE_SOURCE = join(HERE, "jupyterlab_page.ts");

/** The page's file name among the server's static files. */
const PAGE = "fused-jupyterlab.html";

/** The page: JupyterLab's light theme on the body, the bundle, nothing else. */
const PAGE_HTML = '<!doctype html><html><head><meta charset="utf-8"><title>notebook</title>' +
  '<link rel="stylesheet" href="lab.css">' +
  "<style>html,body{margin:0;height:100%}#lab{height:100%}</style></head>" +
  '<body class="jp-ThemedContainer" data-jp-theme-light="true"><div id="lab"></div>' +
  '<script src="lab.js"></script></body></html>';

/** The files of the bundled page. */
const BUNDLE_FILES = ["lab.js", "lab.css"];

async function sha256(parts: string[]): Promise<string> {
  const bytes = new TextEncoder().encode(parts.join("\0"));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest.slice(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The folder holding the bundled page (`lab.js`, `lab.css`), built with esbuild on first use and
 * kept under the temp folder, keyed by `deno.lock`, the page's source and this file (the build
 * options); a build goes to a new folder renamed into place, so a half-written bundle is never
 * used.
 */
export async function labBundle(): Promise<string> {
  const key = await sha256([
    await Deno.readTextFile(join(ROOT, "deno.lock")),
    await Deno.readTextFile(PAGE_SOURCE),
    // This file holds the build options.
    await Deno.readTextFile(new URL(import.meta.url).pathname),
  ]);
  const tmp = Deno.env.get("TMPDIR") ?? "/tmp";
  const dir = join(tmp, `fused-jupyterlab-page-${key}`);
  try {
    for (const f of BUNDLE_FILES) await Deno.stat(join(dir, f));
    return dir;
  } catch {
    // not built yet
  }
  const building = await Deno.makeTempDir({ dir: tmp, prefix: "fused-jupyterlab-build-" });
  try {
    const result = await esbuild.build({
      entryPoints: { lab: PAGE_SOURCE },
      bundle: true,
      outdir: building,
      format: "iife",
      platform: "browser",
      minify: true,
      // JupyterLab's icons are imported as SVG text, fonts and images as data URLs.
      loader: {
        ".svg": "text",
        ".woff": "dataurl",
        ".woff2": "dataurl",
        ".ttf": "dataurl",
        ".eot": "dataurl",
        ".png": "dataurl",
        ".gif": "dataurl",
      },
      define: { "process.env.NODE_ENV": '"production"', global: "globalThis" },
      // Packages built for webpack read its public path global.
      banner: { js: 'var __webpack_public_path__ = "";' },
      logLevel: "silent",
    });
    if (result.errors.length) {
      throw new Error(`esbuild: ${result.errors.map((e) => e.text).join("\n")}`);
    }
  } catch (e) {
    await Deno.remove(building, { recursive: true }).catch(() => {});
    throw e;
  } finally {
    await esbuild.stop();
  }
  try {
    await Deno.rename(building, dir);
  } catch {
    // Another test process built it at the same time; theirs is as good.
    await Deno.remove(building, { recursive: true }).catch(() => {});
  }
  return dir;
}

/** A Jupyter server serving the JupyterLab-components page, and a browser. */
export interface JupyterLab {
  /** The Jupyter server (Notebook 6's, with the page's files in its root). */
  server: Notebook6Server;
  /** The browser pages are opened in. */
  browser: Browser;
  /** Opens a served notebook in a new page, with its kernel started and connected. */
  open(name: string, options?: LabOpenOptions): Promise<LabPage>;
  /** Stops the browser and the server. */
  close(): Promise<void>;
}

/** Options of {@linkcode JupyterLab.open}. */
export interface LabOpenOptions {
  /** Viewport; 1200 × 900 by default. */
  viewport?: { width: number; height: number };
  /** How long to wait for the notebook and its kernel (ms); 120 s by default. */
  timeoutMs?: number;
}

/** A notebook page and what it saw. */
export interface LabPage {
  /** The page. */
  page: Page;
  /** Requests aborted because they would have left 127.0.0.1. */
  blocked: string[];
  /** Console errors and uncaught page errors, in order. */
  errors: string[];
  /** Requests the server answered with an error status: `STATUS URL` (token removed). */
  failed: string[];
}

/**
 * Starts a Jupyter server with the bundled page in its root, and Chromium.
 */
export async function startJupyterLab(options: Notebook6Options = {}): Promise<JupyterLab> {
  const bundle = await labBundle();
  // The page is served as the server's own static files (same origin, as JupyterLab's page is):
  // from /files/ Notebook 6 would sandbox it into an opaque origin.
  const assets = await Deno.makeTempDir({ prefix: "fused-jupyterlab-page-" });
  let server: Notebook6Server | undefined;
  let browser: Browser | undefined;
  const removeAssets = () => Deno.remove(assets, { recursive: true }).catch(() => {});
  try {
    for (const f of BUNDLE_FILES) await Deno.copyFile(join(bundle, f), join(assets, f));
    await Deno.writeTextFile(join(assets, PAGE), PAGE_HTML);
    server = await startNotebook6({
      prefix: "fused-jupyterlab-",
      ...options,
      args: [`--NotebookApp.extra_static_paths=${assets}`, ...options.args ?? []],
    });
    browser = await launchBrowser();
  } catch (e) {
    await server?.close();
    await removeAssets();
    throw e;
  }
  const [s, b] = [server, browser];
  return {
    server: s,
    browser: b,
    open: (name, opts) => openLab(b, s, name, opts),
    async close() {
      await b.close();
      await s.close();
      await removeAssets();
    },
  };
}

/**
 * Console lines that come from pairing JupyterLab 4's services with Notebook 6's server, not
 * from anything the page renders: the kernel websocket subprotocol Notebook 6 does not speak
 * (services reconnects without it), and endpoints only jupyter_server 2 has (`/api/events`, the
 * identity at `/api/me`), which services polls.
 */
export const KNOWN_SERVER_PAIRING = new RegExp(
  [
    "Sent non-empty 'Sec-WebSocket-Protocol' header but no response",
    "/api/events/subscribe.*Unexpected response code: 404",
    "Failed to load resource: the server responded with a status of 404",
  ].join("|"),
);

/** Endpoints a Notebook 6 server answers 404 that JupyterLab's services ask for. */
export const KNOWN_MISSING_ENDPOINTS = /\/api\/(events\/subscribe|me)\b/;

/** What the page exposes as `globalThis.labPage` (tests/jupyterlab_page.ts). */
export interface LabGlobals {
  labPage?: {
    ready: boolean;
    errors: string[];
    runs: Record<string, { done: boolean; ok?: boolean; ms?: number; error?: string }>;
    cells(): {
      type: string;
      source: string;
      trusted: boolean;
      outputs: Record<string, unknown>[];
    }[];
    runAll(): string;
    runCells(indices: number[]): string;
    appendAndRun(source: string): string;
    clearOutputs(index: number): void;
    moveToTop(from: number): void;
    save(): Promise<void>;
    trusted(): boolean;
    scrollTo(index: number): Promise<void>;
    cellNode(index: number): unknown;
    markClean(): void;
  };
}

async function openLab(
  browser: Browser,
  server: Notebook6Server,
  name: string,
  options: LabOpenOptions = {},
): Promise<LabPage> {
  const timeout = options.timeoutMs ?? 120_000;
  const page = await browser.newPage({
    viewport: options.viewport ?? { width: 1200, height: 900 },
  });
  page.setDefaultTimeout(timeout);
  const blocked: string[] = [];
  const errors: string[] = [];
  const failed: string[] = [];
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  page.on("response", (r) => {
    if (r.status() >= 400) {
      failed.push(`${r.status()} ${r.url().replace(/token=[^&]*/, "token=…")}`);
    }
  });
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("dialog", (d) => d.accept().catch(() => {}));
  await page.route("**/*", (route) => {
    const url = route.request().url();
    if (/^(data:|blob:)/.test(url) || /^(http|ws)s?:\/\/127\.0\.0\.1[:/]/.test(url)) {
      return route.continue();
    }
    blocked.push(url);
    return route.abort();
  });
  const hash = new URLSearchParams({ token: server.token, path: name, kernel: "fused" });
  await page.goto(`${server.url}static/${PAGE}#${hash}`, { timeout });
  await waitForLab(page, timeout);
  return { page, blocked, errors, failed };
}

/** Waits until the page has the notebook loaded and its kernel connected, or throws its error. */
export async function waitForLab(page: Page, timeoutMs = 120_000): Promise<void> {
  await page.waitForFunction(
    () => {
      const w = (globalThis as LabGlobals).labPage;
      return w && (w.ready || w.errors.length > 0);
    },
    null,
    { timeout: timeoutMs, polling: 200 },
  );
  const errors = await page.evaluate(() => (globalThis as LabGlobals).labPage!.errors);
  if (errors.length) throw new Error(`the JupyterLab page failed: ${errors.join("\n")}`);
}

/** Reloads the page (F5) and waits for the notebook and its kernel again. */
export async function reloadLab(page: Page, timeoutMs = 120_000): Promise<void> {
  await page.evaluate(() => (globalThis as LabGlobals).labPage?.markClean());
  await page.reload({ timeout: timeoutMs });
  await waitForLab(page, timeoutMs);
}

/** What a run (Run All, Shift-Enter on cells) ended with. */
export interface LabRun {
  /** Whether every cell ran without an error. */
  ok: boolean;
  /** Milliseconds from the run's start to its end. */
  ms: number;
  /** Index and error of cells whose outputs have an error. */
  errors: { index: number; ename: string; evalue: string }[];
}

/** Waits (bounded) for the run `id` of the page to end and returns how it went. */
export async function waitRun(page: Page, id: string, timeoutMs = 240_000): Promise<LabRun> {
  await page.waitForFunction(
    (i: string) => (globalThis as LabGlobals).labPage!.runs[i].done,
    id,
    { timeout: timeoutMs, polling: 250 },
  );
  return await page.evaluate((i: string) => {
    const lab = (globalThis as LabGlobals).labPage!;
    const run = lab.runs[i];
    if (run.error) throw new Error(run.error);
    const errors: { index: number; ename: string; evalue: string }[] = [];
    lab.cells().forEach((c, index) => {
      for (const o of c.outputs) {
        if (o.output_type === "error") {
          errors.push({ index, ename: String(o.ename), evalue: String(o.evalue) });
        }
      }
    });
    return { ok: run.ok!, ms: run.ms!, errors };
  }, id);
}

/** Run All, waiting for every cell (bounded). */
export async function runAll(page: Page, timeoutMs = 300_000): Promise<LabRun> {
  const id = await page.evaluate(() => (globalThis as LabGlobals).labPage!.runAll());
  return await waitRun(page, id, timeoutMs);
}

/** Runs the cells `indices` (Shift-Enter on the selection), waiting for them (bounded). */
export async function runCells(
  page: Page,
  indices: number[],
  timeoutMs = 240_000,
): Promise<LabRun> {
  const id = await page.evaluate(
    (i: number[]) => (globalThis as LabGlobals).labPage!.runCells(i),
    indices,
  );
  return await waitRun(page, id, timeoutMs);
}

/** Adds a code cell at the end and starts running it; returns the run id for `waitRun`. */
export async function appendCell(page: Page, source: string): Promise<string> {
  return await page.evaluate(
    (s: string) => (globalThis as LabGlobals).labPage!.appendAndRun(s),
    source,
  );
}

/** Adds a code cell at the end and runs it, waiting for it (bounded). */
export async function appendAndRun(
  page: Page,
  source: string,
  timeoutMs = 240_000,
): Promise<LabRun> {
  return await waitRun(page, await appendCell(page, source), timeoutMs);
}

/** Saves the notebook (File → Save) through the contents API. */
export async function saveLab(page: Page): Promise<void> {
  await page.evaluate(() => (globalThis as LabGlobals).labPage!.save());
}

/** Whether every code cell is trusted. */
export async function labTrusted(page: Page): Promise<boolean> {
  return await page.evaluate(() => (globalThis as LabGlobals).labPage!.trusted());
}

/** Index of the first code cell whose source contains `text`, or -1. */
export async function labCellIndex(page: Page, text: string): Promise<number> {
  return await page.evaluate(
    (t: string) =>
      (globalThis as LabGlobals).labPage!.cells().findIndex((c) =>
        c.type === "code" && c.source.includes(t)
      ),
    text,
  );
}

/** Indices of the cells whose saved outputs hold a fused map. */
export async function mapCells(page: Page): Promise<number[]> {
  const cells = await page.evaluate(() => (globalThis as LabGlobals).labPage!.cells());
  return cells.flatMap((c, i) =>
    c.outputs.some((o) => JSON.stringify(o.metadata ?? {}).includes('"fused:map"')) ? [i] : []
  );
}

/** Cell `index`, scrolled into view (the notebook is windowed), as an element handle. */
export async function cellElement(page: Page, index: number): Promise<ElementHandle> {
  await page.evaluate((i: number) => (globalThis as LabGlobals).labPage!.scrollTo(i), index);
  const handle = await page.evaluateHandle(
    (i: number) => (globalThis as LabGlobals).labPage!.cellNode(i),
    index,
  );
  const element = handle.asElement();
  if (!element) throw new Error(`cell ${index} has no DOM node`);
  return element;
}

/** Asserts every map cell shows a map that MapLibre drew, with a non-blank canvas. */
export async function everyMapDraws(
  page: Page,
  label: string,
  expected: number,
): Promise<string[]> {
  const cells = await mapCells(page);
  assert.equal(cells.length, expected, `${label}: map cells`);
  const ids: string[] = [];
  for (const [k, index] of cells.entries()) {
    const cell = await cellElement(page, index);
    const map = await cell.waitForSelector(".jp-OutputArea .fused-map", { timeout: 60_000 });
    const id = await map.getAttribute("id");
    assert.ok(id, `${label}: map ${k} has no id`);
    await assertMapDrawn(page, id, `${label}: map ${k}`, `lab_${label}_${k}.png`);
    ids.push(id);
  }
  return ids;
}

/** Text of the rendered outputs of cell `index`. */
export async function outputText(page: Page, index: number): Promise<string> {
  const cell = await cellElement(page, index);
  return await cell.$eval(
    ".jp-OutputArea",
    (e) => (e as unknown as { innerText: string }).innerText,
  );
}

/** The static images (`img` in sanitized HTML) in the outputs of cell `index`. */
export async function staticImages(page: Page, index: number) {
  const cell = await cellElement(page, index);
  return await cell.$$eval(
    ".jp-RenderedHTML img",
    (imgs) =>
      imgs.map((i) => {
        const img = i as unknown as { naturalWidth: number; alt: string; complete: boolean };
        return { w: img.naturalWidth, alt: img.alt };
      }),
  );
}
