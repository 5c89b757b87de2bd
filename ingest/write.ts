/**
 * The on-disk layout of an ingested table (Fused's): a folder of `{file_id}.parquet` files
 * (`0..N-1`) whose row groups are the chunks, each with GeoParquet 1.1 `geo` metadata, plus
 * `_sample`, a Parquet file with a sample of rows whose schema metadata holds the chunk index.
 *
 * The folder is built beside its destination and renamed into place, so a reader sees the old
 * table or the new one, never a half-written one.
 *
 * @module
 */

import * as arrow from "apache-arrow";
import { dirname } from "node:path";
import { exists } from "../client/atomic_write.ts";
import { ValidationError } from "../client/errors.ts";
import * as pq from "parquet-wasm";
import { withGeoMetadata, withSchemaMetadata } from "../client/formats/mod.ts";
import { ParquetWriters, writeHere } from "./_parquet_writers.ts";
import { writeIpcRowGroups } from "./_row_groups.ts";
import { takeRows } from "./_take.ts";
import { type ChunkStats, encodeChunkIndex, SAMPLE_FILE } from "./metadata.ts";

/** The writer threads {@linkcode openWriters} starts. */
export type { ParquetWriters };

/** Options of {@linkcode writeChunkedTable}. */
export interface WriteChunkedOptions {
  /** Replace an existing, non-empty destination (default false: refuse). */
  overwrite?: boolean;
  /** WKB geometry column to describe in `geo` metadata; null for non-geospatial tables. */
  geometryColumn?: string | null;
  /** Largest number of rows in `_sample` (default 1000). */
  sampleRows?: number;
  /**
   * The rows of `table` in output order, when `table` is not in it: each file's rows are then
   * gathered just before the file is written, while the files before it are being compressed.
   */
  order?: Uint32Array;
  /**
   * Columns the caller has in output order, for the rows at positions `[first, last)` of
   * `order` (by column name), used instead of gathering them (ingest's plain points).
   */
  inOrder?: (first: number, last: number) => ReadonlyMap<string, arrow.Data>;
  /**
   * The `geo` metadata JSON of each file when the caller has it (ingest's `fileGeoMetadata`),
   * saving a walk over the file's WKB values; without it each file's geometry column is scanned.
   */
  fileGeo?: readonly string[] | null;
  /**
   * Parquet writer threads for the data files: "auto" (default) uses up to one per core when
   * the table has at least {@linkcode PARALLEL_MIN_ROWS} rows in several files; 0 writes on
   * this thread. The files are the same either way.
   */
  writers?: number | "auto";
  /**
   * Writer threads the caller opened ({@linkcode openWriters}) and closes; `writers` is then not
   * used. Ingest opens them before it partitions the rows, so that they load meanwhile.
   */
  threads?: Promise<ParquetWriters | null>;
}

/** Rows from which "auto" writes files on worker threads (below, starting them costs more). */
export const PARALLEL_MIN_ROWS = 200_000;

/** Largest number of writer threads "auto" starts. */
const MAX_WRITERS = 4;

/** What {@linkcode writeChunkedTable} wrote. */
export interface WrittenTable {
  /** Number of `{file_id}.parquet` files. */
  files: number;
  /** Number of chunks (row groups) over all files. */
  chunks: number;
  /** Bytes written, `_sample` included. */
  bytes: number;
}

/**
 * Writes rows in output order (`table`, or its rows `options.order`) as a chunked table: file f
 * holds rows `files[f]` of that order, and its row group c holds rows `chunks[f][c]`.
 *
 * @example
 * ```ts
 * import { tableFromArrays } from "apache-arrow";
 * import { writeChunkedTable } from "./write.ts";
 * const dir = await Deno.makeTempDir();
 * const t = tableFromArrays({ v: Float64Array.from([1, 2, 3]) });
 * await writeChunkedTable(`${dir}/t`, t, [[0, 3]], [[[0, 1], [1, 3]]], [], { geometryColumn: null });
 * ```
 */
export async function writeChunkedTable(
  path: string,
  table: arrow.Table,
  files: readonly [number, number][],
  chunks: readonly (readonly [number, number][])[],
  stats: readonly ChunkStats[],
  options: WriteChunkedOptions = {},
): Promise<WrittenTable> {
  await refuseExisting(path, options.overwrite ?? false);
  const rowCount = options.order?.length ?? table.numRows;
  const opening = options.threads ??
    openWriters(options.writers ?? "auto", rowCount, files.length);
  const geometry = options.geometryColumn === undefined ? "geometry" : options.geometryColumn;
  const tmp = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.mkdir(tmp, { recursive: true });
  let bytes = 0;
  let chunkCount = 0;
  // Files being compressed and written; at most two per thread wait, bounding memory.
  const inFlight: Promise<void>[] = [];
  const order = options.order;
  try {
    for (let f = 0; f < files.length; f++) {
      const [first, last] = files[f];
      const rows = order
        ? takeRows(table, order.subarray(first, last), options.inOrder?.(first, last))
        : table;
      const at = order ? first : 0;
      const batches = chunks[f].map(([start, end]) => oneBatch(rows.slice(start - at, end - at)));
      let fileTable = new arrow.Table(table.schema, batches);
      if (geometry !== null && options.fileGeo) {
        const meta = new Map(fileTable.schema.metadata);
        meta.set("geo", options.fileGeo[f]);
        fileTable = withSchemaMetadata(fileTable, meta);
      } else if (geometry !== null) fileTable = withGeoMetadata(fileTable, geometry);
      const ipc = arrow.tableToIPC(fileTable, "stream");
      const metadata = fileTable.schema.metadata;
      const writers = await opening;
      const write = writers ? writers.write(ipc, metadata) : writeHere(ipc, metadata);
      const done = write.then(async (data) => {
        await Deno.writeFile(`${tmp}/${f}.parquet`, data);
        bytes += data.byteLength;
      });
      done.catch(() => {}); // handled where it is awaited; not an unhandled rejection meanwhile
      inFlight.push(done);
      chunkCount += batches.length;
      if (inFlight.length >= 2 * (writers?.size ?? 0)) await inFlight.shift();
    }
    // `_sample` is built here while the last files are still being compressed.
    let sample = sampleRows(table, order, options.sampleRows ?? 1000);
    if (geometry !== null) sample = withGeoMetadata(sample, geometry);
    const meta = new Map(sample.schema.metadata);
    for (const [k, v] of encodeChunkIndex(stats)) meta.set(k, v);
    sample = withSchemaMetadata(sample, meta);
    const sampleBytes = writeRowGroups(sample);
    await settleAll(inFlight);
    await Deno.writeFile(`${tmp}/${SAMPLE_FILE}`, sampleBytes);
    bytes += sampleBytes.byteLength;
    await moveIntoPlace(tmp, path, options.overwrite ?? false);
  } catch (err) {
    // Nothing may still be writing into the folder when it is removed.
    await Promise.allSettled(inFlight);
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw err;
  } finally {
    if (!options.threads) (await opening)?.close();
  }
  return { files: files.length, chunks: chunkCount, bytes };
}

/**
 * Starts the Parquet writer threads of a table of `rows` rows in `files` files ("auto": up to
 * one per core from {@linkcode PARALLEL_MIN_ROWS} rows in several files; a number: that many, at
 * most one per file); resolves to null when the files are written on this thread.
 *
 * @example
 * ```ts
 * import { openWriters } from "./write.ts";
 * if (await openWriters("auto", 10, 1) !== null) throw new Error("a small table uses no thread");
 * ```
 */
export function openWriters(
  writers: number | "auto",
  rows: number,
  files: number,
): Promise<ParquetWriters | null> {
  const count = writerCount(writers, rows, files);
  return count > 0 ? ParquetWriters.open(count) : Promise.resolve(null);
}

function writerCount(writers: number | "auto", rows: number, files: number): number {
  if (writers !== "auto") {
    if (!(Number.isInteger(writers) && writers >= 0)) {
      throw new ValidationError(`writers must be "auto" or a whole number from 0, got ${writers}`);
    }
    return Math.min(writers, files);
  }
  if (rows < PARALLEL_MIN_ROWS || files < 2) return 0;
  return Math.min(files, MAX_WRITERS, Math.max(1, navigator.hardwareConcurrency ?? 1));
}

/** Waits for every promise; then throws the first failure, if any. */
async function settleAll(promises: Promise<void>[]): Promise<void> {
  const results = await Promise.allSettled(promises.splice(0));
  const failed = results.find((r) => r.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
}

/**
 * Throws when `path` exists with content and `overwrite` is false (an empty folder is taken as
 * free, as Fused does).
 */
export async function refuseExisting(path: string, overwrite: boolean): Promise<void> {
  if (overwrite || !(await exists(path))) return;
  const stat = await Deno.stat(path);
  if (stat.isDirectory) {
    for await (const _ of Deno.readDir(path)) {
      throw new ValidationError(
        `Output ${path} already exists and is not empty: pass overwrite: true to replace it, or choose another output`,
      );
    }
    return;
  }
  throw new ValidationError(
    `Output ${path} already exists as a file: pass overwrite: true to replace it, or choose another output`,
  );
}

/** Renames the built folder into place; an old table is removed only after the new one is in. */
async function moveIntoPlace(tmp: string, path: string, overwrite: boolean): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  if (await exists(path)) {
    // Checked again: another writer may have finished while this one was building.
    await refuseExisting(path, overwrite);
    const old = `${path}.old-${crypto.randomUUID().slice(0, 8)}`;
    await Deno.rename(path, old);
    await Deno.rename(tmp, path);
    await Deno.remove(old, { recursive: true });
  } else {
    await Deno.rename(tmp, path);
  }
}

/**
 * Writes a table as Parquet (ZSTD) with exactly one row group per record batch, its schema
 * metadata also written as Parquet key-value metadata (see `_row_groups.ts`).
 */
export function writeRowGroups(table: arrow.Table): Uint8Array {
  return writeIpcRowGroups(pq, arrow.tableToIPC(table, "stream"), table.schema.metadata);
}

/** One record batch holding every row of a slice (slices of a one-batch table are one batch). */
function oneBatch(slice: arrow.Table): arrow.RecordBatch {
  const batches = slice.batches.filter((b) => b.numRows > 0);
  if (batches.length === 1) return batches[0];
  return takeRows(slice, Uint32Array.from({ length: slice.numRows }, (_, i) => i)).batches[0];
}

/** Evenly spaced rows of the output order, at most `max` of them, as one batch. */
function sampleRows(table: arrow.Table, order: Uint32Array | undefined, max: number): arrow.Table {
  const n = order ? order.length : table.numRows;
  const count = Math.min(n, max);
  const step = n / Math.max(count, 1);
  const rows = Uint32Array.from({ length: count }, (_, k) => Math.floor(k * step));
  return takeRows(table, order ? rows.map((k) => order[k]) : rows);
}
