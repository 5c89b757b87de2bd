/**
 * Display benchmarks, as ratios and times measured in the same run:
 *
 * 1. A map of 1,000,000 points (synthetic, uniform random over Europe, coloured by a numeric
 *    column) in headless Chromium with SwiftShader: time from navigation to the map's first
 *    `idle`. Target < 10 s; GeoJSON through MapLibre took 34.5 s on this machine
 *    (display-perf §2.2).
 * 2. Building the MIME bundle of a 10,000,000-row table divided by a 10-row one. Target ≤ 2.
 *
 * Run: `deno run -A bench/display_bench.ts`
 *
 * @module
 */

import * as arrow from "apache-arrow";
import { mapToMimeBundle } from "../display/map.ts";
import { toMimeBundle } from "../display/mod.ts";
import { hasChromium, notebookPage, waitForMap, withPage } from "../display/browser.ts";

/** Results of one benchmark run. */
export interface DisplayBenchResult {
  /** Milliseconds to build the 1 M-point map bundle in Deno. */
  mapBundleMs?: number;
  /** Bytes of the map output's HTML. */
  mapHtmlBytes?: number;
  /** Milliseconds from navigation start to the map's first idle. */
  mapIdleMs?: number;
  /** Milliseconds from the renderer's start (assets loaded) to idle. */
  mapRenderMs?: number;
  /** Median milliseconds to build a 10-row table bundle. */
  table10Ms: number;
  /** Median milliseconds to build a 10,000,000-row table bundle. */
  table10MMs: number;
  /** table10MMs / table10Ms. */
  tableRatio: number;
}

function randomPoints(n: number): arrow.Table {
  const lon = new Float64Array(n), lat = new Float64Array(n), value = new Float64Array(n);
  let seed = 7;
  const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  for (let i = 0; i < n; i++) {
    lon[i] = -10 + rnd() * 40;
    lat[i] = 35 + rnd() * 25;
    value[i] = rnd() * 100;
  }
  return arrow.tableFromArrays({ lon, lat, value });
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

/** Runs both benchmarks and prints a summary. */
export async function main(): Promise<DisplayBenchResult> {
  const small = numbers(10);
  const big = numbers(10_000_000);
  await toMimeBundle(small); // warm up the code paths
  await toMimeBundle(big);
  const table10Ms = await median(201, () => toMimeBundle(small));
  const table10MMs = await median(201, () => toMimeBundle(big));
  const result: DisplayBenchResult = { table10Ms, table10MMs, tableRatio: table10MMs / table10Ms };

  if (hasChromium()) {
    const points = randomPoints(1_000_000);
    const t0 = performance.now();
    const bundle = mapToMimeBundle(points, { color: "value", assets: "inline", svg: true });
    result.mapBundleMs = performance.now() - t0;
    const html = String(bundle.data["text/html"]);
    result.mapHtmlBytes = html.length;
    const id = (bundle.metadata?.["text/html"] as Record<string, { id: string }>)["fused:map"].id;
    await withPage(notebookPage([html]), async ({ page, blocked }) => {
      const state = await waitForMap(page, id, 120_000);
      if (!state.loaded) throw new Error(`The 1 M-point map failed: ${state.error}`);
      if (blocked.length) throw new Error(`The map tried to reach ${blocked.join(", ")}`);
      result.mapIdleMs = state.idleSinceNavigation;
      result.mapRenderMs = state.idleMs;
      await page.locator(`#${id}`).screenshot({ path: "tests/artifacts/bench_map_1m.png" }).catch(
        () => {},
      );
    }, { timeoutMs: 120_000 });
  } else {
    console.log("Chromium not found at /usr/bin/chromium: map benchmark skipped");
  }

  const f = (n?: number) => (n === undefined ? "n/a" : n.toFixed(1));
  console.log(`display_bench (deno run -A bench/display_bench.ts)
  table bundle, 10 rows:          ${f(result.table10Ms)} ms (median of 201)
  table bundle, 10,000,000 rows:  ${f(result.table10MMs)} ms (median of 201)
  ratio 10M / 10:                 ${result.tableRatio.toFixed(2)} (target <= 2)
  1M-point map bundle (Deno):     ${f(result.mapBundleMs)} ms, ${
    ((result.mapHtmlBytes ?? 0) / 1e6).toFixed(1)
  } MB HTML
  1M-point map idle (Chromium):   ${f(result.mapIdleMs)} ms since navigation, ${
    f(result.mapRenderMs)
  } ms after assets (target < 10,000; GeoJSON path measured 34,500)`);
  return result;
}

if (import.meta.main) await main();
