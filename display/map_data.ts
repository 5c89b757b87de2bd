/**
 * What a map shows, prepared in Deno for the browser: points as compact binary (Float32 Web
 * Mercator offsets in byte planes plus a palette index, 9 bytes a point instead of 16+ for
 * Float64 lon/lat), lines and polygons as WKB in Arrow IPC, colours and legend, the fitted
 * bounds, a sample for the static image, and the cap: above it a spatial sample with a note.
 *
 * Also turns any geo result `map` accepts into GeoJSON features (`geoJsonOfResult`), which the
 * service's vector tiles use, so a tile UDF can return whatever a map can show.
 *
 * @module
 */

import * as arrow from "apache-arrow";
import { interpolateViridis, schemeTableau10 } from "d3-scale-chromatic";
import { tableToIPC } from "../client/formats/arrow.ts";
import {
  featureCollectionOf,
  findGeometryColumn,
  type GeoJsonFeatureCollection,
  type GeoJsonGeometry,
  geoMetadata,
  geometryFromWKB,
  tableFromGeoJSON,
  tableToGeoJSON,
  tableToRows,
  wkbFromGeometry,
} from "../client/formats/geo.ts";
import { isTable } from "../client/formats/types.ts";
import { ValidationError } from "../client/errors.ts";
import { cutAntimeridian, wkbCrossesAntimeridian } from "./_antimeridian.ts";
import { isGeoJson } from "./detect.ts";
import { escapeHtml, formatBytes, formatCount } from "./mime.ts";

/** A tile layer: an XYZ URL template, e.g. the embedded service's `/run/tiles/{z}/{x}/{y}`. */
export interface TileLayerOptions {
  /** URL template with `{z}`, `{x}` and `{y}`. */
  url: string;
  /** "raster" (PNG/JPEG tiles, the default) or "vector" (MVT). */
  type?: "raster" | "vector";
  /** Layer name inside vector tiles; "udf" by default. */
  sourceLayer?: string;
  /** Raster tile size in pixels; 256 by default. */
  tileSize?: number;
  /** Lowest zoom the source has tiles for; 0 by default. */
  minzoom?: number;
  /** Highest zoom the source has tiles for; 22 by default. */
  maxzoom?: number;
  /** Raster opacity 0–1; 1 by default. */
  opacity?: number;
  /** Area to fit the view to, `[west, south, east, north]`; the world by default. */
  bounds?: [number, number, number, number];
}

/** Options of {@linkcode map} and {@linkcode mapToMimeBundle}. */
export interface MapOptions {
  /** Column to colour features by: numbers get a viridis ramp, other values a palette. */
  color?: string;
  /** Colour of features when `color` is not given; "#e4572e" by default. */
  defaultColor?: string;
  /** Point radius in pixels; 4 below 10,000 points, 3 below 100,000, else 2. */
  pointRadius?: number;
  /** Geometry column; by default the `geo` metadata's primary column, else geometry/geom, else lon/lat columns. */
  geometry?: string;
  /** Largest embedded geometry in bytes (before compression); 50 MB by default. */
  maxBytes?: number;
  /** Most features embedded; above it a spatial sample is shown. 1,000,000 by default. */
  maxFeatures?: number;
  /** Largest embedded point attributes (for popups), in Arrow bytes; 2 MB by default. */
  maxAttributeBytes?: number;
  /**
   * Background: "offline" (Natural Earth land and borders, inlined; the default), "none", or a
   * MapLibre style (URL or object) the caller chooses, which may fetch from the network.
   */
  basemap?: "offline" | "none" | string | Record<string, unknown>;
  /** A tile layer drawn over the basemap (a tile UDF served by the embedded service). */
  tiles?: string | TileLayerOptions;
  /** Map height in pixels; 450 by default. */
  height?: number;
  /** Whether to draw the static fallback image (PNG); true by default. */
  fallback?: boolean;
  /** Keep the WebGL drawing buffer (for pixel reads in tests); false by default. */
  preserveDrawingBuffer?: boolean;
}

/**
 * Points as the browser's WebGL layer reads them, uncompressed. Web Mercator x and y are
 * quantised to 24 bits over `box` (0.27 m over all of Europe, a millimetre over a city), the
 * points sorted by y so y travels as small deltas; each 24-bit column is split into 3 byte
 * planes, then one palette index per point follows. On 1 M random points over Europe this
 * gzips to about 4.6 MB, against 7.8 MB for byte-split Float32 and 14 MB for Float64.
 */
export interface PointPayload {
  /** Points. */
  count: number;
  /** Web Mercator `[x0, y0, x1, y1]` (0–1) the 24-bit values span. */
  box: [number, number, number, number];
  /** CSS hex colours the indices point into (at most 256). */
  palette: string[];
  /** `count × 7` bytes: x planes, y-delta planes, colour indices. */
  bytes: Uint8Array;
  /** Arrow IPC of the attribute columns (popups), when within the attribute budget. */
  attributes?: Uint8Array;
}

/** What a map shows, prepared for the browser; exported for tests and the kernel's comm. */
export interface PreparedMap {
  /** The points, as binary. */
  points?: PointPayload;
  /** Arrow IPC of lines and polygons: `__wkb`, `__color` (CSS hex) and attributes. */
  shapes?: Uint8Array;
  /** `[west, south, east, north]` to fit the view to. */
  bounds: [number, number, number, number];
  /** Features in the input. */
  totalFeatures: number;
  /** Features embedded. */
  embeddedFeatures: number;
  /** Points embedded. */
  pointCount: number;
  /** Lines and polygons embedded. */
  shapeCount: number;
  /** Legend HTML, when colouring by a column. */
  legend?: string;
  /** The note shown when data was cut. */
  note?: string;
  /** Shown in point popups when the attributes were left out. */
  popupNote?: string;
  /** A sample of geometries for the static SVG (GeoJSON), at most a few thousand. */
  sample: { points: [number, number, string][]; shapes: [GeoJsonGeometry, string][] };
  /** The resolved tile layer. */
  tiles?: Required<Omit<TileLayerOptions, "bounds">>;
}

const DEFAULT_COLOR = "#e4572e";
const OTHER_COLOR = "#9e9e9e";
const SVG_POINTS = 5000;
/** Largest grid of the spatial sample (cells per side over the points' bounds). */
const SAMPLE_GRID = 512;
const SVG_SHAPES = 2000;
const WORLD: [number, number, number, number] = [-180, -60, 180, 75];

export { isGeoJson };

/** True for a string that looks like an XYZ tile URL template. */
export function isTileTemplate(value: unknown): value is string {
  return typeof value === "string" && /\{z\}/.test(value) && /\{x\}/.test(value) &&
    /\{y\}/.test(value);
}

/** True for a table a map can show: a WKB geometry column or lon/lat columns. */
export function isGeoTable(value: unknown): value is arrow.Table {
  if (!isTable(value)) return false;
  try {
    return findGeometryColumn(value) !== undefined || lonLatColumns(value) !== undefined;
  } catch {
    return false;
  }
}

function lonLatColumns(table: arrow.Table): [string, string] | undefined {
  const numeric = table.schema.fields.filter((f) =>
    arrow.DataType.isFloat(f.type) || arrow.DataType.isInt(f.type)
  ).map((f) => f.name);
  const find = (names: string[]) => numeric.find((n) => names.includes(n.toLowerCase()));
  const lon = find(["lon", "lng", "long", "longitude", "x"]);
  const lat = find(["lat", "latitude", "y"]);
  return lon && lat ? [lon, lat] : undefined;
}

/** Bytes held by a column's buffers (the data itself, not the whole IPC). */
function columnBytes(vector: arrow.Vector): number {
  let n = 0;
  for (const d of vector.data) {
    n += d.values?.byteLength ?? 0;
    n += d.valueOffsets?.byteLength ?? 0;
    n += d.nullBitmap?.byteLength ?? 0;
    for (const child of d.children ?? []) n += child.values?.byteLength ?? 0;
  }
  return n;
}

/**
 * Scans WKB values for points, returning lon/lat for each point row and the indices of every
 * other row; reads the bytes in place (no geometry objects), so 1 M points take milliseconds.
 */
function scanWkb(vector: arrow.Vector, count: number): {
  x: Float64Array;
  y: Float64Array;
  pointRows: Int32Array;
  shapeRows: number[];
} {
  const x = new Float64Array(count);
  const y = new Float64Array(count);
  const pointRows = new Int32Array(count);
  const shapeRows: number[] = [];
  let np = 0;
  let row = 0;
  for (const d of vector.data) {
    if (row >= count) break;
    const offsets = d.valueOffsets as Int32Array;
    const values = d.values as Uint8Array;
    const dv = new DataView(values.buffer, values.byteOffset, values.byteLength);
    for (let i = 0; i < d.length && row < count; i++, row++) {
      if (d.nullCount > 0 && !d.getValid(i)) continue;
      const start = Number(offsets[i]);
      const end = Number(offsets[i + 1]);
      if (end - start < 5) continue;
      const le = values[start] === 1;
      const raw = dv.getUint32(start + 1, le);
      const type = (raw & 0xffff) % 1000;
      if (type === 1) {
        const at = start + 5 + (raw & 0x20000000 ? 4 : 0);
        if (at + 16 > end) continue;
        const lon = dv.getFloat64(at, le);
        const lat = dv.getFloat64(at + 8, le);
        if (Number.isNaN(lon) || Number.isNaN(lat)) continue; // POINT EMPTY
        x[np] = lon;
        y[np] = lat;
        pointRows[np++] = row;
      } else {
        shapeRows.push(row);
      }
    }
  }
  return {
    x: x.subarray(0, np),
    y: y.subarray(0, np),
    pointRows: pointRows.subarray(0, np),
    shapeRows,
  };
}

/** Colours of rows: an index per row into a list of CSS hex colours, plus a legend. */
interface ColorScale {
  /** Index into `colors` of each row, computed in one pass; absent when every row is 0. */
  byRow?: Uint8Array;
  /** CSS hex colours. */
  colors: string[];
  /** Legend HTML. */
  legend?: string;
}

/** Per-row colours for a column: a viridis ramp for numbers, a palette for other values. */
function colorScale(
  table: arrow.Table,
  column: string | undefined,
  count: number,
  fallback: string,
): ColorScale {
  if (column === undefined) return { colors: [hex(fallback)] };
  const vector = table.getChild(column);
  if (!vector) {
    throw new ValidationError(
      `Cannot colour by "${column}": the table has no such column (its columns are ${
        table.schema.fields.map((f) => f.name).join(", ")
      })`,
    );
  }
  const type = vector.type;
  if (
    arrow.DataType.isFloat(type) || arrow.DataType.isInt(type) || arrow.DataType.isDecimal(type)
  ) {
    // Typed arrays straight from Arrow when there are no nulls (1 M rows in a few ms).
    const direct = vector.nullCount === 0 && (arrow.DataType.isFloat(type) ||
        (arrow.DataType.isInt(type) && (type as arrow.Int).bitWidth < 64))
      ? vector.toArray() as ArrayLike<number>
      : undefined;
    const values = direct ?? Float64Array.from({ length: count }, (_, i) => {
      const raw = vector.get(i);
      return raw === null ? NaN : Number(raw);
    });
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < count; i++) {
      const v = values[i];
      if (v < min) min = v;
      if (v > max) max = v;
    }
    // 255 ramp steps and "other": a palette index fits one byte.
    const colors = Array.from({ length: 255 }, (_, i) => hex(interpolateViridis(i / 254)));
    colors.push(OTHER_COLOR);
    const scale = max > min ? 254 / (max - min) : 0;
    // One sequential pass: indexing rows later in another order (sorted points) was 5x slower.
    const byRow = new Uint8Array(count);
    for (let i = 0; i < count; i++) {
      const v = values[i];
      byRow[i] = Number.isFinite(v) ? Math.round((v - min) * scale) : 255;
    }
    const legend = min <= max
      ? `<div class="fused-legend"><b>${
        escapeHtml(column)
      }</b><div class="ramp" style="background:linear-gradient(to right,${
        [0, 64, 128, 192, 255].map((i) => colors[i]).join(",")
      })"></div><div class="ends"><span>${fmtNum(min)}</span><span>${
        fmtNum(max)
      }</span></div></div>`
      : undefined;
    return { byRow, colors, legend };
  }
  const counts = new Map<string, number>();
  const keys: (string | null)[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const raw = vector.get(i);
    const key = raw === null || raw === undefined ? null : String(raw);
    keys[i] = key;
    if (key !== null) counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const top = [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, schemeTableau10.length);
  const slot = new Map(top.map(([k], i) => [k, i]));
  const colors = [...schemeTableau10.slice(0, top.length), OTHER_COLOR];
  const byRow = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const k = keys[i];
    byRow[i] = (k !== null ? slot.get(k) : undefined) ?? top.length;
  }
  const items = top.map(([k], i) =>
    `<div><span class="sw" style="background:${colors[i]}"></span>${escapeHtml(k)}</div>`
  );
  if (counts.size > top.length) {
    items.push(
      `<div><span class="sw" style="background:${OTHER_COLOR}"></span>other (${
        counts.size - top.length
      })</div>`,
    );
  }
  return {
    byRow,
    colors,
    legend: `<div class="fused-legend"><b>${escapeHtml(column)}</b>${items.join("")}</div>`,
  };
}

function hex(color: string): string {
  if (color.startsWith("#")) return color;
  const m = color.match(/\d+/g) ?? ["0", "0", "0"];
  return "#" + m.slice(0, 3).map((v) => Number(v).toString(16).padStart(2, "0")).join("");
}

function fmtNum(n: number): string {
  return Math.abs(n) >= 1e6 || (Math.abs(n) < 1e-3 && n !== 0)
    ? n.toExponential(2)
    : String(+n.toPrecision(5));
}

/** Attribute columns that travel to the browser (bytes columns other than geometry stay behind). */
function attributeFields(table: arrow.Table, skip: string[]): arrow.Field[] {
  return table.schema.fields.filter((f) =>
    !skip.includes(f.name) && !arrow.DataType.isBinary(f.type) &&
    !arrow.DataType.isLargeBinary(f.type)
  );
}

/** Builds a column of the given rows of a vector (keeps its type). */
function gather(vector: arrow.Vector, rows: ArrayLike<number>): arrow.Vector {
  const values = new Array(rows.length);
  for (let i = 0; i < rows.length; i++) values[i] = vector.get(rows[i]);
  const type = arrow.DataType.isDictionary(vector.type) ? new arrow.Utf8() : vector.type;
  if (arrow.DataType.isDictionary(vector.type)) {
    for (let i = 0; i < values.length; i++) {
      values[i] = values[i] === null ? null : String(values[i]);
    }
  }
  return arrow.vectorFromArray(values, type);
}

function isIdentity(rows: ArrayLike<number>): boolean {
  for (let i = 0; i < rows.length; i++) if (rows[i] !== i) return false;
  return true;
}

function stride<T>(items: T[], max: number): T[] {
  if (items.length <= max) return items;
  const step = items.length / max;
  return Array.from({ length: max }, (_, i) => items[Math.floor(i * step)]);
}

/** Bounds over point coordinates, or undefined for none. */
function pointBounds(
  x: Float64Array,
  y: Float64Array,
): [number, number, number, number] | undefined {
  if (x.length === 0) return undefined;
  let w = Infinity, s = Infinity, e = -Infinity, n = -Infinity;
  for (let i = 0; i < x.length; i++) {
    if (x[i] < w) w = x[i];
    if (x[i] > e) e = x[i];
    if (y[i] < s) s = y[i];
    if (y[i] > n) n = y[i];
  }
  return [w, s, e, n];
}

function geometryBounds(geoms: GeoJsonGeometry[]): [number, number, number, number] | undefined {
  let w = Infinity, s = Infinity, e = -Infinity, n = -Infinity;
  const visit = (c: unknown): void => {
    if (!Array.isArray(c)) return;
    if (typeof c[0] === "number") {
      if (c[0] < w) w = c[0];
      if (c[0] > e) e = c[0];
      if (c[1] < s) s = c[1];
      if (c[1] > n) n = c[1];
      return;
    }
    for (const x of c) visit(x);
  };
  const walk = (g: GeoJsonGeometry): void => {
    if (g.type === "GeometryCollection") g.geometries?.forEach(walk);
    else visit(g.coordinates);
  };
  geoms.forEach(walk);
  return w <= e ? [w, s, e, n] : undefined;
}

function union(
  a: [number, number, number, number] | undefined,
  b: [number, number, number, number] | undefined,
): [number, number, number, number] | undefined {
  if (!a) return b;
  if (!b) return a;
  return [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[2], b[2]), Math.max(a[3], b[3])];
}

function resolveTiles(
  tiles: string | TileLayerOptions,
): Required<Omit<TileLayerOptions, "bounds">> {
  const t = typeof tiles === "string" ? { url: tiles } : tiles;
  if (!isTileTemplate(t.url)) {
    throw new ValidationError(
      `Tile URL "${t.url}" has no {z}, {x} and {y} placeholders: use a template such as http://127.0.0.1:8000/run/tiles/{z}/{x}/{y}.png`,
    );
  }
  return {
    url: t.url,
    type: t.type ?? (/\.(mvt|pbf)(\?|$)/.test(t.url) ? "vector" : "raster"),
    sourceLayer: t.sourceLayer ?? "udf",
    tileSize: t.tileSize ?? 256,
    minzoom: t.minzoom ?? 0,
    maxzoom: t.maxzoom ?? 22,
    opacity: t.opacity ?? 1,
  };
}

/**
 * Prepares what a map shows: the embedded Arrow IPC of points and shapes, colours, legend,
 * bounds, the cut note and a sample for the static image.
 */
export function prepareMap(value: unknown, options: MapOptions = {}): PreparedMap {
  const tiles = options.tiles !== undefined
    ? resolveTiles(options.tiles)
    : isTileTemplate(value)
    ? resolveTiles(value)
    : undefined;
  if (isTileTemplate(value) || value === undefined || value === null) {
    if (!tiles) {
      throw new ValidationError(
        "A map needs data: pass a geo table, GeoJSON or a tile URL template",
      );
    }
    const bounds = typeof options.tiles === "object" && options.tiles.bounds
      ? options.tiles.bounds
      : WORLD;
    return {
      bounds,
      totalFeatures: 0,
      embeddedFeatures: 0,
      pointCount: 0,
      shapeCount: 0,
      sample: { points: [], shapes: [] },
      tiles,
    };
  }
  let table: arrow.Table;
  if (isTable(value)) table = value;
  else if (isGeoJson(value)) {
    table = tableFromGeoJSON(featureCollectionOf(value as GeoJsonFeatureCollection));
  } else {
    throw new ValidationError(
      "Cannot show this value on a map: pass an Arrow table with a WKB geometry column (or lon/lat columns), GeoJSON, or a tile URL template",
    );
  }
  const geomName = options.geometry ?? findGeometryColumn(table);
  const lonLat = geomName === undefined ? lonLatColumns(table) : undefined;
  if (geomName === undefined && !lonLat) {
    throw new ValidationError(
      `The table has no geometry: add a WKB column named "geometry" (or GeoParquet "geo" metadata), lon/lat columns, or pass the geometry option (columns: ${
        table.schema.fields.map((f) => f.name).join(", ")
      })`,
    );
  }
  if (geomName !== undefined && !table.getChild(geomName)) {
    throw new ValidationError(`The table has no geometry column "${geomName}"`);
  }

  const total = table.numRows;
  let x: Float64Array, y: Float64Array, pointRows: Int32Array, shapeRows: number[];
  if (geomName !== undefined) {
    ({ x, y, pointRows, shapeRows } = scanWkb(table.getChild(geomName)!, total));
  } else {
    ({ x, y, pointRows } = lonLatPoints(table, lonLat!));
    shapeRows = [];
  }

  // The cap, by features and by geometry bytes: above it, a spatial sample of the points (dense
  // areas thinned, sparse ones kept) and an even stride over the shapes, never the first rows.
  const maxFeatures = options.maxFeatures ?? 1_000_000;
  const maxBytes = options.maxBytes ?? 50 * 1024 * 1024;
  const geom = geomName !== undefined ? table.getChild(geomName)! : undefined;
  const shapeBytes = geom ? shapeRows.reduce((s, r) => s + wkbLength(geom, r), 0) : 0;
  const features = pointRows.length + shapeRows.length;
  const bytes = pointRows.length * POINT_BYTES + shapeBytes;
  const keep = Math.min(1, maxFeatures / Math.max(1, features), maxBytes / Math.max(1, bytes));
  let note: string | undefined;
  if (keep < 1) {
    const points = spatialSample(x, y, Math.floor(pointRows.length * keep));
    x = gatherF64(x, points);
    y = gatherF64(y, points);
    pointRows = gatherI32(pointRows, points);
    shapeRows = stride(shapeRows, Math.floor(shapeRows.length * keep));
    note = `Showing a spatial sample of ${formatCount(pointRows.length + shapeRows.length)} of ${
      formatCount(features)
    } features: the embedded data is capped at ${formatCount(maxFeatures)} features and ${
      formatBytes(maxBytes)
    } (pass maxFeatures / maxBytes to change)`;
  }

  const count = total;
  const colors = colorScale(table, options.color, count, options.defaultColor ?? DEFAULT_COLOR);
  const byRow = colors.byRow;
  const hexOf = (row: number): string => colors.colors[byRow ? byRow[row] : 0];
  const skip = [geomName, ...(lonLat ?? [])].filter((n): n is string => n !== undefined);
  const fields = attributeFields(table, skip);
  const prepared: PreparedMap = {
    bounds: WORLD,
    totalFeatures: total,
    embeddedFeatures: pointRows.length + shapeRows.length,
    pointCount: pointRows.length,
    shapeCount: shapeRows.length,
    legend: colors.legend,
    note,
    sample: { points: [], shapes: [] },
    tiles,
  };

  const pointBox = pointBounds(x, y);
  if (pointRows.length > 0) {
    const [w, s, e, n] = pointBox!;
    const [x0, y1] = mercator(w, s), [x1, y0] = mercator(e, n);
    const box: [number, number, number, number] = [x0, y0, x1, y1];
    const { order, bytes } = quantise(x, y, box);
    pointRows = gatherI32(pointRows, order);
    if (byRow) {
      for (let k = 0, at = 6 * pointRows.length; k < pointRows.length; k++) {
        bytes[at + k] = byRow[pointRows[k]];
      }
    }
    // Attributes travel for popups while they fit the budget; 1 M float columns would double
    // the output.
    const maxAttr = options.maxAttributeBytes ?? 2 * 1024 * 1024;
    const attrBytes = fields.reduce((s, f) => s + columnBytes(table.getChild(f.name)!), 0) *
      (pointRows.length / Math.max(1, total));
    let attributes: Uint8Array | undefined;
    if (fields.length > 0 && attrBytes <= maxAttr) {
      const sameRows = pointRows.length === total && isIdentity(pointRows);
      const columns: Record<string, arrow.Vector> = {};
      for (const f of fields) {
        const v = table.getChild(f.name)!;
        columns[f.name] = sameRows ? v : gather(v, pointRows);
      }
      attributes = tableToIPC(new arrow.Table(columns));
    } else if (fields.length > 0) {
      prepared.popupNote = `Attributes not embedded: ${
        formatBytes(attrBytes)
      } for ${fields.length} columns is over the ${
        formatBytes(maxAttr)
      } budget (pass maxAttributeBytes to change)`;
    }
    prepared.points = { count: pointRows.length, box, palette: colors.colors, bytes, attributes };
    const step = Math.max(1, pointRows.length / SVG_POINTS);
    for (let k = 0; k < pointRows.length / step; k++) {
      const i = Math.floor(k * step), j = order[i];
      prepared.sample.points.push([x[j], y[j], hexOf(pointRows[i])]);
    }
  }

  let shapeBounds: [number, number, number, number] | undefined;
  if (shapeRows.length > 0) {
    // Cut at the antimeridian once here, so MapLibre and the static image both get clean parts.
    const wkbs = shapeRows.map((r) => cutWkb(geom!.get(r) as Uint8Array));
    const columns: Record<string, arrow.Vector> = {
      __wkb: arrow.vectorFromArray(wkbs, new arrow.Binary()),
      __color: arrow.vectorFromArray(shapeRows.map((r) => hexOf(r)), new arrow.Utf8()),
    };
    for (const f of fields) columns[f.name] = gather(table.getChild(f.name)!, shapeRows);
    prepared.shapes = tableToIPC(new arrow.Table(columns));
    const sampled = stride(shapeRows.map((_, i) => i), SVG_SHAPES);
    prepared.sample.shapes = sampled.map((i) => [geometryFromWKB(wkbs[i]), hexOf(shapeRows[i])]);
    const meta = safeGeoMetadata(table)?.columns?.[geomName!]?.bbox;
    shapeBounds = meta && meta.length >= 4 && keep === 1
      ? [meta[0], meta[1], meta[2], meta[3]]
      : shapeRows.length <= SVG_SHAPES
      ? geometryBounds(prepared.sample.shapes.map(([g]) => g))
      : geometryBounds(wkbs.map(geometryFromWKB));
  }
  prepared.bounds = union(pointBox, shapeBounds) ?? WORLD;
  return prepared;
}

/** Bytes one point takes in the payload: 24-bit x and y delta, one palette index. */
const POINT_BYTES = 7;
const Q = 0xffffff;

/** Length in bytes of row `row`'s WKB value. */
function wkbLength(vector: arrow.Vector, row: number): number {
  const v = vector.get(row) as Uint8Array | null;
  return v?.byteLength ?? 0;
}

/** Points of lon/lat columns, skipping rows where either is null. */
function lonLatPoints(
  table: arrow.Table,
  [lonName, latName]: [string, string],
): { x: Float64Array; y: Float64Array; pointRows: Int32Array } {
  const lon = table.getChild(lonName)!, lat = table.getChild(latName)!;
  const count = table.numRows;
  if (
    lon.nullCount === 0 && lat.nullCount === 0 && arrow.DataType.isFloat(lon.type) &&
    arrow.DataType.isFloat(lat.type)
  ) {
    // Float columns without nulls: typed arrays straight from Arrow.
    const a = lon.toArray() as Float64Array | Float32Array,
      b = lat.toArray() as Float64Array | Float32Array;
    return {
      x: a instanceof Float64Array ? a : Float64Array.from(a),
      y: b instanceof Float64Array ? b : Float64Array.from(b),
      pointRows: identity(count),
    };
  }
  const x = new Float64Array(count), y = new Float64Array(count), rows = new Int32Array(count);
  let n = 0;
  for (let i = 0; i < count; i++) {
    const a = lon.get(i), b = lat.get(i);
    if (a === null || b === null) continue;
    x[n] = Number(a);
    y[n] = Number(b);
    rows[n++] = i;
  }
  return { x: x.subarray(0, n), y: y.subarray(0, n), pointRows: rows.subarray(0, n) };
}

/** 0, 1, …, n − 1 (a plain loop: `Int32Array.from` with a map function is 10x slower). */
function identity(n: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  return out;
}

function gatherF64(values: Float64Array, rows: Int32Array): Float64Array {
  const out = new Float64Array(rows.length);
  for (let i = 0; i < rows.length; i++) out[i] = values[rows[i]];
  return out;
}

function gatherI32(values: Int32Array, rows: Int32Array): Int32Array {
  const out = new Int32Array(rows.length);
  for (let i = 0; i < rows.length; i++) out[i] = values[rows[i]];
  return out;
}

/**
 * A spatial sample of about `want` points (indices, ascending): the points' box is cut into a
 * grid, every cell keeps at most the same quota, and within a cell the kept points are spread
 * evenly over its rows. Sparse areas stay whole while dense ones are thinned, so the sample
 * keeps the shape of the data, which the first rows would not.
 */
export function spatialSample(x: Float64Array, y: Float64Array, want: number): Int32Array {
  const n = x.length;
  if (want >= n) return identity(n);
  if (want <= 0) return new Int32Array(0);
  const box = pointBounds(x, y)!;
  // About 4 points a cell at the target, so the quota can thin every area (at most 512²).
  const g = Math.max(1, Math.min(SAMPLE_GRID, Math.floor(Math.sqrt(want / 4))));
  const sx = g / Math.max(box[2] - box[0], 1e-12), sy = g / Math.max(box[3] - box[1], 1e-12);
  const cell = new Uint32Array(n);
  const counts = new Uint32Array(g * g);
  const x0 = box[0], y0 = box[1], last = g - 1;
  for (let i = 0; i < n; i++) {
    // Offsets are ≥ 0, so `| 0` floors (3x faster than Math.floor and Math.min on 10 M points).
    let cx = ((x[i] - x0) * sx) | 0, cy = ((y[i] - y0) * sy) | 0;
    if (cx > last) cx = last;
    if (cy > last) cy = last;
    const c = cy * g + cx;
    cell[i] = c;
    counts[c]++;
  }
  // The smallest quota whose kept total reaches `want` (binary search over the quota).
  const kept = (q: number): number => {
    let s = 0;
    for (let c = 0; c < counts.length; c++) s += Math.min(counts[c], q);
    return s;
  };
  let lo = 1, hi = 1;
  for (let c = 0; c < counts.length; c++) if (counts[c] > hi) hi = counts[c];
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (kept(mid) >= want) hi = mid;
    else lo = mid + 1;
  }
  const q = lo;
  const seen = new Uint32Array(g * g);
  const out = new Int32Array(Math.min(n, kept(q)));
  let m = 0;
  for (let i = 0; i < n && m < out.length; i++) {
    const c = cell[i], total = counts[c], k = seen[c]++;
    // Keep the k-th of a cell's `total` points when it starts a new 1/q share of them.
    if (total <= q || (((k + 1) * q) / total | 0) > ((k * q) / total | 0)) out[m++] = i;
  }
  if (m <= want) return out.subarray(0, m);
  // The quota overshoots by up to a point a cell: an even stride trims it to `want`.
  const step = m / want;
  return Int32Array.from({ length: want }, (_, i) => out[Math.floor(i * step)]);
}

/**
 * Quantises points to 24 bits per axis over `box` (Web Mercator), sorted by y (ties keep their
 * input order): the order of the input points, and `POINT_BYTES × n` bytes (x in 3 byte planes,
 * then y deltas in 3 byte planes, then a zeroed plane for the caller's palette indices).
 */
function quantise(
  x: Float64Array,
  y: Float64Array,
  box: [number, number, number, number],
): { order: Int32Array; bytes: Uint8Array } {
  const n = x.length;
  if (n > 2 ** 25) {
    throw new ValidationError(
      `A map embeds at most ${formatCount(2 ** 25)} points, got ${
        formatCount(n)
      }: lower maxFeatures`,
    );
  }
  const sx = box[2] > box[0] ? Q / (box[2] - box[0]) : 0;
  const sy = box[3] > box[1] ? Q / (box[3] - box[1]) : 0;
  const qx = new Uint32Array(n), qy = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    qx[i] = Math.round((mercatorX(x[i]) - box[0]) * sx);
    qy[i] = Math.round((mercatorY(y[i]) - box[1]) * sy);
  }
  const order = radixOrder(qy);
  const bytes = new Uint8Array(POINT_BYTES * n);
  let last = 0;
  for (let k = 0; k < n; k++) {
    const i = order[k];
    const a = qx[i], b = qy[i], dy = b - last;
    last = b;
    bytes[k] = a & 0xff;
    bytes[n + k] = (a >>> 8) & 0xff;
    bytes[2 * n + k] = a >>> 16;
    bytes[3 * n + k] = dy & 0xff;
    bytes[4 * n + k] = (dy >>> 8) & 0xff;
    bytes[5 * n + k] = dy >>> 16;
  }
  return { order, bytes };
}

/**
 * The indices of 24-bit `keys` in ascending key order, equal keys in index order: a stable
 * least-significant-digit radix sort in two passes of 12 bits (6x faster than sorting Float64
 * keys with `TypedArray.prototype.sort` on 1 M points).
 */
export function radixOrder(keys: Uint32Array): Int32Array {
  const n = keys.length;
  let src: Int32Array = identity(n), dst: Int32Array = new Int32Array(n);
  const counts = new Int32Array(4097);
  for (let shift = 0; shift < 24; shift += 12) {
    counts.fill(0);
    for (let i = 0; i < n; i++) counts[((keys[i] >>> shift) & 0xfff) + 1]++;
    for (let d = 1; d <= 4096; d++) counts[d] += counts[d - 1];
    for (let k = 0; k < n; k++) {
      const i = src[k];
      dst[counts[(keys[i] >>> shift) & 0xfff]++] = i;
    }
    [src, dst] = [dst, src];
  }
  return src;
}

/** Web Mercator x of a longitude, 0–1. */
export function mercatorX(lon: number): number {
  return (lon + 180) / 360;
}

/** Web Mercator y of a latitude, 0 (north) – 1 (south), clamped at ±85.0511°. */
export function mercatorY(lat: number): number {
  const s = Math.sin((Math.max(-85.0511, Math.min(85.0511, lat)) * Math.PI) / 180);
  return 0.5 - (0.25 * Math.log((1 + s) / (1 - s))) / Math.PI;
}

/** Web Mercator of a lon/lat into [0, 1] × [0, 1]. */
export function mercator(lon: number, lat: number): [number, number] {
  return [mercatorX(lon), mercatorY(lat)];
}

/**
 * The features of any geo result `map` accepts (a table with a WKB geometry column or lon/lat
 * columns, or GeoJSON) as a GeoJSON FeatureCollection, e.g. for vector tiles; other values are
 * refused with what to return instead.
 *
 * @example
 * ```ts
 * import { tableFromArrays } from "apache-arrow";
 * import { geoJsonOfResult } from "./map_data.ts";
 * const fc = geoJsonOfResult(tableFromArrays({ lon: [2.35], lat: [48.86], name: ["Paris"] }));
 * if (fc.features[0].properties?.name !== "Paris") throw new Error("unexpected");
 * ```
 */
export function geoJsonOfResult(value: unknown): GeoJsonFeatureCollection {
  if (isGeoJson(value)) return featureCollectionOf(value as GeoJsonFeatureCollection);
  if (isTable(value)) {
    if (findGeometryColumn(value) !== undefined) return tableToGeoJSON(value);
    const lonLat = lonLatColumns(value);
    if (lonLat) {
      const { x, y, pointRows } = lonLatPoints(value, lonLat);
      const rows = tableToRows(value);
      return {
        type: "FeatureCollection",
        features: Array.from(pointRows, (row, i) => {
          const properties = { ...rows[row] };
          delete properties[lonLat[0]];
          delete properties[lonLat[1]];
          return {
            type: "Feature",
            geometry: { type: "Point", coordinates: [x[i], y[i]] },
            properties,
          };
        }),
      };
    }
    throw new ValidationError(
      `The table has no geometry: add a WKB column named "geometry" (or GeoParquet "geo" metadata) or lon/lat columns (columns: ${
        value.schema.fields.map((f) => f.name).join(", ")
      })`,
    );
  }
  const kind = value === null ? "null" : Array.isArray(value) ? "array" : typeof value;
  throw new ValidationError(
    `Cannot draw a ${kind} result as map features: return an Arrow table with a WKB geometry column or lon/lat columns, or GeoJSON`,
  );
}

function cutWkb(wkb: Uint8Array): Uint8Array {
  return wkbCrossesAntimeridian(wkb) ? wkbFromGeometry(cutAntimeridian(geometryFromWKB(wkb))) : wkb;
}

function safeGeoMetadata(table: arrow.Table): ReturnType<typeof geoMetadata> {
  try {
    return geoMetadata(table);
  } catch {
    return undefined;
  }
}
