/**
 * Headless Chromium for display tests and benchmarks: pages are served from 127.0.0.1, every
 * other request is aborted and recorded, and each run is bounded in time.
 *
 * @module
 */

import { chromium } from "playwright-core";
import type { Browser, Page } from "playwright-core";
import { decode } from "fast-png";

/** Chromium flags: software WebGL (SwiftShader) and no background network (display-perf §2). */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--use-angle=swiftshader",
  "--enable-unsafe-swiftshader",
];

/** Path of the Chromium binary. */
export const CHROMIUM_PATH = "/usr/bin/chromium";

/** True when Chromium is installed here. */
export function hasChromium(): boolean {
  try {
    return Deno.statSync(CHROMIUM_PATH).isFile;
  } catch {
    return false;
  }
}

/** What a page session saw. */
export interface PageSession {
  /** The page, loaded. */
  page: Page;
  /** URLs of requests that were blocked because they would leave the machine. */
  blocked: string[];
  /** Console errors and page errors. */
  errors: string[];
}

/**
 * Serves `html` on 127.0.0.1, opens it in headless Chromium and hands the page to `use`; the
 * browser and server are closed afterwards whatever happens.
 */
export async function withPage<T>(
  html: string | ((port: number) => string | Promise<string>),
  use: (session: PageSession) => Promise<T>,
  options: {
    timeoutMs?: number;
    viewport?: { width: number; height: number };
    /** Answers requests other than `/` (e.g. tiles); 404 when it returns undefined. */
    routes?: (url: URL) => Response | undefined;
  } = {},
): Promise<T> {
  const timeout = options.timeoutMs ?? 60_000;
  const served: { body?: Uint8Array } = {};
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) => {
      const url = new URL(req.url);
      if (url.pathname === "/") {
        return new Response(served.body as Uint8Array<ArrayBuffer>, {
          headers: { "content-type": "text/html; charset=utf-8" },
        });
      }
      return options.routes?.(url) ?? new Response("not found", { status: 404 });
    },
  );
  let browser: Browser | undefined;
  try {
    served.body = new TextEncoder().encode(
      typeof html === "string" ? html : await html(server.addr.port),
    );
    browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      args: CHROMIUM_ARGS,
      timeout,
      headless: true,
    });
    const page = await browser.newPage({
      viewport: options.viewport ?? { width: 1000, height: 700 },
    });
    page.setDefaultTimeout(timeout);
    const blocked: string[] = [];
    const errors: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.route("**/*", (route) => {
      const url = route.request().url();
      if (/^(data:|blob:)/.test(url) || /^https?:\/\/127\.0\.0\.1[:/]/.test(url)) {
        return route.continue();
      }
      blocked.push(url);
      return route.abort();
    });
    await page.goto(`http://127.0.0.1:${server.addr.port}/`, { timeout });
    return await use({ page, blocked, errors });
  } finally {
    await browser?.close();
    await server.shutdown();
  }
}

/** Wraps output HTML snippets into one page, as nbconvert does with a notebook's outputs. */
export function notebookPage(outputs: string[]): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>fused display test</title></head><body>${
    outputs.map((o) => `<div class="output">${o}</div>`).join("\n")
  }</body></html>`;
}

/** The port of the page's server, for tile URLs in tests: the page is at http://127.0.0.1:PORT/. */
export function pagePort(page: Page): number {
  return Number(new URL(page.url()).port);
}

/**
 * Screenshots an element and returns the PNG plus how many distinct colours it has (a blank
 * canvas has one).
 */
export async function screenshotColours(
  page: Page,
  selector: string,
  path?: string,
): Promise<{ png: Uint8Array; colours: Map<number, number> }> {
  const png = new Uint8Array(await page.locator(selector).first().screenshot({ path }));
  const img = decode(png);
  const colours = new Map<number, number>();
  const ch = img.channels;
  for (let i = 0; i < img.width * img.height; i++) {
    const d = img.data as Uint8Array;
    const key = (d[i * ch] << 16) | (d[i * ch + 1] << 8) | d[i * ch + 2];
    colours.set(key, (colours.get(key) ?? 0) + 1);
  }
  return { png, colours };
}

/** Waits until the map `id` reports idle (or an error), returning its state. */
export async function waitForMap(
  page: Page,
  id: string,
  timeoutMs = 60_000,
): Promise<{
  loaded: boolean;
  error: string | null;
  idleMs?: number;
  idleSinceNavigation?: number;
  pointCount?: number;
  shapeCount?: number;
}> {
  await page.waitForFunction(
    (mapId: string) => {
      // deno-lint-ignore no-explicit-any
      const s = (globalThis as any).__fusedMaps?.[mapId];
      return s && (s.loaded || s.error);
    },
    id,
    { timeout: timeoutMs },
  );
  return await page.evaluate((mapId: string) => {
    // deno-lint-ignore no-explicit-any
    const s = (globalThis as any).__fusedMaps[mapId];
    return {
      loaded: s.loaded,
      error: s.error,
      idleMs: s.idleMs,
      idleSinceNavigation: s.idleSinceNavigation,
      pointCount: s.pointCount,
      shapeCount: s.shapeCount,
    };
  }, id);
}
