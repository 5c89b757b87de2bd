/**
 * Rasters as MIME bundles: `image/png` (one band through a colormap with an automatic range,
 * three or four bands as RGB/RGBA) from the formats module's encoder, metadata with bounds and
 * value range, and a one-line `text/plain`.
 *
 * @module
 */

import { type Colormap, rasterToPNG, valueRange } from "../client/formats/png.ts";
import { type Raster, type ShapedArray, toRaster } from "../client/formats/raster.ts";
import { IMAGE_SIDES } from "./detect.ts";
import { type MimeBundle, toBase64 } from "./mime.ts";

/** Options of {@linkcode rasterToMimeBundle}. */
export interface RasterDisplayOptions {
  /** Colormap of a single band: "gray" for uint8, "viridis" otherwise by default. */
  colormap?: Colormap;
  /** Values mapped to the first and last colour; the valid min and max by default. */
  range?: [number, number];
  /** A value that means "no data": transparent, and left out of the range. */
  nodata?: number;
}

/** One line describing a raster: `Raster 3×256×256 uint8, bounds [w, s, e, n], range [0, 255]`. */
export function describeRaster(raster: Raster, range?: [number, number]): string {
  const bounds = raster.bounds ? `, bounds [${raster.bounds.map(fmt).join(", ")}]` : "";
  const values = range ? `, range [${range.map(fmt).join(", ")}]` : "";
  return `Raster ${raster.shape.join("×")} ${raster.dtype}${bounds}${values}`;
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : String(+n.toPrecision(7));
}

/**
 * Builds the MIME bundle of a raster: a PNG (base64), its size, bounds and value range as
 * metadata, and a one-line text form.
 *
 * @example
 * ```ts
 * import { Raster } from "../client/formats/raster.ts";
 * import { rasterToMimeBundle } from "./raster.ts";
 * const b = rasterToMimeBundle(Raster.from(new Float32Array([0, 1, 2, 3]), [2, 2]));
 * if (b.data["text/plain"] !== "Raster 2×2 float32, range [0, 3]") throw new Error("unexpected");
 * ```
 */
export function rasterToMimeBundle(raster: Raster, options: RasterDisplayOptions = {}): MimeBundle {
  const range = valueRange(raster.data, options.nodata);
  const png = rasterToPNG(raster, {
    colormap: options.colormap,
    range: options.range,
    nodata: options.nodata,
  });
  const meta: Record<string, unknown> = { width: raster.width, height: raster.height };
  if (raster.bounds) meta.bounds = [...raster.bounds];
  if (range) meta.range = range;
  if (raster.bands === 1) {
    meta.colormap = options.colormap ?? (raster.dtype === "uint8" ? "gray" : "viridis");
  }
  return {
    data: { "image/png": toBase64(png), "text/plain": describeRaster(raster, range) },
    metadata: { "image/png": meta },
  };
}

/**
 * What {@linkcode arrayToImage} makes of an array: an image bundle, or a note on why not (empty
 * for bytes that are not square: those are more likely a file's bytes than a picture).
 */
export type ArrayImage = { bundle: MimeBundle } | { note: string };

/**
 * Shows a `{ data, shape }` value or a bare square typed array (side up to 4096) as an image, as
 * the quickstart promises; anything else gets a note saying why it stays text and what to do.
 *
 * @example
 * ```ts
 * import { arrayToImage } from "./raster.ts";
 * const shown = arrayToImage(new Uint8Array(32 * 32));
 * if (!("bundle" in shown)) throw new Error("unexpected");
 * ```
 */
export function arrayToImage(
  value: ShapedArray | ArrayLike<number>,
  options: RasterDisplayOptions = {},
): ArrayImage {
  if (!ArrayBuffer.isView(value)) {
    try {
      return { bundle: rasterToMimeBundle(toRaster(value as ShapedArray), options) };
    } catch (err) {
      return { note: `Not shown as an image: ${(err as Error).message}` };
    }
  }
  const array = value as Raster["data"];
  const name = array.constructor.name;
  const side = Math.round(Math.sqrt(array.length));
  const wrap = "fused.Raster(data, [height, width])";
  if (side * side !== array.length) {
    if (array instanceof Uint8Array) return { note: "" };
    return {
      note: `${name} of ${array.length} values is not square: show it as an image with ${wrap}`,
    };
  }
  if (side > IMAGE_SIDES.max) {
    return {
      note:
        `${name} of ${side}×${side} values is too large to show as an image (at most ${IMAGE_SIDES.max}×${IMAGE_SIDES.max}): show a part of it with ${wrap}`,
    };
  }
  const bundle = rasterToMimeBundle(toRaster({ data: array, shape: [side, side] }), options);
  const text = `${name} of ${array.length} values as a ${side}×${side} image: ${
    bundle.data["text/plain"]
  }`;
  return { bundle: { ...bundle, data: { ...bundle.data, "text/plain": text } } };
}
