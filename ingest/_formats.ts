/**
 * The file formats ingest reads, each parsed from its bytes: GeoJSON, Parquet (read by the
 * caller), CSV/TSV (longitude/latitude or WKT columns), zipped or loose Shapefiles (npm
 * `shapefile`) and FlatGeobuf (npm `flatgeobuf`). The format libraries are imported when a file
 * of their format is read, so that importing `fused` does not load them.
 *
 * Geometries must be longitude/latitude (WGS 84): a Shapefile `.prj` or a FlatGeobuf header
 * naming a projected CRS is refused with NotSupportedError rather than partitioned in the wrong
 * units.
 *
 * @module
 */

import * as arrow from "apache-arrow";
import { unzipSync } from "fflate";
import { basename, extname } from "node:path";
import { NotSupportedError, ValidationError } from "../client/errors.ts";
import {
  type GeoJsonFeature,
  type GeoJsonFeatureCollection,
  hasParquetMagic,
} from "../client/formats/mod.ts";

/** File formats read by {@linkcode readInput}. */
export type InputFormat =
  | "geojson"
  | "parquet"
  | "csv"
  | "tsv"
  | "shapefile"
  | "zip"
  | "flatgeobuf";

/** File name extensions and the formats they name. */
export const EXTENSIONS: Record<string, InputFormat> = {
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

export function isGeoJsonObject(v: unknown): v is GeoJsonFeatureCollection | GeoJsonFeature {
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

export function parseGeoJson(bytes: Uint8Array, source: string): GeoJsonFeature[] {
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

export async function parseShapefile(
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

export async function parseZip(bytes: Uint8Array, source: string): Promise<GeoJsonFeature[]> {
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

export async function parseFlatGeobuf(
  bytes: Uint8Array,
  source: string,
): Promise<GeoJsonFeature[]> {
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
export async function parseDelimited(
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
