/**
 * The options of `ingest` and `ingestNongeospatial` (Fused's parameters in camelCase), what an
 * ingest returns, and the check of option names that both `run()` and `runBatch()` make first.
 *
 * @module
 */
import { NotSupportedError, ValidationError } from "../client/errors.ts";
import type { SplitMethod } from "./partition.ts";

/** The measure that partitions are capped by. */
export type PartitioningMethod = "rows" | "area" | "length" | "coords";

/** Options shared by `ingest` and `ingestNongeospatial`. */
export interface IngestCommonOptions {
  /**
   * Destination folder: a local path, `file://` or `fd://` URL (the store of the service this
   * client is logged in to; inside a UDF, its caller's). Required.
   */
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
  /** Stops downloads of `run()` (a batch job is stopped with its `cancel()`). */
  signal?: AbortSignal;
}

/** Options of `ingest` (Fused's `fused.ingest` parameters in camelCase). */
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
  /** Not supported: `.runBatch()` runs the ingest on the service's workers. */
  asUdf?: false;
}

/** Options of `ingestNongeospatial`. */
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
  /** Where the table is: the local folder written, or the fd:// URL it was uploaded to. */
  path: string;
  /** Where the chunk index table is (folder or fd:// URL), when `outputMetadata` was given. */
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
  /** Milliseconds spent reading, measuring and partitioning, gathering and writing, and in total. */
  timings: { readMs: number; partitionMs: number; writeMs: number; totalMs: number };
}

const NOT_SUPPORTED: Record<string, string> = {
  schema: "the schema is read from the data; cast columns before ingesting",
  gdalConfig: "there is no GDAL here; CSV longitude/latitude columns are set with lonlatCols",
  subdivideMethod: "large geometries are not subdivided; split them before ingesting",
  subdivideStart: "large geometries are not subdivided; split them before ingesting",
  subdivideStop: "large geometries are not subdivided; split them before ingesting",
  partitioningSchemaInput: "partitions are computed from the data",
  asUdf: "call .runBatch() on what ingest returns to run it on the service's workers",
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

/** Which ingest: the geospatial one or the non-geospatial one. */
export type IngestKind = "ingest" | "ingestNongeospatial";

/**
 * Refuses unknown option names (naming the camelCase form of a snake_case one), options this
 * ingest does not support (saying why), and a missing output.
 *
 * @example
 * ```ts
 * import { checkOptionNames } from "./options.ts";
 * checkOptionNames("ingest", { output: "fd://tables/t", lonlatCols: ["lon", "lat"] });
 * ```
 */
export function checkOptionNames(kind: IngestKind, options: object): void {
  checkKeys(options, kind === "ingest" ? INGEST_KEYS : NONGEO_KEYS, kind);
  if (kind !== "ingest") return;
  for (const [key, why] of Object.entries(NOT_SUPPORTED)) {
    const value = (options as Record<string, unknown>)[key];
    if (value !== undefined && value !== null && value !== false) {
      throw new NotSupportedError(`Option ${key} is not supported by this ingest: ${why}`);
    }
  }
}

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
