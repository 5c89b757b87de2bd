/**
 * The tables of ingest inputs: a WKB `geometry` column built from what the input has (a
 * GeoParquet/WKB column, longitude/latitude columns, or a WKT column), schema metadata dropped,
 * inputs joined, columns selected.
 *
 * Geometries must be longitude/latitude (WGS 84): a GeoParquet `crs` naming a projected CRS is
 * refused with NotSupportedError rather than partitioned in the wrong units.
 *
 * @module
 */

import * as arrow from "apache-arrow";
import wkx from "wkx";
import { NotSupportedError, ValidationError } from "../client/errors.ts";
import { findGeometryColumn, geoMetadata } from "../client/formats/mod.ts";

const LON_NAMES = ["lon", "lng", "long", "longitude", "x"];
const LAT_NAMES = ["lat", "latitude", "y"];
const WKT_NAMES = ["geometry", "wkt", "geom", "the_geom"];

/** Returns the table with a WKB `geometry` column and no schema metadata. */
export function withGeometry(
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

/** The table without schema metadata (input `geo`, pandas or Arrow schema entries). */
export function stripMetadata(table: arrow.Table): arrow.Table {
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

export function concatTables(tables: { source: string; table: arrow.Table }[]): arrow.Table {
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

export function selectColumns(
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
