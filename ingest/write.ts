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
import * as pq from "parquet-wasm";
import { exists } from "../client/atomic_write.ts";
import { ValidationError } from "../client/errors.ts";
import { withGeoMetadata, withSchemaMetadata } from "../client/formats/mod.ts";
import { takeRows } from "./_take.ts";
import { type ChunkStats, encodeChunkIndex, SAMPLE_FILE } from "./metadata.ts";

/** Options of {@linkcode writeChunkedTable}. */
export interface WriteChunkedOptions {
  /** Replace an existing, non-empty destination (default false: refuse). */
  overwrite?: boolean;
  /** WKB geometry column to describe in `geo` metadata; null for non-geospatial tables. */
  geometryColumn?: string | null;
  /** Largest number of rows in `_sample` (default 1000). */
  sampleRows?: number;
  /**
   * The `geo` metadata JSON of each file when the caller has it (ingest's `fileGeoMetadata`),
   * saving a walk over the file's WKB values; without it each file's geometry column is scanned.
   */
  fileGeo?: readonly string[] | null;
}

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
 * Writes rows already in output order as a chunked table: file f holds rows `files[f]`, and its
 * row group c holds rows `chunks[f][c]`.
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
  const geometry = options.geometryColumn === undefined ? "geometry" : options.geometryColumn;
  const tmp = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.mkdir(tmp, { recursive: true });
  let bytes = 0;
  let chunkCount = 0;
  try {
    for (let f = 0; f < files.length; f++) {
      const batches = chunks[f].map(([start, end]) => oneBatch(table.slice(start, end)));
      let fileTable = new arrow.Table(table.schema, batches);
      if (geometry !== null && options.fileGeo) {
        const meta = new Map(fileTable.schema.metadata);
        meta.set("geo", options.fileGeo[f]);
        fileTable = withSchemaMetadata(fileTable, meta);
      } else if (geometry !== null) fileTable = withGeoMetadata(fileTable, geometry);
      const data = writeRowGroups(fileTable);
      await Deno.writeFile(`${tmp}/${f}.parquet`, data);
      bytes += data.byteLength;
      chunkCount += batches.length;
    }
    let sample = sampleRows(table, options.sampleRows ?? 1000);
    if (geometry !== null) sample = withGeoMetadata(sample, geometry);
    const meta = new Map(sample.schema.metadata);
    for (const [k, v] of encodeChunkIndex(stats)) meta.set(k, v);
    sample = withSchemaMetadata(sample, meta);
    const sampleBytes = writeRowGroups(sample);
    await Deno.writeFile(`${tmp}/${SAMPLE_FILE}`, sampleBytes);
    bytes += sampleBytes.byteLength;
    await moveIntoPlace(tmp, path, options.overwrite ?? false);
  } catch (err) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw err;
  }
  return { files: files.length, chunks: chunkCount, bytes };
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
 * metadata also written as Parquet key-value metadata (where GeoPandas, DuckDB and hyparquet
 * look for `geo`).
 *
 * parquet-wasm has no "flush row group" call; its writer (arrow-rs) closes the open row group
 * whenever the buffered bytes reach `maxRowGroupBytes`, checked after each record batch, and
 * never splits a batch for it. So a 1-byte limit and an unreachable row limit give one row group
 * per batch (verified with hyparquet's `parquetMetadata`: batches of 3, 200000, 2, 65000 and 1
 * rows gave row groups of the same sizes).
 */
export function writeRowGroups(table: arrow.Table): Uint8Array {
  let builder = new pq.WriterPropertiesBuilder()
    .setCompression(pq.Compression.ZSTD)
    .setMaxRowGroupSize(2 ** 31 - 1)
    .setMaxRowGroupBytes(1);
  if (table.schema.metadata.size > 0) {
    builder = builder.setKeyValueMetadata(new Map(table.schema.metadata));
  }
  const wasmTable = pq.Table.fromIPCStream(arrow.tableToIPC(table, "stream"));
  return pq.writeParquet(wasmTable, builder.build());
}

/** One record batch holding every row of a slice (slices of a one-batch table are one batch). */
function oneBatch(slice: arrow.Table): arrow.RecordBatch {
  const batches = slice.batches.filter((b) => b.numRows > 0);
  if (batches.length === 1) return batches[0];
  return takeRows(slice, Uint32Array.from({ length: slice.numRows }, (_, i) => i)).batches[0];
}

/** Evenly spaced rows, at most `max` of them, as one batch. */
function sampleRows(table: arrow.Table, max: number): arrow.Table {
  const n = table.numRows;
  const count = Math.min(n, max);
  const step = n / Math.max(count, 1);
  return takeRows(table, Uint32Array.from({ length: count }, (_, k) => Math.floor(k * step)));
}
