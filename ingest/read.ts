/**
 * Ingest inputs into one Arrow table with a WKB `geometry` column: local paths, folders, `fd://`
 * and `file://` URLs, http(s) URLs (downloaded, size-bounded), Arrow tables and GeoJSON objects.
 * Formats: GeoJSON, GeoParquet / Parquet (WKB column, or longitude/latitude columns), CSV/TSV
 * (longitude/latitude or WKT columns), zipped or loose Shapefiles (npm `shapefile`) and
 * FlatGeobuf (npm `flatgeobuf`).
 *
 * The format libraries are imported when a file of their format is read, so that importing
 * `fused` does not load them.
 *
 * Geometries must be longitude/latitude (WGS 84): a GeoParquet `crs`, a Shapefile `.prj` or a
 * FlatGeobuf header naming a projected CRS is refused with NotSupportedError rather than
 * partitioned in the wrong units.
 *
 * @module
 */

import * as arrow from "apache-arrow";
import { unzipSync } from "fflate";
import { basename, extname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import wkx from "wkx";
import { FusedError, NotSupportedError, ValidationError } from "../client/errors.ts";
import { resolveFdPath } from "../client/file_path.ts";
import {
  findGeometryColumn,
  type GeoJsonFeature,
  type GeoJsonFeatureCollection,
  geoMetadata,
  hasParquetMagic,
  parquetToTable,
  tableFromGeoJSON,
} from "../client/formats/mod.ts";

/** What {@linkcode readInput} accepts. */
export type IngestInput =
  | string
  | URL
  | readonly (string | URL)[]
  | arrow.Table
  | GeoJsonFeatureCollection
  | GeoJsonFeature;

/** File formats read by {@linkcode readInput}. */
export type InputFormat =
  | "geojson"
  | "parquet"
  | "csv"
  | "tsv"
  | "shapefile"
  | "zip"
  | "flatgeobuf";

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
const LON_NAMES = ["lon", "lng", "long", "longitude", "x"];
const LAT_NAMES = ["lat", "latitude", "y"];
const WKT_NAMES = ["geometry", "wkt", "geom", "the_geom"];
const SIDECARS = new Set([".dbf", ".shx", ".prj", ".cpg", ".sbn", ".sbx", ".qix", ".xml"]);
const EXTENSIONS: Record<string, InputFormat> = {
  ".geojson": "geojson",
  ".json": "geojson",
  ".parquet": "parquet",
  ".geoparquet": "parquet",
  ".pq": "parquet",
  ".csv": "csv",
  ".tsv": "tsv",
  ".shp": "shapefile",
  ".zip": "zip",
  ".fgb": "flatgeobuf",
};

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

/** The format of a file by its name, or undefined when the extension is unknown. */
export function formatOfName(name: string): InputFormat | undefined {
  return EXTENSIONS[extname(name.replace(/[?#].*$/, "")).toLowerCase()];
}

/** The format of bytes by their magic numbers, or undefined. */
export function sniffFormat(bytes: Uint8Array): InputFormat | undefined {
  if (hasParquetMagic(bytes)) return "parquet";
  if (bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) {
    return "zip";
  }
  if (bytes[0] === 0x66 && bytes[1] === 0x67 && bytes[2] === 0x62) return "flatgeobuf";
  const head = new TextDecoder().decode(bytes.subarray(0, 64)).trimStart();
  if (head.startsWith("{")) return "geojson";
  return undefined;
}

function isGeoJsonObject(v: unknown): v is GeoJsonFeatureCollection | GeoJsonFeature {
  if (v === null || typeof v !== "object" || Array.isArray(v) || v instanceof URL) return false;
  const type = (v as { type?: unknown }).type;
  if (type === "FeatureCollection" || type === "Feature") return true;
  if (typeof type === "string") {
    throw new ValidationError(
      `Cannot ingest a GeoJSON ${type}: wrap geometries in a Feature or FeatureCollection`,
    );
  }
  return false;
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "list";
  return typeof v === "object" ? (v.constructor?.name ?? "object") : typeof v;
}

// ---------------------------------------------------------------------------------------------
// Sources

/** Turns a path or URL into local file paths (folders listed) or the URL itself. */
async function expand(item: string, suffix: string | null): Promise<string[]> {
  if (/^https?:\/\//i.test(item)) return [item];
  const path = localPath(item);
  let stat: Deno.FileInfo;
  try {
    stat = await Deno.stat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new ValidationError(
        `Input "${item}" does not exist (looked at ${path}): check the path`,
      );
    }
    throw err;
  }
  if (!stat.isDirectory) {
    if (suffix !== null && !path.endsWith(suffix)) {
      throw new ValidationError(
        `Input "${item}" does not end with fileSuffix "${suffix}": drop fileSuffix or give matching files`,
      );
    }
    return [path];
  }
  const files: string[] = [];
  await walk(path, files);
  files.sort();
  const stems = new Set(
    files.filter((f) => extname(f).toLowerCase() === ".shp").map((f) => f.slice(0, -4)),
  );
  const picked = files.filter((f) => {
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

async function walk(dir: string, out: string[]): Promise<void> {
  for await (const entry of Deno.readDir(dir)) {
    // Hidden files and "_"-files (_sample, _SUCCESS) are metadata, not data.
    if (entry.name.startsWith(".") || entry.name.startsWith("_")) continue;
    const full = join(dir, entry.name);
    if (entry.isDirectory) await walk(full, out);
    else if (entry.isFile) out.push(full);
  }
}

/** The local file path of a path, `file://` or `fd://` URL. */
export function localPath(item: string): string {
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

async function readSource(source: string, options: ReadInputOptions): Promise<Part> {
  const isUrl = /^https?:\/\//i.test(source);
  const bytes = isUrl
    ? await download(source, options.maxDownloadBytes ?? DEFAULT_MAX_DOWNLOAD_BYTES, options.signal)
    : await Deno.readFile(source);
  const name = isUrl ? new URL(source).pathname : source;
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
      if (isUrl) {
        throw new NotSupportedError(
          `Cannot read a loose .shp over http ("${source}"): zip the .shp, .dbf and .prj and give the .zip`,
        );
      }
      const stem = source.slice(0, -4);
      const sidecar = (ext: string): Promise<Uint8Array | undefined> =>
        Deno.readFile(stem + ext).catch(() =>
          Deno.readFile(stem + ext.toUpperCase()).catch(() => undefined)
        );
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

// ---------------------------------------------------------------------------------------------
// Formats

function parseGeoJson(bytes: Uint8Array, source: string): GeoJsonFeature[] {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch (cause) {
    throw new ValidationError(
      `Input "${source}" is not valid JSON (${(cause as Error).message}): give a GeoJSON file`,
      { cause },
    );
  }
  if (!isGeoJsonObject(value)) {
    throw new ValidationError(
      `Input "${source}" is JSON but not a GeoJSON Feature or FeatureCollection: give a GeoJSON file`,
    );
  }
  if (value.type === "Feature") return [value];
  if (!Array.isArray(value.features)) {
    throw new ValidationError(
      `Input "${source}" is a FeatureCollection without a "features" list: fix the file`,
    );
  }
  return value.features;
}

async function parseShapefile(
  files: { shp: Uint8Array; dbf?: Uint8Array; prj?: Uint8Array; cpg?: Uint8Array },
  source: string,
): Promise<GeoJsonFeature[]> {
  if (files.prj) {
    const prj = new TextDecoder().decode(files.prj);
    if (/^\s*PROJCS\[/i.test(prj)) {
      const name = /^\s*PROJCS\["([^"]*)"/i.exec(prj)?.[1] ?? "a projected CRS";
      throw new NotSupportedError(
        `Shapefile "${source}" is in ${name}; ingest works in longitude/latitude (EPSG:4326): reproject it first (e.g. ogr2ogr -t_srs EPSG:4326)`,
      );
    }
  }
  const encoding = files.cpg ? new TextDecoder().decode(files.cpg).trim() || undefined : undefined;
  const shapefile = await import("shapefile");
  try {
    const collection = await shapefile.read(
      files.shp,
      files.dbf,
      encoding ? { encoding } : undefined,
    );
    return collection.features as GeoJsonFeature[];
  } catch (cause) {
    throw new ValidationError(
      `Cannot read Shapefile "${source}": ${
        (cause as Error).message
      }; check the .shp and .dbf files`,
      { cause },
    );
  }
}

async function parseZip(bytes: Uint8Array, source: string): Promise<GeoJsonFeature[]> {
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(bytes);
  } catch (cause) {
    throw new ValidationError(`Cannot unzip "${source}": ${(cause as Error).message}`, { cause });
  }
  const names = Object.keys(entries).filter((n) => !n.startsWith("__MACOSX/"));
  const shps = names.filter((n) => n.toLowerCase().endsWith(".shp")).sort();
  if (shps.length === 0) {
    throw new NotSupportedError(
      `Zip "${source}" holds no .shp file (it has ${
        names.slice(0, 8).join(", ") || "nothing"
      }): zip a Shapefile (.shp, .dbf, .prj) or give the file unzipped`,
    );
  }
  const features: GeoJsonFeature[] = [];
  for (const shp of shps) {
    const stem = shp.slice(0, -4);
    const sidecar = (ext: string): Uint8Array | undefined => {
      const key = names.find((n) => n.toLowerCase() === (stem + ext).toLowerCase());
      return key === undefined ? undefined : entries[key];
    };
    const layer = await parseShapefile(
      { shp: entries[shp], dbf: sidecar(".dbf"), prj: sidecar(".prj"), cpg: sidecar(".cpg") },
      `${source}!${basename(shp)}`,
    );
    for (const f of layer) features.push(f);
  }
  return features;
}

async function parseFlatGeobuf(bytes: Uint8Array, source: string): Promise<GeoJsonFeature[]> {
  let crs: { code: number; org: string | null; name: string | null } | null = null;
  const features: GeoJsonFeature[] = [];
  const { geojson: flatgeobuf } = await import("flatgeobuf");
  try {
    for await (
      const f of flatgeobuf.deserialize(bytes, { headerMetaFn: (h) => (crs = h.crs) })
    ) features.push(f as unknown as GeoJsonFeature);
  } catch (cause) {
    throw new ValidationError(`Cannot read FlatGeobuf "${source}": ${(cause as Error).message}`, {
      cause,
    });
  }
  const c = crs as { code: number; org: string | null; name: string | null } | null;
  if (c && c.code !== 0 && c.code !== 4326 && (c.org ?? "EPSG").toUpperCase() === "EPSG") {
    throw new NotSupportedError(
      `FlatGeobuf "${source}" is in EPSG:${c.code}; ingest works in longitude/latitude (EPSG:4326): reproject it first`,
    );
  }
  return features;
}

/** Parses CSV/TSV text into a table: numeric columns as Int32/Float64, others as strings. */
async function parseDelimited(
  text: string,
  format: "csv" | "tsv",
  source: string,
): Promise<arrow.Table> {
  const dsv = await import("d3-dsv");
  const rows: string[][] = format === "csv" ? dsv.csvParseRows(text) : dsv.tsvParseRows(text);
  if (rows.length === 0) {
    throw new ValidationError(`Input "${source}" is empty: give a file with a header row`);
  }
  const header = rows[0];
  const n = rows.length - 1;
  const columns: Record<string, arrow.Vector> = {};
  header.forEach((name, c) => {
    const raw = new Array<string>(n);
    for (let r = 0; r < n; r++) raw[r] = rows[r + 1][c] ?? "";
    columns[name] = inferColumn(raw);
  });
  return new arrow.Table(columns);
}

function inferColumn(raw: string[]): arrow.Vector {
  let numeric = true;
  let integer = true;
  for (const s of raw) {
    if (s === "") continue;
    // Leading zeros ("00501") are codes, not numbers: keep the column as text.
    if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s.trim()) || /^[-+]?0\d/.test(s.trim())) {
      numeric = false;
      break;
    }
    const v = Number(s);
    if (!Number.isInteger(v) || v < -2147483648 || v > 2147483647) integer = false;
  }
  if (numeric) {
    const values = raw.map((s) => (s === "" ? null : Number(s)));
    return arrow.vectorFromArray(values, integer ? new arrow.Int32() : new arrow.Float64());
  }
  return arrow.vectorFromArray(raw.map((s) => (s === "" ? null : s)), new arrow.Utf8());
}

// ---------------------------------------------------------------------------------------------
// Geometry

/** Returns the table with a WKB `geometry` column and no schema metadata. */
function withGeometry(
  table: arrow.Table,
  source: string,
  lonlat: readonly [string, string] | null,
): arrow.Table {
  const names = table.schema.fields.map((f) => f.name);
  if (lonlat) {
    for (const name of lonlat) {
      if (!names.includes(name)) {
        throw new ValidationError(
          `lonlatCols names "${name}" but "${source}" has no such column: its columns are ${
            names.join(", ")
          }`,
        );
      }
    }
    return pointsFrom(table, lonlat[0], lonlat[1]);
  }
  const geom = findGeometryColumn(table);
  if (geom !== undefined) {
    checkCrs(table, geom, source);
    const plain = stripMetadata(table);
    return replaceColumn(
      plain,
      geom,
      "geometry",
      plain.schema.fields.findIndex((f) => f.name === geom),
    );
  }
  const lon = names.find((n) => LON_NAMES.includes(n.toLowerCase()));
  const lat = names.find((n) => LAT_NAMES.includes(n.toLowerCase()));
  if (lon !== undefined && lat !== undefined) return pointsFrom(table, lon, lat);
  const wkt = names.find((n) =>
    WKT_NAMES.includes(n.toLowerCase()) && arrow.DataType.isUtf8(table.getChild(n)!.type)
  );
  if (wkt !== undefined) {
    return replaceColumn(
      stripMetadata(table),
      wkt,
      "geometry",
      wkbFromWktColumn(table.getChild(wkt)!, source),
    );
  }
  throw new ValidationError(
    `"${source}" has no geometry column and no longitude/latitude columns (its columns are ${
      names.join(", ")
    }): pass lonlatCols: ["lon_column", "lat_column"], or add a WKB geometry column`,
  );
}

function checkCrs(table: arrow.Table, column: string, source: string): void {
  const meta = geoMetadata(table)?.columns?.[column];
  if (meta && meta.encoding && String(meta.encoding).toUpperCase() !== "WKB") {
    throw new NotSupportedError(
      `"${source}" stores geometry "${column}" as ${meta.encoding}; only WKB GeoParquet is read: rewrite it with WKB encoding`,
    );
  }
  const crs = meta?.crs as
    | { type?: string; name?: string; id?: { authority?: string; code?: unknown } }
    | null
    | undefined;
  if (crs === undefined || crs === null) return;
  const code = crs.id ? `${crs.id.authority}:${crs.id.code}` : undefined;
  const geographic = crs.type === "GeographicCRS" || code === "EPSG:4326" || code === "OGC:CRS84";
  if (!geographic) {
    throw new NotSupportedError(
      `"${source}" is in ${
        crs.name ?? code ?? "a projected CRS"
      }; ingest works in longitude/latitude (EPSG:4326): reproject it first`,
    );
  }
}

/** Builds WKB points from two numeric columns (null or NaN → null geometry). */
function pointsFrom(table: arrow.Table, lonName: string, latName: string): arrow.Table {
  const lon = numbers(table.getChild(lonName)!, lonName);
  const lat = numbers(table.getChild(latName)!, latName);
  const n = table.numRows;
  const valueOffsets = new Int32Array(n + 1);
  const valid = new Uint8Array((n + 7) >> 3);
  let count = 0;
  for (let i = 0; i < n; i++) {
    const ok = lon[i] === lon[i] && lat[i] === lat[i];
    if (ok) {
      valid[i >> 3] |= 1 << (i & 7);
      count++;
    }
    valueOffsets[i + 1] = count * 21;
  }
  const data = new Uint8Array(count * 21);
  const view = new DataView(data.buffer);
  for (let i = 0; i < n; i++) {
    const at = valueOffsets[i];
    if (valueOffsets[i + 1] === at) continue;
    view.setUint8(at, 1);
    view.setUint32(at + 1, 1, true);
    view.setFloat64(at + 5, lon[i], true);
    view.setFloat64(at + 13, lat[i], true);
  }
  const geometry = arrow.makeVector(
    arrow.makeData({
      type: new arrow.Binary(),
      length: n,
      nullCount: n - count,
      nullBitmap: count === n ? undefined : valid,
      valueOffsets,
      data,
    }),
  );
  return replaceColumn(stripMetadata(table), "geometry", "geometry", geometry);
}

function numbers(vector: arrow.Vector, name: string): Float64Array {
  const out = new Float64Array(vector.length);
  let i = 0;
  let bad: unknown = undefined;
  for (const v of vector) {
    const missing = v === null || v === undefined || v === "";
    const x = missing ? NaN : Number(v);
    // A NaN number is a missing coordinate; text that is not a number is an error.
    if (x !== x && !missing && typeof v !== "number" && bad === undefined) bad = v;
    out[i++] = x;
  }
  if (bad !== undefined) {
    throw new ValidationError(
      `Column "${name}" holds "${bad}", which is not a number: longitude/latitude columns must be numeric`,
    );
  }
  return out;
}

function wkbFromWktColumn(vector: arrow.Vector, source: string): arrow.Vector {
  const wkbs: (Uint8Array | null)[] = [];
  let row = 0;
  for (const text of vector) {
    if (text === null || text === "") wkbs.push(null);
    else {
      try {
        const buf = wkx.Geometry.parse(text as string).toWkb();
        wkbs.push(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
      } catch (cause) {
        throw new ValidationError(
          `Row ${row} of "${source}" has geometry text that is not WKT (${
            String(text).slice(0, 40)
          }): fix the row`,
          { cause },
        );
      }
    }
    row++;
  }
  return arrow.vectorFromArray(wkbs, new arrow.Binary());
}

// ---------------------------------------------------------------------------------------------
// Tables

/** The table without schema metadata (input `geo`, pandas or Arrow schema entries). */
function stripMetadata(table: arrow.Table): arrow.Table {
  if (table.schema.metadata.size === 0) return table;
  const fields = table.schema.fields.map((f) => f.clone({ metadata: new Map() }));
  return rebuild(table, fields, table.schema.fields.map((_, i) => i), new Map());
}

/** Builds a table of the given fields, taking column `sources[i]` of each batch for field i. */
function rebuild(
  table: arrow.Table,
  fields: arrow.Field[],
  sources: (number | arrow.Vector)[],
  metadata: Map<string, string>,
): arrow.Table {
  const schema = new arrow.Schema(fields, metadata);
  let row = 0;
  const batches = table.batches.map((batch) => {
    const children = sources.map((s) =>
      typeof s === "number" ? batch.data.children[s] : sliceData(s, row, batch.numRows)
    );
    row += batch.numRows;
    const data = arrow.makeData({
      type: new arrow.Struct(fields),
      length: batch.numRows,
      nullCount: 0,
      children,
    });
    return new arrow.RecordBatch(schema, data);
  });
  if (batches.length === 0) return new arrow.Table(schema);
  return new arrow.Table(batches);
}

function sliceData(vector: arrow.Vector, start: number, length: number): arrow.Data {
  // New columns are built as one piece; join any others first so one slice serves each batch.
  const whole = vector.data.length === 1 ? vector : arrow.vectorFromArray([...vector], vector.type);
  return whole.data[0].slice(start, length);
}

/**
 * Replaces (or appends) column `name` with a column of the table (by index) or a new vector,
 * under the name `as`, last in the schema.
 */
function replaceColumn(
  table: arrow.Table,
  name: string,
  as: string,
  column: number | arrow.Vector,
): arrow.Table {
  const keep = table.schema.fields.map((f, i) => [f, i] as const).filter(([f]) =>
    f.name !== name && f.name !== as
  );
  const type = typeof column === "number" ? table.schema.fields[column].type : column.type;
  const fields = [...keep.map(([f]) => f), new arrow.Field(as, type, true)];
  return rebuild(table, fields, [...keep.map(([, i]) => i), column], new Map());
}

function concatTables(tables: { source: string; table: arrow.Table }[]): arrow.Table {
  const first = tables[0];
  if (tables.length === 1) return first.table;
  const signature = (t: arrow.Table): string =>
    t.schema.fields.map((f) => `${f.name}: ${f.type}`).join(", ");
  const want = signature(first.table);
  const batches: arrow.RecordBatch[] = [];
  for (const { source, table } of tables) {
    if (signature(table) !== want) {
      throw new ValidationError(
        `"${source}" has columns (${
          signature(table)
        }) that differ from "${first.source}" (${want}): ingest files with the same columns together`,
      );
    }
    for (const b of table.batches) batches.push(new arrow.RecordBatch(first.table.schema, b.data));
  }
  return new arrow.Table(first.table.schema, batches);
}

function selectColumns(
  table: arrow.Table,
  load: readonly string[] | null,
  remove: readonly string[] | null,
  geometry: string | null,
): arrow.Table {
  const names = table.schema.fields.map((f) => f.name);
  for (const [option, list] of [["loadColumns", load], ["removeCols", remove]] as const) {
    for (const name of list ?? []) {
      if (!names.includes(name)) {
        throw new ValidationError(
          `${option} names "${name}", which is not a column: the columns are ${names.join(", ")}`,
        );
      }
    }
  }
  if (load === null && (remove === null || remove.length === 0)) return table;
  if (geometry !== null && remove?.includes(geometry)) {
    throw new ValidationError(
      `removeCols cannot drop the geometry column "${geometry}": ingest needs it`,
    );
  }
  const keep = table.schema.fields.map((f, i) => [f, i] as const).filter(([f]) =>
    (load === null || load.includes(f.name) || f.name === geometry) &&
    !(remove ?? []).includes(f.name)
  );
  return rebuild(table, keep.map(([f]) => f), keep.map(([, i]) => i), new Map());
}
