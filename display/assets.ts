/**
 * Browser assets inlined into outputs, so maps and charts work offline, from `file://`, and after
 * `jupyter nbconvert --to html` (no CDN; display-perf §2.4 measured a MapLibre page with zero
 * network requests this way).
 *
 * Maps carry their libraries in every output, compressed (`_map_assets.ts`). Charts: each
 * output's HTML is inserted into the same page (JupyterLab, Notebook, VS Code and nbconvert all
 * do this), so the libraries are needed only once per page. Two modes:
 *
 * - `"once"` (default): the first map (or chart) displayed by this process carries the
 *   libraries; later outputs carry a small loader that waits for them on
 *   `window.__fusedMapAssets` / `window.__fusedVega`. This is how plotly's offline notebook mode
 *   works. When the output that carried them is gone (cleared, or the notebook was saved after
 *   re-running only later cells), a later output says so and keeps showing its static fallback;
 *   `resetAssets()` (e.g. on kernel restart) or `{ assets: "inline" }` fixes it.
 * - `"inline"`: every output carries the libraries; a global guard still evaluates them only once
 *   per page.
 *
 * The library files are read at run time from the pinned npm packages (`node_modules`), so there
 * is no generated copy to keep in sync; the one exception is the offline basemap, cut at the
 * antimeridian ahead of time (`_offline_basemap.ts`, checked against a fresh build by its test).
 *
 * @module
 */

import { NotSupportedError } from "../client/errors.ts";
import { jsonForScript } from "./mime.ts";

/** Whether an output carries the browser libraries itself or relies on an earlier output. */
export type AssetMode = "once" | "inline";

const emitted = new Set<string>();
const fileCache = new Map<string, string>();

/**
 * Forgets which libraries were already sent, so the next map and chart carry them again. Call it
 * when the kernel restarts or the frontend reloads the page.
 */
export function resetAssets(): void {
  emitted.clear();
}

/** Decides whether an output of `kind` must carry the libraries, and records that it did. */
export function needsAssets(kind: "maplibre" | "vega", mode: AssetMode = "once"): boolean {
  if (mode === "inline") {
    emitted.add(kind);
    return true;
  }
  if (mode !== "once") {
    throw new NotSupportedError(`Unknown assets mode "${mode}": use "once" or "inline"`);
  }
  if (emitted.has(kind)) return false;
  emitted.add(kind);
  return true;
}

/** Reads a file of an installed npm package (pinned in deno.json) as text. */
export function packageFile(pkg: string, subpath: string): string {
  const key = `${pkg}/${subpath}`;
  const cached = fileCache.get(key);
  if (cached !== undefined) return cached;
  let entry: string;
  try {
    entry = import.meta.resolve(pkg);
  } catch (cause) {
    throw new NotSupportedError(
      `Cannot find the npm package "${pkg}" for inlining into notebook outputs (${
        (cause as Error).message
      }): run \`deno install\` in the project folder`,
    );
  }
  const marker = `/node_modules/${pkg}/`;
  const at = entry.indexOf(marker);
  if (!entry.startsWith("file:") || at < 0) {
    throw new NotSupportedError(
      `The npm package "${pkg}" resolved to ${entry}, not to a node_modules folder: set "nodeModulesDir": "auto" in deno.json and run \`deno install\``,
    );
  }
  const url = new URL(entry.slice(0, at + marker.length) + subpath);
  let text: string;
  try {
    text = Deno.readTextFileSync(url);
  } catch (cause) {
    throw new NotSupportedError(
      `Cannot read ${url.pathname} (${
        (cause as Error).message
      }): run \`deno install\` so the pinned "${pkg}" package is complete`,
    );
  }
  fileCache.set(key, text);
  return text;
}

/**
 * The `<script>` that defines vega, vega-lite and vega-embed on the page once
 * (`window.__fusedVega` is a promise of `{ vega, vegaLite, vegaEmbed }`).
 *
 * The UMD builds run inside a function whose `define`, `module`, `exports` and `require` are
 * undefined, so they attach to `window` even where RequireJS is loaded (classic Notebook).
 */
export function vegaAssetsScript(): string {
  const libs = [
    packageFile("vega", "build/vega.min.js"),
    packageFile("vega-lite", "build/vega-lite.min.js"),
    packageFile("vega-embed", "build/vega-embed.min.js"),
  ];
  return `<script>(function(){var w=window;if(w.__fusedVega)return;
var libs=${jsonForScript(libs)};
w.__fusedVega=new Promise(function(ok,fail){try{for(var i=0;i<libs.length;i++){(new Function("define","module","exports","require",libs[i])).call(w);}
ok({vega:w.vega,vegaLite:w.vegaLite,vegaEmbed:w.vegaEmbed});}catch(e){fail(e);}});
(w.__fusedVegaQueue||[]).forEach(function(f){w.__fusedVega.then(f);});w.__fusedVegaQueue=[];})();</script>`;
}

/** GeoJSON land polygons and country borders from world-atlas (Natural Earth 1:110m). */
export interface OfflineBasemap {
  /** Land as a GeoJSON MultiPolygon feature. */
  land: unknown;
  /** Borders between countries as a GeoJSON MultiLineString. */
  borders: unknown;
}

let basemapCache: OfflineBasemap | undefined;

/**
 * The offline basemap: world-atlas TopoJSON converted with topojson-client, cut at the
 * antimeridian, coordinates rounded; built ahead of time (`_offline_basemap.ts`) and read from
 * `_offline_basemap.json`.
 */
export function offlineBasemap(): OfflineBasemap {
  if (basemapCache) return basemapCache;
  const file = new URL("./_offline_basemap.json", import.meta.url);
  let text: string;
  try {
    text = Deno.readTextFileSync(file);
  } catch (cause) {
    throw new NotSupportedError(
      `Cannot read the offline basemap ${file.pathname} (${
        (cause as Error).message
      }): rebuild it with \`deno run -A display/_offline_basemap.ts\``,
    );
  }
  basemapCache = JSON.parse(text) as OfflineBasemap;
  return basemapCache;
}
