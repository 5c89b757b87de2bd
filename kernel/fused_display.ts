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

/** Registers the display hook (the evaluator Worker does this once); returns a remover. */
export function installFusedDisplay(): () => void {
  return registerDisplayHook(async (value): Promise<MimeBundle | undefined> => {
    if (!hasRichDisplay(value)) return undefined;
    const { toMimeBundle } = await import("../display/mod.ts");
    return await toMimeBundle(value);
  });
}
