/**
 * CSV text from tables (RFC 4180: CRLF line ends, fields with commas, quotes or line breaks
 * quoted, quotes doubled). The geometry column is written as WKT, as GIS tools read it.
 *
 * @module
 */

import type * as arrow from "apache-arrow";
import { Buffer } from "node:buffer";
import { columnValues } from "./_columns.ts";
import { findGeometryColumn, wktFromWKB } from "./geo.ts";

/**
 * Writes a table as CSV with a header row; nulls are empty fields.
 *
 * @example
 * ```ts
 * import { tableFromArrays } from "apache-arrow";
 * import { tableToCSV } from "./csv.ts";
 * const csv = tableToCSV(tableFromArrays({ a: Int32Array.from([1]), b: ['say "hi", ok'] }));
 * if (csv !== 'a,b\r\n1,"say ""hi"", ok"\r\n') throw new Error("unexpected");
 * ```
 */
export function tableToCSV(table: arrow.Table): string {
  const geom = findGeometryColumn(table);
  const names = table.schema.fields.map((f) => f.name);
  const cols = names.map((name) => {
    const values = columnValues(table.getChild(name)!);
    if (name !== geom) return values.map(cell);
    return values.map((v) => (v ? quote(wktFromWKB(v as Uint8Array)) : ""));
  });
  const lines: string[] = [names.map(quote).join(",")];
  for (let i = 0; i < table.numRows; i++) {
    let line = "";
    for (let c = 0; c < cols.length; c++) line += (c > 0 ? "," : "") + cols[c][i];
    lines.push(line);
  }
  return lines.join("\r\n") + "\r\n";
}

/** One CSV field for an Arrow cell value. */
function cell(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return String(v);
  if (typeof v === "string") return quote(v);
  if (v instanceof Uint8Array) {
    return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64");
  }
  if (typeof v === "object" && "toJSON" in v) {
    return quote(JSON.stringify((v as { toJSON(): unknown }).toJSON()));
  }
  return quote(JSON.stringify(v));
}

/** Quotes a field when RFC 4180 requires it. */
function quote(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}
