/**
 * Tables as MIME bundles: a static `text/html` view (shape, column types, head and tail with an
 * elision row), a typed `application/vnd.dataresource+json` capped at a few hundred rows, and
 * `text/plain`.
 *
 * Only the rows shown are read, each through `vector.get(i)`: displaying a 10,000,000-row table
 * costs the same as a 10-row one (pandas and itables learned this the hard way: rendering the
 * whole frame is what hangs browsers and kernels; display-perf §3).
 *
 * @module
 */

import type * as arrow from "apache-arrow";
import { Type } from "apache-arrow";
import { isTable } from "../client/formats/types.ts";
import { findGeometryColumn, geometryFromWKB } from "../client/formats/geo.ts";
import type { GeoJsonGeometry } from "../client/formats/geo.ts";
import { ValidationError } from "../client/errors.ts";
import { type ArrowConvertible, isArrowConvertible } from "./detect.ts";
import { escapeHtml, formatCount, type MimeBundle } from "./mime.ts";

export { type ArrowConvertible, isArrowConvertible };

/** MIME type of the typed row data (Frictionless data resource). */
export const DATA_RESOURCE_MIME = "application/vnd.dataresource+json";

/** Options of {@linkcode tableToMimeBundle}. */
export interface TableDisplayOptions {
  /** Rows shown from the top; 5 by default. */
  head?: number;
  /** Rows shown from the bottom; 5 by default. */
  tail?: number;
  /** Columns shown before the rest are elided; 20 by default. */
  maxColumns?: number;
  /** Rows in the data resource; 250 by default. */
  dataResourceRows?: number;
  /** Characters of a cell shown before it is cut; 80 by default. */
  maxCellChars?: number;
}

/** What a column is, for alignment and the data resource's field type. */
type ColumnKind =
  | "int"
  | "number"
  | "bool"
  | "string"
  | "date"
  | "datetime"
  | "geometry"
  | "bytes"
  | "other";

interface Column {
  name: string;
  typeLabel: string;
  kind: ColumnKind;
  vector: arrow.Vector;
}

/**
 * Builds the MIME bundle of an Arrow table (or anything with `toArrow()`), reading only the rows
 * it shows.
 *
 * @example
 * ```ts
 * import { tableFromArrays } from "apache-arrow";
 * import { tableToMimeBundle } from "./table.ts";
 * const b = tableToMimeBundle(tableFromArrays({ x: Int32Array.from([1, 2, 3]) }));
 * if (!String(b.data["text/html"]).includes("3 rows × 1 column")) throw new Error("unexpected");
 * ```
 */
export function tableToMimeBundle(
  value: arrow.Table | ArrowConvertible,
  options: TableDisplayOptions = {},
): MimeBundle {
  const table = isTable(value) ? value : isArrowConvertible(value) ? value.toArrow() : undefined;
  if (!table || !isTable(table)) {
    throw new ValidationError(
      "Cannot display this value as a table: pass an Arrow table or an object with a toArrow() method that returns one",
    );
  }
  const head = nonNegative(options.head ?? 5, "head");
  const tail = nonNegative(options.tail ?? 5, "tail");
  const maxColumns = Math.max(1, nonNegative(options.maxColumns ?? 20, "maxColumns"));
  const resourceRows = nonNegative(options.dataResourceRows ?? 250, "dataResourceRows");
  const maxChars = Math.max(8, nonNegative(options.maxCellChars ?? 80, "maxCellChars"));

  const columns = describeColumns(table);
  const nRows = table.numRows;
  const rows = shownRows(nRows, head, tail);
  const shownCols = shownColumns(columns.length, maxColumns);
  const cell = (c: Column, i: number): string => formatCell(c, c.vector.get(i), maxChars);

  const html = renderHtml(columns, shownCols, rows, nRows, cell);
  const plain = renderPlain(columns, shownCols, rows, nRows, cell);
  const resource = dataResource(columns, nRows, Math.min(nRows, resourceRows), maxChars);
  return {
    data: { "text/plain": plain, "text/html": html, [DATA_RESOURCE_MIME]: resource },
    metadata: {
      [DATA_RESOURCE_MIME]: {
        totalRows: nRows,
        rows: (resource.data as unknown[]).length,
        truncated: (resource.data as unknown[]).length < nRows,
      },
    },
  };
}

function nonNegative(n: number, name: string): number {
  if (!Number.isInteger(n) || n < 0) {
    throw new ValidationError(
      `Table display option ${name} must be a non-negative integer, got ${n}`,
    );
  }
  return n;
}

/** Row indices to show, with `null` where the elision row goes. */
function shownRows(n: number, head: number, tail: number): (number | null)[] {
  if (n <= head + tail) return Array.from({ length: n }, (_, i) => i);
  const out: (number | null)[] = [];
  for (let i = 0; i < head; i++) out.push(i);
  out.push(null);
  for (let i = n - tail; i < n; i++) out.push(i);
  return out;
}

/** Column indices to show, with `null` where the elision column goes. */
function shownColumns(n: number, max: number): (number | null)[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  const left = Math.ceil(max / 2);
  const right = max - left;
  const out: (number | null)[] = [];
  for (let i = 0; i < left; i++) out.push(i);
  out.push(null);
  for (let i = n - right; i < n; i++) out.push(i);
  return out;
}

function describeColumns(table: arrow.Table): Column[] {
  let geometry: string | undefined;
  try {
    geometry = findGeometryColumn(table);
  } catch {
    geometry = undefined; // damaged `geo` metadata must not stop a table from displaying
  }
  return table.schema.fields.map((field, i) => {
    const kind = field.name === geometry ? "geometry" : kindOf(field.type);
    return {
      name: field.name,
      typeLabel: kind === "geometry" ? "geometry (WKB)" : String(field.type),
      kind,
      vector: table.getChildAt(i)!,
    };
  });
}

/** Classifies an Arrow type for alignment, formatting and the data resource's field type. */
function kindOf(type: arrow.DataType): ColumnKind {
  switch (type.typeId) {
    case Type.Int:
      return "int";
    case Type.Float:
    case Type.Decimal:
      return "number";
    case Type.Bool:
      return "bool";
    case Type.Utf8:
    case Type.LargeUtf8:
    case Type.Utf8View:
      return "string";
    case Type.Date:
      return "date";
    case Type.Timestamp:
      return "datetime";
    case Type.Binary:
    case Type.LargeBinary:
    case Type.BinaryView:
    case Type.FixedSizeBinary:
      return "bytes";
    case Type.Dictionary:
      return kindOf((type as arrow.Dictionary).dictionary);
    default:
      return "other";
  }
}

function isNumeric(kind: ColumnKind): boolean {
  return kind === "int" || kind === "number";
}

function cut(text: string, max: number): string {
  return text.length > max ? text.slice(0, max - 1) + "…" : text;
}

/** Formats one cell as display text (not yet escaped). */
function formatCell(column: Column, value: unknown, maxChars: number): string {
  if (value === null || value === undefined) return "null";
  switch (column.kind) {
    case "geometry":
      return value instanceof Uint8Array ? cut(geometrySummary(value), maxChars) : String(value);
    case "bytes":
      return value instanceof Uint8Array ? `<${value.byteLength} bytes>` : String(value);
    case "date":
    case "datetime":
      return formatTime(value, column.kind);
    case "number":
    case "int":
      return formatNumber(value);
    default:
      break;
  }
  if (typeof value === "string") return cut(value, maxChars);
  if (typeof value === "object") {
    const json = "toJSON" in value ? (value as { toJSON(): unknown }).toJSON() : value;
    return cut(safeJson(json), maxChars);
  }
  return cut(String(value), maxChars);
}

function formatNumber(value: unknown): string {
  if (typeof value === "number") {
    if (Number.isInteger(value)) return String(value);
    const abs = Math.abs(value);
    return abs !== 0 && (abs < 1e-4 || abs >= 1e15)
      ? value.toExponential(6)
      : String(+value.toPrecision(10));
  }
  return String(value); // bigint, Decimal objects print themselves
}

function formatTime(value: unknown, kind: ColumnKind): string {
  const date = value instanceof Date
    ? value
    : typeof value === "number" || typeof value === "bigint"
    ? new Date(Number(value))
    : undefined;
  if (!date || Number.isNaN(date.getTime())) return String(value);
  const iso = date.toISOString();
  return kind === "date" ? iso.slice(0, 10) : iso.replace("T", " ").replace(/\.000Z$|Z$/, "");
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value, (_k, v) => typeof v === "bigint" ? v.toString() : v) ??
      String(value);
  } catch {
    return String(value);
  }
}

/** A WKT-like one-liner: `POINT (1.5 2)`, `POLYGON (5 points)`, `MULTIPOLYGON (3 parts, 40 points)`. */
export function geometrySummary(wkb: Uint8Array): string {
  let g: GeoJsonGeometry;
  try {
    g = geometryFromWKB(wkb);
  } catch {
    return `<invalid WKB, ${wkb.byteLength} bytes>`;
  }
  const name = g.type.toUpperCase();
  if (g.type === "Point") {
    const c = g.coordinates as number[];
    return c.length === 0 ? "POINT EMPTY" : `POINT (${c.map(short).join(" ")})`;
  }
  if (g.type === "GeometryCollection") {
    return `GEOMETRYCOLLECTION (${g.geometries?.length ?? 0} parts)`;
  }
  const points = countPositions(g.coordinates);
  const parts = g.type.startsWith("Multi") ? `${(g.coordinates as unknown[]).length} parts, ` : "";
  return `${name} (${parts}${points} points)`;
}

function short(n: number): string {
  return String(+n.toFixed(6));
}

function countPositions(coords: unknown): number {
  if (!Array.isArray(coords)) return 0;
  if (typeof coords[0] === "number") return 1;
  let n = 0;
  for (const c of coords) n += countPositions(c);
  return n;
}

const STYLE = `<style>
.fused-table{font-family:var(--jp-code-font-family,monospace);font-size:12px}
.fused-table table{border-collapse:collapse}
.fused-table th,.fused-table td{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left;white-space:nowrap}
.fused-table td.num{text-align:right;font-variant-numeric:tabular-nums}
.fused-table td.null{color:#999;font-style:italic}
.fused-table th.idx{color:#888;font-weight:normal;text-align:right}
.fused-table .type{color:#888;font-weight:normal;font-size:11px}
.fused-table tr.elided td,.fused-table tr.elided th{color:#888;text-align:center;background:#f6f6f6}
.fused-table .shape{color:#555;margin-top:4px}
</style>`;

function plural(n: number, word: string): string {
  return `${formatCount(n)} ${word}${n === 1 ? "" : "s"}`;
}

function renderHtml(
  columns: Column[],
  cols: (number | null)[],
  rows: (number | null)[],
  nRows: number,
  cell: (c: Column, i: number) => string,
): string {
  const header = cols.map((c) =>
    c === null
      ? "<th>…</th>"
      : `<th title="${escapeHtml(columns[c].typeLabel)}">${
        escapeHtml(columns[c].name)
      }<br><span class="type">${escapeHtml(columns[c].typeLabel)}</span></th>`
  ).join("");
  const shownCount = rows.filter((r) => r !== null).length;
  const body = rows.map((r) => {
    if (r === null) {
      return `<tr class="elided"><th class="idx">…</th><td colspan="${cols.length}">… ${
        plural(nRows - shownCount, "more row")
      } …</td></tr>`;
    }
    const tds = cols.map((c) => {
      if (c === null) return "<td>…</td>";
      const col = columns[c];
      const raw = col.vector.get(r);
      const cls = raw === null || raw === undefined ? "null" : isNumeric(col.kind) ? "num" : "";
      return `<td${cls ? ` class="${cls}"` : ""}>${escapeHtml(cell(col, r))}</td>`;
    }).join("");
    return `<tr><th class="idx">${r}</th>${tds}</tr>`;
  }).join("\n");
  const shape = `${plural(nRows, "row")} × ${plural(columns.length, "column")}`;
  return `<div class="fused-table">${STYLE}<table><thead><tr><th></th>${header}</tr></thead><tbody>\n${body}\n</tbody></table><div class="shape">${shape}</div></div>`;
}

function renderPlain(
  columns: Column[],
  cols: (number | null)[],
  rows: (number | null)[],
  nRows: number,
  cell: (c: Column, i: number) => string,
): string {
  const grid: string[][] = [];
  const header = ["", ...cols.map((c) => (c === null ? "…" : columns[c].name))];
  const types = ["", ...cols.map((c) => (c === null ? "" : columns[c].typeLabel))];
  grid.push(header, types);
  for (const r of rows) {
    grid.push(
      r === null
        ? ["…", ...cols.map(() => "…")]
        : [String(r), ...cols.map((c) => (c === null ? "…" : cell(columns[c], r)))],
    );
  }
  const widths = header.map((_, j) => Math.max(...grid.map((row) => row[j].length)));
  const right = [true, ...cols.map((c) => c !== null && isNumeric(columns[c].kind))];
  const lines = grid.map((row) =>
    row.map((text, j) => (right[j] ? text.padStart(widths[j]) : text.padEnd(widths[j]))).join("  ")
      .trimEnd()
  );
  lines.push("", `[${plural(nRows, "row")} × ${plural(columns.length, "column")}]`);
  return lines.join("\n");
}

const RESOURCE_TYPES: Record<ColumnKind, string> = {
  int: "integer",
  number: "number",
  bool: "boolean",
  string: "string",
  date: "date",
  datetime: "datetime",
  geometry: "string",
  bytes: "string",
  other: "any",
};

/** The first `count` rows as a Frictionless data resource, every value JSON-safe. */
function dataResource(
  columns: Column[],
  nRows: number,
  count: number,
  maxChars: number,
): Record<string, unknown> {
  // Column by column: a slice's toArray() is a typed-array view for numbers, much cheaper than
  // a vector.get(i) per cell.
  const values = columns.map((c) => c.vector.slice(0, count).toArray() as ArrayLike<unknown>);
  const data: Record<string, unknown>[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const row: Record<string, unknown> = {};
    for (let j = 0; j < columns.length; j++) {
      row[columns[j].name] = jsonCell(columns[j], values[j][i], maxChars);
    }
    data[i] = row;
  }
  const resource: Record<string, unknown> = {
    schema: {
      fields: columns.map((c) => ({
        name: c.name,
        type: RESOURCE_TYPES[c.kind],
        ...(c.kind === "geometry" ? { format: "wkt-summary" } : {}),
      })),
    },
    data,
  };
  if (count < nRows) {
    resource.description = `First ${formatCount(count)} of ${
      formatCount(nRows)
    } rows (the display caps embedded rows)`;
  }
  return resource;
}

function jsonCell(column: Column, value: unknown, maxChars: number): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === "bigint") {
    return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER)
      ? Number(value)
      : value.toString();
  }
  if (typeof value === "number") return Number.isFinite(value) ? value : String(value);
  if (typeof value === "boolean" || typeof value === "string") return value;
  if (column.kind === "date" || column.kind === "datetime") return formatTime(value, column.kind);
  return formatCell(column, value, maxChars);
}
