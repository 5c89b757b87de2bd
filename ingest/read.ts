/**
 * Ingest inputs into one Arrow table with a WKB `geometry` column: local paths, folders, `fd://`
 * and `file://` URLs, http(s) URLs (downloaded, size-bounded), Arrow tables and GeoJSON objects.
 * The formats are read by `_formats.ts`, the geometry column built by `_input_tables.ts`.
 *
 * Where each input is read from: a local file or folder from disk; `fd://` from the store of the
 * service this client is logged in to (folders listed, files fetched through `fused.api`), or
 * from the local folder `options.fdPrefix` names; http(s) with `fetch`. Inside a UDF, which has
 * no network and sees only its own folders, fd:// and http(s) inputs go through its host as the
 * UDF's caller (http(s) as `fused.download` into its data folder, under the caller's network
 * rules).
 *
 * @module
 */

import * as arrow from "apache-arrow";
import { extname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as files from "../client/api/files.ts";
import { download as hostDownload } from "../client/download.ts";
import { FusedError, NotSupportedError, ValidationError } from "../client/errors.ts";
import { resolveFdPath } from "../client/file_path.ts";
import {
  type GeoJsonFeature,
  type GeoJsonFeatureCollection,
  parquetToTable,
  tableFromGeoJSON,
} from "../client/formats/mod.ts";
import { udfHost } from "../client/host_channel.ts";
import {
  EXTENSIONS,
  formatOfName,
  isGeoJsonObject,
  parseDelimited,
  parseFlatGeobuf,
  parseGeoJson,
  parseShapefile,
  parseZip,
  sniffFormat,
} from "./_formats.ts";
import { filesUnder, isMissing } from "./_fd.ts";
import { concatTables, selectColumns, stripMetadata, withGeometry } from "./_input_tables.ts";

export { formatOfName, type InputFormat, sniffFormat } from "./_formats.ts";

/** What {@linkcode readInput} accepts. */
export type IngestInput =
  | string
  | URL
  | readonly (string | URL)[]
  | arrow.Table
  | GeoJsonFeatureCollection
  | GeoJsonFeature;

/** Options of {@linkcode readInput}. */
export interface ReadInputOptions {
  /** Keep only files whose names end with this (for folders and lists of paths). */
  fileSuffix?: string | null;
  /** Keep only these columns (the geometry is always kept). */
  loadColumns?: readonly string[] | null;
  /** Drop these columns. */
  removeCols?: readonly string[] | null;
  /** Longitude and latitude columns to build points from; guessed when omitted. */
  lonlatCols?: readonly [string, string] | null;
  /** Require and build a geometry column (default true; false for non-geospatial ingest). */
  geometry?: boolean;
  /** Largest http(s) download in bytes (default 1 GiB). */
  maxDownloadBytes?: number;
  /** Stops downloads. */
  signal?: AbortSignal;
}

/** The table read by {@linkcode readInput}. */
export interface InputTable {
  /** All rows of all inputs; no schema metadata. */
  table: arrow.Table;
  /** Name of the WKB geometry column ("geometry"), or null when `geometry` was false. */
  geometryColumn: string | null;
  /** The files or URLs read, in order. */
  sources: string[];
}

const DEFAULT_MAX_DOWNLOAD_BYTES = 1 << 30;
const SIDECARS = new Set([".dbf", ".shx", ".prj", ".cpg", ".sbn", ".sbx", ".qix", ".xml"]);

/** One input file's content: features (GeoJSON-like formats) or a table. */
type Part = { source: string; features: GeoJsonFeature[] } | { source: string; table: arrow.Table };

/**
 * Reads every input into one table with a WKB `geometry` column.
 *
 * @example
 * ```ts
 * import { readInput } from "./read.ts";
 * const { table } = await readInput({ type: "FeatureCollection", features: [
 *   { type: "Feature", geometry: { type: "Point", coordinates: [1, 2] }, properties: { a: 1 } },
 * ] });
 * if (table.numRows !== 1) throw new Error("unexpected");
 * ```
 */
export async function readInput(
  input: IngestInput,
  options: ReadInputOptions = {},
): Promise<InputTable> {
  const parts: Part[] = [];
  if (input instanceof arrow.Table) {
    parts.push({ source: "<table>", table: input });
  } else if (isGeoJsonObject(input)) {
    const features = input.type === "Feature" ? [input] : input.features;
    parts.push({ source: "<geojson>", features });
  } else if (typeof input === "string" || input instanceof URL || Array.isArray(input)) {
    const list = (Array.isArray(input) ? input : [input]) as (string | URL)[];
    if (list.length === 0) {
      throw new ValidationError("The input list is empty: give at least one path or URL");
    }
    for (const item of list) {
      for (const source of await expand(String(item), options.fileSuffix ?? null)) {
        parts.push(await readSource(source, options));
      }
    }
  } else {
    throw new ValidationError(
      `Cannot ingest a ${
        describe(input)
      }: give a path, an fd:// or http(s) URL, a list of them, an Arrow table or a GeoJSON FeatureCollection`,
    );
  }
  const wantGeometry = options.geometry ?? true;
  const tables: { source: string; table: arrow.Table }[] = [];
  const features = parts.flatMap((p) => ("features" in p ? p.features : []));
  const featureSources = parts.filter((p) => "features" in p).map((p) => p.source);
  if (featureSources.length > 0) {
    tables.push({
      source: featureSources.join(", "),
      table: tableFromGeoJSON({ type: "FeatureCollection", features }),
    });
  }
  for (const p of parts) if ("table" in p) tables.push({ source: p.source, table: p.table });
  const prepared = tables.map(({ source, table }) => ({
    source,
    table: wantGeometry
      ? withGeometry(table, source, options.lonlatCols ?? null)
      : stripMetadata(table),
  }));
  let table = concatTables(prepared);
  const geometryColumn = wantGeometry ? "geometry" : null;
  table = selectColumns(
    table,
    options.loadColumns ?? null,
    options.removeCols ?? null,
    geometryColumn,
  );
  if (table.numRows === 0) {
    throw new ValidationError(
      `The input has no rows (${
        parts.map((p) => p.source).join(", ")
      }): give a file with at least one feature or row`,
    );
  }
  return { table, geometryColumn, sources: parts.map((p) => p.source) };
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "list";
  return typeof v === "object" ? (v.constructor?.name ?? "object") : typeof v;
}

// ---------------------------------------------------------------------------------------------
// Sources

/**
 * The local file path of a path or `file://` URL, and of an `fd://` URL when `options.fdPrefix`
 * names a local folder; null for fd:// on the service's store.
 */
export function localPath(item: string): string | null {
  if (/^fd:\/\//i.test(item)) return resolveFdPath(item);
  if (/^file:\/\//i.test(item)) return fileURLToPath(item);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(item)) {
    throw new NotSupportedError(
      `Cannot read "${item}" here: ${
        item.split(":")[0]
      }:// storage is not available locally; use a local path, an fd:// URL or an http(s) URL`,
    );
  }
  return resolve(item);
}

/** Turns a path or URL into the files to read (folders listed): local paths, fd:// or http(s) URLs. */
async function expand(item: string, suffix: string | null): Promise<string[]> {
  if (/^https?:\/\//i.test(item)) return [item];
  const path = localPath(item);
  const found = path === null ? await filesUnder(item) : await localFilesUnder(path);
  if (found === null) {
    throw new ValidationError(
      `Input "${item}" does not exist${
        path === null ? "" : ` (looked at ${path})`
      }: check the path`,
    );
  }
  if (!found.folder) {
    if (suffix !== null && !found.files[0].endsWith(suffix)) {
      throw new ValidationError(
        `Input "${item}" does not end with fileSuffix "${suffix}": drop fileSuffix or give matching files`,
      );
    }
    return found.files;
  }
  const stems = new Set(
    found.files.filter((f) => extname(f).toLowerCase() === ".shp").map((f) => f.slice(0, -4)),
  );
  const picked = found.files.filter((f) => {
    if (suffix !== null) return f.endsWith(suffix);
    const ext = extname(f).toLowerCase();
    return !(SIDECARS.has(ext) && stems.has(f.slice(0, -ext.length)));
  });
  if (picked.length === 0) {
    throw new ValidationError(
      `Folder "${item}" has no input files${
        suffix !== null ? ` ending with "${suffix}"` : ""
      }: check the path or fileSuffix`,
    );
  }
  return picked;
}

/** A local file, or a folder's files (sorted); null when nothing is there. */
async function localFilesUnder(path: string): Promise<{ files: string[]; folder: boolean } | null> {
  let stat: Deno.FileInfo;
  try {
    stat = await Deno.stat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
  if (!stat.isDirectory) return { files: [path], folder: false };
  const out: string[] = [];
  await walk(path, out);
  return { files: out.sort(), folder: true };
}

async function walk(dir: string, out: string[]): Promise<void> {
  for await (const entry of Deno.readDir(dir)) {
    // Hidden files and "_"-files (_sample, _SUCCESS) are metadata, not data.
    if (entry.name.startsWith(".") || entry.name.startsWith("_")) continue;
    const full = join(dir, entry.name);
    if (entry.isDirectory) await walk(full, out);
    else if (entry.isFile) out.push(full);
  }
}

/** The bytes of a source (a local path, an fd:// or http(s) URL); undefined when it is missing. */
async function readBytes(
  source: string,
  options: ReadInputOptions,
): Promise<Uint8Array | undefined> {
  const max = options.maxDownloadBytes ?? DEFAULT_MAX_DOWNLOAD_BYTES;
  try {
    if (/^https?:\/\//i.test(source)) {
      return udfHost()
        ? await downloadThroughHost(source, max)
        : await download(source, max, options.signal);
    }
    if (/^fd:\/\//i.test(source)) return await files.get(source, { signal: options.signal });
    return await Deno.readFile(source);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || isMissing(error)) return undefined;
    throw error;
  }
}

async function readSource(source: string, options: ReadInputOptions): Promise<Part> {
  const isHttp = /^https?:\/\//i.test(source);
  const bytes = await readBytes(source, options);
  if (bytes === undefined) {
    throw new ValidationError(`Input "${source}" does not exist: check the path`);
  }
  const name = isHttp ? new URL(source).pathname : source;
  const format = formatOfName(name) ?? sniffFormat(bytes);
  if (format === undefined) {
    throw new ValidationError(
      `Cannot tell the format of "${source}": use a file ending in ${
        Object.keys(EXTENSIONS).join(", ")
      }`,
    );
  }
  if (bytes.byteLength === 0) {
    throw new ValidationError(`Input "${source}" is empty: give a file with at least one row`);
  }
  switch (format) {
    case "geojson":
      return { source, features: parseGeoJson(bytes, source) };
    case "parquet":
      return { source, table: parquetToTable(bytes) };
    case "csv":
    case "tsv":
      return {
        source,
        table: await parseDelimited(new TextDecoder().decode(bytes), format, source),
      };
    case "shapefile": {
      if (isHttp) {
        throw new NotSupportedError(
          `Cannot read a loose .shp over http ("${source}"): zip the .shp, .dbf and .prj and give the .zip`,
        );
      }
      const stem = source.slice(0, -4);
      const sidecar = async (ext: string): Promise<Uint8Array | undefined> =>
        await readBytes(stem + ext, options) ?? await readBytes(stem + ext.toUpperCase(), options);
      const [dbf, prj, cpg] = await Promise.all([
        sidecar(".dbf"),
        sidecar(".prj"),
        sidecar(".cpg"),
      ]);
      return { source, features: await parseShapefile({ shp: bytes, dbf, prj, cpg }, source) };
    }
    case "zip":
      return { source, features: await parseZip(bytes, source) };
    case "flatgeobuf":
      return { source, features: await parseFlatGeobuf(bytes, source) };
  }
}

/**
 * Inside a UDF: its host downloads the URL into the UDF's data folder, as the UDF's caller may
 * reach it (`fused.download`), to a file of its own that is read and removed.
 */
async function downloadThroughHost(url: string, max: number): Promise<Uint8Array> {
  const path = join(udfHost()!.folders.dataDir, ".fused-ingest", `${crypto.randomUUID()}.input`);
  try {
    await hostDownload(url, path);
    const size = (await Deno.stat(path)).size;
    if (size > max) throw new ValidationError(tooBig(url, size, max));
    return await Deno.readFile(path);
  } finally {
    await Deno.remove(path).catch(() => {});
  }
}

/** Downloads a URL into memory, refusing bodies above `max` bytes. */
async function download(url: string, max: number, signal?: AbortSignal): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await fetch(url, { signal });
  } catch (cause) {
    throw new FusedError(
      `Cannot download "${url}": ${(cause as Error).message}; check the URL and the network`,
      { cause },
    );
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new FusedError(
      `Cannot download "${url}": HTTP ${response.status} ${response.statusText}; check the URL`,
    );
  }
  const declared = Number(response.headers.get("content-length") ?? NaN);
  if (declared > max) {
    await response.body?.cancel();
    throw new ValidationError(tooBig(url, declared, max));
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of response.body ?? new ReadableStream<Uint8Array>()) {
    total += chunk.byteLength;
    if (total > max) throw new ValidationError(tooBig(url, total, max));
    chunks.push(chunk);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

function tooBig(url: string, size: number, max: number): string {
  return `Download of "${url}" is over ${max} bytes (${size}+): raise maxDownloadBytes or download the file first`;
}
