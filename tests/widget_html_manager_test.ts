/**
 * The JobPool widget rendered by the official ipywidgets 8 JavaScript from a live kernel, in
 * Chromium: `@jupyter-widgets/html-manager` with `@jupyter-widgets/controls`, bundled offline
 * with esbuild from node_modules (tests/widget_html_manager_page.ts), on a page that Debian's
 * Jupyter Notebook 6 server serves from its own origin. The page reaches the kernel through
 * `@jupyterlab/services` and the server's kernel websocket, as JupyterLab does; nothing between
 * the kernel and the widget manager is ours. A click on the rendered Cancel button must end the
 * cell that awaits `pool.wait()`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as esbuild from "esbuild";
import { chromium, type Page } from "playwright-core";
import { CHROMIUM_ARGS, CHROMIUM_PATH } from "../display/browser.ts";
import { type Notebook6Server, startNotebook6 } from "./_notebook6.ts";

const HERE = new URL(".", import.meta.url).pathname;

const SLOW_POOL = `
import * as fused from "fused";
const slow = fused.udf(
  "export default async function udf({ n = 0 }) { await new Promise((r) => setTimeout(r, 300)); return n; }",
  { name: "slow_html_manager" },
);
const pool = await fused.submit(slow, Array.from({ length: 200 }, (_, n) => ({ n })), {
  collect: false, engine: "local", maxWorkers: 4, cache: false,
});
display(pool);
await pool.wait();
"waited"
`;

/**
 * Bundles the page's script and CSS into `dir` with the page that loads them (no network:
 * everything comes from node_modules).
 */
async function bundlePage(dir: string, token: string): Promise<void> {
  try {
    const result = await esbuild.build({
      entryPoints: { widget: join(HERE, "widget_html_manager_page.ts") },
      bundle: true,
      outdir: dir,
      format: "iife",
      platform: "browser",
      // JupyterLab's icons are imported as SVG text, Font Awesome's fonts as data URLs.
      loader: {
        ".svg": "text",
        ".woff": "dataurl",
        ".woff2": "dataurl",
        ".ttf": "dataurl",
        ".eot": "dataurl",
      },
      define: { "process.env.NODE_ENV": '"production"' },
      // html-manager sets webpack's public path, a global webpack would provide.
      banner: { js: 'var __webpack_public_path__ = "";' },
      logLevel: "silent",
    });
    assert.deepEqual(result.errors, []);
  } finally {
    await esbuild.stop();
  }
  await Deno.writeTextFile(
    join(dir, "widget.html"),
    '<!doctype html><html><head><meta charset="utf-8"><title>html-manager</title>' +
      // The server wants its token on every request (it sets no cookie for a token in a URL).
      `<link rel="stylesheet" href="widget.css?token=${token}"></head>` +
      `<body><div id="outputs"></div><script src="widget.js?token=${token}"></script></body></html>`,
  );
}

/** What a cell did, as tests/widget_html_manager_page.ts recorded it. */
interface CellRecord {
  reply?: Record<string, unknown>;
  outputs: { type: string; content: Record<string, unknown> }[];
  views: number;
}

/** What the page exposes as `globalThis.widgetPage`. */
interface PageGlobals {
  widgetPage?: {
    ready: boolean;
    errors: string[];
    cells: Record<string, CellRecord>;
    execute(code: string): string;
  };
}

/** Runs a cell from the page; returns its msg_id. */
function execute(page: Page, code: string): Promise<string> {
  return page.evaluate((c) => (globalThis as PageGlobals).widgetPage!.execute(c), code);
}

/** Waits for a cell's execute_reply and returns what the page saw of the cell. */
async function settled(page: Page, id: string): Promise<CellRecord> {
  await page.waitForFunction(
    (i) => (globalThis as PageGlobals).widgetPage!.cells[i].reply !== undefined,
    id,
  );
  return await page.evaluate((i) => (globalThis as PageGlobals).widgetPage!.cells[i], id);
}

/**
 * @jupyterlab/services 7 offers the kernel websocket subprotocol first; Notebook 6 does not speak
 * it, Chromium logs the failed handshake and services reconnects without it. That line is the
 * pairing of those two, not ours.
 */
const SUBPROTOCOL_FALLBACK = /Sent non-empty 'Sec-WebSocket-Protocol' header but no response/;

/** The test's steps on the page; on failure the error carries what the page and server saw. */
async function drive(page: Page, server: Notebook6Server): Promise<void> {
  const token = server.token;
  try {
    page.setDefaultTimeout(90_000);
    const consoleErrors: string[] = [];
    const blocked: string[] = [];
    page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
    page.on("pageerror", (e) => consoleErrors.push(String(e)));
    await page.route("**/*", (route) => {
      const url = route.request().url();
      if (/^(data:|blob:)/.test(url) || url.startsWith(server.url)) return route.continue();
      blocked.push(url);
      return route.abort();
    });
    await page.goto(`${server.url}files/widget.html?token=${token}#token=${token}&kernel=fused`);
    await page.waitForFunction(() => {
      const w = (globalThis as PageGlobals).widgetPage;
      return w && (w.ready || w.errors.length > 0);
    });
    const pageErrors = () => page.evaluate(() => (globalThis as PageGlobals).widgetPage!.errors);
    assert.deepEqual(await pageErrors(), []);

    const cell = await execute(page, SLOW_POOL);
    // The widget, drawn by @jupyter-widgets/controls: a progress bar that moves, and Cancel.
    const cancel = page.locator(".widget-button", { hasText: "Cancel" });
    await cancel.waitFor({ state: "visible" });
    await page.waitForFunction(() => {
      // deno-lint-ignore no-explicit-any
      const bar = (globalThis as any).document.querySelector(".widget-hprogress .progress-bar");
      return bar !== null && parseFloat(bar.style.width) > 0;
    });
    assert.ok(await page.locator(".widget-html-content", { hasText: "/200" }).count() > 0);
    const before = await page.evaluate(
      (i) => (globalThis as PageGlobals).widgetPage!.cells[i].reply ?? null,
      cell,
    );
    assert.equal(before, null, "the cell still awaits pool.wait() before the click");
    await cancel.click();
    const record = await settled(page, cell);
    assert.equal(record.reply?.status, "ok");
    const result = record.outputs.find((o) => o.type === "execute_result");
    assert.equal((result?.content.data as Record<string, string>)["text/plain"], '"waited"');
    assert.equal(record.views, 1, "the display became one live widget view");

    // The kernel's pool agrees: the rest was cancelled; the widget shows the final counts.
    const statusCell = await settled(
      page,
      await execute(page, "console.log(JSON.stringify(pool.status()))"),
    );
    const statusText = statusCell.outputs.filter((o) => o.type === "stream")
      .map((o) => String(o.content.text)).join("");
    const status = JSON.parse(statusText) as Record<string, number>;
    assert.ok(status.cancelled > 0, `cancelled: ${status.cancelled}`);
    assert.equal(status.success + status.cancelled, 200);
    await page.locator(".widget-html-content", { hasText: `${status.cancelled} cancelled` })
      .waitFor();
    assert.equal(await cancel.isDisabled(), true, "Cancel is disabled once the pool is done");

    assert.deepEqual(await pageErrors(), []);
    assert.deepEqual(consoleErrors.filter((e) => !SUBPROTOCOL_FALLBACK.test(e)), []);
    assert.deepEqual(blocked, [], "the page loaded nothing from the network");
  } catch (e) {
    const seen = await page.evaluate(() =>
      JSON.stringify({
        errors: (globalThis as PageGlobals).widgetPage?.errors,
        // deno-lint-ignore no-explicit-any
        outputs: (globalThis as any).document.getElementById("outputs")?.innerHTML.slice(0, 4000),
      })
    ).catch(() => "(the page is gone)");
    throw new Error(`${e}\npage: ${seen}\nserver log:\n${server.log().slice(-3000)}`);
  }
}

Deno.test("html-manager renders the JobPool widget from a live kernel and its Cancel ends pool.wait()", async () => {
  const server = await startNotebook6({ prefix: "fused-html-manager-" });
  try {
    await bundlePage(server.root, server.token);
    const browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      args: CHROMIUM_ARGS,
      headless: true,
      timeout: 60_000,
    });
    try {
      await drive(await browser.newPage(), server);
    } finally {
      await browser.close();
    }
  } finally {
    await server.close();
  }
});
