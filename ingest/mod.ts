/**
 * Ingest: turn geospatial files into Fused's chunked GeoParquet tables, and read them back.
 *
 * `ingest` runs here, in this process (the embedded default): it reads the input, partitions
 * rows by centroid into files and chunks ({@linkcode partition}), and writes the table folder
 * (`{file_id}.parquet` files whose row groups are chunks, plus `_sample` with the chunk index).
 * Fused runs the same step as a batch job on its service; a service job can wrap this function
 * unchanged, since it takes and returns plain values.
 *
 * @example
 * ```ts
 * import { getChunkFromTable, getChunksMetadata, ingest } from "./mod.ts";
 * const dir = await Deno.makeTempDir();
 * const points = {
 *   type: "FeatureCollection" as const,
 *   features: Array.from({ length: 100 }, (_, i) => ({
 *     type: "Feature" as const,
 *     geometry: { type: "Point", coordinates: [i % 10, Math.floor(i / 10)] },
 *     properties: { i },
 *   })),
 * };
 * const result = await ingest(points, { output: `${dir}/table`, partitioningMaximumPerChunk: 10 });
 * const chunks = await getChunksMetadata(`${dir}/table`);
 * const first = await getChunkFromTable(`${dir}/table`, 0, 0);
 * if (chunks.numRows !== result.chunks || first.numRows > 10) throw new Error("unexpected");
 * ```
 *
 * @module
 */

import * as arrow from "apache-arrow";
import { writeDirectoryAtomic } from "../client/atomic_write.ts";
import { NotSupportedError, ValidationError } from "../client/errors.ts";
import { findGeometryColumn, withGeoMetadata } from "../client/formats/mod.ts";
import { binaryVector } from "../client/formats/arrow.ts";
import { boxesVector, replaceGeometry } from "./_columns.ts";
import { takeRows } from "./_take.ts";
import { explodeWkb, type GeometryMeasures, measureGeometries } from "./_wkb_measure.ts";
import { chunkIndexTable, type ChunkStats, chunkStats } from "./metadata.ts";
import { partition, type Partitioning, type SplitMethod } from "./partition.ts";
import { type IngestInput, localPath, readInput } from "./read.ts";
import { refuseExisting, writeChunkedTable, writeRowGroups } from "./write.ts";

export { getChunkFromTable, type GetChunkOptions, getChunksMetadata } from "./metadata.ts";
export type { ChunkStats } from "./metadata.ts";
export {
  partition,
  type Partitioning,
  type PartitionInput,
  type PartitionOptions,
} from "./partition.ts";
export type { SplitMethod } from "./partition.ts";
export type { IngestInput, InputFormat } from "./read.ts";
export type {
  GeoJsonFeature,
  GeoJsonFeatureCollection,
  GeoJsonGeometry,
} from "../client/formats/geo.ts";

/** The measure that partitions are capped by. */
export type PartitioningMethod = "rows" | "area" | "length" | "coords";

/** Options shared by {@linkcode ingest} and {@linkcode ingestNongeospatial}. */
export interface IngestCommonOptions {
  /** Destination folder: a local path, `file://` or `fd://` URL. Required. */
  output: string | URL;
  /** Where to also write the chunk index as a table (a folder with `0.parquet`). */
  outputMetadata?: string | URL | null;
  /** Keep only input files whose names end with this (for folders). */
  fileSuffix?: string | null;
  /** Read only these columns (the geometry is always kept). */
  loadColumns?: readonly string[] | null;
  /** Drop these columns. */
  removeCols?: readonly string[] | null;
  /** Replace an existing, non-empty output (default false: refuse with an error). */
  overwrite?: boolean;
  /** Largest http(s) input download in bytes (default 1 GiB). */
  maxDownloadBytes?: number;
  /** Stops downloads. */
  signal?: AbortSignal;
}

/** Options of {@linkcode ingest} (Fused's `fused.ingest` parameters in camelCase). */
export interface IngestOptions extends IngestCommonOptions {
  /** Split multi-part geometries into one row per part (default false). */
  explodeGeometries?: boolean;
  /** Drop geometries outside longitude/latitude bounds (default true). */
  dropOutOfBounds?: boolean | null;
  /** Measure that files and chunks are capped by (default "rows"). */
  partitioningMethod?: PartitioningMethod;
  /** Largest measure per file (default 1/10 of the total). */
  partitioningMaximumPerFile?: number | null;
  /** Largest measure per chunk (default 1/100 of the total, or total / targetNumChunks when that is given). */
  partitioningMaximumPerChunk?: number | null;
  /** Cut along x when a group is wider than this many times its height (default 2). */
  partitioningMaxWidthRatio?: number;
  /** Cut along y when a group is taller than this many times its width (default 2). */
  partitioningMaxHeightRatio?: number;
  /** Keep each file's or chunk's centroids in one UTM zone (default "chunk"); null: no. */
  partitioningForceUtm?: "file" | "chunk" | null;
  /** Cut at the "mean" (default) or "median" of the centroids. */
  partitioningSplitMethod?: SplitMethod;
  /** Cut groups of identical centroids by row count (default true). */
  splitIdenticalCentroids?: boolean;
  /** Number of chunks to aim for when partitioningMaximumPerChunk is not given (default 500, used only when passed). */
  targetNumChunks?: number;
  /** Longitude and latitude columns to build points from (guessed when omitted). */
  lonlatCols?: readonly [string, string] | null;
  /** Not supported: the schema is read from the data. */
  schema?: null;
  /** Not supported: no GDAL here; formats are read by npm libraries. */
  gdalConfig?: null;
  /** Not supported: large geometries are not subdivided. */
  subdivideMethod?: null;
  /** Not supported. */
  subdivideStart?: null;
  /** Not supported. */
  subdivideStop?: null;
  /** Not supported. */
  partitioningSchemaInput?: null;
  /** Not supported: ingest runs here; wrap it in a UDF yourself to run it elsewhere. */
  asUdf?: false;
}

/** Options of {@linkcode ingestNongeospatial}. */
export interface IngestNongeospatialOptions extends IngestCommonOptions {
  /** Column to order and cut rows by; rows keep their input order when omitted. */
  partitionCol?: string | null;
  /** Largest number of rows per file (default 2,500,000). */
  partitioningMaximumPerFile?: number;
  /** Largest number of rows per chunk (default 65,000). */
  partitioningMaximumPerChunk?: number;
}

/** What an ingest wrote, and how long it took. */
export interface IngestResult {
  /** The output as given. */
  output: string;
  /** The local folder written. */
  path: string;
  /** The chunk index table folder, when `outputMetadata` was given. */
  outputMetadata: string | null;
  /** Number of `{file_id}.parquet` files. */
  files: number;
  /** Number of chunks (row groups) in all files. */
  chunks: number;
  /** Rows written. */
  rows: number;
  /** Rows read (after explode). */
  inputRows: number;
  /** Rows left out: null or empty geometries, and out-of-bounds ones when dropOutOfBounds. */
  droppedRows: number;
  /** Bytes written. */
  bytes: number;
  /** The per-file and per-chunk maxima used. */
  maximumPerFile: number;
  /** The per-chunk maximum used. */
  maximumPerChunk: number;
  /** Milliseconds spent reading, partitioning, writing, and in total. */
  timings: { readMs: number; partitionMs: number; writeMs: number; totalMs: number };
}

const NOT_SUPPORTED: Record<string, string> = {
  schema: "the schema is read from the data; cast columns before ingesting",
  gdalConfig: "there is no GDAL here; CSV longitude/latitude columns are set with lonlatCols",
  subdivideMethod: "large geometries are not subdivided; split them before ingesting",
  subdivideStart: "large geometries are not subdivided; split them before ingesting",
  subdivideStop: "large geometries are not subdivided; split them before ingesting",
  partitioningSchemaInput: "partitions are computed from the data",
  asUdf: "ingest runs in this process; call it from a UDF to run it elsewhere",
};

const COMMON_KEYS = [
  "output",
  "outputMetadata",
  "fileSuffix",
  "loadColumns",
  "removeCols",
  "overwrite",
  "maxDownloadBytes",
  "signal",
];
const INGEST_KEYS = new Set([
  ...COMMON_KEYS,
  "explodeGeometries",
  "dropOutOfBounds",
  "partitioningMethod",
  "partitioningMaximumPerFile",
  "partitioningMaximumPerChunk",
  "partitioningMaxWidthRatio",
  "partitioningMaxHeightRatio",
  "partitioningForceUtm",
  "partitioningSplitMethod",
  "splitIdenticalCentroids",
  "targetNumChunks",
  "lonlatCols",
  ...Object.keys(NOT_SUPPORTED),
]);
const NONGEO_KEYS = new Set([
  ...COMMON_KEYS,
  "partitionCol",
  "partitioningMaximumPerFile",
  "partitioningMaximumPerChunk",
]);

/**
 * Ingests geospatial data into a chunked GeoParquet table at `options.output`, here and now.
 *
 * @example
 * ```ts ignore
 * import { ingest } from "./mod.ts";
 * const result = await ingest("airports.csv", { output: "fd://tables/airports" });
 * console.log(result.files, result.chunks, result.rows);
 * ```
 */
export async function ingest(input: IngestInput, options: IngestOptions): Promise<IngestResult> {
  const started = performance.now();
  checkKeys(options, INGEST_KEYS, "ingest");
  for (const [key, why] of Object.entries(NOT_SUPPORTED)) {
    const value = (options as unknown as Record<string, unknown>)[key];
    if (value !== undefined && value !== null && value !== false) {
      throw new NotSupportedError(`Option ${key} is not supported by this ingest: ${why}`);
    }
  }
  const method = options.partitioningMethod ?? "rows";
  if (!["rows", "area", "length", "coords"].includes(method)) {
    throw new ValidationError(
      `Unknown partitioningMethod "${method}": use "rows", "area", "length" or "coords"`,
    );
  }
  const forceUtm = options.partitioningForceUtm === undefined
    ? "chunk"
    : options.partitioningForceUtm;
  if (forceUtm !== null && forceUtm !== "file" && forceUtm !== "chunk") {
    throw new ValidationError(
      `Unknown partitioningForceUtm "${forceUtm}": use "file", "chunk" or null`,
    );
  }
  if (
    options.lonlatCols != null &&
    (!Array.isArray(options.lonlatCols) || options.lonlatCols.length !== 2)
  ) {
    throw new ValidationError(`lonlatCols must be two column names, like ["lon", "lat"]`);
  }
  const out = outputPath(options.output);
  const metaOut = options.outputMetadata == null ? null : outputPath(options.outputMetadata);
  // Refuse before the work, not after it.
  await checkOutputs(out, metaOut, options.overwrite ?? false);

  // Read.
  const read = await readInput(input, {
    fileSuffix: options.fileSuffix,
    loadColumns: options.loadColumns,
    removeCols: options.removeCols,
    lonlatCols: options.lonlatCols,
    maxDownloadBytes: options.maxDownloadBytes,
    signal: options.signal,
  });
  let table = read.table;
  if (options.explodeGeometries) {
    const { parts, rows } = explodeWkb(table.getChild("geometry")!);
    table = replaceGeometry(takeRows(table, rows), binaryVector(parts));
  }
  const readMs = performance.now() - started;

  // Measure and partition.
  const t1 = performance.now();
  const m = measureGeometries(table.getChild("geometry")!);
  const dropBounds = options.dropOutOfBounds ?? true;
  const kept = keptRows(m, dropBounds);
  if (kept.length === 0) {
    throw new ValidationError(
      `No rows left to ingest: all ${table.numRows} geometries are null, empty${
        dropBounds
          ? " or outside longitude/latitude bounds (reproject to EPSG:4326, or pass dropOutOfBounds: false)"
          : ""
      }`,
    );
  }
  const compact = (a: Float64Array): Float64Array => {
    const o = new Float64Array(kept.length);
    for (let k = 0; k < kept.length; k++) o[k] = a[kept[k]];
    return o;
  };
  const weight = method === "rows"
    ? undefined
    : compact(m[method === "coords" ? "coords" : method]);
  let total = kept.length;
  if (weight) {
    total = 0;
    for (let k = 0; k < weight.length; k++) total += weight[k];
  }
  if (!(total > 0)) {
    throw new ValidationError(
      `partitioningMethod "${method}" gives a total of 0 for this data (points have no area or length): use "rows" or "coords"`,
    );
  }
  const maxPerFile = positive(options.partitioningMaximumPerFile, "partitioningMaximumPerFile") ??
    total / 10;
  const target = options.targetNumChunks;
  if (target !== undefined && !(Number.isInteger(target) && target > 0)) {
    throw new ValidationError(`targetNumChunks must be a whole number above 0, got ${target}`);
  }
  const maxPerChunk =
    positive(options.partitioningMaximumPerChunk, "partitioningMaximumPerChunk") ??
      total / (target ?? 100);
  const p = partition({ x: compact(m.cx), y: compact(m.cy), weight }, {
    maxPerFile,
    maxPerChunk,
    maxWidthRatio: options.partitioningMaxWidthRatio,
    maxHeightRatio: options.partitioningMaxHeightRatio,
    splitMethod: options.partitioningSplitMethod,
    splitIdenticalCentroids: options.splitIdenticalCentroids,
    forceUtm,
  });
  for (let k = 0; k < p.order.length; k++) p.order[k] = kept[p.order[k]];
  const stats = chunkStats(p, m);
  const sorted = takeRows(table, p.order);
  const partitionMs = performance.now() - t1;

  // Write.
  const t2 = performance.now();
  const written = await writeChunkedTable(out, sorted, p.files, p.chunks, stats, {
    overwrite: options.overwrite,
    geometryColumn: "geometry",
  });
  if (metaOut !== null) await writeIndexTable(metaOut, stats, options.overwrite ?? false);
  const writeMs = performance.now() - t2;
  return {
    output: String(options.output),
    path: out,
    outputMetadata: metaOut,
    files: written.files,
    chunks: written.chunks,
    rows: p.order.length,
    inputRows: table.numRows,
    droppedRows: table.numRows - p.order.length,
    bytes: written.bytes,
    maximumPerFile: maxPerFile,
    maximumPerChunk: maxPerChunk,
    timings: { readMs, partitionMs, writeMs, totalMs: performance.now() - started },
  };
}

/**
 * Ingests a table without using geometry: rows are ordered by `partitionCol` (when given) and
 * cut into files and chunks of at most the given row counts, keeping equal values of the column
 * in one chunk where the maximum allows.
 *
 * @example
 * ```ts ignore
 * import { ingestNongeospatial } from "./mod.ts";
 * await ingestNongeospatial("flights.parquet", { output: "fd://tables/flights", partitionCol: "date" });
 * ```
 */
export async function ingestNongeospatial(
  input: IngestInput,
  options: IngestNongeospatialOptions,
): Promise<IngestResult> {
  const started = performance.now();
  checkKeys(options, NONGEO_KEYS, "ingestNongeospatial");
  const out = outputPath(options.output);
  const metaOut = options.outputMetadata == null ? null : outputPath(options.outputMetadata);
  await checkOutputs(out, metaOut, options.overwrite ?? false);
  const maxPerFile = positive(options.partitioningMaximumPerFile, "partitioningMaximumPerFile") ??
    2_500_000;
  const maxPerChunk =
    positive(options.partitioningMaximumPerChunk, "partitioningMaximumPerChunk") ?? 65_000;
  const read = await readInput(input, {
    geometry: false,
    fileSuffix: options.fileSuffix,
    loadColumns: options.loadColumns,
    removeCols: options.removeCols,
    maxDownloadBytes: options.maxDownloadBytes,
    signal: options.signal,
  });
  const table = read.table;
  const readMs = performance.now() - started;
  const t1 = performance.now();
  const col = options.partitionCol ?? null;
  if (col !== null && table.getChild(col) === null) {
    throw new ValidationError(
      `partitionCol "${col}" is not a column: the columns are ${
        table.schema.fields.map((f) => f.name).join(", ")
      }`,
    );
  }
  const order = col === null
    ? Uint32Array.from({ length: table.numRows }, (_, i) => i)
    : sortedOrder(table.getChild(col)!);
  const same = col === null ? null : sameAsPrevious(table.getChild(col)!, order);
  const files = cutRuns(0, order.length, Math.floor(maxPerFile), same);
  const chunks = files.map(([a, b]) => cutRuns(a, b, Math.floor(maxPerChunk), same));
  const p: Partitioning = { order, files, chunks };
  const geom = findGeometryColumn(table) ?? null;
  const m: GeometryMeasures | null = geom ? measureGeometries(table.getChild(geom)!) : null;
  const stats = m ? chunkStats(p, m) : chunkStats(p, emptyMeasures(table.numRows));
  const sorted = takeRows(table, order);
  const partitionMs = performance.now() - t1;
  const t2 = performance.now();
  const written = await writeChunkedTable(out, sorted, files, chunks, stats, {
    overwrite: options.overwrite,
    geometryColumn: geom,
  });
  if (metaOut !== null) await writeIndexTable(metaOut, stats, options.overwrite ?? false);
  const writeMs = performance.now() - t2;
  return {
    output: String(options.output),
    path: out,
    outputMetadata: metaOut,
    files: written.files,
    chunks: written.chunks,
    rows: table.numRows,
    inputRows: table.numRows,
    droppedRows: 0,
    bytes: written.bytes,
    maximumPerFile: maxPerFile,
    maximumPerChunk: maxPerChunk,
    timings: { readMs, partitionMs, writeMs, totalMs: performance.now() - started },
  };
}

// ---------------------------------------------------------------------------------------------

function checkKeys(options: object, allowed: Set<string>, fn: string): void {
  if (options === null || typeof options !== "object") {
    throw new ValidationError(`${fn} needs an options object with at least { output }`);
  }
  for (const key of Object.keys(options)) {
    if (!allowed.has(key)) {
      const camel = key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
      throw new ValidationError(
        `Unknown ${fn} option "${key}"${
          camel !== key && allowed.has(camel)
            ? `: write it as "${camel}"`
            : `: the options are ${[...allowed].join(", ")}`
        }`,
      );
    }
  }
  if ((options as { output?: unknown }).output == null) {
    throw new ValidationError(
      `${fn} needs an output: pass { output: "fd://bucket/table" } or a folder path`,
    );
  }
}

function outputPath(output: string | URL): string {
  const text = String(output).replace(/\/+$/, "");
  if (/^https?:\/\//i.test(text)) {
    throw new NotSupportedError(
      `Cannot write to "${text}": ingest writes local folders; use a path or an fd:// URL`,
    );
  }
  return localPath(text);
}

async function checkOutputs(
  out: string,
  metaOut: string | null,
  overwrite: boolean,
): Promise<void> {
  await refuseExisting(out, overwrite);
  if (metaOut !== null) {
    if (metaOut === out) {
      throw new ValidationError(`outputMetadata must differ from output (${out})`);
    }
    await refuseExisting(metaOut, overwrite);
  }
}

function positive(value: number | null | undefined, name: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (!(typeof value === "number" && Number.isFinite(value) && value > 0)) {
    throw new ValidationError(`${name} must be a number above 0, got ${value}`);
  }
  return value;
}

/** Rows with a geometry, inside longitude/latitude bounds when `bounds` is set. */
function keptRows(m: GeometryMeasures, bounds: boolean): Uint32Array {
  const n = m.cx.length;
  const out = new Uint32Array(n);
  let k = 0;
  for (let i = 0; i < n; i++) {
    if (m.cx[i] !== m.cx[i]) continue;
    if (bounds && (m.minx[i] < -180 || m.maxx[i] > 180 || m.miny[i] < -90 || m.maxy[i] > 90)) {
      continue;
    }
    out[k++] = i;
  }
  return out.subarray(0, k);
}

function emptyMeasures(n: number): GeometryMeasures {
  const nan = new Float64Array(n).fill(NaN);
  const zero = new Float64Array(n);
  return {
    cx: nan,
    cy: nan,
    minx: nan,
    miny: nan,
    maxx: nan,
    maxy: nan,
    area: zero,
    length: zero,
    coords: zero,
  };
}

/** Row order sorted by a column's values (stable; nulls last). */
function sortedOrder(vector: arrow.Vector): Uint32Array {
  const n = vector.length;
  const values = new Array(n);
  let i = 0;
  for (const v of vector) values[i++] = v instanceof Date ? v.getTime() : v;
  const idx = Array.from({ length: n }, (_, k) => k);
  idx.sort((a, b) => {
    const x = values[a], y = values[b];
    if (x === y) return a - b;
    if (x === null || x === undefined) return 1;
    if (y === null || y === undefined) return -1;
    return x < y ? -1 : x > y ? 1 : a - b;
  });
  return Uint32Array.from(idx);
}

/** `same[k]` = 1 when position k holds the same value as position k-1. */
function sameAsPrevious(vector: arrow.Vector, order: Uint32Array): Uint8Array {
  const same = new Uint8Array(order.length);
  for (let k = 1; k < order.length; k++) {
    const a = vector.get(order[k - 1]);
    const b = vector.get(order[k]);
    same[k] = a === b || (typeof a === "object" && a !== null && String(a) === String(b)) ? 1 : 0;
  }
  return same;
}

/** Cuts [a, b) into ranges of at most `max`, moving each cut back to the start of a run of equal values when that run starts inside the range. */
function cutRuns(a: number, b: number, max: number, same: Uint8Array | null): [number, number][] {
  const out: [number, number][] = [];
  let start = a;
  while (start < b) {
    let end = Math.min(b, start + Math.max(1, max));
    if (same && end < b && same[end]) {
      let run = end;
      while (run > start && same[run]) run--;
      if (run > start) end = run;
    }
    out.push([start, end]);
    start = end;
  }
  return out;
}

/** Writes the chunk index, with bbox polygons, as a one-file table at `path`. */
async function writeIndexTable(
  path: string,
  stats: readonly ChunkStats[],
  overwrite: boolean,
): Promise<void> {
  const index = chunkIndexTable(stats);
  const columns: Record<string, arrow.Vector> = {};
  for (const f of index.schema.fields) columns[f.name] = index.getChild(f.name)!;
  columns.geometry = boxesVector(stats);
  const table = withGeoMetadata(new arrow.Table(columns), "geometry");
  await writeDirectoryAtomic(path, { "0.parquet": writeRowGroups(table) }, { overwrite });
}
