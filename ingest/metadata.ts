/**
 * The chunk index of an ingested table and the two readers built on it (Fused's
 * `get_chunks_metadata` and `get_chunk_from_table`).
 *
 * The index lives in the schema metadata of the table's `_sample` file: `fused:format_version`
 * is "5" and `fused:_metadata` is the base64 text of a Parquet file with one row per chunk
 * (`file_id, chunk_id, bbox_minx, bbox_miny, bbox_maxx, bbox_maxy, sum_area, sum_length,
 * num_coords, num_rows`), as Fused writes it.
 *
 * @module
 */

import * as arrow from "apache-arrow";
import { parquetMetadata } from "hyparquet";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import * as pq from "parquet-wasm";
import { FusedError, NotSupportedError, ValidationError } from "../client/errors.ts";
import {
  findGeometryColumn,
  geoMetadata,
  parquetToTable,
  tableToParquet,
  withGeoMetadata,
  withSchemaMetadata,
} from "../client/formats/mod.ts";
import type { Partitioning } from "./partition.ts";
import { localPath } from "./read.ts";
import { binaryVector } from "../client/formats/arrow.ts";
import { boxWkb } from "./_columns.ts";
import type { GeometryMeasures } from "./_wkb_measure.ts";

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
export type RowMeasures = Omit<GeometryMeasures, "cx" | "cy">;

/** Sums the measures of every chunk of a partitioning (rows taken through `order`). */
export function chunkStats(p: Partitioning, m: RowMeasures): ChunkStats[] {
  const out: ChunkStats[] = [];
  p.chunks.forEach((chunks, f) => {
    chunks.forEach(([start, end], c) => {
      const bbox: [number, number, number, number] = [Infinity, Infinity, -Infinity, -Infinity];
      let area = 0, length = 0, coords = 0;
      for (let k = start; k < end; k++) {
        const i = p.order[k];
        if (m.minx[i] < bbox[0]) bbox[0] = m.minx[i];
        if (m.miny[i] < bbox[1]) bbox[1] = m.miny[i];
        if (m.maxx[i] > bbox[2]) bbox[2] = m.maxx[i];
        if (m.maxy[i] > bbox[3]) bbox[3] = m.maxy[i];
        area += m.area[i];
        length += m.length[i];
        coords += m.coords[i];
      }
      if (!Number.isFinite(bbox[0])) bbox.fill(NaN);
      out.push({
        fileId: String(f),
        chunkId: c,
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

// ---------------------------------------------------------------------------------------------
// Reading

/** A table location: a local folder or an http(s) base URL. */
type Location = { kind: "local"; path: string } | { kind: "http"; url: string };

function locate(url: string | URL): Location {
  const text = String(url).replace(/\/+$/, "");
  if (/^https?:\/\//i.test(text)) return { kind: "http", url: text };
  return { kind: "local", path: localPath(text) };
}

async function readWhole(loc: Location, name: string, what: string): Promise<Uint8Array> {
  if (loc.kind === "local") {
    try {
      return await Deno.readFile(join(loc.path, name));
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) throw new Deno.errors.NotFound(what);
      throw err;
    }
  }
  const response = await fetch(`${loc.url}/${name}`);
  if (response.status === 404) {
    await response.body?.cancel();
    throw new Deno.errors.NotFound(what);
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new FusedError(`Cannot read ${loc.url}/${name}: HTTP ${response.status}; check the URL`);
  }
  return new Uint8Array(await response.arrayBuffer());
}

/**
 * Returns the chunk index of an ingested table: one row per chunk with `file_id, chunk_id`,
 * the chunk's bbox and sums, and a `geometry` column holding the bbox as a WKB polygon
 * (GeoParquet metadata, longitude/latitude).
 *
 * @example
 * ```ts ignore
 * import { getChunksMetadata } from "./metadata.ts";
 * const chunks = await getChunksMetadata("fd://tables/airports");
 * console.log(chunks.numRows, chunks.getChild("num_rows")?.get(0));
 * ```
 */
export async function getChunksMetadata(url: string | URL): Promise<arrow.Table> {
  const loc = locate(url);
  let bytes: Uint8Array;
  try {
    bytes = await readWhole(loc, SAMPLE_FILE, `${url}/${SAMPLE_FILE}`);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new ValidationError(
        `Dataset does not have Fused metadata: ${url} has no ${SAMPLE_FILE} file; ingest the data with fused.ingest`,
      );
    }
    throw err;
  }
  const sample = parquetToTable(bytes);
  const index = decodeChunkIndex(sample.schema.metadata, `${url}/${SAMPLE_FILE}`);
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
 * null reads the whole file, `fileId` null the whole table. Local files are read sparsely: the
 * footer and the chunk's byte range only.
 *
 * @example
 * ```ts ignore
 * import { getChunkFromTable } from "./metadata.ts";
 * const rows = await getChunkFromTable("fd://tables/airports", 0, 2, { columns: ["name"] });
 * ```
 */
export async function getChunkFromTable(
  url: string | URL,
  fileId: string | number | null,
  chunkId: number | null = null,
  options: GetChunkOptions = {},
): Promise<arrow.Table> {
  const loc = locate(url);
  const columns = options.columns ? [...options.columns] : null;
  if (fileId === null) return await readWholeTable(loc, String(url), columns);
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
  if (loc.kind === "local" && chunkId !== null) {
    return finish(
      await readRowGroupLocal(join(loc.path, name), `${url}/${name}`, chunkId, columns),
      columns,
    );
  }
  let bytes: Uint8Array;
  try {
    bytes = await readWhole(loc, name, name);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw missingFile(String(url), id);
    throw err;
  }
  if (chunkId !== null) {
    checkRowGroup(
      parquetMetadata(toArrayBuffer(bytes)).row_groups.length,
      chunkId,
      `${url}/${name}`,
    );
  }
  checkColumns(bytes, columns, `${url}/${name}`);
  const options2: pq.ReaderOptions = chunkId === null ? {} : { rowGroups: [chunkId] };
  return finish(arrow.tableFromIPC(pq.readParquet(bytes, options2).intoIPCStream()), columns);
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
 * Reads one row group of a local Parquet file without reading the rest: parquet-wasm needs the
 * whole file as bytes, so the footer and the row group's byte range are placed at their offsets
 * in a zero-filled buffer of the file's size (the rest is never looked at).
 */
async function readRowGroupLocal(
  path: string,
  where: string,
  chunkId: number,
  columns: string[] | null,
): Promise<arrow.Table> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw missingFile(where.replace(/\/[^/]*$/, ""), where.replace(/^.*\/|\.parquet$/g, ""));
    }
    throw err;
  }
  try {
    const size = (await file.stat()).size;
    const tail = await readAt(file, size - 8, 8);
    const footerLength = new DataView(tail.buffer).getUint32(0, true);
    if (
      size < 12 || new TextDecoder().decode(tail.subarray(4)) !== "PAR1" || footerLength + 12 > size
    ) {
      throw new ValidationError(`${where} is not a Parquet file: ingest the data again`);
    }
    const footer = await readAt(file, size - 8 - footerLength, footerLength + 8);
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
    bytes.set(await readAt(file, start, end - start), start);
    bytes.set(footer, size - 8 - footerLength);
    return arrow.tableFromIPC(pq.readParquet(bytes, { rowGroups: [chunkId] }).intoIPCStream());
  } finally {
    file.close();
  }
}

async function readAt(file: Deno.FsFile, offset: number, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  await file.seek(offset, Deno.SeekMode.Start);
  let at = 0;
  while (at < length) {
    const n = await file.read(out.subarray(at));
    if (n === null) {
      throw new ValidationError(
        `Unexpected end of file after ${offset + at} bytes: the file is truncated`,
      );
    }
    at += n;
  }
  return out;
}

async function readWholeTable(
  loc: Location,
  url: string,
  columns: string[] | null,
): Promise<arrow.Table> {
  if (loc.kind === "http") {
    const index = await getChunksMetadata(url);
    const ids = [...new Set(index.getChild("file_id")!.toArray() as string[])];
    const tables = [];
    for (const id of ids) tables.push(await getChunkFromTable(url, id, null, { columns }));
    return concat(tables);
  }
  let names: string[];
  try {
    names = [];
    for await (const e of Deno.readDir(loc.path)) {
      if (e.isFile && e.name.endsWith(".parquet") && !e.name.startsWith("_")) names.push(e.name);
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new ValidationError(`Table ${url} does not exist: check the URL`);
    }
    throw err;
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
