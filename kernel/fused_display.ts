/**
 * Shows Fused results richly in the notebook: tables, rasters, charts, GeoJSON maps, UDFs, UDF
 * errors, file listings and HTML strings go through `display/`'s `toMimeBundle`, keeping its
 * metadata (bounds, sizes). The display layer is loaded on the first value that needs it, so
 * cells that never show such a value do not pay for Arrow, Vega or MapLibre.
 *
 * @module
 */
import { hasRichDisplay } from "../display/detect.ts";
import type { MimeBundle } from "./evaluator_types.ts";
import { registerDisplayHook } from "./display.ts";

/**
 * True for display/'s own displayables (charts, maps, `fused.displayable(...)`): their
 * `Jupyter.display` method gives only the data, `toMimeBundle()` the metadata too (map ids,
 * raster sizes), which a plain `Jupyter.display` call would drop.
 */
function hasOwnBundle(value: unknown): boolean {
  return value !== null && typeof value === "object" &&
    typeof (value as { toMimeBundle?: unknown }).toMimeBundle === "function" &&
    typeof (value as Record<symbol, unknown>)[Symbol.for("Jupyter.display")] === "function";
}

/** Registers the display hook (the evaluator Worker does this once); returns a remover. */
export function installFusedDisplay(): () => void {
  return registerDisplayHook(async (value): Promise<MimeBundle | undefined> => {
    if (!hasRichDisplay(value) && !hasOwnBundle(value)) return undefined;
    const { toMimeBundle } = await import("../display/mod.ts");
    return await toMimeBundle(value);
  });
}
