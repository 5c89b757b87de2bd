/**
 * The values a UDF may return, and one classifier that every format (HTTP, Worker transfer, cache)
 * uses, so that all of them accept and refuse the same values with the same message.
 *
 * Only type imports of apache-arrow here: this file is on the Worker's cold-start path.
 *
 * @module
 */

import type * as arrow from "apache-arrow";
import { isRaster, isShapedArray, type Raster } from "./raster.ts";
import { UnsupportedResultError } from "./errors.ts";
import { GEOMETRY_TYPE_NAMES } from "./_geometry_types.ts";

/** A value JSON can carry. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | JsonValue[]
  | { [key: string]: JsonValue };

/** Several named results, as Fused sends in one zip; produced only by decoding a zip. */
export interface MultiOutput {
  /** One result per name. */
  [name: string]: UdfResult;
}

/** Anything a UDF may return: a table, a raster, JSON, text, bytes, nothing, or several of these. */
export type UdfResult =
  | arrow.Table
  | Raster
  | JsonValue
  | string
  | Uint8Array
  | null
  | MultiOutput;

/** What kind of result a value is. */
export type ResultKind = "null" | "table" | "raster" | "bytes" | "string" | "json" | "multi";

/** The sentence every refusal ends with, so users learn what they can return. */
export const ALLOWED_RESULTS =
  "a UDF may return an Arrow Table, a Raster, a JSON value (number, boolean, array or plain object), a string, a Uint8Array, null, or a plain object whose values are any of these";

/**
 * True for an Arrow table, including one made by another copy of apache-arrow (duck-typed on
 * `schema.fields` and `batches`, as `instanceof` fails across module instances and Worker realms).
 */
export function isTable(value: unknown): value is arrow.Table {
  if (value === null || typeof value !== "object") return false;
  const v = value as { schema?: { fields?: unknown }; batches?: unknown };
  return Array.isArray(v.batches) && typeof v.schema === "object" && v.schema !== null &&
    Array.isArray(v.schema.fields);
}

/** True for an object made by `{}`, `Object.create(null)` or JSON.parse. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object") return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

const GEOMETRY_TYPES = new Set(GEOMETRY_TYPE_NAMES);

/**
 * True for a GeoJSON FeatureCollection, Feature or geometry object: a JSON result that is
 * geodata (encoded as GeoJSON, GeoParquet, Arrow or CSV on request, drawn on maps and tiles).
 *
 * @example
 * ```ts
 * import { isGeoJson } from "./types.ts";
 * if (!isGeoJson({ type: "Point", coordinates: [1, 2] }) || isGeoJson({ type: "x" })) {
 *   throw new Error("unexpected");
 * }
 * ```
 */
export function isGeoJson(value: unknown): boolean {
  if (value === null || typeof value !== "object") return false;
  const t = (value as { type?: unknown }).type;
  if (t === "FeatureCollection") return Array.isArray((value as { features?: unknown }).features);
  if (t === "Feature") return "geometry" in (value as object);
  return typeof t === "string" && GEOMETRY_TYPES.has(t) &&
    ("coordinates" in (value as object) || "geometries" in (value as object));
}

/**
 * Says what kind of result a value is, checking JSON values all the way down. A plain object is
 * JSON unless one of its values is a table, raster, Uint8Array or such an object: then it is a
 * multi-output (sent as a zip). Throws {@linkcode UnsupportedResultError} for anything else.
 *
 * @example
 * ```ts
 * import { classifyResult } from "./types.ts";
 * if (classifyResult({ a: 1 }) !== "json") throw new Error("unexpected");
 * if (classifyResult({ a: new Uint8Array(1) }) !== "multi") throw new Error("unexpected");
 * ```
 */
export function classifyResult(value: unknown): ResultKind {
  return classify(value, "result", new Set());
}

function classify(value: unknown, path: string, seen: Set<object>): ResultKind {
  if (value === null || value === undefined) return "null";
  if (typeof value === "string") return "string";
  if (value instanceof Uint8Array) return "bytes";
  if (isTable(value)) return "table";
  // `{ data: Float32Array, shape: [h, w] }` is a raster too (a numpy array, in fused-py terms).
  if (isRaster(value) || isShapedArray(value)) return "raster";
  if (isPlainObject(value)) {
    if (seen.has(value)) throw circular(path);
    seen.add(value);
    let multi = false;
    for (const [key, item] of Object.entries(value)) {
      const kind = classify(item, `${path}.${key}`, seen);
      if (kind !== "json" && kind !== "string" && kind !== "null") multi = true;
    }
    seen.delete(value);
    if (multi) {
      for (const [key, item] of Object.entries(value)) {
        if (item === undefined) {
          throw new UnsupportedResultError(
            `Cannot send ${path}.${key}: it is undefined, and a multi-output needs a value for every name (use null)`,
          );
        }
      }
      return "multi";
    }
    return "json";
  }
  checkJson(value, path, seen);
  return "json";
}

/** Throws unless `value` (not a plain object at the top) is a JSON value all the way down. */
function checkJson(value: unknown, path: string, seen: Set<object>): void {
  switch (typeof value) {
    case "boolean":
    case "number":
    case "string":
      return;
    case "undefined":
      return; // dropped from objects and written as null in arrays, as JSON.stringify does
    case "bigint":
      throw new UnsupportedResultError(
        `Cannot send ${path}: it is a BigInt, which JSON cannot carry (convert it with Number() or String()); ${ALLOWED_RESULTS}`,
      );
    case "function":
    case "symbol":
      throw new UnsupportedResultError(
        `Cannot send ${path}: it is a ${typeof value}; ${ALLOWED_RESULTS}`,
      );
  }
  if (value === null) return;
  const obj = value as object;
  if (Array.isArray(obj)) {
    if (seen.has(obj)) throw circular(path);
    seen.add(obj);
    obj.forEach((item, i) => {
      if (isTable(item) || isRaster(item) || item instanceof Uint8Array) {
        throw new UnsupportedResultError(
          `Cannot send ${path}[${i}]: arrays may hold only JSON values, not tables, rasters or bytes (return a plain object {name: value} instead)`,
        );
      }
      checkJson(item, `${path}[${i}]`, seen);
    });
    seen.delete(obj);
    return;
  }
  if (isPlainObject(obj)) {
    if (seen.has(obj)) throw circular(path);
    seen.add(obj);
    for (const [key, item] of Object.entries(obj)) {
      if (isTable(item) || isRaster(item) || item instanceof Uint8Array) {
        throw new UnsupportedResultError(
          `Cannot send ${path}.${key}: a table, raster or bytes may sit only directly in a returned object, not inside an array`,
        );
      }
      checkJson(item, `${path}.${key}`, seen);
    }
    seen.delete(obj);
    return;
  }
  throw new UnsupportedResultError(`Cannot send ${path}: ${describe(obj)}; ${ALLOWED_RESULTS}`);
}

function circular(path: string): UnsupportedResultError {
  return new UnsupportedResultError(
    `Cannot send ${path}: it refers to itself (a circular structure), which no result format can carry`,
  );
}

/** Names the type of a refused object and how to convert the common ones. */
function describe(value: object): string {
  if (value instanceof Map) {
    return "it is a Map (convert it with Object.fromEntries(map))";
  }
  if (value instanceof Set) return "it is a Set (convert it with Array.from(set))";
  if (value instanceof Date) {
    return "it is a Date (convert it with date.toISOString())";
  }
  if (ArrayBuffer.isView(value)) {
    return `it is a ${value.constructor.name} (wrap it with Raster.from(data, [height, width]) or return a Uint8Array)`;
  }
  if (value instanceof ArrayBuffer) {
    return "it is an ArrayBuffer (wrap it with new Uint8Array(buffer))";
  }
  if (value instanceof Promise) return "it is a Promise (await it before returning)";
  const name = value.constructor?.name;
  return `it is an instance of ${name ?? "a class"}, not a plain object`;
}
