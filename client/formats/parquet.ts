/**
 * Parquet files from and to Arrow tables through parquet-wasm (ZSTD by default: 16.9 MB and
 * 298/124 ms write/read for 1 M rows × 4 columns, the best size for the time; display-perf §4.1).
 *
 * parquet-wasm copies only the table's schema metadata into its `ARROW:schema` entry, which
 * GeoPandas, DuckDB and hyparquet do not read, so every schema metadata entry (GeoParquet's `geo`
 * among them) is also written as a Parquet key-value entry. On reading, parquet-wasm merges the
 * key-value entries back into the schema metadata, so `geo` is at
 * `table.schema.metadata.get("geo")` whichever tool wrote the file.
 *
 * @module
 */

import * as arrow from "apache-arrow";
import * as pq from "parquet-wasm";
import { ValidationError } from "../errors.ts";
import { CorruptDataError } from "./errors.ts";
import { withGeoMetadata } from "./geo.ts";

/** Parquet compression codecs offered. */
export type ParquetCompression = "zstd" | "snappy" | "lz4_raw" | "gzip" | "brotli" | "uncompressed";

/** Options of {@linkcode tableToParquet}. */
export interface TableToParquetOptions {
  /** Codec for every column; "zstd" by default. */
  compression?: ParquetCompression;
  /**
   * Geometry column for GeoParquet `geo` metadata. By default a Binary column named geometry or
   * geom gets it (unless the table already has `geo` metadata); `false` writes none.
   */
  geo?: string | false;
  /** Largest number of rows in one row group (parquet-wasm's default when unset). */
  rowGroupSize?: number;
}

const CODECS: Record<ParquetCompression, pq.Compression> = {
  zstd: pq.Compression.ZSTD,
  snappy: pq.Compression.SNAPPY,
  lz4_raw: pq.Compression.LZ4_RAW,
  gzip: pq.Compression.GZIP,
  brotli: pq.Compression.BROTLI,
  uncompressed: pq.Compression.UNCOMPRESSED,
};

/**
 * Writes a table as a Parquet file, with GeoParquet metadata when it has a geometry column.
 *
 * @example
 * ```ts
 * import { tableFromArrays } from "apache-arrow";
 * import { parquetToTable, tableToParquet } from "./parquet.ts";
 * const bytes = tableToParquet(tableFromArrays({ x: Float64Array.from([1, 2, 3]) }));
 * if (parquetToTable(bytes).numRows !== 3) throw new Error("unexpected");
 * ```
 */
export function tableToParquet(
  table: arrow.Table,
  options: TableToParquetOptions = {},
): Uint8Array {
  const codec = CODECS[options.compression ?? "zstd"];
  if (codec === undefined) {
    throw new ValidationError(
      `Unknown Parquet compression "${options.compression}": use one of ${
        Object.keys(CODECS).join(", ")
      }`,
    );
  }
  if (options.geo !== false) table = withGeoMetadata(table, options.geo);
  let builder = new pq.WriterPropertiesBuilder().setCompression(codec);
  if (table.schema.metadata.size > 0) {
    builder = builder.setKeyValueMetadata(new Map(table.schema.metadata));
  }
  if (options.rowGroupSize !== undefined) {
    builder = builder.setMaxRowGroupSize(options.rowGroupSize);
  }
  // writeParquet consumes (frees) both the WASM table and the properties.
  const wasmTable = pq.Table.fromIPCStream(arrow.tableToIPC(table, "stream"));
  return pq.writeParquet(wasmTable, builder.build());
}

/**
 * Reads a Parquet file into a table; key-value metadata (such as `geo`) lands in
 * `table.schema.metadata`. Throws CorruptDataError when the bytes are not a readable Parquet file.
 */
export function parquetToTable(bytes: Uint8Array): arrow.Table {
  if (bytes.byteLength < 12 || !hasParquetMagic(bytes)) {
    throw new CorruptDataError(
      `Cannot read ${bytes.byteLength} bytes as Parquet: a Parquet file starts and ends with "PAR1"; the data is truncated or in another format`,
    );
  }
  let ipc: Uint8Array;
  try {
    ipc = pq.readParquet(bytes).intoIPCStream();
  } catch (cause) {
    throw new CorruptDataError(
      `Cannot read ${bytes.byteLength} bytes as Parquet: ${
        String((cause as Error)?.message ?? cause)
      }`,
      { cause },
    );
  }
  return arrow.tableFromIPC(ipc);
}

/** True when bytes start and end with the Parquet magic "PAR1". */
export function hasParquetMagic(bytes: Uint8Array): boolean {
  const n = bytes.byteLength;
  return n >= 8 && bytes[0] === 0x50 && bytes[1] === 0x41 && bytes[2] === 0x52 &&
    bytes[3] === 0x31 && bytes[n - 4] === 0x50 && bytes[n - 3] === 0x41 &&
    bytes[n - 2] === 0x52 && bytes[n - 1] === 0x31;
}
