/**
 * Column helpers shared by the table formats of this folder (private: their signatures expose
 * apache-arrow's Vector type).
 *
 * @module
 */

import * as arrow from "apache-arrow";

/** Builds a Binary vector from byte arrays with one data buffer and one offsets buffer. */
export function binaryVector(values: readonly (Uint8Array | null)[]): arrow.Vector<arrow.Binary> {
  const n = values.length;
  const offsets = new Int32Array(n + 1);
  let total = 0;
  let nullCount = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v) total += v.byteLength;
    else nullCount++;
    offsets[i + 1] = total;
  }
  const data = new Uint8Array(total);
  let validity: Uint8Array | undefined;
  if (nullCount > 0) validity = new Uint8Array((n + 7) >> 3);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v) {
      data.set(v, offsets[i]);
      if (validity) validity[i >> 3] |= 1 << (i & 7);
    }
  }
  return arrow.makeVector(
    arrow.makeData({
      type: new arrow.Binary(),
      length: n,
      nullCount,
      nullBitmap: validity,
      valueOffsets: offsets,
      data,
    }),
  );
}

/**
 * Turns every value of a column into a JSON-friendly JS value: BigInt to number (string when
 * beyond 2^53), bytes kept, everything else as Arrow gives it.
 */
export function columnValues(vector: arrow.Vector): unknown[] {
  const out: unknown[] = new Array(vector.length);
  let i = 0;
  for (const v of vector) {
    out[i++] = typeof v === "bigint"
      ? (v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER)
        ? Number(v)
        : v.toString())
      : v;
  }
  return out;
}
