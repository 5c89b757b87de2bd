/**
 * A Python UDF's result, decoded once by the host. Debian has no pyarrow, so the Python process
 * (engine/python/fused/_encode.py) sends a DataFrame column by column: numbers as little-endian
 * buffers, booleans and validity as one byte a row, strings, bytes and WKB as int32 offsets plus
 * bytes, datetimes as int64 nanoseconds, dates as int32 days. This builds the Arrow table from those buffers (no copy
 * where they are aligned), with GeoParquet `geo` metadata for a GeoDataFrame's geometry (its CRS
 * as PROJJSON), so every other path sees the same table a TypeScript UDF returns. Every other
 * result kind is client/formats/packed.ts's. The process is untrusted: every length and offset is
 * checked before Arrow sees it.
 *
 * @module
 */
import * as arrow from "apache-arrow";
import { ValidationError } from "../client/errors.ts";
import {
  type BodyWriter,
  type PackedResult,
  packResult,
  unpackResult,
} from "../client/formats/packed.ts";
import {
  fromTransferable,
  toTransferable,
  type TransferMessage,
} from "../client/formats/transfer.ts";
import { computeGeoMetadata, geoMetadata, withSchemaMetadata } from "../client/formats/geo.ts";
import { isTable, type UdfResult } from "../client/formats/types.ts";

/** A numeric column type the Python process sends as a raw buffer. */
type PyNumeric =
  | "int8"
  | "int16"
  | "int32"
  | "int64"
  | "uint8"
  | "uint16"
  | "uint32"
  | "uint64"
  | "float32"
  | "float64";

/** One column of a {@linkcode PyTable}; `[offset, length]` pairs point into the frame's body. */
export interface PyColumn {
  /** The column's name. */
  name: string;
  /** How its values are laid out. */
  type: PyNumeric | "bool" | "utf8" | "binary" | "wkb" | "timestamp" | "date32";
  /** A timestamp column's time zone (values are UTC nanoseconds), or null when naive. */
  tz?: string | null;
  /** The values: raw numbers, one byte a boolean, or the bytes the offsets index. */
  data: [number, number];
  /** int32 offsets (rows + 1) of utf8, binary and wkb columns. */
  offsets?: [number, number];
  /** One byte a row, 0 for null; absent when no value is null. */
  validity?: [number, number];
}

/** A pandas DataFrame as the Python process sends it. */
export interface PyTable {
  kind: "pytable";
  /** Rows. */
  rows: number;
  /** Columns, in order. */
  columns: PyColumn[];
  /** A GeoDataFrame's geometry column and its CRS (PROJJSON; null when it has none). */
  geo?: { column: string; crs: unknown };
}

const NUMERIC: Record<PyNumeric, () => arrow.DataType> = {
  int8: () => new arrow.Int8(),
  int16: () => new arrow.Int16(),
  int32: () => new arrow.Int32(),
  int64: () => new arrow.Int64(),
  uint8: () => new arrow.Uint8(),
  uint16: () => new arrow.Uint16(),
  uint32: () => new arrow.Uint32(),
  uint64: () => new arrow.Uint64(),
  float32: () => new arrow.Float32(),
  float64: () => new arrow.Float64(),
};

const WIDTH: Record<PyNumeric, number> = {
  int8: 1,
  int16: 2,
  int32: 4,
  int64: 8,
  uint8: 1,
  uint16: 2,
  uint32: 4,
  uint64: 8,
  float32: 4,
  float64: 8,
};

function part(body: Uint8Array, at: unknown, what: string): Uint8Array {
  if (
    !Array.isArray(at) || at.length !== 2 || !Number.isSafeInteger(at[0]) ||
    !Number.isSafeInteger(at[1]) || at[0] < 0 || at[1] < 0 || at[0] + at[1] > body.byteLength
  ) {
    throw new TypeError(`${what} lies outside the frame`);
  }
  return body.subarray(at[0], at[0] + at[1]);
}

/** Bytes as a fresh aligned copy when a typed array cannot view them where they are. */
function aligned(bytes: Uint8Array, width: number): Uint8Array {
  return bytes.byteOffset % width === 0 ? bytes : bytes.slice();
}

/** One byte a row (non-zero = set) as an Arrow bitmap. */
function bitmap(bytes: Uint8Array): Uint8Array {
  const bits = new Uint8Array((bytes.byteLength + 7) >> 3);
  for (let i = 0; i < bytes.byteLength; i++) if (bytes[i]) bits[i >> 3] |= 1 << (i & 7);
  return bits;
}

function columnData(column: PyColumn, rows: number, body: Uint8Array): arrow.Data {
  const what = `column ${JSON.stringify(column.name)}`;
  const data = part(body, column.data, what);
  let nullBitmap: Uint8Array | undefined;
  let nullCount = 0;
  if (column.validity !== undefined) {
    const valid = part(body, column.validity, `${what}'s validity`);
    if (valid.byteLength !== rows) throw new TypeError(`${what}'s validity is not one byte a row`);
    for (const v of valid) if (!v) nullCount++;
    nullBitmap = bitmap(valid);
  }
  const common = { length: rows, nullCount, nullBitmap };
  if (Object.hasOwn(NUMERIC, column.type)) {
    const type = column.type as PyNumeric;
    if (data.byteLength !== rows * WIDTH[type]) throw new TypeError(`${what} has the wrong size`);
    // One overload for every numeric type: makeData picks the layout from the type at run time.
    const numeric = NUMERIC[type]() as arrow.Int;
    return arrow.makeData({ type: numeric, data: aligned(data, WIDTH[type]), ...common });
  }
  if (column.type === "bool") {
    if (data.byteLength !== rows) throw new TypeError(`${what} is not one byte a row`);
    return arrow.makeData({ type: new arrow.Bool(), data: bitmap(data), ...common });
  }
  if (column.type === "timestamp") {
    if (data.byteLength !== rows * 8) throw new TypeError(`${what} has the wrong size`);
    const tz = typeof column.tz === "string" ? column.tz : null;
    const values = aligned(data, 8);
    return arrow.makeData({
      type: new arrow.TimestampNanosecond(tz),
      data: new BigInt64Array(values.buffer, values.byteOffset, rows),
      ...common,
    });
  }
  if (column.type === "date32") {
    // Days since 1970-01-01, int32 (Python's datetime.date).
    if (data.byteLength !== rows * 4) throw new TypeError(`${what} has the wrong size`);
    const values = aligned(data, 4);
    return arrow.makeData({
      type: new arrow.DateDay(),
      data: new Int32Array(values.buffer, values.byteOffset, rows),
      ...common,
    });
  }
  if (column.type === "utf8" || column.type === "binary" || column.type === "wkb") {
    const raw = aligned(part(body, column.offsets, `${what}'s offsets`), 4);
    if (raw.byteLength !== (rows + 1) * 4) {
      throw new TypeError(`${what}'s offsets are not rows + 1`);
    }
    const offsets = new Int32Array(raw.buffer, raw.byteOffset, rows + 1);
    for (let i = 0; i < rows; i++) {
      if (offsets[i] < 0 || offsets[i + 1] < offsets[i]) {
        throw new TypeError(`${what}'s offsets go backwards`);
      }
    }
    if (offsets[0] !== 0 || offsets[rows] !== data.byteLength) {
      throw new TypeError(`${what}'s offsets do not span its bytes`);
    }
    const values = { data, valueOffsets: offsets, ...common };
    return column.type === "utf8"
      ? arrow.makeData({ type: new arrow.Utf8(), ...values })
      : arrow.makeData({ type: new arrow.Binary(), ...values });
  }
  throw new TypeError(`${what} has the unknown type ${JSON.stringify(column.type)}`);
}

/** The Arrow table of a DataFrame the Python process sent, with `geo` metadata when it has one. */
export function tableFromPython(packed: PyTable, body: Uint8Array): arrow.Table {
  const rows = packed.rows;
  if (!Number.isSafeInteger(rows) || rows < 0 || !Array.isArray(packed.columns)) {
    throw new TypeError("the table's rows or columns are malformed");
  }
  const fields: arrow.Field[] = [];
  const children: arrow.Data[] = [];
  for (const column of packed.columns) {
    const data = columnData(column, rows, body);
    fields.push(new arrow.Field(String(column.name), data.type, data.nullCount > 0));
    children.push(data);
  }
  const schema = new arrow.Schema(fields);
  const struct = arrow.makeData({
    type: new arrow.Struct(fields),
    length: rows,
    nullCount: 0,
    children,
  });
  const table = new arrow.Table(schema, [new arrow.RecordBatch(schema, struct)]);
  if (!packed.geo) return table;
  const column = String(packed.geo.column);
  const geo = computeGeoMetadata(table, column);
  // GeoParquet: no crs means OGC:CRS84; a GeoDataFrame's CRS (EPSG:4326 too) is kept as given.
  if (packed.geo.crs !== null && packed.geo.crs !== undefined) {
    geo.columns[column].crs = packed.geo.crs;
  }
  return withSchemaMetadata(table, new Map([["geo", JSON.stringify(geo)]]));
}

/** A Python process's result as the value every path uses. */
export function decodePythonResult(
  packed: PackedResult | PyTable,
  body: Uint8Array,
): Promise<UdfResult> {
  if (packed?.kind === "pytable") return Promise.resolve(tableFromPython(packed, body));
  return fromTransferable(unpackResult(packed, body));
}

/** Bytes of a typed array, as they lie in memory (little-endian here). */
function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/** One byte a row, 0 for null, or undefined when no value is null. */
function validityOf(vector: arrow.Vector): Uint8Array | undefined {
  if (vector.nullCount === 0) return undefined;
  const out = new Uint8Array(vector.length);
  let at = 0;
  for (const data of vector.data) {
    for (let i = 0; i < data.length; i++) out[at + i] = data.getValid(i) ? 1 : 0;
    at += data.length;
  }
  return out;
}

/** Variable-length values (strings, bytes, WKB) as int32 offsets plus their bytes. */
function offsetsOf(
  vector: arrow.Vector,
  encode: (value: unknown) => Uint8Array,
  name: string,
): { offsets: Int32Array; data: Uint8Array } {
  const chunks: Uint8Array[] = [];
  const offsets = new Int32Array(vector.length + 1);
  let total = 0;
  for (let i = 0; i < vector.length; i++) {
    const value = vector.get(i);
    const bytes = value === null || value === undefined ? new Uint8Array(0) : encode(value);
    total += bytes.byteLength;
    if (total > 2 ** 31 - 1) {
      throw new ValidationError(
        `Column ${
          JSON.stringify(name)
        } holds over 2 GiB of text or bytes, more than a Python UDF can receive: return fewer rows`,
      );
    }
    chunks.push(bytes);
    offsets[i + 1] = total;
  }
  const data = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    data.set(chunk, at);
    at += chunk.byteLength;
  }
  return { offsets, data };
}

const INT_NAMES: Record<number, PyNumeric> = { 8: "int8", 16: "int16", 32: "int32", 64: "int64" };
const UINT_NAMES: Record<number, PyNumeric> = {
  8: "uint8",
  16: "uint16",
  32: "uint32",
  64: "uint64",
};
const NS_PER_UNIT = [1_000_000_000n, 1_000_000n, 1_000n, 1n]; // arrow.TimeUnit SECOND..NANOSECOND
const MS_PER_DAY = 86_400_000;
const encoder = new TextEncoder();

/** One Arrow column as {@linkcode PyColumn}, its buffers added to `writer`. */
function columnToPython(
  name: string,
  vector: arrow.Vector,
  wkb: boolean,
  writer: BodyWriter,
): PyColumn {
  const type = vector.type;
  if (arrow.DataType.isDictionary(type)) {
    return columnToPython(name, arrow.vectorFromArray([...vector], type.dictionary), wkb, writer);
  }
  const valid = validityOf(vector);
  const column = (spec: Omit<PyColumn, "name" | "validity">): PyColumn => ({
    name,
    ...spec,
    ...(valid && { validity: writer.add(valid) }),
  });
  const variable = (kind: "utf8" | "binary" | "wkb", encode: (v: unknown) => Uint8Array) => {
    const { offsets, data } = offsetsOf(vector, encode, name);
    return column({ type: kind, offsets: writer.add(bytesOf(offsets)), data: writer.add(data) });
  };
  if (arrow.DataType.isInt(type)) {
    const kind = (type.isSigned ? INT_NAMES : UINT_NAMES)[type.bitWidth];
    return column({ type: kind, data: writer.add(bytesOf(vector.toArray())) });
  }
  if (arrow.DataType.isFloat(type)) {
    if (type.precision === arrow.Precision.DOUBLE) {
      return column({ type: "float64", data: writer.add(bytesOf(vector.toArray())) });
    }
    // float32 as it is; float16 widened, as pandas has no half floats in its DataFrames.
    const values = type.precision === arrow.Precision.SINGLE
      ? vector.toArray() as Float32Array
      : Float32Array.from({ length: vector.length }, (_, i) => vector.get(i) ?? 0);
    return column({ type: "float32", data: writer.add(bytesOf(values)) });
  }
  if (arrow.DataType.isBool(type)) {
    const values = Uint8Array.from({ length: vector.length }, (_, i) => vector.get(i) ? 1 : 0);
    return column({ type: "bool", data: writer.add(values) });
  }
  if (arrow.DataType.isTimestamp(type)) {
    const ns = new BigInt64Array(vector.length);
    const scale = NS_PER_UNIT[type.unit];
    let at = 0;
    for (const data of vector.data) {
      const values = data.values as unknown;
      if (!(values instanceof BigInt64Array)) {
        throw new TypeError(`column ${JSON.stringify(name)}'s timestamps are not 64-bit`);
      }
      for (let i = 0; i < data.length; i++) ns[at + i] = values[i] * scale;
      at += data.length;
    }
    return column({ type: "timestamp", tz: type.timezone ?? null, data: writer.add(bytesOf(ns)) });
  }
  if (arrow.DataType.isDate(type)) {
    const days = Int32Array.from(
      { length: vector.length },
      (_, i) => Math.floor(Number(vector.get(i) ?? 0) / MS_PER_DAY),
    );
    return column({ type: "date32", data: writer.add(bytesOf(days)) });
  }
  if (arrow.DataType.isUtf8(type) || arrow.DataType.isLargeUtf8(type)) {
    return variable("utf8", (v) => encoder.encode(String(v)));
  }
  if (arrow.DataType.isBinary(type) || arrow.DataType.isLargeBinary(type)) {
    return variable(wkb ? "wkb" : "binary", (v) => v as Uint8Array);
  }
  throw new ValidationError(
    `Column ${
      JSON.stringify(name)
    } is ${type}, which a Python UDF cannot receive as a DataFrame column (numbers, booleans, strings, bytes, dates, timestamps and WKB geometry can): have the UDF return it as JSON text, e.g. JSON.stringify each value`,
  );
}

/**
 * An Arrow table as a Python UDF receives it: the encoding {@linkcode tableFromPython} reads, in
 * the other direction (engine/python/fused/_result.py builds the pandas DataFrame, a
 * GeoDataFrame when the table has `geo` metadata).
 */
export function tableToPython(table: arrow.Table, writer: BodyWriter): PyTable {
  const geo = geoMetadata(table);
  const columns = table.schema.fields.map((field) =>
    columnToPython(
      field.name,
      table.getChild(field.name)!,
      geo !== undefined && Object.hasOwn(geo.columns, field.name),
      writer,
    )
  );
  const packed: PyTable = { kind: "pytable", rows: table.numRows, columns };
  if (geo) {
    // GeoParquet: a column without "crs" is longitude/latitude (OGC:CRS84); null is unknown.
    const meta = geo.columns[geo.primary_column] ?? {};
    packed.geo = {
      column: geo.primary_column,
      crs: Object.hasOwn(meta, "crs") ? meta.crs ?? null : "OGC:CRS84",
    };
  }
  return packed;
}

function packMessageForPython(
  message: TransferMessage,
  writer: BodyWriter,
): PackedResult | PyTable {
  if (message.kind === "table") return tableToPython(arrow.tableFromIPC(message.ipc), writer);
  if (message.kind !== "multi") return packResult(message, writer);
  const entries: Record<string, PackedResult | PyTable> = {};
  for (const [name, entry] of Object.entries(message.entries)) {
    entries[name] = packMessageForPython(entry, writer);
  }
  return { kind: "multi", entries } as PackedResult;
}

/**
 * A nested run's result for a Python UDF: tables column by column (it has no Arrow reader),
 * everything else as client/formats/packed.ts packs it.
 */
export async function packForPython(
  data: UdfResult,
  writer: BodyWriter,
): Promise<PackedResult | PyTable> {
  if (isTable(data)) return tableToPython(data, writer);
  const { message } = await toTransferable(data, { copy: true });
  return packMessageForPython(message, writer);
}
