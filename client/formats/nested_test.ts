import assert from "node:assert/strict";
import * as arrow from "apache-arrow";
import { nestedType, nestedVector } from "./nested.ts";

Deno.test("objects become structs, with null for the fields a row lacks", () => {
  const column = nestedVector([{ a: 1 }, { a: 2, b: "x" }, null]);
  assert.equal(String(column.type), "Struct<{a:Float64, b:Utf8}>");
  assert.deepEqual(column.get(1)!.toJSON(), { a: 2, b: "x" });
  assert.deepEqual(column.get(0)!.toJSON(), { a: 1, b: null });
  assert.equal(column.get(2), null);
});

Deno.test("arrays become lists and tables lists of their rows", () => {
  const table = arrow.tableFromArrays({ square: Float64Array.of(4, 9) });
  const column = nestedVector([table, [{ square: 16 }]]);
  assert.deepEqual(column.get(0)!.toJSON().map((r: arrow.StructRow) => r.toJSON()), [
    { square: 4 },
    { square: 9 },
  ]);
  assert.deepEqual(nestedVector([Float32Array.of(1, 2), [3]]).get(0)!.toJSON(), [1, 2]);
});

Deno.test("values of different shapes fall back to JSON text", () => {
  assert.equal(String(nestedType([1, { a: 1 }])), "Utf8");
  assert.deepEqual(nestedVector([1, { a: 1 }]).toJSON(), ["1", '{"a":1}']);
});
