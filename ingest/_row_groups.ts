/**
 * The Parquet write of an ingested file, from Arrow IPC stream bytes, with the parquet-wasm
 * module given: the writer threads of `_parquet_writers.ts` pass theirs (instantiated from the
 * module compiled once by the calling thread) and load nothing else.
 *
 * @module
 */

import type * as pq from "parquet-wasm";

/** The parts of parquet-wasm a write uses (its Node and ESM builds both have them). */
export type ParquetWasm = Pick<
  typeof pq,
  "Compression" | "Table" | "WriterPropertiesBuilder" | "writeParquet"
>;

/**
 * Writes Arrow IPC stream bytes as Parquet (ZSTD) with exactly one row group per record batch,
 * `metadata` also written as Parquet key-value metadata (where GeoPandas, DuckDB and hyparquet
 * look for `geo`).
 *
 * parquet-wasm has no "flush row group" call; its writer (arrow-rs) closes the open row group
 * whenever the buffered bytes reach `maxRowGroupBytes`, checked after each record batch, and
 * never splits a batch for it. So a 1-byte limit and an unreachable row limit give one row group
 * per batch (verified with hyparquet's `parquetMetadata`: batches of 3, 200000, 2, 65000 and 1
 * rows gave row groups of the same sizes).
 *
 * @example
 * ```ts
 * import { tableFromArrays, tableToIPC } from "apache-arrow";
 * import * as pq from "parquet-wasm";
 * import { writeIpcRowGroups } from "./_row_groups.ts";
 * const ipc = tableToIPC(tableFromArrays({ v: Float64Array.from([1, 2]) }), "stream");
 * const bytes = writeIpcRowGroups(pq, ipc, new Map());
 * if (bytes[0] !== 0x50) throw new Error("not Parquet");
 * ```
 */
export function writeIpcRowGroups(
  pq: ParquetWasm,
  ipc: Uint8Array,
  metadata: Map<string, string>,
): Uint8Array {
  let builder = new pq.WriterPropertiesBuilder()
    .setCompression(pq.Compression.ZSTD)
    .setMaxRowGroupSize(2 ** 31 - 1)
    .setMaxRowGroupBytes(1);
  if (metadata.size > 0) builder = builder.setKeyValueMetadata(new Map(metadata));
  return pq.writeParquet(pq.Table.fromIPCStream(ipc), builder.build());
}
