/**
 * The chunk index of an ingested table: its statistics per chunk, and their encoding in the
 * schema metadata of `_sample` (read back by `getChunksMetadata` in chunks.ts).
 *
 * The index lives in the schema metadata of the table's `_sample` file: `fused:format_version`
 * is "5" and `fused:_metadata` is the base64 text of a Parquet file with one row per chunk
 * (`file_id, chunk_id, bbox_minx, bbox_miny, bbox_maxx, bbox_maxy, sum_area, sum_length,
 * num_coords, num_rows`), as Fused writes it.
 *
 * @module
 */

import * as arrow from "apache-arrow";
import { Buffer } from "node:buffer";
import { NotSupportedError, ValidationError } from "../client/errors.ts";
import { parquetToTable, tableToParquet } from "../client/formats/mod.ts";
import { GEOMETRY_TYPE_NAMES } from "../client/formats/_geometry_types.ts";
import { type GeoColumnMetadata, GEOPARQUET_VERSION } from "../client/formats/geo.ts";
import type { Partitioning } from "./partition.ts";
import { type GeometryMeasures, TYPE_Z } from "./_wkb_measure.ts";

/** Schema metadata key of the chunk index format version. */
export const FORMAT_VERSION_KEY = "fused:format_version";
/** Schema metadata key of the chunk index (base64 Parquet). */
export const METADATA_KEY = "fused:_metadata";
/** The chunk index format written here. */
export const FORMAT_VERSION = "5";
/** Name of the sample file that carries the chunk index. */
export const SAMPLE_FILE = "_sample";

/** Statistics of one chunk: one row of the chunk index. */
export interface ChunkStats {
  /** File id (the file is `{fileId}.parquet`). */
  fileId: string;
  /** Chunk id: the row group index in that file. */
  chunkId: number;
  /** Bounding box of the chunk's geometries (NaN when it has none). */
  bbox: [number, number, number, number];
  /** Planar area in square degrees. */
  sumArea: number;
  /** Planar length in degrees. */
  sumLength: number;
  /** Number of coordinates. */
  numCoords: number;
  /** Number of rows. */
  numRows: number;
}

/** Per-row bounding boxes and measures, indexed by the rows of {@linkcode Partitioning.order}. */
export type RowMeasures = Omit<
  GeometryMeasures,
  "cx" | "cy" | "types" | "oddCoordinates" | "plainPoints"
>;

/**
 * Sums the measures of every chunk of a partitioning (rows taken through `order`). With
 * `plainPoints` (every row a plain point, `_wkb_measure.ts`: its box is its centroid, its area
 * and length 0, one coordinate) the boxes come from `p.centroids`, read in order instead of
 * gathered from the rows (the same sums: the same values in the same order).
 */
export function chunkStats(
  p: Partitioning,
  m: RowMeasures,
  options: { plainPoints?: boolean } = {},
): ChunkStats[] {
  const c = options.plainPoints ? p.centroids : undefined;
  if (options.plainPoints && !c) {
    throw new Error("chunkStats with plainPoints needs the partitioning's centroids");
  }
  const out: ChunkStats[] = [];
  p.chunks.forEach((chunks, f) => {
    chunks.forEach(([start, end], chunkId) => {
      const bbox = c
        ? box(c.x, c.y, c.x, c.y, null, start, end)
        : box(m.minx, m.miny, m.maxx, m.maxy, p.order, start, end);
      let area = 0, length = 0, coords = end - start;
      if (!c) {
        coords = 0;
        for (let k = start; k < end; k++) {
          const i = p.order[k];
          area += m.area[i];
          length += m.length[i];
          coords += m.coords[i];
        }
      }
      if (!Number.isFinite(bbox[0])) bbox.fill(NaN);
      out.push({
        fileId: String(f),
        chunkId,
        bbox,
        sumArea: area,
        sumLength: length,
        numCoords: coords,
        numRows: end - start,
      });
    });
  });
  return out;
}

/**
 * The box of positions `[start, end)`: of the rows `order[k]` of the arrays, or with a null
 * `order` of the positions themselves (arrays already in output order).
 */
function box(
  minx: Float64Array,
  miny: Float64Array,
  maxx: Float64Array,
  maxy: Float64Array,
  order: Uint32Array | null,
  start: number,
  end: number,
): [number, number, number, number] {
  const bbox: [number, number, number, number] = [Infinity, Infinity, -Infinity, -Infinity];
  for (let k = start; k < end; k++) {
    const i = order ? order[k] : k;
    if (minx[i] < bbox[0]) bbox[0] = minx[i];
    if (miny[i] < bbox[1]) bbox[1] = miny[i];
    if (maxx[i] > bbox[2]) bbox[2] = maxx[i];
    if (maxy[i] > bbox[3]) bbox[3] = maxy[i];
  }
  return bbox;
}

/**
 * The GeoParquet `geo` metadata (JSON) of each file of a partitioning, from the measures and chunk
 * statistics already computed, instead of a second walk over every WKB value: the same text
 * `withGeoMetadata` (client/formats/geo.ts) writes for the file's rows. Returns null where the two
 * may differ (infinite coordinates, or coordinates with x or y NaN but not both: GeoParquet's
 * bbox takes each half alone), for the caller to scan the file instead.
 *
 * @example
 * ```ts
 * import { tableFromArrays } from "apache-arrow";
 * import { chunkStats, fileGeoMetadata } from "./metadata.ts";
 * import { measureGeometries } from "./_wkb_measure.ts";
 * import { binaryVector, wkbFromGeometry } from "../client/formats/mod.ts";
 * const m = measureGeometries(binaryVector([wkbFromGeometry({ type: "Point", coordinates: [1, 2] })]));
 * const p = { order: Uint32Array.of(0), files: [[0, 1]] as [number, number][], chunks: [[[0, 1]]] as [number, number][][] };
 * const geo = fileGeoMetadata(p, chunkStats(p, m), m, "geometry")!;
 * if (JSON.parse(geo[0]).columns.geometry.bbox.join() !== "1,2,1,2") throw new Error(geo[0]);
 * ```
 */
export function fileGeoMetadata(
  p: Partitioning,
  stats: readonly ChunkStats[],
  m: GeometryMeasures,
  column: string,
): string[] | null {
  if (m.oddCoordinates > 0) return null;
  const out: string[] = [];
  let at = 0;
  p.files.forEach(([start, end], f) => {
    const seen = new Uint8Array(2 * TYPE_Z);
    for (let k = start; k < end; k++) seen[m.types[p.order[k]]] = 1;
    const types: string[] = [];
    for (let code = 1; code < seen.length; code++) {
      if (seen[code] && code !== TYPE_Z) {
        types.push(GEOMETRY_TYPE_NAMES[(code & (TYPE_Z - 1)) - 1] + (code & TYPE_Z ? " Z" : ""));
      }
    }
    const bbox: [number, number, number, number] = [Infinity, Infinity, -Infinity, -Infinity];
    for (const _ of p.chunks[f]) {
      const b = stats[at++].bbox;
      // With no odd coordinates a chunk's bbox is NaN only when it has no coordinates.
      if (b[0] !== b[0]) continue;
      if (b[0] < bbox[0]) bbox[0] = b[0];
      if (b[1] < bbox[1]) bbox[1] = b[1];
      if (b[2] > bbox[2]) bbox[2] = b[2];
      if (b[3] > bbox[3]) bbox[3] = b[3];
    }
    const meta: GeoColumnMetadata = { encoding: "WKB", geometry_types: types.sort() };
    if (Number.isFinite(bbox[0])) meta.bbox = bbox;
    out.push(JSON.stringify({
      version: GEOPARQUET_VERSION,
      primary_column: column,
      columns: { [column]: meta },
    }));
  });
  return out;
}

/** The chunk index as a table (Fused's column names and order). */
export function chunkIndexTable(stats: readonly ChunkStats[]): arrow.Table {
  const f64 = (fn: (s: ChunkStats) => number): arrow.Vector =>
    arrow.makeVector(Float64Array.from(stats, fn));
  return new arrow.Table({
    file_id: arrow.vectorFromArray(stats.map((s) => s.fileId), new arrow.Utf8()),
    chunk_id: arrow.makeVector(Int32Array.from(stats, (s) => s.chunkId)),
    bbox_minx: f64((s) => s.bbox[0]),
    bbox_miny: f64((s) => s.bbox[1]),
    bbox_maxx: f64((s) => s.bbox[2]),
    bbox_maxy: f64((s) => s.bbox[3]),
    sum_area: f64((s) => s.sumArea),
    sum_length: f64((s) => s.sumLength),
    num_coords: arrow.makeVector(BigInt64Array.from(stats, (s) => BigInt(s.numCoords))),
    num_rows: arrow.makeVector(BigInt64Array.from(stats, (s) => BigInt(s.numRows))),
  });
}

/** The `_sample` schema metadata entries that carry a chunk index. */
export function encodeChunkIndex(stats: readonly ChunkStats[]): Map<string, string> {
  const bytes = tableToParquet(chunkIndexTable(stats), { geo: false });
  return new Map([
    [FORMAT_VERSION_KEY, FORMAT_VERSION],
    [
      METADATA_KEY,
      Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64"),
    ],
  ]);
}

/** Reads the chunk index out of `_sample` schema metadata; throws when it is missing. */
export function decodeChunkIndex(metadata: Map<string, string>, where: string): arrow.Table {
  const version = metadata.get(FORMAT_VERSION_KEY);
  const blob = metadata.get(METADATA_KEY);
  if (blob === undefined || version === undefined) {
    throw new ValidationError(
      `Dataset does not have Fused metadata: ${where} has no "${METADATA_KEY}" entry; ingest the data with fused.ingest`,
    );
  }
  if (version !== FORMAT_VERSION) {
    throw new NotSupportedError(
      `Dataset ${where} has Fused metadata format ${version}; only format ${FORMAT_VERSION} is read: ingest the data again`,
    );
  }
  return parquetToTable(new Uint8Array(Buffer.from(blob, "base64")));
}
