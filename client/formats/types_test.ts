import assert from "node:assert/strict";
import { tableFromArrays } from "apache-arrow";
import { UnsupportedResultError } from "./errors.ts";
import { Raster } from "./raster.ts";
import { classifyResult, isTable } from "./types.ts";

Deno.test("classifyResult names the kind of each allowed result", () => {
  const table = tableFromArrays({ x: Int32Array.from([1]) });
  const raster = Raster.from(new Uint8Array(1), [1, 1]);
  assert.equal(classifyResult(null), "null");
  assert.equal(classifyResult(undefined), "null");
  assert.equal(classifyResult("x"), "string");
  assert.equal(classifyResult(new Uint8Array(2)), "bytes");
  assert.equal(classifyResult(table), "table");
  assert.equal(classifyResult(raster), "raster");
  assert.equal(classifyResult(3.5), "json");
  assert.equal(classifyResult([1, "a", { b: [true, null] }]), "json");
});

Deno.test("a plain object is JSON unless one of its values is a table, raster or bytes", () => {
  assert.equal(classifyResult({ a: 1, b: { c: "d" } }), "json");
  assert.equal(classifyResult({ a: 1, t: tableFromArrays({ x: [1] }) }), "multi");
  assert.equal(classifyResult({ nested: { r: Raster.from(new Uint8Array(1), [1, 1]) } }), "multi");
});

Deno.test("unsupported values are refused with their type and the list of allowed results", () => {
  const cases: [unknown, RegExp][] = [
    [() => 1, /is a function/],
    [Symbol("s"), /is a symbol/],
    [10n, /BigInt/],
    [new Map([["a", 1]]), /Map \(convert it with Object\.fromEntries/],
    [new Set([1]), /Set/],
    [new Date(0), /Date/],
    [new Float32Array(2), /Float32Array \(wrap it with Raster\.from/],
    [new (class Thing {})(), /instance of Thing/],
    [Promise.resolve(1), /await it/],
    [{ a: { b: [1, 2n] } }, /result\.a\.b\[1\]: it is a BigInt/],
  ];
  for (const [value, pattern] of cases) {
    assert.throws(() => classifyResult(value), (e: Error) => {
      assert.ok(e instanceof UnsupportedResultError, `${String(e)}`);
      assert.match(e.message, pattern);
      return true;
    });
  }
  assert.throws(() => classifyResult(new Map()), /a UDF may return an Arrow Table/);
});

Deno.test("circular structures are refused instead of looping", () => {
  const a: Record<string, unknown> = { x: 1 };
  a.self = a;
  assert.throws(() => classifyResult(a), /refers to itself/);
  const arr: unknown[] = [1];
  arr.push(arr);
  assert.throws(() => classifyResult({ arr }), /refers to itself/);
});

Deno.test("the same object appearing twice without a cycle is accepted", () => {
  const shared = { v: 1 };
  assert.equal(classifyResult({ a: shared, b: shared, c: [shared, shared] }), "json");
});

Deno.test("tables inside arrays are refused with a hint to use a record", () => {
  assert.throws(
    () => classifyResult([tableFromArrays({ x: [1] })]),
    /arrays may hold only JSON values.*plain object/,
  );
});

Deno.test("isTable is duck-typed on schema.fields and batches", () => {
  assert.ok(isTable(tableFromArrays({ x: [1] })));
  assert.ok(isTable({ schema: { fields: [] }, batches: [] }));
  assert.ok(!isTable({ schema: {}, batches: [] }));
  assert.ok(!isTable(null));
});
