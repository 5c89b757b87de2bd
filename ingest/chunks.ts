/**
 * Reading an ingested table (Fused's `get_chunks_metadata` and `get_chunk_from_table`) wherever
 * it is: a local folder, `fd://` (the store of the service this client is logged in to; inside a
 * UDF through its host, as its caller), or an http(s) base URL (see `_table_files.ts`).
 *
 * A table is what its `_sample` says: its chunk index names the files and chunks, so files that
 * an unfinished upload left without a `_sample` are never read as part of a table.
 *
 * @module
 */

import * as arrow from "apache-arrow";
import { parquetMetadata } from "hyparquet";
import * as pq from "parquet-wasm";
import { ValidationError } from "../client/errors.ts";
import {
  findGeometryColumn,
  geoMetadata,
  parquetToTable,
  withGeoMetadata,
  withSchemaMetadata,
} from "../client/formats/mod.ts";
import { binaryVector } from "../client/formats/arrow.ts";
import { boxWkb } from "./_columns.ts";
import { type TableFiles, tableFiles } from "./_table_files.ts";
import { decodeChunkIndex, SAMPLE_FILE } from "./metadata.ts";

/** Bytes read from the end of a file to find its footer in one request (most fit). */
const TAIL_BYTES = 64 * 1024;

async function readIndex(files: TableFiles, url: string): Promise<arrow.Table> {
  let bytes: Uint8Array;
  try {
    bytes = await files.read(SAMPLE_FILE);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new ValidationError(
        `Dataset does not have Fused metadata: ${url} has no ${SAMPLE_FILE} file; ingest the data with fused.ingest`,
      );
    }
    throw err;
  }
  const sample = parquetToTable(bytes);
  return decodeChunkIndex(sample.schema.metadata, `${url}/${SAMPLE_FILE}`);
}

/**
 * Returns the chunk index of an ingested table: one row per chunk with `file_id, chunk_id`,
 * the chunk's bbox and sums, and a `geometry` column holding the bbox as a WKB polygon
 * (GeoParquet metadata, longitude/latitude).
 *
 * @example
 * ```ts ignore
 * import { getChunksMetadata } from "./chunks.ts";
 * const chunks = await getChunksMetadata("fd://tables/airports");
 * console.log(chunks.numRows, chunks.getChild("num_rows")?.get(0));
 * ```
 */
export async function getChunksMetadata(url: string | URL): Promise<arrow.Table> {
  const index = await readIndex(tableFiles(url), String(url));
  const col = (name: string): arrow.Vector => index.getChild(name)!;
  const minx = col("bbox_minx"),
    miny = col("bbox_miny"),
    maxx = col("bbox_maxx"),
    maxy = col("bbox_maxy");
  const boxes: (Uint8Array | null)[] = [];
  for (let i = 0; i < index.numRows; i++) {
    boxes.push(boxWkb(minx.get(i), miny.get(i), maxx.get(i), maxy.get(i)));
  }
  const columns: Record<string, arrow.Vector> = {};
  for (const f of index.schema.fields) columns[f.name] = index.getChild(f.name)!;
  columns.geometry = binaryVector(boxes);
  return withGeoMetadata(new arrow.Table(columns), "geometry");
}

/** Options of {@linkcode getChunkFromTable}. */
export interface GetChunkOptions {
  /** Read only these columns. */
  columns?: readonly string[] | null;
}

/**
 * Reads one chunk (row group `chunkId` of `{fileId}.parquet`) of an ingested table; `chunkId`
 * null reads the whole file, `fileId` null the whole table. Local and fd:// files are read
 * sparsely: the footer and the chunk's byte range only.
 *
 * @example
 * ```ts ignore
 * import { getChunkFromTable } from "./chunks.ts";
 * const rows = await getChunkFromTable("fd://tables/airports", 0, 2, { columns: ["name"] });
 * ```
 */
export async function getChunkFromTable(
  url: string | URL,
  fileId: string | number | null,
  chunkId: number | null = null,
  options: GetChunkOptions = {},
): Promise<arrow.Table> {
  const files = tableFiles(url);
  const where = String(url).replace(/\/+$/, "");
  const columns = options.columns ? [...options.columns] : null;
  if (fileId === null) return await readWholeTable(files, where, columns);
  const id = String(fileId);
  if (!/^[A-Za-z0-9_-]+$/.test(id)) {
    throw new ValidationError(
      `File id "${id}" is not valid: use an id from getChunksMetadata (like 0)`,
    );
  }
  if (chunkId !== null && !(Number.isInteger(chunkId) && chunkId >= 0)) {
    throw new ValidationError(
      `Chunk id ${chunkId} is not valid: use a chunk_id from getChunksMetadata (0 or more)`,
    );
  }
  const name = `${id}.parquet`;
  if (files.ranged && chunkId !== null) {
    return finish(await readRowGroup(files, where, id, chunkId, columns), columns);
  }
  let bytes: Uint8Array;
  try {
    bytes = await files.read(name);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw missingFile(where, id);
    throw err;
  }
  if (chunkId !== null) {
    checkRowGroup(
      parquetMetadata(toArrayBuffer(bytes)).row_groups.length,
      chunkId,
      `${where}/${name}`,
    );
  }
  checkColumns(bytes, columns, `${where}/${name}`);
  const readOptions: pq.ReaderOptions = chunkId === null ? {} : { rowGroups: [chunkId] };
  return finish(arrow.tableFromIPC(pq.readParquet(bytes, readOptions).intoIPCStream()), columns);
}

function missingFile(url: string, id: string): ValidationError {
  return new ValidationError(
    `Table ${url} has no file ${id}.parquet: use a file_id from getChunksMetadata`,
  );
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

function checkRowGroup(count: number, chunkId: number, where: string): void {
  if (chunkId >= count) {
    throw new ValidationError(
      `${where} has ${count} chunks (0-${
        count - 1
      }), not chunk ${chunkId}: use a chunk_id from getChunksMetadata`,
    );
  }
}

function checkColumns(footerOrFile: Uint8Array, columns: string[] | null, where: string): void {
  if (!columns) return;
  const names = parquetMetadata(toArrayBuffer(footerOrFile)).schema.slice(1).map((s) => s.name);
  for (const c of columns) {
    if (!names.includes(c)) {
      throw new ValidationError(
        `${where} has no column "${c}": its columns are ${names.join(", ")}`,
      );
    }
  }
}

/**
 * Reads one row group of a Parquet file without reading the rest: parquet-wasm needs the whole
 * file as bytes, so the footer and the row group's byte range are placed at their offsets in a
 * zero-filled buffer of the file's size (the rest is never looked at).
 */
async function readRowGroup(
  files: TableFiles,
  url: string,
  id: string,
  chunkId: number,
  columns: string[] | null,
): Promise<arrow.Table> {
  const name = `${id}.parquet`;
  const where = `${url}/${name}`;
  const size = await files.size(name);
  if (size === null) throw missingFile(url, id);
  const notParquet = () =>
    new ValidationError(`${where} is not a Parquet file: ingest the data again`);
  if (size < 12) throw notParquet();
  const tailStart = Math.max(0, size - TAIL_BYTES);
  let tail = await files.read(name, { start: tailStart, end: size - 1 });
  const footerLength = new DataView(tail.buffer, tail.byteOffset + tail.byteLength - 8, 4)
    .getUint32(0, true);
  if (
    new TextDecoder().decode(tail.subarray(tail.byteLength - 4)) !== "PAR1" ||
    footerLength + 12 > size
  ) {
    throw notParquet();
  }
  const footerStart = size - 8 - footerLength;
  if (footerStart < tailStart) tail = await files.read(name, { start: footerStart, end: size - 1 });
  const footer = tail.subarray(tail.byteLength - 8 - footerLength);
  const meta = parquetMetadata(toArrayBuffer(footer));
  checkRowGroup(meta.row_groups.length, chunkId, where);
  checkColumns(footer, columns, where);
  let start = Infinity;
  let end = 0;
  for (const column of meta.row_groups[chunkId].columns) {
    const m = column.meta_data!;
    const first = Number(m.dictionary_page_offset ?? m.data_page_offset);
    start = Math.min(start, first, Number(m.data_page_offset));
    end = Math.max(end, first + Number(m.total_compressed_size));
  }
  const bytes = new Uint8Array(size);
  bytes.set([0x50, 0x41, 0x52, 0x31]);
  bytes.set(await files.read(name, { start, end: end - 1 }), start);
  bytes.set(footer, footerStart);
  return arrow.tableFromIPC(pq.readParquet(bytes, { rowGroups: [chunkId] }).intoIPCStream());
}

/**
 * Every file of a table: the files a local folder lists, else those its chunk index names (a
 * store's folder may hold files of an upload that did not finish).
 */
async function readWholeTable(
  files: TableFiles,
  url: string,
  columns: string[] | null,
): Promise<arrow.Table> {
  let names = await files.dataFiles();
  if (names === null) {
    const index = await readIndex(files, url);
    names = [...new Set(index.getChild("file_id")!.toArray() as string[])].map((id) =>
      `${id}.parquet`
    );
  }
  if (names.length === 0) {
    throw new ValidationError(`Table ${url} has no .parquet files: ingest data into it first`);
  }
  names.sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
  const tables = [];
  for (const name of names) {
    tables.push(await getChunkFromTable(url, name.slice(0, -".parquet".length), null, { columns }));
  }
  return concat(tables);
}

function concat(tables: arrow.Table[]): arrow.Table {
  if (tables.length === 1) return tables[0];
  const schema = tables[0].schema;
  const batches = tables.flatMap((t) =>
    t.batches.map((b) => new arrow.RecordBatch(schema, b.data))
  );
  const geom = findGeometryColumn(tables[0]);
  const meta = new Map(schema.metadata);
  meta.delete("geo");
  let table = withSchemaMetadata(new arrow.Table(schema, batches), meta);
  if (geom !== undefined) table = withGeoMetadata(table, geom);
  return table;
}

/**
 * Selects the requested columns (parquet-wasm 0.8's synchronous reader ignores its `columns`
 * option, measured) and keeps `geo` metadata only when its geometry column is among them.
 */
function finish(table: arrow.Table, columns: string[] | null): arrow.Table {
  if (!columns) return table;
  const schemaMeta = table.schema.metadata;
  table = withSchemaMetadata(table.select(columns), new Map(schemaMeta));
  const geo = geoMetadata(table);
  if (geo && !columns.includes(geo.primary_column)) {
    const meta = new Map(table.schema.metadata);
    meta.delete("geo");
    return withSchemaMetadata(table, meta);
  }
  return table;
}
