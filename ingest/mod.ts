/**
 * Ingest: turn geospatial files into Fused's chunked GeoParquet tables, and read them back.
 *
 * `ingest(input, options)` returns an {@linkcode IngestJob}, as fused-py's `fused.ingest` does:
 * `.run()` (or `await`) runs it in this process: it reads the input, partitions rows by centroid
 * into files and chunks ({@linkcode partition}), and writes the table (`{file_id}.parquet` files
 * whose row groups are chunks, plus `_sample` with the chunk index). `.runBatch()` runs the same
 * step as a batch job on the service's workers.
 *
 * An `fd://` output or input is the store of the service this client is logged in to; inside a
 * UDF, its caller's, through the UDF's host (see `_fd.ts`): a table is built in a local staging
 * folder and uploaded whole, `_sample` last. Local paths are written in place, atomically.
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
 * const result = await ingest(points, { output: `${dir}/table`, partitioningMaximumPerChunk: 10 })
 *   .run();
 * const chunks = await getChunksMetadata(`${dir}/table`);
 * const first = await getChunkFromTable(`${dir}/table`, 0, 0);
 * if (chunks.numRows !== result.chunks || first.numRows > 10) throw new Error("unexpected");
 * ```
 *
 * @module
 */

import * as arrow from "apache-arrow";
import { ValidationError } from "../client/errors.ts";
import { findGeometryColumn } from "../client/formats/mod.ts";
import { binaryVector } from "../client/formats/arrow.ts";
import { plainPointsData, replaceGeometry } from "./_columns.ts";
import { closeOutputs, location, openOutputs, publishOutputs, writeIndexTable } from "./_output.ts";
import { takeRows } from "./_take.ts";
import { explodeWkb, type GeometryMeasures, measureGeometries } from "./_wkb_measure.ts";
import { IngestJob } from "./job.ts";
import { chunkStats, fileGeoMetadata } from "./metadata.ts";
import type { IngestNongeospatialOptions, IngestOptions, IngestResult } from "./options.ts";
import { partition, type Partitioning } from "./partition.ts";
import { type IngestInput, readInput } from "./read.ts";
import { openWriters, writeChunkedTable } from "./write.ts";
import type { ParquetWriters } from "./_parquet_writers.ts";

export { getChunkFromTable, type GetChunkOptions, getChunksMetadata } from "./chunks.ts";
export { IngestJob, type IngestRunner } from "./job.ts";
export type { ChunkStats } from "./metadata.ts";
export type {
  IngestCommonOptions,
  IngestKind,
  IngestNongeospatialOptions,
  IngestOptions,
  IngestResult,
  PartitioningMethod,
} from "./options.ts";
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

/**
 * Ingests geospatial data into a chunked GeoParquet table at `options.output`: returns the job,
 * which `.run()` (or `await`) runs here and `.runBatch()` on the service's workers.
 *
 * @example
 * ```ts ignore
 * import { ingest } from "./mod.ts";
 * const result = await ingest("airports.csv", { output: "fd://tables/airports" }).run();
 * console.log(result.files, result.chunks, result.rows);
 * const job = await ingest("fd://inputs/parcels.zip", { output: "fd://tables/parcels" }).runBatch();
 * ```
 */
export function ingest(input: IngestInput, options: IngestOptions): IngestJob {
  return new IngestJob("ingest", input, options, (i, o) => runIngest(i, o as IngestOptions));
}

/**
 * Ingests a table without using geometry: rows are ordered by `partitionCol` (when given) and
 * cut into files and chunks of at most the given row counts, keeping equal values of the column
 * in one chunk where the maximum allows. Returns the job, as {@linkcode ingest} does.
 *
 * @example
 * ```ts ignore
 * import { ingestNongeospatial } from "./mod.ts";
 * await ingestNongeospatial("flights.parquet", { output: "fd://tables/flights", partitionCol: "date" })
 *   .run();
 * ```
 */
export function ingestNongeospatial(
  input: IngestInput,
  options: IngestNongeospatialOptions,
): IngestJob {
  return new IngestJob(
    "ingestNongeospatial",
    input,
    options,
    (i, o) => runNongeospatial(i, o as IngestNongeospatialOptions),
  );
}

async function runIngest(input: IngestInput, options: IngestOptions): Promise<IngestResult> {
  const started = performance.now();
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
  // Refuse before the work, not after it.
  const outputs = await openOutputs(
    options.output,
    options.outputMetadata,
    options.overwrite ?? false,
  );
  let threads: Promise<ParquetWriters | null> | undefined;
  try {
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
    // The writer threads load while the rows are partitioned: into at least this many files.
    const files = Math.ceil(total / maxPerFile);
    if (files >= 2) threads = openWriters("auto", kept.length, files);
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
    // Plain points (2D little-endian WKB points, the common case) are rebuilt in output order
    // from the centroids partition moved with the rows: their bytes and boxes are read in order
    // instead of gathered from all over the input (a third of ingest's own CPU time for the
    // bench's 1 M points went to gathering WKB and boxes). The output bytes are the same.
    const plain = m.plainPoints === table.numRows &&
      arrow.DataType.isBinary(table.getChild("geometry")!.type) && p.centroids !== undefined;
    const stats = chunkStats(p, m, { plainPoints: plain });
    const partitionMs = performance.now() - t1;

    // Rows are gathered into output order file by file as they are written (write.ts).
    return await writeOutputs(outputs, table, p, stats, "geometry", {
      output: String(options.output),
      inputRows: table.numRows,
      maximumPerFile: maxPerFile,
      maximumPerChunk: maxPerChunk,
      timings: { started, readMs, partitionMs },
      fileGeo: fileGeoMetadata(p, stats, m, "geometry"),
      threads,
      inOrder: plain ? plainPoints(p.centroids!) : undefined,
    });
  } finally {
    (await threads)?.close();
    await closeOutputs(outputs);
  }
}

async function runNongeospatial(
  input: IngestInput,
  options: IngestNongeospatialOptions,
): Promise<IngestResult> {
  const started = performance.now();
  const outputs = await openOutputs(
    options.output,
    options.outputMetadata,
    options.overwrite ?? false,
  );
  try {
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
    const partitionMs = performance.now() - t1;
    return await writeOutputs(outputs, table, p, stats, geom, {
      output: String(options.output),
      inputRows: table.numRows,
      maximumPerFile: maxPerFile,
      maximumPerChunk: maxPerChunk,
      timings: { started, readMs, partitionMs },
    });
  } finally {
    await closeOutputs(outputs);
  }
}

/**
 * Writes the partitioned rows and the index table, publishes the outputs, and reports them: the
 * last step of both ingests.
 */
async function writeOutputs(
  outputs: Awaited<ReturnType<typeof openOutputs>>,
  table: arrow.Table,
  p: Partitioning,
  stats: ReturnType<typeof chunkStats>,
  geometryColumn: string | null,
  report: {
    output: string;
    inputRows: number;
    maximumPerFile: number;
    maximumPerChunk: number;
    timings: { started: number; readMs: number; partitionMs: number };
    /** Each file's `geo` metadata, when computed from the measures. */
    fileGeo?: string[] | null;
    /** Writer threads opened early (closed by the caller). */
    threads?: Promise<ParquetWriters | null>;
    /** Columns the caller has in output order (see `writeChunkedTable`). */
    inOrder?: (first: number, last: number) => ReadonlyMap<string, arrow.Data>;
  },
): Promise<IngestResult> {
  const t2 = performance.now();
  const written = await writeChunkedTable(outputs.main.path, table, p.files, p.chunks, stats, {
    order: p.order,
    overwrite: outputs.main.replace,
    geometryColumn,
    fileGeo: report.fileGeo,
    threads: report.threads,
    inOrder: report.inOrder,
  });
  if (outputs.metadata !== null) await writeIndexTable(outputs.metadata, stats);
  await publishOutputs(outputs);
  const writeMs = performance.now() - t2;
  const { started, readMs, partitionMs } = report.timings;
  return {
    output: report.output,
    path: location(outputs.main),
    outputMetadata: outputs.metadata && location(outputs.metadata),
    files: written.files,
    chunks: written.chunks,
    rows: p.order.length,
    inputRows: report.inputRows,
    droppedRows: report.inputRows - p.order.length,
    bytes: written.bytes,
    maximumPerFile: report.maximumPerFile,
    maximumPerChunk: report.maximumPerChunk,
    timings: { readMs, partitionMs, writeMs, totalMs: performance.now() - started },
  };
}

// ---------------------------------------------------------------------------------------------

function positive(value: number | null | undefined, name: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (!(typeof value === "number" && Number.isFinite(value) && value > 0)) {
    throw new ValidationError(`${name} must be a number above 0, got ${value}`);
  }
  return value;
}

/** The `geometry` column of output positions `[first, last)` rebuilt from their centroids. */
function plainPoints(
  c: { x: Float64Array; y: Float64Array },
): (first: number, last: number) => ReadonlyMap<string, arrow.Data> {
  return (first, last) =>
    new Map([["geometry", plainPointsData(c.x.subarray(first, last), c.y.subarray(first, last))]]);
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
    types: new Uint8Array(n),
    oddCoordinates: 0,
    plainPoints: 0,
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
