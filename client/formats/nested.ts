/**
 * Arrow columns of nested JavaScript values (objects, arrays, tables), as the cells of fused-py's
 * `pool.df()` and `collect(flatten=False)` hold Python objects: objects become structs, arrays
 * lists, tables lists of row structs.
 *
 * @module
 */
import * as arrow from "apache-arrow";
import { isPlainObject, isTable } from "./types.ts";
import { tableToJsonRows } from "./records.ts";

/** A value as plain JSON-like data: tables as their rows, typed arrays as arrays. */
function plain(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (isTable(value)) return JSON.parse(tableToJsonRows(value as arrow.Table));
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    return Array.from(value as unknown as ArrayLike<number | bigint>, Number);
  }
  if (Array.isArray(value)) return value.map(plain);
  if (isPlainObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

/** The one Arrow type that holds every value, or undefined when their shapes differ. */
function inferType(values: unknown[]): arrow.DataType | undefined {
  const present = values.filter((v) => v !== null && v !== undefined);
  if (present.length === 0) return new arrow.Utf8();
  if (present.every((v) => typeof v === "number")) return new arrow.Float64();
  if (present.every((v) => typeof v === "string")) return new arrow.Utf8();
  if (present.every((v) => typeof v === "boolean")) return new arrow.Bool();
  if (present.every((v) => typeof v === "bigint")) return new arrow.Int64();
  if (present.every(Array.isArray)) {
    const item = inferType((present as unknown[][]).flat());
    return item && new arrow.List(new arrow.Field("item", item, true));
  }
  if (present.every(isPlainObject)) {
    const keys = [...new Set(present.flatMap((o) => Object.keys(o)))];
    if (keys.length === 0) return undefined;
    const fields: arrow.Field[] = [];
    for (const key of keys) {
      const type = inferType(present.map((o) => o[key]));
      if (!type) return undefined;
      fields.push(new arrow.Field(key, type, true));
    }
    return new arrow.Struct(fields);
  }
  return undefined;
}

/** Fills missing struct fields with null: Arrow's struct builder wants every field present. */
function conform(value: unknown, type: arrow.DataType): unknown {
  if (value === null || value === undefined) return null;
  if (arrow.DataType.isList(type)) {
    return (value as unknown[]).map((v) => conform(v, type.children[0].type));
  }
  if (arrow.DataType.isStruct(type)) {
    const row = value as Record<string, unknown>;
    return Object.fromEntries(type.children.map((f) => [f.name, conform(row[f.name], f.type)]));
  }
  return value;
}

/**
 * The Arrow type `nestedVector` gives these values: a struct, list or scalar type when they
 * share one shape, else Utf8 (each value as JSON text).
 *
 * @example
 * ```ts
 * import { nestedType } from "./nested.ts";
 * console.log(String(nestedType([{ a: 1 }, { a: 2, b: [true] }])));
 * ```
 */
export function nestedType(values: unknown[]): arrow.DataType {
  return inferType(values.map(plain)) ?? new arrow.Utf8();
}

/**
 * A column of nested values: objects as structs, arrays as lists, Arrow tables as lists of
 * rows. Values of different shapes (a number in one row, an object in another) fall back to
 * JSON text, as no one Arrow type holds them.
 *
 * @example
 * ```ts
 * import { nestedVector } from "./nested.ts";
 * const column = nestedVector([{ double: 2 }, { double: 4 }]);
 * if (column.get(1).toJSON().double !== 4) throw new Error("not nested");
 * ```
 */
export function nestedVector(
  values: unknown[],
  type: arrow.DataType = nestedType(values),
): arrow.Vector {
  const plainValues = values.map(plain);
  if (arrow.DataType.isUtf8(type)) {
    return arrow.vectorFromArray(
      plainValues.map((v) => (v === null || typeof v === "string" ? v : JSON.stringify(v))),
      type,
    );
  }
  return arrow.vectorFromArray(plainValues.map((v) => conform(v, type)), type);
}
