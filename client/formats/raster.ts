/**
 * The in-memory raster: a typed array plus a numpy-style shape and optional geographic bounds.
 * No dependencies, so the Worker transfer path can load it cheaply.
 *
 * @module
 */

import { ValidationError } from "../errors.ts";

/** Typed arrays a raster may hold (the numpy dtypes Fused rasters use). */
export type RasterArray =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array;

/** Numpy-style name of a raster's element type. */
export type RasterDtype =
  | "uint8"
  | "int8"
  | "uint16"
  | "int16"
  | "uint32"
  | "int32"
  | "float32"
  | "float64";

import type { Bounds } from "../tiles.ts";

/** Geographic extent `[west, south, east, north]`, as Fused's `(array, bounds)` tuples carry. */
export type { Bounds };

/** Options of {@linkcode Raster.from}. */
export interface RasterOptions {
  /** Geographic extent `[west, south, east, north]` of the raster. */
  bounds?: Bounds;
}

type RasterArrayConstructor =
  | Uint8ArrayConstructor
  | Int8ArrayConstructor
  | Uint16ArrayConstructor
  | Int16ArrayConstructor
  | Uint32ArrayConstructor
  | Int32ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor;

const CONSTRUCTORS: Record<RasterDtype, RasterArrayConstructor> = {
  uint8: Uint8Array,
  int8: Int8Array,
  uint16: Uint16Array,
  int16: Int16Array,
  uint32: Uint32Array,
  int32: Int32Array,
  float32: Float32Array,
  float64: Float64Array,
};

/** Every dtype a raster may have, in a stable order. */
export const RASTER_DTYPES: readonly RasterDtype[] = Object.keys(CONSTRUCTORS) as RasterDtype[];

/** Returns the numpy dtype name of a typed array, or undefined when rasters cannot hold it. */
export function dtypeOf(data: unknown): RasterDtype | undefined {
  if (data instanceof Uint8Array) return "uint8";
  if (data instanceof Float32Array) return "float32";
  if (data instanceof Float64Array) return "float64";
  if (data instanceof Int8Array) return "int8";
  if (data instanceof Uint16Array) return "uint16";
  if (data instanceof Int16Array) return "int16";
  if (data instanceof Uint32Array) return "uint32";
  if (data instanceof Int32Array) return "int32";
  return undefined;
}

/**
 * Makes a typed array of a dtype over `length` elements of `buffer` from `byteOffset`, without
 * copying when the offset is aligned to the element size (copying otherwise).
 */
export function typedArrayFor(
  dtype: RasterDtype,
  buffer: ArrayBufferLike,
  byteOffset: number,
  length: number,
): RasterArray {
  const ctor = CONSTRUCTORS[dtype];
  if (ctor === undefined) {
    throw new ValidationError(
      `Unknown raster dtype "${dtype}": use one of ${RASTER_DTYPES.join(", ")}`,
    );
  }
  if (byteOffset % ctor.BYTES_PER_ELEMENT === 0) {
    return new ctor(buffer as ArrayBuffer, byteOffset, length);
  }
  const copy = new Uint8Array(buffer, byteOffset, length * ctor.BYTES_PER_ELEMENT).slice();
  return new ctor(copy.buffer, 0, length);
}

/**
 * A raster: values in band-first C order, a shape `[height, width]` or `[bands, height, width]`,
 * and optional bounds.
 *
 * @example Make a 2 × 3 single-band raster
 * ```ts
 * import { Raster } from "./raster.ts";
 * const r = Raster.from(new Float32Array(6), [2, 3], { bounds: [0, 0, 3, 2] });
 * if (r.dtype !== "float32" || r.width !== 3 || r.bands !== 1) throw new Error("unexpected");
 * ```
 */
export class Raster {
  /** The values, band after band, row after row. */
  readonly data: RasterArray;
  /** `[height, width]` or `[bands, height, width]`. */
  readonly shape: number[];
  /** Geographic extent `[west, south, east, north]`, when known. */
  bounds?: Bounds;

  /** Creates a raster after checking that data, shape and bounds agree. */
  constructor(data: RasterArray, shape: readonly number[], options: RasterOptions = {}) {
    if (dtypeOf(data) === undefined) {
      const name = (data as { constructor?: { name?: string } })?.constructor?.name ??
        typeof data;
      throw new ValidationError(
        `A raster cannot hold data of type ${name}: use a Uint8Array, Int8Array, Uint16Array, Int16Array, Uint32Array, Int32Array, Float32Array or Float64Array`,
      );
    }
    if (
      !Array.isArray(shape) || (shape.length !== 2 && shape.length !== 3) ||
      !shape.every((n) => Number.isInteger(n) && n >= 0)
    ) {
      throw new ValidationError(
        `Raster shape ${
          JSON.stringify(shape)
        } is not valid: use [height, width] or [bands, height, width] with non-negative integers`,
      );
    }
    const size = shape.reduce((a, b) => a * b, 1);
    if (size !== data.length) {
      throw new ValidationError(
        `Raster shape ${
          JSON.stringify(shape)
        } needs ${size} values but the data has ${data.length}: fix the shape or the data`,
      );
    }
    if (options.bounds !== undefined) checkBounds(options.bounds);
    this.data = data;
    this.shape = [...shape];
    if (options.bounds !== undefined) this.bounds = [...options.bounds] as Bounds;
  }

  /** Creates a raster from values, a shape and options such as bounds. */
  static from(data: RasterArray, shape: readonly number[], options: RasterOptions = {}): Raster {
    return new Raster(data, shape, options);
  }

  /** Numpy-style element type: "uint8", "float32", ... */
  get dtype(): RasterDtype {
    return dtypeOf(this.data)!;
  }

  /** Number of bands (1 for a `[height, width]` raster). */
  get bands(): number {
    return this.shape.length === 3 ? this.shape[0] : 1;
  }

  /** Number of rows. */
  get height(): number {
    return this.shape[this.shape.length - 2];
  }

  /** Number of columns. */
  get width(): number {
    return this.shape[this.shape.length - 1];
  }

  /** The values of one band (0-based), as a view without copying. */
  band(index: number): RasterArray {
    if (!Number.isInteger(index) || index < 0 || index >= this.bands) {
      throw new ValidationError(
        `Band ${index} does not exist: this raster has bands 0 to ${this.bands - 1}`,
      );
    }
    const n = this.height * this.width;
    return this.data.subarray(index * n, (index + 1) * n) as RasterArray;
  }
}

/** Throws unless `bounds` is four finite numbers. */
export function checkBounds(bounds: unknown): asserts bounds is Bounds {
  if (
    !Array.isArray(bounds) || bounds.length !== 4 ||
    !bounds.every((v) => typeof v === "number" && Number.isFinite(v))
  ) {
    throw new ValidationError(
      `Raster bounds ${
        JSON.stringify(bounds)
      } are not valid: use four finite numbers [west, south, east, north]`,
    );
  }
}

/**
 * True for a {@linkcode Raster}, including one made by another copy of this module (duck-typed on
 * data, shape and dtype, as Worker realms each load their own copy).
 */
export function isRaster(value: unknown): value is Raster {
  if (value instanceof Raster) return true;
  if (value === null || typeof value !== "object") return false;
  const v = value as { data?: unknown; shape?: unknown; dtype?: unknown };
  return Array.isArray(v.shape) && typeof v.dtype === "string" && dtypeOf(v.data) !== undefined;
}

/** A numpy-style array as a UDF may return it: `{ data: Float32Array, shape: [h, w] }`. */
export interface ShapedArray {
  /** The values, band after band, row after row. */
  data: RasterArray;
  /** `[height, width]` or `[bands, height, width]`. */
  shape: number[];
  /** Geographic extent `[west, south, east, north]`, when known. */
  bounds?: Bounds;
}

const SHAPED_KEYS = new Set(["data", "shape", "bounds"]);

/**
 * True for a plain object holding a typed array and a shape (and maybe bounds), nothing else:
 * a raster written without {@linkcode Raster.from}, as a fused-py UDF returns a numpy array.
 */
export function isShapedArray(value: unknown): value is ShapedArray {
  if (value === null || typeof value !== "object" || value instanceof Raster) return false;
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  const v = value as Record<string, unknown>;
  return dtypeOf(v.data) !== undefined && Array.isArray(v.shape) &&
    Object.keys(v).every((k) => SHAPED_KEYS.has(k));
}

/**
 * The {@linkcode Raster} of a raster or of a {@linkcode ShapedArray} (checked as `Raster.from`
 * checks: the shape must fit the data).
 *
 * @example
 * ```ts
 * import { toRaster } from "./raster.ts";
 * const r = toRaster({ data: new Float32Array(6), shape: [2, 3] });
 * if (r.dtype !== "float32" || r.width !== 3) throw new Error("unexpected");
 * ```
 */
export function toRaster(value: Raster | ShapedArray): Raster {
  if (!isShapedArray(value)) return value as Raster;
  return new Raster(
    value.data,
    value.shape,
    value.bounds === undefined ? {} : { bounds: value.bounds },
  );
}
