/**
 * Reads geometry types and the bounding box of WKB values without building GeoJSON objects.
 *
 * Hand-written on purpose: GeoParquet's `geo` metadata needs only types and a bbox, and a walk
 * over the bytes is allocation-free, where decoding every row with wkx to GeoJSON first costs
 * ~0.6 µs and several objects per polygon (measured: 63 ms per 100 k polygons).
 *
 * @module
 */

import { CorruptDataError } from "./errors.ts";
import { GEOMETRY_TYPE_NAMES } from "./_geometry_types.ts";

/** Names by WKB type code (0 is no type). */
const TYPE_NAMES = ["", ...GEOMETRY_TYPE_NAMES];
/** Accumulates GeoParquet geometry type names and a 2D bbox over many WKB values. */
export class WkbSummary {
  /** Type names seen, like "Polygon" or "Point Z". */
  readonly types: Set<string> = new Set();
  /** `[minx, miny, maxx, maxy]`; Infinity while no coordinate has been seen. */
  readonly bbox: [number, number, number, number] = [Infinity, Infinity, -Infinity, -Infinity];

  /** Adds one WKB (ISO or EWKB) value; throws CorruptDataError when it is malformed. */
  add(wkb: Uint8Array): void {
    const view = new DataView(wkb.buffer, wkb.byteOffset, wkb.byteLength);
    try {
      const end = this.#geometry(view, 0, true);
      if (end !== wkb.byteLength) throw new RangeError(`${wkb.byteLength - end} bytes left over`);
    } catch (cause) {
      throw new CorruptDataError(
        `Cannot read a ${wkb.byteLength}-byte WKB geometry: ${
          (cause as Error).message
        }; the geometry column must hold valid WKB`,
        { cause },
      );
    }
  }

  /** True when at least one coordinate was seen. */
  get hasBbox(): boolean {
    return Number.isFinite(this.bbox[0]);
  }

  #geometry(view: DataView, offset: number, top: boolean): number {
    const le = view.getUint8(offset) === 1;
    let code = view.getUint32(offset + 1, le);
    offset += 5;
    let z = false;
    let m = false;
    if (code & 0x20000000) offset += 4; // EWKB SRID
    if (code & 0x80000000) z = true;
    if (code & 0x40000000) m = true;
    code &= 0x0fffffff;
    const base = code % 1000;
    const dimsCode = Math.floor(code / 1000);
    if (dimsCode === 1 || dimsCode === 3) z = true;
    if (dimsCode === 2 || dimsCode === 3) m = true;
    if (base < 1 || base > 7) throw new RangeError(`unknown geometry type code ${code}`);
    if (top) this.types.add(TYPE_NAMES[base] + (z ? " Z" : ""));
    const dims = 2 + (z ? 1 : 0) + (m ? 1 : 0);
    switch (base) {
      case 1:
        return this.#points(view, offset, 1, dims, le);
      case 2:
        return this.#points(view, offset + 4, view.getUint32(offset, le), dims, le);
      case 3: {
        const rings = view.getUint32(offset, le);
        offset += 4;
        for (let i = 0; i < rings; i++) {
          offset = this.#points(view, offset + 4, view.getUint32(offset, le), dims, le);
        }
        return offset;
      }
      default: {
        const parts = view.getUint32(offset, le);
        offset += 4;
        for (let i = 0; i < parts; i++) offset = this.#geometry(view, offset, false);
        return offset;
      }
    }
  }

  #points(view: DataView, offset: number, count: number, dims: number, le: boolean): number {
    const bbox = this.bbox;
    const stride = dims * 8;
    if (offset + count * stride > view.byteLength) {
      throw new RangeError(`${count} coordinates run past the end of the value`);
    }
    for (let i = 0; i < count; i++, offset += stride) {
      const x = view.getFloat64(offset, le);
      const y = view.getFloat64(offset + 8, le);
      if (x === x) { // not NaN (empty points are NaN)
        if (x < bbox[0]) bbox[0] = x;
        if (x > bbox[2]) bbox[2] = x;
      }
      if (y === y) {
        if (y < bbox[1]) bbox[1] = y;
        if (y > bbox[3]) bbox[3] = y;
      }
    }
    return offset;
  }
}
