/**
 * Numpy `.npy` files (format versions 1.0, 2.0 and 3.0), Fused's default raster wire format
 * (`application/x-numpy-data`).
 *
 * Written by hand on purpose: the format is a 10- or 12-byte preamble, a Python dict literal
 * (`descr`, `fortran_order`, `shape`) and the raw C-order values, so reading is a regex and a
 * typed-array view. The npm readers (npyjs, numpy-parser) only read, some fetch from URLs, and
 * none writes.
 *
 * @module
 */

import { NotSupportedError, ValidationError } from "../errors.ts";
import { CorruptDataError } from "./errors.ts";
import { Raster, type RasterArray, type RasterDtype, typedArrayFor } from "./raster.ts";

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

const DESCR: Record<RasterDtype, string> = {
  uint8: "|u1",
  int8: "|i1",
  uint16: "<u2",
  int16: "<i2",
  uint32: "<u4",
  int32: "<i4",
  float32: "<f4",
  float64: "<f8",
};

const KIND_SIZE_TO_DTYPE: Record<string, RasterDtype> = {
  u1: "uint8",
  i1: "int8",
  b1: "uint8", // numpy bool is one byte 0/1
  u2: "uint16",
  i2: "int16",
  u4: "uint32",
  i4: "int32",
  f4: "float32",
  f8: "float64",
};

/**
 * Encodes a raster as a little-endian, C-order `.npy` file (version 1.0, or 2.0 when the header
 * does not fit in 64 KiB). Bounds are not part of the format: send them beside it.
 *
 * @example
 * ```ts
 * import { Raster } from "./raster.ts";
 * import { npyToRaster, rasterToNpy } from "./npy.ts";
 * const r = npyToRaster(rasterToNpy(Raster.from(new Int16Array([1, 2, 3, 4]), [2, 2])));
 * if (r.dtype !== "int16" || r.data[3] !== 4) throw new Error("unexpected");
 * ```
 */
export function rasterToNpy(raster: Raster): Uint8Array {
  const shape = raster.shape.join(", ");
  let dict = `{'descr': '${DESCR[raster.dtype]}', 'fortran_order': False, 'shape': (${shape}), }`;
  let version = 1;
  let preamble = 10;
  if (dict.length + 1 + preamble > 65535) {
    version = 2;
    preamble = 12;
  }
  // Pad so that the values start on a 64-byte boundary, as numpy does (aligned views).
  const total = Math.ceil((preamble + dict.length + 1) / 64) * 64;
  dict = dict.padEnd(total - preamble - 1, " ") + "\n";
  const values = new Uint8Array(raster.data.buffer, raster.data.byteOffset, raster.data.byteLength);
  const out = new Uint8Array(total + values.byteLength);
  out.set(MAGIC, 0);
  out[6] = version;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, dict.length, true);
  else view.setUint32(8, dict.length, true);
  for (let i = 0; i < dict.length; i++) out[preamble + i] = dict.charCodeAt(i);
  out.set(values, total);
  return out;
}

/**
 * Decodes a `.npy` file into a raster (a view on the bytes when they are aligned). Needs a 2-D
 * or 3-D array of one of the raster dtypes; throws CorruptDataError on truncated input.
 */
export function npyToRaster(bytes: Uint8Array): Raster {
  if (bytes.byteLength < 10 || !MAGIC.every((b, i) => bytes[i] === b)) {
    throw new CorruptDataError(
      `Cannot read ${bytes.byteLength} bytes as .npy: it does not start with "\\x93NUMPY"; the data is truncated or in another format`,
    );
  }
  const version = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let preamble: number;
  if (version === 1) {
    headerLen = view.getUint16(8, true);
    preamble = 10;
  } else if (version === 2 || version === 3) {
    if (bytes.byteLength < 12) throw truncated(bytes.byteLength, 12);
    headerLen = view.getUint32(8, true);
    preamble = 12;
  } else {
    throw new NotSupportedError(
      `Cannot read .npy format version ${version}.${
        bytes[7]
      }: versions 1.0, 2.0 and 3.0 are supported`,
    );
  }
  const dataStart = preamble + headerLen;
  if (bytes.byteLength < dataStart) throw truncated(bytes.byteLength, dataStart);
  const header = new TextDecoder().decode(bytes.subarray(preamble, dataStart));
  const descr = /'descr'\s*:\s*'([<>|=])([a-z])(\d+)'/.exec(header);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header);
  const shapeMatch = /'shape'\s*:\s*\(([\d\s,]*)\)/.exec(header);
  if (!descr || !fortran || !shapeMatch) {
    throw new CorruptDataError(
      `Cannot read the .npy header ${
        JSON.stringify(header.trim())
      }: it needs 'descr', 'fortran_order' and 'shape'`,
    );
  }
  const [, order, kind, size] = descr;
  const dtype = KIND_SIZE_TO_DTYPE[kind + size];
  if (dtype === undefined) {
    throw new NotSupportedError(
      `Cannot read a .npy array of dtype '${order}${kind}${size}': rasters hold uint8, int8, uint16, int16, uint32, int32, float32, float64 or bool (convert with arr.astype(...) first)`,
    );
  }
  if (fortran[1] === "True") {
    throw new NotSupportedError(
      "Cannot read a Fortran-order .npy array: save it in C order (np.ascontiguousarray(arr))",
    );
  }
  const shape = shapeMatch[1].split(",").map((s) => s.trim()).filter((s) => s !== "").map(Number);
  if (shape.length !== 2 && shape.length !== 3) {
    throw new ValidationError(
      `Cannot make a raster from a .npy array of shape (${
        shape.join(", ")
      }): a raster is 2-D (height, width) or 3-D (bands, height, width)`,
    );
  }
  const count = shape.reduce((a, b) => a * b, 1);
  const itemSize = Number(size);
  const needed = dataStart + count * itemSize;
  if (bytes.byteLength < needed) throw truncated(bytes.byteLength, needed);
  let data: RasterArray;
  if (order === ">" && itemSize > 1) {
    data = typedArrayFor(
      dtype,
      swapBytes(bytes.subarray(dataStart, needed), itemSize).buffer,
      0,
      count,
    );
  } else {
    data = typedArrayFor(dtype, bytes.buffer, bytes.byteOffset + dataStart, count);
  }
  return new Raster(data, shape);
}

function truncated(have: number, need: number): CorruptDataError {
  return new CorruptDataError(
    `The .npy data is truncated: it has ${have} bytes but its header needs ${need}`,
  );
}

/** Copies big-endian values into a little-endian buffer. */
function swapBytes(src: Uint8Array, itemSize: number): Uint8Array {
  const out = new Uint8Array(src.byteLength);
  for (let i = 0; i < src.byteLength; i += itemSize) {
    for (let j = 0; j < itemSize; j++) out[i + j] = src[i + itemSize - 1 - j];
  }
  return out;
}
