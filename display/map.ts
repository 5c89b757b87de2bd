/**
 * Maps (MapLibre GL) as MIME bundles: a geo table (WKB geometry column, GeoParquet `geo`
 * metadata, or lon/lat columns), GeoJSON, or a tile URL template becomes an interactive map in a
 * self-contained `text/html`, with a static `image/svg+xml` fallback and a `text/plain` summary.
 *
 * Data travels as Arrow IPC (base64) and is read in the browser without per-feature parsing for
 * points: a WebGL custom layer draws them from typed arrays (GeoJSON through MapLibre took 34.5 s
 * for 1 M points here; display-perf §2.2). Lines and polygons travel as WKB and become a GeoJSON
 * source in the browser. Embedded data is capped (50 MB raw and 2,000,000 features by default)
 * with a visible note when cut. No request leaves the machine: MapLibre and the offline basemap
 * (Natural Earth land and borders from npm `world-atlas`) are inlined, and an external basemap or
 * tile layer is used only when the caller passes one.
 *
 * @module
 */

import * as arrow from "apache-arrow";
import { isGeoJson } from "./detect.ts";
import { interpolateViridis, schemeTableau10 } from "d3-scale-chromatic";
import { tableToIPC } from "../client/formats/arrow.ts";
import {
  findGeometryColumn,
  type GeoJsonFeatureCollection,
  type GeoJsonGeometry,
  geoMetadata,
  geometryFromWKB,
  tableFromGeoJSON,
  wkbFromGeometry,
} from "../client/formats/geo.ts";
import { isTable } from "../client/formats/types.ts";
import { ValidationError } from "../client/errors.ts";
import { type AssetMode, mapAssetsScript, needsAssets, offlineBasemap } from "./assets.ts";
import { cutAntimeridian, wkbCrossesAntimeridian } from "./_antimeridian.ts";
import {
  type Displayable,
  displayableBundle,
  escapeHtml,
  formatBytes,
  formatCount,
  jsonForScript,
  type MimeBundle,
  newId,
  toBase64,
} from "./mime.ts";

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
  /** Largest embedded data in bytes (Arrow, before base64); 50 MB by default. */
  maxBytes?: number;
  /** Most features embedded; 2,000,000 by default. */
  maxFeatures?: number;
  /**
   * Background: "offline" (Natural Earth land and borders, inlined; the default), "none", or a
   * MapLibre style (URL or object) the caller chooses, which may fetch from the network.
   */
  basemap?: "offline" | "none" | string | Record<string, unknown>;
  /** A tile layer drawn over the basemap (a tile UDF served by the embedded service). */
  tiles?: string | TileLayerOptions;
  /** Whether this output carries MapLibre or relies on an earlier map output; "once" by default. */
  assets?: AssetMode;
  /** Map height in pixels; 450 by default. */
  height?: number;
  /** Whether to draw the static SVG fallback; true by default. */
  svg?: boolean;
  /** Keep the WebGL drawing buffer (for pixel reads in tests); false by default. */
  preserveDrawingBuffer?: boolean;
}

/** What a map shows, prepared for the browser; exported for tests and the kernel's comm. */
export interface PreparedMap {
  /** Arrow IPC of the points: `__x`, `__y` (lon/lat), `__rgba` (packed colour) and attributes. */
  points?: Uint8Array;
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
  /** A sample of geometries for the static SVG (GeoJSON), at most a few thousand. */
  sample: { points: [number, number, string][]; shapes: [GeoJsonGeometry, string][] };
  /** The resolved tile layer. */
  tiles?: Required<Omit<TileLayerOptions, "bounds">>;
}

const DEFAULT_COLOR = "#e4572e";
const OTHER_COLOR = "#9e9e9e";
const SVG_POINTS = 5000;
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

function toCollection(value: unknown): GeoJsonFeatureCollection {
  const v = value as { type: string };
  if (v.type === "FeatureCollection") return value as GeoJsonFeatureCollection;
  if (v.type === "Feature") return { type: "FeatureCollection", features: [value as never] };
  return {
    type: "FeatureCollection",
    features: [{ type: "Feature", geometry: value as GeoJsonGeometry, properties: {} }],
  };
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
  /** Index into `colors` of a row. */
  index: (row: number) => number;
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
  if (column === undefined) return { index: () => 0, colors: [hex(fallback)] };
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
    const colors = Array.from({ length: 256 }, (_, i) => hex(interpolateViridis(i / 255)));
    colors.push(OTHER_COLOR);
    const scale = max > min ? 255 / (max - min) : 0;
    const index = (row: number): number => {
      const v = values[row];
      return Number.isFinite(v) ? Math.round((v - min) * scale) : 256;
    };
    const legend = min <= max
      ? `<div class="fused-legend"><b>${
        escapeHtml(column)
      }</b><div class="ramp" style="background:linear-gradient(to right,${
        [0, 64, 128, 192, 255].map((i) => colors[i]).join(",")
      })"></div><div class="ends"><span>${fmtNum(min)}</span><span>${
        fmtNum(max)
      }</span></div></div>`
      : undefined;
    return { index, colors, legend };
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
  const index = (row: number): number => {
    const k = keys[row];
    return (k !== null ? slot.get(k) : undefined) ?? top.length;
  };
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
    index,
    colors,
    legend: `<div class="fused-legend"><b>${escapeHtml(column)}</b>${items.join("")}</div>`,
  };
}

function hex(color: string): string {
  if (color.startsWith("#")) return color;
  const m = color.match(/\d+/g) ?? ["0", "0", "0"];
  return "#" + m.slice(0, 3).map((v) => Number(v).toString(16).padStart(2, "0")).join("");
}

function packRgba(color: string): number {
  const h = hex(color);
  const r = parseInt(h.slice(1, 3), 16);
  const g = parseInt(h.slice(3, 5), 16);
  const b = parseInt(h.slice(5, 7), 16);
  return (r | (g << 8) | (b << 16) | (230 << 24)) >>> 0; // bytes r, g, b, a in memory (little-endian)
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
  else if (isGeoJson(value)) table = tableFromGeoJSON(toCollection(value));
  else {
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

  // The cap: by feature count and by the bytes the embedded columns hold.
  const total = table.numRows;
  const maxFeatures = options.maxFeatures ?? 2_000_000;
  const maxBytes = options.maxBytes ?? 50 * 1024 * 1024;
  const bytes = table.schema.fields.reduce((s, f) => s + columnBytes(table.getChild(f.name)!), 0);
  const perRow = total > 0 ? bytes / total : 0;
  const count = Math.min(total, maxFeatures, perRow > 0 ? Math.floor(maxBytes / perRow) : total);
  const note = count < total
    ? `Showing ${formatCount(count)} of ${
      formatCount(total)
    } features: the embedded data is capped at ${formatBytes(maxBytes)} and ${
      formatCount(maxFeatures)
    } features (pass maxBytes / maxFeatures to change)`
    : undefined;

  let x: Float64Array, y: Float64Array, pointRows: ArrayLike<number>, shapeRows: number[];
  if (geomName !== undefined) {
    ({ x, y, pointRows, shapeRows } = scanWkb(table.getChild(geomName)!, count));
  } else {
    const [lonName, latName] = lonLat!;
    const lon = table.getChild(lonName)!, lat = table.getChild(latName)!;
    if (
      lon.nullCount === 0 && lat.nullCount === 0 && arrow.DataType.isFloat(lon.type) &&
      arrow.DataType.isFloat(lat.type)
    ) {
      // Float columns without nulls: typed arrays straight from Arrow.
      const a = lon.toArray() as Float64Array | Float32Array,
        b = lat.toArray() as Float64Array | Float32Array;
      x = a instanceof Float64Array
        ? a.subarray(0, count)
        : Float64Array.from(a.subarray(0, count));
      y = b instanceof Float64Array
        ? b.subarray(0, count)
        : Float64Array.from(b.subarray(0, count));
      pointRows = Int32Array.from({ length: count }, (_, i) => i);
      shapeRows = [];
    } else {
      x = new Float64Array(count);
      y = new Float64Array(count);
      const rows = new Int32Array(count);
      let n = 0;
      for (let i = 0; i < count; i++) {
        const a = lon.get(i), b = lat.get(i);
        if (a === null || b === null) continue;
        x[n] = Number(a);
        y[n] = Number(b);
        rows[n++] = i;
      }
      x = x.subarray(0, n);
      y = y.subarray(0, n);
      pointRows = rows.subarray(0, n);
      shapeRows = [];
    }
  }

  const colors = colorScale(table, options.color, count, options.defaultColor ?? DEFAULT_COLOR);
  const hexOf = (row: number): string => colors.colors[colors.index(row)];
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

  if (pointRows.length > 0) {
    const packed = Uint32Array.from(colors.colors, packRgba);
    const rgba = new Uint32Array(pointRows.length);
    for (let i = 0; i < pointRows.length; i++) rgba[i] = packed[colors.index(pointRows[i])];
    const columns: Record<string, arrow.Vector> = {
      __x: arrow.makeVector(x),
      __y: arrow.makeVector(y),
      __rgba: arrow.makeVector(rgba),
    };
    // All rows are points and uncut: the attribute columns go as they are (no copy).
    const sameRows = pointRows.length === total && isIdentity(pointRows);
    for (const f of fields) {
      const v = table.getChild(f.name)!;
      columns[f.name] = sameRows ? v : gather(v, pointRows);
    }
    prepared.points = tableToIPC(new arrow.Table(columns));
    const step = Math.max(1, pointRows.length / SVG_POINTS);
    for (let k = 0; k < pointRows.length / step; k++) {
      const i = Math.floor(k * step);
      prepared.sample.points.push([x[i], y[i], hexOf(pointRows[i])]);
    }
  }

  let shapeBounds: [number, number, number, number] | undefined;
  if (shapeRows.length > 0) {
    const geom = table.getChild(geomName!)!;
    // Cut at the antimeridian once here, so MapLibre and the SVG both get clean parts.
    const wkbs = shapeRows.map((r) => cutWkb(geom.get(r) as Uint8Array));
    const columns: Record<string, arrow.Vector> = {
      __wkb: arrow.vectorFromArray(wkbs, new arrow.Binary()),
      __color: arrow.vectorFromArray(shapeRows.map((r) => hexOf(r)), new arrow.Utf8()),
    };
    for (const f of fields) columns[f.name] = gather(table.getChild(f.name)!, shapeRows);
    prepared.shapes = tableToIPC(new arrow.Table(columns));
    const sampled = stride(shapeRows.map((_, i) => i), SVG_SHAPES);
    prepared.sample.shapes = sampled.map((i) => [geometryFromWKB(wkbs[i]), hexOf(shapeRows[i])]);
    const meta = safeGeoMetadata(table)?.columns?.[geomName!]?.bbox;
    shapeBounds = meta && meta.length >= 4 && count === total
      ? [meta[0], meta[1], meta[2], meta[3]]
      : shapeRows.length <= SVG_SHAPES
      ? geometryBounds(prepared.sample.shapes.map(([g]) => g))
      : geometryBounds(wkbs.map(geometryFromWKB));
  }
  prepared.bounds = union(pointBounds(x, y), shapeBounds) ?? WORLD;
  return prepared;
}

/** WKB cut at the antimeridian when a line or ring crosses it, else the same bytes. */
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

/** Web Mercator of a lon/lat into [0, 1] × [0, 1]. */
function mercator(lon: number, lat: number): [number, number] {
  const s = Math.sin((Math.max(-85.0511, Math.min(85.0511, lat)) * Math.PI) / 180);
  return [(lon + 180) / 360, 0.5 - (0.25 * Math.log((1 + s) / (1 - s))) / Math.PI];
}

/**
 * Draws the static fallback: the offline land, the sampled geometries (Web Mercator) and the
 * note, as SVG that GitHub, nbconvert and image viewers show without JavaScript.
 */
export function mapToSvg(
  prepared: PreparedMap,
  options: { width?: number; height?: number } = {},
): string {
  const width = options.width ?? 800;
  const height = options.height ?? 450;
  const [w, s, e, n] = prepared.bounds;
  const [x0, y1] = mercator(w, s);
  const [x1, y0] = mercator(e, n);
  // Fit the data's box with a margin, keeping the aspect ratio of the picture.
  const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
  const fit = Math.max((x1 - x0) / width, (y1 - y0) / height) * 1.1;
  const span = Number.isFinite(fit) && fit > 0 ? fit : 1e-6; // one point: about street level
  const px = (lon: number, lat: number): [number, number] => {
    const [mx, my] = mercator(lon, lat);
    return [(mx - cx) / span + width / 2, (my - cy) / span + height / 2];
  };
  // The visible box in Mercator units (y grows southwards).
  const left = cx - (width / 2) * span, right = cx + (width / 2) * span;
  const top = cy - (height / 2) * span, bottom = cy + (height / 2) * span;
  const path = (coords: unknown, close: boolean): string => {
    const rings = coords as number[][][];
    return rings.map((ring) => {
      let d = "";
      let last = "";
      for (const [lon, lat] of ring) {
        const [a, b] = px(lon, lat);
        const p = `${a.toFixed(1)},${b.toFixed(1)}`;
        if (p === last) continue;
        d += (d ? "L" : "M") + p;
        last = p;
      }
      return d + (close ? "Z" : "");
    }).join("");
  };
  const inView = (ring: number[][]): boolean => {
    let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
    for (const [lon, lat] of ring) {
      const [mx, my] = mercator(lon, lat);
      minX = Math.min(minX, mx);
      maxX = Math.max(maxX, mx);
      minY = Math.min(minY, my);
      maxY = Math.max(maxY, my);
    }
    return maxX >= left && minX <= right && maxY >= top && minY <= bottom;
  };
  const parts: string[] = [];
  const landPolys = landPolygons().filter((poly) => inView(poly[0]));
  if (landPolys.length) {
    parts.push(
      `<path d="${
        landPolys.map((p) => path(p, true)).join("")
      }" fill="#f4f2ee" stroke="#b9b4ab" stroke-width="0.5"/>`,
    );
  }
  const shape = (g: GeoJsonGeometry, color: string): string => {
    switch (g.type) {
      case "Polygon":
        return `<path d="${
          path(g.coordinates, true)
        }" fill="${color}" fill-opacity="0.6" stroke="#333" stroke-width="0.6" fill-rule="evenodd"/>`;
      case "MultiPolygon":
        return `<path d="${
          (g.coordinates as unknown[]).map((p) => path(p, true)).join("")
        }" fill="${color}" fill-opacity="0.6" stroke="#333" stroke-width="0.6" fill-rule="evenodd"/>`;
      case "LineString":
        return `<path d="${
          path([g.coordinates], false)
        }" fill="none" stroke="${color}" stroke-width="2"/>`;
      case "MultiLineString":
        return `<path d="${
          path(g.coordinates, false)
        }" fill="none" stroke="${color}" stroke-width="2"/>`;
      case "MultiPoint":
        return (g.coordinates as number[][]).map(([lon, lat]) => {
          const [a, b] = px(lon, lat);
          return `<circle cx="${a.toFixed(1)}" cy="${b.toFixed(1)}" r="3" fill="${color}"/>`;
        }).join("");
      case "GeometryCollection":
        return (g.geometries ?? []).map((c) => shape(c, color)).join("");
      default:
        return "";
    }
  };
  for (const [g, color] of prepared.sample.shapes) parts.push(shape(g, color));
  const r = prepared.pointCount > 100_000 ? 1.5 : prepared.pointCount > 10_000 ? 2 : 3;
  for (const [lon, lat, color] of prepared.sample.points) {
    const [a, b] = px(lon, lat);
    parts.push(`<circle cx="${a.toFixed(1)}" cy="${b.toFixed(1)}" r="${r}" fill="${color}"/>`);
  }
  const sampled = prepared.sample.points.length + prepared.sample.shapes.length;
  const caption = [
    sampled < prepared.embeddedFeatures
      ? `Static preview of ${formatCount(sampled)} of ${
        formatCount(prepared.totalFeatures)
      } features`
      : "",
    prepared.note ?? "",
    prepared.tiles ? `Tile layer ${prepared.tiles.url} (interactive view only)` : "",
  ].filter(Boolean);
  caption.forEach((text, i) =>
    parts.push(
      `<text x="6" y="${
        height - 8 - 14 * (caption.length - 1 - i)
      }" font-family="sans-serif" font-size="11" fill="#333">${escapeHtml(text)}</text>`,
    )
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}"><rect width="${width}" height="${height}" fill="#d4e3ef"/>${
    parts.join("")
  }</svg>`;
}

/** Every polygon (rings of lon/lat) of the offline land layer. */
function landPolygons(): number[][][][] {
  const land = offlineBasemap().land as {
    features?: { geometry: GeoJsonGeometry }[];
    geometry?: GeoJsonGeometry;
  };
  const geoms = land.features
    ? land.features.map((f) => f.geometry)
    : land.geometry
    ? [land.geometry]
    : [];
  return geoms.flatMap((g) =>
    g.type === "Polygon"
      ? [g.coordinates as number[][][]]
      : g.type === "MultiPolygon"
      ? (g.coordinates as number[][][][])
      : []
  );
}

let rendererSource: string | undefined;

/** The browser renderer's source (display/_map_client.js), read once. */
function renderer(): string {
  rendererSource ??= `(function(){${
    Deno.readTextFileSync(new URL("./_map_client.js", import.meta.url))
  }\nreturn fusedRenderMap;})()`;
  return rendererSource;
}

const MAP_STYLE = `<style>
.fused-map{position:relative;font-family:sans-serif;font-size:12px}
.fused-map .fused-map-canvas{position:absolute;inset:0}
.fused-map .fused-map-static svg{display:block;width:100%;height:100%}
.fused-map .fused-map-note{position:absolute;left:6px;top:6px;z-index:2;background:#fff8e1;border:1px solid #e0c36a;padding:3px 6px;border-radius:3px;max-width:70%}
.fused-map .fused-legend{position:absolute;right:6px;bottom:18px;z-index:2;background:rgba(255,255,255,.9);padding:4px 6px;border-radius:3px;line-height:1.5}
.fused-map .fused-legend .ramp{width:140px;height:10px;margin-top:2px}
.fused-map .fused-legend .ends{display:flex;justify-content:space-between}
.fused-map .fused-legend .sw{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px;vertical-align:middle}
.fused-map .fused-map-error,.fused-map .fused-map-waiting{position:absolute;left:6px;bottom:6px;z-index:3;background:#fff;padding:3px 6px;color:#b00}
.fused-map-popup th{text-align:left;padding-right:8px;color:#555}
</style>`;

/**
 * Builds the MIME bundle of a map: interactive `text/html`, static `image/svg+xml` and a
 * `text/plain` summary, with map facts in the metadata.
 *
 * @example
 * ```ts
 * import { mapToMimeBundle } from "./map.ts";
 * const b = mapToMimeBundle({ type: "Point", coordinates: [2.35, 48.86] });
 * if (!String(b.data["text/plain"]).includes("1 point")) throw new Error("unexpected");
 * ```
 */
export function mapToMimeBundle(value: unknown, options: MapOptions = {}): MimeBundle {
  const prepared = prepareMap(value, options);
  const height = options.height ?? 450;
  const id = newId("fused-map");
  const radius = options.pointRadius ??
    (prepared.pointCount > 100_000 ? 2 : prepared.pointCount > 10_000 ? 3 : 4);
  const svg = options.svg === false ? undefined : mapToSvg(prepared, { height });
  const config = {
    id,
    bounds: prepared.bounds,
    pointRadius: radius,
    defaultColor: options.defaultColor ?? DEFAULT_COLOR,
    basemap: options.basemap ?? "offline",
    tiles: prepared.tiles ?? null,
    points: prepared.points ? toBase64(prepared.points) : null,
    shapes: prepared.shapes ? toBase64(prepared.shapes) : null,
    preserveDrawingBuffer: options.preserveDrawingBuffer ?? false,
  };
  const withAssets = needsAssets("maplibre", options.assets);
  const html = `${MAP_STYLE}${withAssets ? mapAssetsScript(renderer()) : ""}
<div id="${id}" class="fused-map" style="height:${height}px">
<div class="fused-map-static">${svg ?? ""}</div>
<div class="fused-map-canvas"></div>
${prepared.note ? `<div class="fused-map-note">${escapeHtml(prepared.note)}</div>` : ""}
${prepared.legend ?? ""}
</div>
<script>(function(){var w=window,cfg=${jsonForScript(config)};
function go(A){var el=document.getElementById(cfg.id);if(el&&!el.getAttribute("data-started")){el.setAttribute("data-started","true");var wt=el.querySelector(".fused-map-waiting");if(wt)wt.remove();A.render(el,cfg);}}
var A=w.__fusedMapAssets;if(A&&A.ready)A.ready.then(go);else(w.__fusedMapQueue=w.__fusedMapQueue||[]).push(go);
setTimeout(function(){var el=document.getElementById(cfg.id);if(el&&!el.getAttribute("data-started")){var d=document.createElement("div");d.className="fused-map-waiting";d.textContent="The interactive map needs MapLibre, which was inlined in the first map output of this notebook and is missing here: display it again with { assets: \\"inline\\" }";el.appendChild(d);}},15000);})();</script>`;
  const summary = [
    prepared.pointCount ? plural(prepared.pointCount, "point") : "",
    prepared.shapeCount ? plural(prepared.shapeCount, "line/polygon feature") : "",
    prepared.tiles ? `tiles ${prepared.tiles.url}` : "",
  ].filter(Boolean).join(", ");
  const plain = `Map: ${summary || "no features"}, bounds [${
    prepared.bounds.map((v) => +v.toFixed(5)).join(", ")
  }]${prepared.note ? `\n${prepared.note}` : ""}`;
  const data: Record<string, unknown> = { "text/html": html, "text/plain": plain };
  if (svg) data["image/svg+xml"] = svg;
  return {
    data,
    metadata: {
      "text/html": {
        "fused:map": {
          id,
          bounds: prepared.bounds,
          totalFeatures: prepared.totalFeatures,
          embeddedFeatures: prepared.embeddedFeatures,
          embeddedBytes: (prepared.points?.byteLength ?? 0) + (prepared.shapes?.byteLength ?? 0),
          truncated: prepared.note !== undefined,
          assetsInlined: withAssets,
        },
      },
    },
  };
}

function plural(n: number, word: string): string {
  return `${formatCount(n)} ${word}${n === 1 ? "" : "s"}`;
}

/**
 * Makes a map of a geo table, GeoJSON or tile URL template; the result displays itself in a
 * notebook and has `toMimeBundle()`.
 */
export function map(value: unknown, options: MapOptions = {}): Displayable {
  return displayableBundle(() => mapToMimeBundle(value, options), "Map");
}
