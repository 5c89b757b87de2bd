/**
 * Arrays of records (plain objects) as tables, as fused-py turns a list of dicts into a
 * DataFrame: what `fused.submit` concatenates when each run returns `[{ n, sq }, ...]`.
 *
 * @module
 */
import * as arrow from "apache-arrow";
import { isPlainObject } from "./types.ts";

/**
 * A column of plain types: strings as Utf8 (not dictionaries, which get a new id per vector and
 * so make equal columns of two runs unequal types), numbers as Float64, booleans as Bool, and
 * anything else (mixed, nested) as JSON text.
 */
function plainColumn(values: unknown[]): arrow.Vector {
  const kinds = new Set(values.filter((v) => v !== null && v !== undefined).map((v) => typeof v));
  const only = kinds.size === 1 ? [...kinds][0] : kinds.size === 0 ? "string" : "mixed";
  const cells = values.map((v) => (v === undefined ? null : v));
  if (only === "string") return arrow.vectorFromArray(cells, new arrow.Utf8());
  if (only === "number") return arrow.vectorFromArray(cells, new arrow.Float64());
  if (only === "boolean") return arrow.vectorFromArray(cells, new arrow.Bool());
  return arrow.vectorFromArray(
    cells.map((v) => (v === null ? null : typeof v === "string" ? v : JSON.stringify(v))),
    new arrow.Utf8(),
  );
}

/**
 * The table of an array of records: one row per record, one column per key (in the order keys
 * first appear; a record without a key has null there). Undefined for anything that is not a
 * non-empty array of plain objects.
 *
 * @example
 * ```ts
 * import { recordsToTable } from "./records.ts";
 * const table = recordsToTable([{ n: 1, sq: 1 }, { n: 2, sq: 4 }])!;
 * if (table.numRows !== 2 || table.getChild("sq")?.get(1) !== 4) throw new Error("unexpected");
 * ```
 */
export function recordsToTable(value: unknown): arrow.Table | undefined {
  if (!Array.isArray(value) || value.length === 0 || !value.every(isPlainObject)) {
    return undefined;
  }
  const names = new Set<string>();
  for (const record of value) for (const key of Object.keys(record)) names.add(key);
  const columns: Record<string, arrow.Vector> = {};
  for (const name of names) columns[name] = plainColumn(value.map((r) => r[name]));
  return new arrow.Table(columns);
}

/**
 * A table's rows as JSON text (`[{"n":1,"sq":1},...]`), 64-bit integers as numbers when they
 * fit and as strings when they do not.
 *
 * @example
 * ```ts
 * import { tableFromArrays } from "apache-arrow";
 * import { tableToJsonRows } from "./records.ts";
 * if (tableToJsonRows(tableFromArrays({ n: [1, 2] })) !== '[{"n":1},{"n":2}]') throw new Error();
 * ```
 */
export function tableToJsonRows(table: arrow.Table): string {
  return JSON.stringify(
    table.toArray().map((row) => row.toJSON()),
    (_key, v) =>
      typeof v === "bigint" ? (Number.isSafeInteger(Number(v)) ? Number(v) : String(v)) : v,
  );
}
