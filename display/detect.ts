/**
 * Cheap tests of what kind of value something is, with no heavy imports (no Arrow, MapLibre or
 * Vega), so the kernel can decide on every cell value whether the display layer is needed before
 * loading it.
 *
 * @module
 */
import type * as arrow from "apache-arrow";
import { dtypeOf, isRaster, isShapedArray } from "../client/formats/raster.ts";
import { isGeoJson, isTable } from "../client/formats/types.ts";
import { isUdfRuntimeError } from "./error.ts";
import { isFileListing } from "./files.ts";
import { hasDisplayHook } from "./mime.ts";
import { isUdf } from "./udf.ts";

export { isGeoJson };

/** Something that converts itself to an Arrow table (polars-like frames, query results). */
export interface ArrowConvertible {
  /** Returns the data as an Arrow table. */
  toArrow(): arrow.Table;
}

/** True for an object with a `toArrow()` method. */
export function isArrowConvertible(value: unknown): value is ArrowConvertible {
  return value !== null && typeof value === "object" &&
    typeof (value as { toArrow?: unknown }).toArrow === "function";
}

/** True for an object whose `$schema` names Vega-Lite. */
export function isVegaLiteSpec(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value) &&
    typeof (value as { $schema?: unknown }).$schema === "string" &&
    (value as { $schema: string }).$schema.includes("vega-lite");
}

/** True for a string that is an HTML document or fragment (starts with a tag, ends with one). */
export function looksLikeHtml(text: string): boolean {
  const t = text.trim();
  return /^<(!doctype html|html|[a-z][a-z0-9-]*)(\s[^>]*)?\/?>/i.test(t) &&
    /<\/?[a-z][^>]*>$/i.test(t);
}

/**
 * Sides of a bare typed array shown as a square image. Below 16×16 a Uint8Array is more likely
 * bytes (a hash, a short message) than a picture; above 4096×4096 the image is larger than a
 * screen and its PNG would bloat the notebook.
 */
export const IMAGE_SIDES = { min: 16, max: 4096 } as const;

/**
 * True for a typed array a raster could hold with at least `IMAGE_SIDES.min²` values: it shows as
 * a square image when its length is a square, and as text with a note saying why not otherwise.
 */
export function isImageLikeArray(value: unknown): boolean {
  return dtypeOf(value) !== undefined &&
    (value as ArrayLike<number>).length >= IMAGE_SIDES.min * IMAGE_SIDES.min;
}

/**
 * Whether `toMimeBundle` shows this value richer than plain text: tables, rasters, charts,
 * GeoJSON, UDFs, UDF errors, file listings, HTML strings, `{ data, shape }` arrays and typed
 * arrays large enough to be images. Values with their own
 * `Jupyter.display` method are left to the caller.
 */
export function hasRichDisplay(value: unknown): boolean {
  if (typeof value === "string") return looksLikeHtml(value);
  if (value === null || typeof value !== "object" || hasDisplayHook(value)) return false;
  return isTable(value) || isArrowConvertible(value) || isRaster(value) ||
    isShapedArray(value) || isImageLikeArray(value) || isVegaLiteSpec(value) || isGeoJson(value) ||
    isUdfRuntimeError(value) || isUdf(value) ||
    isFileListing(value);
}
