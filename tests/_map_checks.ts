/**
 * Checks on fused map outputs in a notebook page, shared by the frontend tests (classic
 * Notebook 6 and JupyterLab's components): which maps a page shows, whether MapLibre drew them,
 * and what a screenshot of one holds.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { decode } from "fast-png";

/** Where the tests write their screenshots. */
export const ARTIFACTS = join(new URL("..", import.meta.url).pathname, "tests", "artifacts");

/** Ids of the map outputs inside elements matching `scope`, in page order. */
export async function mapIds(page: Page, scope: string): Promise<string[]> {
  return await page.evaluate(
    (s: string) =>
      // deno-lint-ignore no-explicit-any
      Array.from((globalThis as any).document.querySelectorAll(`${s} .fused-map`))
        // deno-lint-ignore no-explicit-any
        .map((e: any) => e.id),
    scope,
  );
}

/** Waits (bounded) for a map to be idle or failed and returns its state. */
export async function mapState(page: Page, id: string, timeoutMs = 120_000) {
  await page.waitForFunction(
    (mapId: string) => {
      // deno-lint-ignore no-explicit-any
      const s = (globalThis as any).__fusedMaps?.[mapId];
      return s && (s.loaded || s.error);
    },
    id,
    { timeout: timeoutMs, polling: 250 },
  );
  return await page.evaluate((mapId: string) => {
    // deno-lint-ignore no-explicit-any
    const s = (globalThis as any).__fusedMaps[mapId];
    return { loaded: s.loaded as boolean, error: s.error as string | null, tile: s.tileError };
  }, id);
}

/**
 * Distinct colours and mid-grey pixels of the first element matching `selector`, from a
 * screenshot saved as `file` under {@linkcode ARTIFACTS}.
 */
export async function pixels(page: Page, selector: string, file: string) {
  const element = page.locator(selector).first();
  await element.scrollIntoViewIfNeeded();
  await Deno.mkdir(ARTIFACTS, { recursive: true });
  const png = new Uint8Array(await element.screenshot({ path: join(ARTIFACTS, file) }));
  const img = decode(png);
  const d = img.data as Uint8Array, ch = img.channels;
  const colours = new Set<number>();
  let grey = 0;
  for (let i = 0; i < img.width * img.height; i++) {
    const r = d[i * ch], g = d[i * ch + 1], b = d[i * ch + 2];
    colours.add((r << 16) | (g << 8) | b);
    if (r === g && g === b && r > 20 && r < 235) grey++;
  }
  return { colours: colours.size, grey };
}

/**
 * Asserts the map `id` loaded without an error and its canvas is not blank; `what` names it in
 * messages and the screenshot is saved as `file`.
 */
export async function assertMapDrawn(
  page: Page,
  id: string,
  what: string,
  file: string,
): Promise<void> {
  const state = await mapState(page, id);
  assert.equal(state.error, null, `${what} failed: ${state.error}`);
  assert.equal(state.loaded, true, `${what} did not load`);
  const shot = await pixels(page, `#${id} .fused-map-canvas canvas`, file);
  assert.ok(shot.colours > 16, `the canvas of ${what} looks blank`);
}
