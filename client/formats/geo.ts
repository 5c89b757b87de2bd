/**
 * Geometry in tables: WKB columns with GeoParquet 1.1 `geo` schema metadata, conversions between
 * WKB, WKT and GeoJSON, and GeoJSON FeatureCollections to and from tables.
 *
 * WKB ⇄ GeoJSON/WKT goes through npm `wkx` (10 M weekly downloads, reads and writes ISO WKB and
 * EWKB, WKT and GeoJSON). `betterknown` reads and writes only WKT, and `@loaders.gl/wkt` pulls in
 * loaders.gl's schema/gis stack and a second apache-arrow; wkx needs Node's `Buffer`, which Deno
 * provides through `node:buffer`.
 *
 * @module
 */

import * as arrow from "apache-arrow";
import { Buffer } from "node:buffer";
import wkx from "wkx";
import { ValidationError } from "../errors.ts";
import { CorruptDataError } from "./errors.ts";
import { WkbSummary } from "./_wkb_scan.ts";
import { binaryVector, columnValues } from "./_columns.ts";

/** A GeoJSON geometry object (RFC 7946). */
export interface GeoJsonGeometry {
  /** "Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon" or "GeometryCollection". */
  type: string;
  /** Coordinates, for every type but GeometryCollection. */
  coordinates?: unknown;
  /** Members of a GeometryCollection. */
  geometries?: GeoJsonGeometry[];
}

/** A GeoJSON feature. */
export interface GeoJsonFeature {
  /** Always "Feature". */
  type: "Feature";
  /** The geometry, or null. */
  geometry: GeoJsonGeometry | null;
  /** Attributes, or null. */
  properties: Record<string, unknown> | null;
  /** Optional feature id. */
  id?: string | number;
}

/** A GeoJSON FeatureCollection. */
export interface GeoJsonFeatureCollection {
  /** Always "FeatureCollection". */
  type: "FeatureCollection";
  /** The features. */
  features: GeoJsonFeature[];
}

/** GeoParquet metadata of one geometry column. */
export interface GeoColumnMetadata {
  /** Always "WKB" here. */
  encoding: string;
  /** Geometry type names present, like "Polygon" or "Point Z". */
  geometry_types: string[];
  /** `[minx, miny, maxx, maxy]` over all geometries. */
  bbox?: number[];
  /** PROJJSON; absent means OGC:CRS84 (longitude/latitude on WGS 84). */
  crs?: unknown;
  /** Other GeoParquet keys (edges, orientation, covering, ...) are kept as found. */
  [key: string]: unknown;
}

/** The GeoParquet `geo` metadata of a table. */
export interface GeoMetadata {
  /** GeoParquet version, "1.1.0" when written here. */
  version: string;
  /** Name of the main geometry column. */
  primary_column: string;
  /** Metadata per geometry column. */
  columns: Record<string, GeoColumnMetadata>;
}

/** GeoParquet version written by this module. */
export const GEOPARQUET_VERSION = "1.1.0";

/** Column names taken as geometry when no `geo` metadata says otherwise. */
const GEOMETRY_NAMES = ["geometry", "geom"];

/**
 * Decodes WKB (ISO or EWKB) into a GeoJSON geometry.
 *
 * @example
 * ```ts
 * import { geometryFromWKB, wkbFromGeometry } from "./geo.ts";
 * const g = geometryFromWKB(wkbFromGeometry({ type: "Point", coordinates: [1, 2] }));
 * if (JSON.stringify(g) !== '{"type":"Point","coordinates":[1,2]}') throw new Error("unexpected");
 * ```
 */
export function geometryFromWKB(bytes: Uint8Array): GeoJsonGeometry {
  return parseWkb(bytes).toGeoJSON() as GeoJsonGeometry;
}

/** Encodes a GeoJSON geometry as little-endian ISO WKB. */
export function wkbFromGeometry(geometry: GeoJsonGeometry): Uint8Array {
  let buf: Buffer;
  try {
    buf = wkx.Geometry.parseGeoJSON(geometry).toWkb();
  } catch (cause) {
    throw new ValidationError(
      `Cannot encode ${JSON.stringify(geometry)?.slice(0, 80)} as WKB: ${
        (cause as Error).message
      }; pass a GeoJSON geometry object`,
      { cause },
    );
  }
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Decodes WKB into WKT text (for CSV output). */
export function wktFromWKB(bytes: Uint8Array): string {
  return parseWkb(bytes).toWkt();
}

function parseWkb(bytes: Uint8Array): wkx.Geometry {
  try {
    return wkx.Geometry.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (cause) {
    throw new CorruptDataError(
      `Cannot read a ${bytes.byteLength}-byte WKB geometry: ${
        (cause as Error).message
      }; the geometry column must hold valid WKB`,
      { cause },
    );
  }
}

/** True when a column type holds bytes (Binary, LargeBinary or BinaryView). */
function isBinaryType(type: arrow.DataType): boolean {
  return arrow.DataType.isBinary(type) || arrow.DataType.isLargeBinary(type) ||
    arrow.DataType.isBinaryView(type);
}

/**
 * Parses a table's `geo` schema metadata; undefined when it has none.
 *
 * @example
 * ```ts
 * import { geoMetadata, tableFromGeoJSON } from "./geo.ts";
 * const t = tableFromGeoJSON({ type: "FeatureCollection", features: [
 *   { type: "Feature", geometry: { type: "Point", coordinates: [1, 2] }, properties: { a: 1 } },
 * ] });
 * if (geoMetadata(t)?.primary_column !== "geometry") throw new Error("unexpected");
 * ```
 */
export function geoMetadata(table: arrow.Table): GeoMetadata | undefined {
  const text = table.schema.metadata.get("geo");
  if (text === undefined) return undefined;
  let parsed: GeoMetadata;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new CorruptDataError(
      `The table's "geo" metadata is not valid JSON (${
        (cause as Error).message
      }); rewrite the file with valid GeoParquet metadata`,
      { cause },
    );
  }
  if (
    parsed === null || typeof parsed !== "object" || typeof parsed.primary_column !== "string" ||
    typeof parsed.columns !== "object"
  ) {
    throw new CorruptDataError(
      `The table's "geo" metadata lacks "primary_column" or "columns"; rewrite the file with valid GeoParquet metadata`,
    );
  }
  return parsed;
}

/**
 * Finds the geometry column of a table: the `geo` metadata's primary column, else a Binary column
 * named geometry or geom; undefined when there is none.
 */
export function findGeometryColumn(table: arrow.Table): string | undefined {
  const meta = geoMetadata(table);
  if (meta && table.schema.fields.some((f) => f.name === meta.primary_column)) {
    return meta.primary_column;
  }
  for (const name of GEOMETRY_NAMES) {
    const field = table.schema.fields.find((f) => f.name.toLowerCase() === name);
    if (field && isBinaryType(field.type)) return field.name;
  }
  return undefined;
}

/**
 * Computes GeoParquet 1.1 metadata (types, bbox; crs omitted, meaning longitude/latitude) for a
 * WKB column of a table.
 */
export function computeGeoMetadata(table: arrow.Table, column: string): GeoMetadata {
  const field = table.schema.fields.find((f) => f.name === column);
  if (!field) {
    throw new ValidationError(
      `The table has no column "${column}" to use as geometry: its columns are ${
        table.schema.fields.map((f) => f.name).join(", ")
      }`,
    );
  }
  if (!isBinaryType(field.type)) {
    throw new ValidationError(
      `Column "${column}" is ${field.type} but a geometry column must hold WKB bytes (Binary): convert geometries with wkbFromGeometry`,
    );
  }
  const summary = new WkbSummary();
  const vector = table.getChild(column)!;
  for (const value of vector) {
    if (value) summary.add(value as Uint8Array);
  }
  const meta: GeoColumnMetadata = {
    encoding: "WKB",
    geometry_types: [...summary.types].sort(),
  };
  if (summary.hasBbox) meta.bbox = [...summary.bbox];
  return { version: GEOPARQUET_VERSION, primary_column: column, columns: { [column]: meta } };
}

/** Returns a table with the same columns and its schema metadata replaced (no data copied). */
export function withSchemaMetadata(
  table: arrow.Table,
  metadata: Map<string, string>,
): arrow.Table {
  const schema = new arrow.Schema(table.schema.fields, metadata, table.schema.dictionaries);
  const batches = table.batches.map((b) => new arrow.RecordBatch(schema, b.data));
  return new arrow.Table(schema, batches);
}

/**
 * Returns the table with GeoParquet `geo` metadata for `column` (the auto-detected geometry column
 * by default); the table itself when it already has `geo` metadata or no geometry column.
 */
export function withGeoMetadata(table: arrow.Table, column?: string): arrow.Table {
  if (column === undefined) {
    if (table.schema.metadata.has("geo")) return table;
    column = findGeometryColumn(table);
    if (column === undefined) return table;
  }
  const meta = new Map(table.schema.metadata);
  meta.set("geo", JSON.stringify(computeGeoMetadata(table, column)));
  return withSchemaMetadata(table, meta);
}

/**
 * Builds a table from a GeoJSON FeatureCollection: one column per property (Int32, Float64, Bool
 * or Utf8, objects as JSON text), a WKB `geometry` column and `geo` metadata with types and bbox.
 *
 * @example
 * ```ts
 * import { tableFromGeoJSON } from "./geo.ts";
 * const t = tableFromGeoJSON({ type: "FeatureCollection", features: [
 *   { type: "Feature", geometry: { type: "Point", coordinates: [1, 2] }, properties: { name: "a" } },
 * ] });
 * if (t.numRows !== 1 || t.getChild("name")?.get(0) !== "a") throw new Error("unexpected");
 * ```
 */
export function tableFromGeoJSON(collection: GeoJsonFeatureCollection): arrow.Table {
  if (
    collection === null || typeof collection !== "object" ||
    collection.type !== "FeatureCollection" || !Array.isArray(collection.features)
  ) {
    throw new ValidationError(
      `Expected a GeoJSON FeatureCollection ({"type": "FeatureCollection", "features": [...]}) but got ${
        JSON.stringify(collection)?.slice(0, 80)
      }`,
    );
  }
  const features = collection.features;
  const n = features.length;
  const columns = new Map<string, unknown[]>();
  const wkbs: (Uint8Array | null)[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const f = features[i];
    if (f === null || typeof f !== "object" || f.type !== "Feature") {
      throw new ValidationError(`Feature ${i} is not a GeoJSON Feature object`);
    }
    wkbs[i] = f.geometry ? wkbFromGeometry(f.geometry) : null;
    for (const [key, value] of Object.entries(f.properties ?? {})) {
      let values = columns.get(key);
      if (!values) columns.set(key, values = new Array(n).fill(null));
      values[i] = value;
    }
  }
  if (columns.has("geometry")) {
    throw new ValidationError(
      `A feature property is named "geometry", which clashes with the geometry column: rename the property`,
    );
  }
  const vectors: Record<string, arrow.Vector> = {};
  for (const [key, values] of columns) vectors[key] = propertyVector(values);
  vectors.geometry = binaryVector(wkbs);
  return withGeoMetadata(new arrow.Table(vectors), "geometry");
}

/**
 * The FeatureCollection of a GeoJSON object: a collection as is, a Feature or a bare geometry as
 * a collection of one feature.
 *
 * @example
 * ```ts
 * import { featureCollectionOf } from "./geo.ts";
 * const fc = featureCollectionOf({ type: "Point", coordinates: [1, 2] });
 * if (fc.features.length !== 1 || fc.features[0].geometry?.type !== "Point") throw new Error();
 * ```
 */
export function featureCollectionOf(
  value: GeoJsonFeatureCollection | GeoJsonFeature | GeoJsonGeometry,
): GeoJsonFeatureCollection {
  if (value.type === "FeatureCollection") return value as GeoJsonFeatureCollection;
  if (value.type === "Feature") {
    return { type: "FeatureCollection", features: [value as GeoJsonFeature] };
  }
  return {
    type: "FeatureCollection",
    features: [{ type: "Feature", geometry: value as GeoJsonGeometry, properties: {} }],
  };
}

/** Picks the narrowest Arrow type that holds every value of a property. */
function propertyVector(values: unknown[]): arrow.Vector {
  let kinds = 0; // bit flags: 1 integer, 2 float, 4 string, 8 boolean, 16 other
  let nulls = 0;
  for (const v of values) {
    if (v === null || v === undefined) nulls++;
    else if (typeof v === "number") {
      kinds |= Number.isInteger(v) && v >= -2147483648 && v <= 2147483647 ? 1 : 2;
    } else if (typeof v === "string") kinds |= 4;
    else if (typeof v === "boolean") kinds |= 8;
    else kinds |= 16;
  }
  if ((kinds === 1 || kinds === 3 || kinds === 2) && nulls === 0) {
    // No nulls: hand the typed array to Arrow as is, no per-value builder.
    return arrow.makeVector(
      kinds === 1 ? Int32Array.from(values as number[]) : Float64Array.from(values as number[]),
    );
  }
  if (kinds === 1) return arrow.vectorFromArray(values, new arrow.Int32());
  if (kinds === 2 || kinds === 3) return arrow.vectorFromArray(values, new arrow.Float64());
  if (kinds === 8) return arrow.vectorFromArray(values, new arrow.Bool());
  const strings = kinds === 4
    ? values
    : values.map((v) =>
      v === null || v === undefined ? null : typeof v === "string" ? v : JSON.stringify(v)
    );
  return arrow.vectorFromArray(strings, new arrow.Utf8());
}

/**
 * Converts a table with a WKB geometry column into a GeoJSON FeatureCollection (the other
 * columns become properties).
 */
export function tableToGeoJSON(table: arrow.Table): GeoJsonFeatureCollection {
  const geomName = findGeometryColumn(table);
  if (geomName === undefined) {
    throw new ValidationError(
      `The table has no geometry column: add a WKB (Binary) column named "geometry" or GeoParquet "geo" metadata`,
    );
  }
  const names = table.schema.fields.map((f) => f.name).filter((n) => n !== geomName);
  const cols = names.map((n) => columnValues(table.getChild(n)!));
  const geoms = columnValues(table.getChild(geomName)!);
  const features: GeoJsonFeature[] = new Array(table.numRows);
  for (let i = 0; i < table.numRows; i++) {
    const properties: Record<string, unknown> = {};
    for (let c = 0; c < names.length; c++) properties[names[c]] = jsonSafe(cols[c][i]);
    const g = geoms[i] as Uint8Array | null;
    features[i] = { type: "Feature", geometry: g ? geometryFromWKB(g) : null, properties };
  }
  return { type: "FeatureCollection", features };
}

/**
 * Converts a table into row objects for JSON output; a geometry column becomes GeoJSON.
 */
export function tableToRows(table: arrow.Table): Record<string, unknown>[] {
  const geomName = findGeometryColumn(table);
  const names = table.schema.fields.map((f) => f.name);
  const cols = names.map((n) => columnValues(table.getChild(n)!));
  const rows: Record<string, unknown>[] = new Array(table.numRows);
  for (let i = 0; i < table.numRows; i++) {
    const row: Record<string, unknown> = {};
    for (let c = 0; c < names.length; c++) {
      const v = cols[c][i];
      row[names[c]] = names[c] === geomName && v ? geometryFromWKB(v as Uint8Array) : jsonSafe(v);
    }
    rows[i] = row;
  }
  return rows;
}

/** Makes one Arrow cell JSON-safe: bytes to base64, nested vectors and structs to plain values. */
function jsonSafe(v: unknown): unknown {
  if (v instanceof Uint8Array) {
    return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64");
  }
  if (v instanceof arrow.Vector) return v.toJSON();
  if (v !== null && typeof v === "object" && "toJSON" in v) {
    return (v as { toJSON(): unknown }).toJSON();
  }
  return v;
}
