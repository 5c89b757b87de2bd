/**
 * GeoTIFF reading through npm geotiff (67 ms for a 1024² float32 image; display-perf §4.3).
 * Writing is not offered: geotiff.js's writer is naive (1.15 s for the same image) and npy or PNG
 * carry rasters faster.
 *
 * @module
 */

import { fromArrayBuffer } from "geotiff";
import { CorruptDataError } from "./errors.ts";
import { type Bounds, dtypeOf, Raster, type RasterArray, typedArrayFor } from "./raster.ts";
import { NotSupportedError } from "../errors.ts";

/** Options of {@linkcode geotiffToRaster}. */
export interface GeotiffToRasterOptions {
  /** Which image of a multi-image TIFF (0 = the full-resolution one, the default). */
  image?: number;
}

/**
 * Reads a (Geo)TIFF into a raster: `[height, width]` for one band, `[bands, height, width]` for
 * more; bounds from the GeoTIFF's georeferencing when it has any.
 *
 * @example
 * ```ts
 * import { writeArrayBuffer } from "geotiff";
 * import { geotiffToRaster } from "./tiff.ts";
 * // geotiff.js's writer georeferences to the whole globe unless told otherwise
 * const tiff = writeArrayBuffer(new Uint8Array([1, 2, 3, 4]), { width: 2, height: 2 });
 * const r = await geotiffToRaster(new Uint8Array(tiff));
 * if (r.data[3] !== 4 || r.bounds?.[0] !== -180) throw new Error("unexpected");
 * ```
 */
export async function geotiffToRaster(
  bytes: Uint8Array,
  options: GeotiffToRasterOptions = {},
): Promise<Raster> {
  const buffer = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    ? bytes.buffer as ArrayBuffer
    : bytes.slice().buffer;
  let bands: ArrayLike<number>[];
  let width: number;
  let height: number;
  let bounds: Bounds | undefined;
  try {
    const tiff = await fromArrayBuffer(buffer);
    const image = await tiff.getImage(options.image ?? 0);
    width = image.getWidth();
    height = image.getHeight();
    bands = await image.readRasters({ interleave: false }) as unknown as ArrayLike<number>[];
    try {
      bounds = image.getBoundingBox() as Bounds;
    } catch {
      bounds = undefined; // no georeferencing: a plain TIFF
    }
  } catch (cause) {
    throw new CorruptDataError(
      `Cannot read ${bytes.byteLength} bytes as a GeoTIFF: ${(cause as Error).message}`,
      { cause },
    );
  }
  const dtype = dtypeOf(bands[0]);
  if (dtype === undefined) {
    throw new NotSupportedError(
      `Cannot read a TIFF whose samples are ${
        (bands[0] as object).constructor.name
      }: rasters hold 8-, 16- and 32-bit integers and 32- and 64-bit floats`,
    );
  }
  const n = width * height;
  if (bands.length === 1) return new Raster(bands[0] as RasterArray, [height, width], { bounds });
  const data = typedArrayFor(
    dtype,
    new ArrayBuffer(n * bands.length * (bands[0] as RasterArray).BYTES_PER_ELEMENT),
    0,
    n * bands.length,
  );
  bands.forEach((band, b) => data.set(band as RasterArray, b * n));
  return new Raster(data, [bands.length, height, width], { bounds });
}
