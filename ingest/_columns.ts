/**
 * Column builders shared by the ingest modules: WKB boxes for chunk bounding boxes, WKB points
 * from coordinates, Binary vectors from byte arrays, and swapping the geometry column of a
 * one-batch table.
 *
 * @module
 */

import * as arrow from "apache-arrow";
import { binaryVector } from "../client/formats/arrow.ts";
import type { ChunkStats } from "./metadata.ts";

/** A WKB polygon for a box, or null when the box is NaN. */
export function boxWkb(minx: number, miny: number, maxx: number, maxy: number): Uint8Array | null {
  if (!(minx <= maxx && miny <= maxy)) return null;
  const out = new Uint8Array(93);
  const v = new DataView(out.buffer);
  v.setUint8(0, 1);
  v.setUint32(1, 3, true); // Polygon
  v.setUint32(5, 1, true); // one ring
  v.setUint32(9, 5, true); // five points, closed
  const ring = [minx, miny, maxx, miny, maxx, maxy, minx, maxy, minx, miny];
  ring.forEach((c, i) => v.setFloat64(13 + i * 8, c, true));
  return out;
}

/**
 * A Binary column of 21-byte little-endian 2D WKB points, one per `x[i]`, `y[i]`: the bytes of
 * the points these coordinates were read from (`plainPoints` in `_wkb_measure.ts`). Written in
 * order, where gathering the same bytes from the input's rows reads all over memory.
 *
 * @example
 * ```ts
 * import { plainPointsData } from "./_columns.ts";
 * const data = plainPointsData(Float64Array.of(1), Float64Array.of(2));
 * if (data.values.byteLength !== 21 || data.values[0] !== 1) throw new Error("unexpected");
 * ```
 */
export function plainPointsData(x: Float64Array, y: Float64Array): arrow.Data<arrow.Binary> {
  const n = x.length;
  const bytes = new Uint8Array(n * 21);
  const view = new DataView(bytes.buffer);
  const valueOffsets = new Int32Array(n + 1);
  for (let i = 0, at = 0; i < n; i++, at += 21) {
    view.setUint8(at, 1);
    view.setUint32(at + 1, 1, true);
    view.setFloat64(at + 5, x[i], true);
    view.setFloat64(at + 13, y[i], true);
    valueOffsets[i + 1] = at + 21;
  }
  return arrow.makeData({
    type: new arrow.Binary(),
    length: n,
    nullCount: 0,
    valueOffsets,
    data: bytes,
  });
}

/** The bounding boxes of chunks as a WKB polygon column. */
export function boxesVector(stats: readonly ChunkStats[]): arrow.Vector {
  return binaryVector(stats.map((s) => boxWkb(...s.bbox)));
}

/** A one-batch table with its `geometry` column replaced by a Binary vector of the same length. */
export function replaceGeometry(table: arrow.Table, geometry: arrow.Vector): arrow.Table {
  const index = table.schema.fields.findIndex((f) => f.name === "geometry");
  const fields = table.schema.fields.map((f, i) =>
    i === index ? new arrow.Field("geometry", new arrow.Binary(), true) : f
  );
  const schema = new arrow.Schema(fields, table.schema.metadata);
  const batch = table.batches[0];
  const children = batch.data.children.map((c, i) => (i === index ? geometry.data[0] : c));
  const data = arrow.makeData({
    type: new arrow.Struct(fields),
    length: table.numRows,
    nullCount: 0,
    children,
  });
  return new arrow.Table([new arrow.RecordBatch(schema, data)]);
}
