/**
 * Display: every result type as a Jupyter MIME bundle, callable without a kernel. One dispatch,
 * {@linkcode toMimeBundle}, picks the renderer by the value's type; the kernel calls it for
 * every cell result, and objects made here (charts, maps, `displayable(value)`) also carry the
 * `Symbol.for("Jupyter.display")` hook, so they show themselves in any Deno kernel.
 *
 * Every display has layers (ARCHITECTURE.md): an interactive `text/html` (self-contained, no
 * CDN), a static fallback (`image/svg+xml` or `image/png`) and `text/plain`.
 *
 * @example
 * ```ts
 * import { tableFromArrays } from "apache-arrow";
 * import { toMimeBundle } from "./mod.ts";
 * const bundle = await toMimeBundle(tableFromArrays({ x: Float64Array.from([1, 2]) }));
 * if (!("text/html" in bundle.data)) throw new Error("unexpected");
 * ```
 *
 * @module
 */

import { isRaster, isShapedArray } from "../client/formats/raster.ts";
import { isTable } from "../client/formats/types.ts";
import { type ChartOptions, vegaLiteToMimeBundle } from "./chart.ts";
import { isGeoJson, isImageLikeArray, isVegaLiteSpec, looksLikeHtml } from "./detect.ts";
import { isUdfRuntimeError, udfErrorToMimeBundle } from "./error.ts";
import { filesToMimeBundle, isFileListing } from "./files.ts";
import { type MapOptions, mapToMimeBundle } from "./map.ts";
import {
  type Displayable,
  displayableBundle,
  escapeHtml,
  hasDisplayHook,
  JUPYTER_DISPLAY,
  type MimeBundle,
} from "./mime.ts";
import { arrayToImage, type RasterDisplayOptions, rasterToMimeBundle } from "./raster.ts";
import { type TableDisplayOptions, tableToMimeBundle } from "./table.ts";
import { isArrowConvertible } from "./detect.ts";
import { isUdf, type UdfDisplayOptions, udfToMimeBundle } from "./udf.ts";

export { chart, type ChartOptions, vegaLiteToMimeBundle } from "./chart.ts";
export { hasRichDisplay, isGeoJson, isVegaLiteSpec, looksLikeHtml } from "./detect.ts";
export { map, type MapOptions, mapToMimeBundle, type TileLayerOptions } from "./map.ts";
export { type TableDisplayOptions, tableToMimeBundle } from "./table.ts";
export { type RasterDisplayOptions, rasterToMimeBundle } from "./raster.ts";
export { type UdfDisplayOptions, udfToMimeBundle } from "./udf.ts";
export { udfErrorToMimeBundle } from "./error.ts";
export { type FileEntry, filesToMimeBundle } from "./files.ts";
export { type AssetMode, resetAssets } from "./assets.ts";
export { type Displayable, JUPYTER_DISPLAY, type MimeBundle } from "./mime.ts";

/** Options of {@linkcode toMimeBundle}, one group per kind of value. */
export interface DisplayOptions {
  /** Options for tables. */
  table?: TableDisplayOptions;
  /** Options for rasters. */
  raster?: RasterDisplayOptions;
  /** Options for Vega-Lite specs. */
  chart?: ChartOptions;
  /** Options for maps; GeoJSON always shows as a map, geo tables only with `asMap`. */
  map?: MapOptions;
  /** Show a geo table as a map instead of a table (what `%%fused --map` asks for). */
  asMap?: boolean;
  /** Options for UDFs. */
  udf?: UdfDisplayOptions;
}

/** Plain text of any value, the way the REPL shows it. */
function plainText(value: unknown): string {
  if (typeof value === "string") return value;
  return Deno.inspect(value, {
    colors: false,
    depth: 4,
    iterableLimit: 100,
    strAbbreviateSize: 10_000,
  });
}

/**
 * Turns a value into a MIME bundle: tables, rasters (also `{ data, shape }` values and bare square
 * typed arrays), Vega-Lite specs, GeoJSON (as a map), UDFs,
 * UDF errors, file listings, HTML strings and objects with a `Jupyter.display` hook each get
 * their renderer; anything else becomes `text/plain`.
 */
export async function toMimeBundle(
  value: unknown,
  options: DisplayOptions = {},
): Promise<MimeBundle> {
  if (hasDisplayHook(value)) {
    const own = value as { toMimeBundle?: () => Promise<MimeBundle> | MimeBundle };
    if (typeof own.toMimeBundle === "function") return await own.toMimeBundle();
    const data = await (value as { [JUPYTER_DISPLAY](): unknown })[JUPYTER_DISPLAY]();
    if (data && typeof data === "object") return { data: { ...(data as Record<string, unknown>) } };
  }
  if (isTable(value) || isArrowConvertible(value)) {
    if (options.asMap && isTable(value)) return mapToMimeBundle(value, options.map);
    return tableToMimeBundle(value, options.table);
  }
  if (isRaster(value)) return rasterToMimeBundle(value, options.raster);
  if (isShapedArray(value) || isImageLikeArray(value)) {
    const shown = arrayToImage(value as ArrayLike<number>, options.raster);
    if ("bundle" in shown) return shown.bundle;
    const text = plainText(value);
    return { data: { "text/plain": shown.note ? `${text}\n${shown.note}` : text } };
  }
  if (isVegaLiteSpec(value)) return await vegaLiteToMimeBundle(value, options.chart);
  if (isGeoJson(value)) return mapToMimeBundle(value, options.map);
  if (isUdfRuntimeError(value)) return udfErrorToMimeBundle(value);
  if (isUdf(value)) return udfToMimeBundle(value, options.udf);
  if (isFileListing(value)) return filesToMimeBundle(value);
  if (typeof value === "string") {
    return looksLikeHtml(value)
      ? { data: { "text/html": value, "text/plain": value } }
      : { data: { "text/plain": value } };
  }
  return { data: { "text/plain": plainText(value) } };
}

/**
 * Wraps any value so that it displays through {@linkcode toMimeBundle} wherever the kernel looks
 * for `Symbol.for("Jupyter.display")`.
 *
 * @example
 * ```ts
 * import { displayable, JUPYTER_DISPLAY } from "./mod.ts";
 * const data = await displayable("<b>hi</b>")[JUPYTER_DISPLAY]();
 * if (data["text/html"] !== "<b>hi</b>") throw new Error("unexpected");
 * ```
 */
export function displayable(value: unknown, options: DisplayOptions = {}): Displayable {
  return displayableBundle(() => toMimeBundle(value, options), "Displayable");
}

/** An HTML fragment that displays as HTML (escape user text inside it with `escapeHtml`). */
export function html(markup: string): Displayable {
  return displayableBundle(() => ({ data: { "text/html": markup, "text/plain": markup } }), "HTML");
}

export { escapeHtml };
