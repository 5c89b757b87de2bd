/**
 * Row gathering for Arrow tables: builds a one-batch table whose row i is row `order[i]` of the
 * input. apache-arrow (JS) has no `take` kernel, and going through JS values (`get` then
 * `vectorFromArray`) costs ~1 s per million strings; copying typed-array buffers directly is
 * ~20x faster, so the common column types (numbers, dates, strings, binary, dictionaries) are
 * gathered buffer to buffer and only rarer ones (booleans, lists, structs) go through JS values.
 *
 * @module
 */

import * as arrow from "apache-arrow";

/** Where each gathered row lives: batch number and row inside that batch. */
interface Sources {
  piece: Uint32Array | null;
  local: Uint32Array;
}

/**
 * Returns a table with one record batch whose rows are the input rows listed in `order`, in that
 * order (an index may repeat, as when geometries are exploded). Columns in `given` (by name) are
 * those rows already, as the caller built them, and are used as they are.
 */
export function takeRows(
  table: arrow.Table,
  order: Uint32Array,
  given?: ReadonlyMap<string, arrow.Data>,
): arrow.Table {
  const sources = locate(table, order);
  const children = table.schema.fields.map((field, i) =>
    given?.get(field.name) ?? takeColumn(table.getChildAt(i)!, field.type, order, sources)
  );
  const data = arrow.makeData({
    type: new arrow.Struct(table.schema.fields),
    length: order.length,
    nullCount: 0,
    children,
  });
  return new arrow.Table([new arrow.RecordBatch(table.schema, data)]);
}

function locate(table: arrow.Table, order: Uint32Array): Sources {
  const batches = table.batches;
  if (batches.length <= 1) return { piece: null, local: order };
  const starts = new Float64Array(batches.length + 1);
  for (let b = 0; b < batches.length; b++) starts[b + 1] = starts[b] + batches[b].numRows;
  const piece = new Uint32Array(order.length);
  const local = new Uint32Array(order.length);
  for (let i = 0; i < order.length; i++) {
    const row = order[i];
    // Binary search: the first batch whose end is past the row.
    let lo = 0;
    let hi = batches.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid + 1] > row) hi = mid;
      else lo = mid + 1;
    }
    piece[i] = lo;
    local[i] = row - starts[lo];
  }
  return { piece, local };
}

type AnyData = arrow.Data<arrow.DataType>;

function isFixedWidth(type: arrow.DataType): boolean {
  const T = arrow.DataType;
  return T.isInt(type) || T.isFloat(type) || T.isDate(type) || T.isTime(type) ||
    T.isTimestamp(type) || T.isDecimal(type) || T.isFixedSizeBinary(type) ||
    T.isInterval(type) || T.isDuration(type);
}

function takeColumn(
  vector: arrow.Vector,
  type: arrow.DataType,
  order: Uint32Array,
  src: Sources,
): AnyData {
  const pieces = vector.data as AnyData[];
  const n = order.length;
  if (arrow.DataType.isNull(type)) return arrow.makeData({ type, length: n, nullCount: n });
  if (isFixedWidth(type)) {
    const { nullBitmap, nullCount } = takeValidity(pieces, src, n);
    return arrow.makeData(
      { type, length: n, nullCount, nullBitmap, data: takeFixed(pieces, src, n) } as never,
    );
  }
  if (
    arrow.DataType.isDictionary(type) && pieces.every((p) => p.dictionary === pieces[0].dictionary)
  ) {
    const { nullBitmap, nullCount } = takeValidity(pieces, src, n);
    return arrow.makeData({
      type,
      length: n,
      nullCount,
      nullBitmap,
      data: takeFixed(pieces, src, n),
      dictionary: pieces[0].dictionary,
    } as never);
  }
  if (arrow.DataType.isBinary(type) || arrow.DataType.isUtf8(type)) {
    const { nullBitmap, nullCount } = takeValidity(pieces, src, n);
    const { valueOffsets, data } = takeVariable(pieces, src, n);
    return arrow.makeData({ type, length: n, nullCount, nullBitmap, valueOffsets, data } as never);
  }
  // Everything else through JS values: exact, slower, and rare in geospatial tables.
  const values = new Array(n);
  for (let i = 0; i < n; i++) values[i] = plain(vector.get(order[i]));
  return arrow.vectorFromArray(values, type).data[0] as AnyData;
}

/** Turns nested Arrow values (list Vectors, struct rows) into the plain values builders take. */
function plain(v: unknown): unknown {
  if (v instanceof arrow.Vector) return Array.from(v, plain);
  if (v !== null && typeof v === "object" && !ArrayBuffer.isView(v) && "toJSON" in v) {
    const obj = (v as { toJSON(): Record<string, unknown> }).toJSON();
    if (obj instanceof Map) return obj;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(obj)) out[k] = plain(x);
    return out;
  }
  return v;
}

function takeValidity(
  pieces: AnyData[],
  src: Sources,
  n: number,
): { nullBitmap: Uint8Array | undefined; nullCount: number } {
  if (pieces.every((p) => p.nullCount === 0 || !p.nullBitmap?.length)) {
    return { nullBitmap: undefined, nullCount: 0 };
  }
  const out = new Uint8Array((n + 7) >> 3);
  let nullCount = 0;
  for (let i = 0; i < n; i++) {
    const p = pieces[src.piece ? src.piece[i] : 0];
    const bits = p.nullBitmap;
    const at = p.offset + src.local[i];
    const valid = p.nullCount === 0 || !bits?.length || (bits[at >> 3] >> (at & 7)) & 1;
    if (valid) out[i >> 3] |= 1 << (i & 7);
    else nullCount++;
  }
  return { nullBitmap: out, nullCount };
}

type TypedArray =
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

function takeFixed(pieces: AnyData[], src: Sources, n: number): TypedArray {
  // Fixed-width values are already sliced to the piece (unlike the validity bitmap).
  const first = pieces[0].values as TypedArray;
  const stride = pieces[0].stride;
  const Ctor = first.constructor as new (length: number) => TypedArray;
  const out = new Ctor(n * stride);
  const { piece, local } = src;
  if (piece === null && stride === 1) {
    // deno-lint-ignore no-explicit-any
    const v = first as any, o = out as any;
    for (let i = 0; i < n; i++) o[i] = v[local[i]];
    return out;
  }
  // deno-lint-ignore no-explicit-any
  const o = out as any;
  for (let i = 0; i < n; i++) {
    // deno-lint-ignore no-explicit-any
    const v = pieces[piece ? piece[i] : 0].values as any;
    const from = local[i] * stride;
    for (let k = 0; k < stride; k++) o[i * stride + k] = v[from + k];
  }
  return out;
}

function takeVariable(
  pieces: AnyData[],
  src: Sources,
  n: number,
): { valueOffsets: Int32Array; data: Uint8Array } {
  const { piece, local } = src;
  const valueOffsets = new Int32Array(n + 1);
  // Where each value starts in its piece, noted in the first pass so that the second reads these
  // in order instead of the source offsets again at random.
  const starts = new Int32Array(n);
  let total = 0;
  const offs0 = pieces[0].valueOffsets as Int32Array;
  for (let i = 0; i < n; i++) {
    const offs = piece ? pieces[piece[i]].valueOffsets as Int32Array : offs0;
    const l = local[i];
    const start = offs[l];
    starts[i] = start;
    total += offs[l + 1] - start;
    if (total > 0x7fffffff) throw tooLarge();
    valueOffsets[i + 1] = total;
  }
  const data = new Uint8Array(total);
  let bytes = pieces[0].values as Uint8Array;
  for (let i = 0; i < n; i++) {
    if (piece) bytes = pieces[piece[i]].values as Uint8Array;
    let from = starts[i];
    let to = valueOffsets[i];
    const end = valueOffsets[i + 1];
    // Short values (WKB points are 21 bytes) copy faster byte by byte than through a subarray.
    if (end - to <= 64) { while (to < end) data[to++] = bytes[from++]; }
    else data.set(bytes.subarray(from, from + end - to), to);
  }
  return { valueOffsets, data };
}

function tooLarge(): RangeError {
  return new RangeError(
    "A string or binary column holds more than 2 GiB in one output file: lower partitioningMaximumPerFile",
  );
}
