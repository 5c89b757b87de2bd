/**
 * One encoder and one decoder of UDF results, used by the engine, the server and the client alike,
 * with Fused's content types (fused-wire §1.6 and §10) so that Fused's own clients read our bodies.
 *
 * Codec modules are imported on first use: a server answering JSON never loads parquet-wasm
 * (~30 ms) or geotiff (~15–50 ms).
 *
 * @module
 */

import { NotSupportedError, ValidationError } from "../errors.ts";
import { CorruptDataError } from "./errors.ts";
import { type Bounds, checkBounds, type Raster, type ShapedArray, toRaster } from "./raster.ts";
import {
  classifyResult,
  isGeoJson,
  type MultiOutput,
  type ResultKind,
  type UdfResult,
} from "./types.ts";
import type { Table } from "apache-arrow";
import type { GeoJsonFeatureCollection } from "./geo.ts";
import type { TableToParquetOptions } from "./parquet.ts";
import type { RasterToPngOptions } from "./png.ts";

/** Formats {@linkcode encodeResult} can write. */
export type ResultFormat =
  | "parquet"
  | "arrow"
  | "json"
  | "geojson"
  | "csv"
  | "html"
  | "png"
  | "tiff"
  | "npy"
  | "zip";

/** Content types used on the wire. */
export const CONTENT_TYPES = {
  /** Parquet: Fused sends (and its client expects) application/octet-stream for tables. */
  parquet: "application/octet-stream",
  /** Arrow IPC stream. */
  arrow: "application/vnd.apache.arrow.stream",
  /** JSON values. */
  json: "application/json",
  /** GeoJSON FeatureCollection of a geo table. */
  geojson: "application/geo+json",
  /** CSV of a table. */
  csv: "text/csv; charset=utf-8",
  /** A string that looks like HTML. */
  html: "text/html; charset=utf-8",
  /** Any other string. */
  text: "text/plain; charset=utf-8",
  /** PNG image of a raster. */
  png: "image/png",
  /** Numpy array of a raster (Fused's default raster format). */
  npy: "application/x-numpy-data",
  /** Several named results. */
  zip: "application/zip",
  /**
   * Raw bytes a UDF returned. Not application/octet-stream, which Fused's clients read as
   * Parquet; Fused's Python client cannot read this type (it tries Parquet), ours returns the bytes.
   */
  bytes: "application/x-fused-bytes",
} as const;

const EXTENSIONS: Record<keyof typeof CONTENT_TYPES, string> = {
  parquet: "parquet",
  arrow: "arrows",
  json: "json",
  geojson: "geojson",
  csv: "csv",
  html: "html",
  text: "txt",
  png: "png",
  npy: "npy",
  zip: "zip",
  bytes: "bin",
};

const FORMATS_BY_KIND: Record<ResultKind, ResultFormat[]> = {
  null: ["json"],
  table: ["parquet", "arrow", "csv", "geojson", "json"],
  raster: ["npy", "png", "tiff"],
  json: ["json"],
  string: ["html", "json"],
  bytes: [],
  multi: ["zip"],
};

/** Formats of a GeoJSON object: itself, or the geo table of its features. */
const GEOJSON_FORMATS: ResultFormat[] = ["json", "geojson", "parquet", "arrow", "csv"];

/** Side information of an encoded result, for Fused's `x-fused-metadata` header. */
export interface ResultMetadata {
  /** Bounds of a raster, `[west, south, east, north]`. */
  bounds?: Bounds;
}

/** An encoded result: the body and how to label it. */
export interface EncodedResult {
  /** The body. */
  bytes: Uint8Array;
  /** Value of the Content-Type header. */
  contentType: string;
  /** File name extension without the dot ("parquet", "npy", ...). */
  extension: string;
  /** Side information (raster bounds) the body format cannot hold. */
  metadata?: ResultMetadata;
}

/** Options of {@linkcode encodeResult}. */
export interface EncodeResultOptions {
  /** Output format; by default chosen from the value (table → parquet, raster → npy, ...). */
  format?: ResultFormat;
  /** Options for Parquet output. */
  parquet?: TableToParquetOptions;
  /** Options for PNG output. */
  png?: RasterToPngOptions;
}

/** Options of {@linkcode decodeResult}. */
export interface DecodeResultOptions {
  /** The parsed `x-fused-metadata` of the response; its `bounds` georeference a raster. */
  metadata?: { bounds?: unknown };
}

const encoder = new TextEncoder();

/** True when a string looks like an HTML document or fragment. */
function looksLikeHtml(s: string): boolean {
  return /^\s*<(!doctype\s+html|[a-z][a-z0-9-]*)[\s>/]/i.test(s) && /<\/?[a-z][^>]*>\s*$/i.test(s);
}

/**
 * Encodes a UDF result for HTTP, a file or the cache: table → Parquet, raster → npy (bounds in
 * `metadata`), JSON → JSON, string → HTML or plain text, bytes → bytes, record of results → zip,
 * null → empty body. `format` picks another format.
 *
 * @example
 * ```ts
 * import { decodeResult, encodeResult } from "./result.ts";
 * const { bytes, contentType } = await encodeResult({ answer: 42 });
 * const back = await decodeResult(bytes, contentType) as { answer: number };
 * if (contentType !== "application/json" || back.answer !== 42) throw new Error("unexpected");
 * ```
 */
export async function encodeResult(
  value: unknown,
  options: EncodeResultOptions = {},
): Promise<EncodedResult> {
  const kind = classifyResult(value);
  const format = options.format;
  const geo = kind === "json" && isGeoJson(value);
  const allowed = geo ? GEOJSON_FORMATS : FORMATS_BY_KIND[kind];
  if (format !== undefined && !allowed.includes(format)) {
    throw new ValidationError(
      `Cannot encode a ${geo ? "GeoJSON" : kind} result as "${format}": ${
        allowed.length
          ? `use ${allowed.map((f) => `"${f}"`).join(", ")}`
          : "it is sent as is, without a format"
      }`,
    );
  }
  switch (kind) {
    case "null":
      return format === "json"
        ? text("null", "json")
        : { ...labels("bytes"), bytes: new Uint8Array(0) };
    case "string":
      if (format === "json") return text(JSON.stringify(value), "json");
      return text(
        value as string,
        format === "html" || looksLikeHtml(value as string) ? "html" : "text",
      );
    case "json":
      if (geo && format !== undefined && format !== "json") {
        return await encodeGeoJson(value as GeoJsonFeatureCollection, format, options);
      }
      return text(JSON.stringify(value) ?? "null", "json");
    case "bytes":
      return { ...labels("bytes"), bytes: value as Uint8Array };
    case "table":
      return await encodeTable(value as Table, format ?? "parquet", options);
    case "raster":
      return await encodeRaster(toRaster(value as Raster | ShapedArray), format ?? "npy", options);
    case "multi":
      return { ...labels("zip"), bytes: await multiOutputToZip(value as MultiOutput) };
  }
}

function labels(key: keyof typeof CONTENT_TYPES): { contentType: string; extension: string } {
  return { contentType: CONTENT_TYPES[key], extension: EXTENSIONS[key] };
}

function text(s: string, key: keyof typeof CONTENT_TYPES): EncodedResult {
  return { ...labels(key), bytes: encoder.encode(s) };
}

/** A GeoJSON object as GeoJSON (a FeatureCollection) or as the geo table of its features. */
async function encodeGeoJson(
  value: GeoJsonFeatureCollection,
  format: ResultFormat,
  options: EncodeResultOptions,
): Promise<EncodedResult> {
  const { featureCollectionOf, tableFromGeoJSON } = await import("./geo.ts");
  const collection = featureCollectionOf(value);
  if (format === "geojson") return text(JSON.stringify(collection), "geojson");
  return await encodeTable(tableFromGeoJSON(collection), format, options);
}

async function encodeTable(
  table: Table,
  format: ResultFormat,
  options: EncodeResultOptions,
): Promise<EncodedResult> {
  switch (format) {
    case "parquet": {
      const { tableToParquet } = await import("./parquet.ts");
      return { ...labels("parquet"), bytes: tableToParquet(table, options.parquet) };
    }
    case "arrow": {
      const { tableToIPC } = await import("./arrow.ts");
      return { ...labels("arrow"), bytes: tableToIPC(table) };
    }
    case "csv": {
      const { tableToCSV } = await import("./csv.ts");
      return text(tableToCSV(table), "csv");
    }
    case "geojson": {
      const { tableToGeoJSON } = await import("./geo.ts");
      return text(JSON.stringify(tableToGeoJSON(table)), "geojson");
    }
    default: {
      const { tableToRows } = await import("./geo.ts");
      return text(JSON.stringify(tableToRows(table)), "json");
    }
  }
}

async function encodeRaster(
  raster: Raster,
  format: ResultFormat,
  options: EncodeResultOptions,
): Promise<EncodedResult> {
  const metadata: ResultMetadata | undefined = raster.bounds
    ? { bounds: raster.bounds }
    : undefined;
  if (format === "tiff") {
    throw new NotSupportedError(
      'Writing GeoTIFF is not supported (geotiff.js\'s writer is too slow for serving): use format "npy" (default, bounds go in metadata) or "png"',
    );
  }
  if (format === "png") {
    const { rasterToPNG } = await import("./png.ts");
    return { ...labels("png"), bytes: rasterToPNG(raster, options.png), metadata };
  }
  const { rasterToNpy } = await import("./npy.ts");
  return { ...labels("npy"), bytes: rasterToNpy(raster), metadata };
}

/**
 * Decodes a body by its content type exactly as Fused's client does (empty → null, image/png and
 * image/tiff and application/x-numpy-data → Raster, application/json → JSON, text/* → string,
 * application/zip → MultiOutput, Arrow stream → Table, anything else → Parquet → Table), plus our
 * own application/geo+json → Table and application/x-fused-bytes → Uint8Array.
 */
export async function decodeResult(
  bytes: Uint8Array,
  contentType: string | null | undefined,
  options: DecodeResultOptions = {},
): Promise<UdfResult> {
  if (bytes.byteLength === 0) return null;
  const type = (contentType ?? "").split(";")[0].trim().toLowerCase();
  let bounds: Bounds | undefined;
  if (options.metadata?.bounds !== undefined && options.metadata.bounds !== null) {
    checkBounds(options.metadata.bounds);
    bounds = options.metadata.bounds;
  }
  switch (type) {
    case "image/png": {
      const { pngToRaster } = await import("./png.ts");
      return withBounds(pngToRaster(bytes), bounds);
    }
    case "image/tiff":
    case "image/tif": {
      const { geotiffToRaster } = await import("./tiff.ts");
      return withBounds(await geotiffToRaster(bytes), bounds);
    }
    case "application/x-numpy-data": {
      const { npyToRaster } = await import("./npy.ts");
      return withBounds(npyToRaster(bytes), bounds);
    }
    case "application/json":
      return parseJson(bytes, type) as UdfResult;
    case "application/geo+json": {
      const { tableFromGeoJSON } = await import("./geo.ts");
      return tableFromGeoJSON(parseJson(bytes, type) as never);
    }
    case "application/zip":
      return await zipToMultiOutput(bytes);
    case "application/vnd.apache.arrow.stream":
    case "application/vnd.apache.arrow.file": {
      const { ipcToTable } = await import("./arrow.ts");
      return ipcToTable(bytes);
    }
    case CONTENT_TYPES.bytes:
      return bytes;
  }
  if (type.startsWith("text/")) return new TextDecoder().decode(bytes);
  const { parquetToTable } = await import("./parquet.ts");
  return parquetToTable(bytes);
}

function withBounds(raster: Raster, bounds: Bounds | undefined): Raster {
  if (bounds && !raster.bounds) raster.bounds = bounds;
  return raster;
}

function parseJson(bytes: Uint8Array, type: string): unknown {
  const s = new TextDecoder().decode(bytes);
  try {
    return JSON.parse(s);
  } catch (cause) {
    throw new CorruptDataError(
      `The ${type} body is not valid JSON (${(cause as Error).message}): it starts with ${
        JSON.stringify(s.slice(0, 40))
      }`,
      { cause },
    );
  }
}

/** Content types whose bodies are already compressed, stored in a zip without deflate. */
const PRECOMPRESSED = new Set<string>([
  CONTENT_TYPES.parquet,
  CONTENT_TYPES.png,
  CONTENT_TYPES.zip,
]);

/**
 * Packs several named results into one zip with Fused's `meta.json`
 * (`{"files": {"<name>": {"content_type": "..."}}}`); each file is the result encoded with its
 * default format. Raster bounds go in `meta.json` as `"metadata": {"bounds": [...]}`.
 */
export async function multiOutputToZip(record: MultiOutput): Promise<Uint8Array> {
  const { zipSync } = await import("fflate");
  const files: Record<string, [Uint8Array, { level: 0 | 6 }]> = {};
  const meta: { files: Record<string, { content_type: string; metadata?: ResultMetadata }> } = {
    files: {},
  };
  for (const [name, value] of Object.entries(record)) {
    if (name === "meta.json" || name === "") {
      throw new ValidationError(
        `A multi-output cannot have a result named "${name}": the name is reserved or empty, rename it`,
      );
    }
    const encoded = await encodeResult(value);
    files[name] = [encoded.bytes, { level: PRECOMPRESSED.has(encoded.contentType) ? 0 : 6 }];
    meta.files[name] = { content_type: encoded.contentType };
    if (encoded.metadata) meta.files[name].metadata = encoded.metadata;
  }
  files["meta.json"] = [encoder.encode(JSON.stringify(meta)), { level: 6 }];
  return zipSync(files);
}

/** Unpacks a zip written by {@linkcode multiOutputToZip} or by Fused into named results. */
export async function zipToMultiOutput(bytes: Uint8Array): Promise<MultiOutput> {
  const { unzipSync } = await import("fflate");
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(bytes);
  } catch (cause) {
    throw new CorruptDataError(
      `Cannot read ${bytes.byteLength} bytes as a zip: ${(cause as Error).message}`,
      { cause },
    );
  }
  const metaBytes = entries["meta.json"];
  if (!metaBytes) {
    throw new CorruptDataError(
      `The zip has no meta.json listing its results (it holds ${
        Object.keys(entries).join(", ") || "nothing"
      })`,
    );
  }
  const meta = parseJson(metaBytes, "meta.json") as {
    files?: Record<string, { content_type?: string; metadata?: { bounds?: unknown } }>;
  };
  if (
    meta === null || typeof meta !== "object" || typeof meta.files !== "object" ||
    meta.files === null
  ) {
    throw new CorruptDataError(`The zip's meta.json has no "files" object`);
  }
  const out: MultiOutput = {};
  for (const [name, info] of Object.entries(meta.files)) {
    const body = entries[name];
    if (body === undefined) {
      throw new CorruptDataError(
        `The zip's meta.json lists "${name}" but the zip has no such file`,
      );
    }
    out[name] = await decodeResult(body, info?.content_type, { metadata: info?.metadata });
  }
  return out;
}

/** True for a result that {@linkcode decodeResult} made from a zip (several named results). */
export function isMultiOutput(value: unknown): value is MultiOutput {
  return classifyResult(value) === "multi";
}
