/** The host's decoding of a Python process's DataFrame: built once, checked as untrusted input. */
import assert from "node:assert/strict";
import { geoMetadata } from "../client/formats/geo.ts";
import * as arrow from "apache-arrow";
import { ValidationError } from "../client/errors.ts";
import { BodyWriter } from "../client/formats/packed.ts";
import { decodePythonResult, type PyTable, tableFromPython, tableToPython } from "./_py_result.ts";

function bytes(...parts: ArrayBufferView[]): { body: Uint8Array; at: [number, number][] } {
  const at: [number, number][] = [];
  let length = 0;
  for (const p of parts) {
    length += (8 - (length % 8)) % 8;
    at.push([length, p.byteLength]);
    length += p.byteLength;
  }
  const body = new Uint8Array(length);
  parts.forEach((p, i) => body.set(new Uint8Array(p.buffer, p.byteOffset, p.byteLength), at[i][0]));
  return { body, at };
}

Deno.test("columns become typed Arrow columns with nulls from the validity bytes", () => {
  const { body, at } = bytes(
    new Float64Array([1.5, 0, 3]),
    new Uint8Array([1, 0, 1]),
    new Int32Array([0, 3, 3, 6]),
    new TextEncoder().encode("héllo"), // é is two bytes: "hé" is 3
    new Uint8Array([1, 0, 1]),
  );
  const packed: PyTable = {
    kind: "pytable",
    rows: 3,
    columns: [
      { name: "x", type: "float64", data: at[0], validity: at[1] },
      { name: "s", type: "utf8", offsets: at[2], data: at[3] },
      { name: "b", type: "bool", data: at[4] },
    ],
  };
  const table = tableFromPython(packed, body);
  assert.deepEqual([...table.getChild("x")!], [1.5, null, 3]);
  assert.deepEqual([...table.getChild("s")!], ["hé", "", "llo"]);
  assert.deepEqual([...table.getChild("b")!], [true, false, true]);
  assert.equal(table.schema.fields[0].nullable, true);
});

Deno.test("a geometry column gets geo metadata with the CRS the process sent", async () => {
  // POINT (1 2) as little-endian WKB.
  const wkb = new Uint8Array(21);
  const view = new DataView(wkb.buffer);
  wkb[0] = 1;
  view.setUint32(1, 1, true);
  view.setFloat64(5, 1, true);
  view.setFloat64(13, 2, true);
  const { body, at } = bytes(new Int32Array([0, 21]), wkb);
  const crs = { type: "GeographicCRS", id: { authority: "EPSG", code: 4326 } };
  const table = await decodePythonResult({
    kind: "pytable",
    rows: 1,
    columns: [{ name: "geometry", type: "wkb", offsets: at[0], data: at[1] }],
    geo: { column: "geometry", crs },
  }, body);
  const geo = geoMetadata(table as never)!;
  assert.deepEqual(geo.columns.geometry.geometry_types, ["Point"]);
  assert.deepEqual(geo.columns.geometry.bbox, [1, 2, 1, 2]);
  assert.deepEqual(geo.columns.geometry.crs, crs);
});

Deno.test("malformed columns from the process are refused before Arrow reads them", () => {
  const { body, at } = bytes(new Int32Array([0, 4, 2]), new Uint8Array(4));
  const base = { kind: "pytable" as const, rows: 2 };
  const refused = (columns: PyTable["columns"], message: RegExp) =>
    assert.throws(() => tableFromPython({ ...base, columns }, body), message);
  refused([{ name: "s", type: "utf8", offsets: at[0], data: at[1] }], /offsets go backwards/);
  refused([{ name: "n", type: "int64", data: at[1] }], /wrong size/);
  refused([{ name: "d", type: "date32", data: at[1] }], /wrong size/); // 4 bytes for 2 rows
  refused([{ name: "n", type: "int8", data: [0, 999] }], /outside the frame/);
  refused([{ name: "n", type: "int8", data: [0, 2], validity: [0, 1] }], /not one byte a row/);
  refused([{ name: "n", type: "object" as never, data: [0, 2] }], /unknown type "object"/);
});

Deno.test("an Arrow table goes to a Python UDF column by column and reads back the same", () => {
  const table = new arrow.Table({
    n: arrow.vectorFromArray([1, null, 3], new arrow.Int16()),
    half: arrow.vectorFromArray([0.5, 1, null], new arrow.Float16()),
    word: arrow.vectorFromArray(["a", null, "a"]), // a dictionary column: sent as its values
    at: arrow.vectorFromArray([1000, null, 0], new arrow.TimestampSecond("UTC")),
  });
  const writer = new BodyWriter();
  const packed = tableToPython(table, writer);
  assert.deepEqual(packed.columns.map((c) => c.type), ["int16", "float32", "utf8", "timestamp"]);
  const body = new Uint8Array(writer.length);
  let at = 0;
  for (const part of writer.parts) {
    body.set(part, at);
    at += part.byteLength;
  }
  const back = tableFromPython(packed, body);
  assert.deepEqual([...back.getChild("n")!], [1, null, 3]);
  assert.deepEqual([...back.getChild("half")!], [0.5, 1, null]);
  assert.deepEqual([...back.getChild("word")!], ["a", null, "a"]);
  assert.equal(back.getChild("at")!.type.toString(), "Timestamp<NANOSECOND, UTC>");
  const ms = (v: unknown) => v === null ? null : Number(v);
  assert.deepEqual([...back.getChild("at")!].map(ms), [1000, null, 0]);
  assert.deepEqual([...table.getChild("at")!].map(ms), [1000, null, 0]);
});

Deno.test("a column a DataFrame cannot hold is refused, naming it and what to do", () => {
  const table = new arrow.Table({
    list: arrow.vectorFromArray(
      [[1], [2]],
      new arrow.List(new arrow.Field("item", new arrow.Int32())),
    ),
  });
  assert.throws(
    () => tableToPython(table, new BodyWriter()),
    (err: Error) =>
      err instanceof ValidationError && /Column "list" is List/.test(err.message) &&
      /JSON text/.test(err.message),
  );
});
