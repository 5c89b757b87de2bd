import assert from "node:assert/strict";
import { ValidationError } from "../errors.ts";
import { dtypeOf, isRaster, Raster, typedArrayFor } from "./raster.ts";

Deno.test("a raster reports dtype, bands, height and width from its data and shape", () => {
  const r = Raster.from(new Int16Array(24), [2, 3, 4], { bounds: [-1, -2, 1, 2] });
  assert.equal(r.dtype, "int16");
  assert.deepEqual([r.bands, r.height, r.width], [2, 3, 4]);
  assert.deepEqual(r.bounds, [-1, -2, 1, 2]);
  const flat = Raster.from(new Float64Array(6), [2, 3]);
  assert.deepEqual([flat.bands, flat.height, flat.width, flat.dtype], [1, 2, 3, "float64"]);
});

Deno.test("a raster refuses data whose length does not match the shape", () => {
  assert.throws(
    () => Raster.from(new Uint8Array(5), [2, 3]),
    (e: Error) =>
      e instanceof ValidationError && /needs 6 values but the data has 5/.test(e.message),
  );
});

Deno.test("a raster refuses a 1-D or 4-D shape and non-integer sizes", () => {
  assert.throws(() => Raster.from(new Uint8Array(4), [4]), ValidationError);
  assert.throws(() => Raster.from(new Uint8Array(4), [1, 1, 2, 2]), ValidationError);
  assert.throws(() => Raster.from(new Uint8Array(4), [1.5, 2]), ValidationError);
});

Deno.test("a raster refuses arrays it cannot hold, naming them", () => {
  assert.throws(
    () => Raster.from(new BigInt64Array(4) as unknown as Uint8Array, [2, 2]),
    /cannot hold data of type BigInt64Array/,
  );
  assert.throws(
    () => Raster.from([1, 2, 3, 4] as unknown as Uint8Array, [2, 2]),
    /cannot hold data of type Array/,
  );
});

Deno.test("a raster refuses bounds that are not four finite numbers", () => {
  assert.throws(
    () => Raster.from(new Uint8Array(4), [2, 2], { bounds: [0, 0, 1] as never }),
    /bounds .* are not valid/,
  );
  assert.throws(
    () => Raster.from(new Uint8Array(4), [2, 2], { bounds: [0, 0, 1, NaN] }),
    ValidationError,
  );
});

Deno.test("band returns a view of one band without copying", () => {
  const r = Raster.from(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]), [2, 2, 2]);
  const b1 = r.band(1);
  assert.deepEqual([...b1], [5, 6, 7, 8]);
  b1[0] = 50;
  assert.equal(r.data[4], 50);
  assert.throws(() => r.band(2), /has bands 0 to 1/);
});

Deno.test("isRaster accepts rasters and raster-shaped objects from another module copy", () => {
  assert.ok(isRaster(Raster.from(new Uint8Array(1), [1, 1])));
  assert.ok(isRaster({ data: new Float32Array(1), shape: [1, 1], dtype: "float32" }));
  assert.ok(!isRaster({ data: [1], shape: [1, 1], dtype: "float32" }));
  assert.ok(!isRaster(new Uint8Array(1)));
});

Deno.test("typedArrayFor views aligned bytes and copies misaligned ones", () => {
  const buf = new ArrayBuffer(16);
  new Float32Array(buf)[1] = 2.5;
  const view = typedArrayFor("float32", buf, 4, 1);
  assert.equal(view[0], 2.5);
  assert.equal(view.buffer, buf);
  const bytes = new Uint8Array(9);
  new DataView(bytes.buffer).setFloat32(1, 7.5, true);
  const copy = typedArrayFor("float32", bytes.buffer, 1, 1);
  assert.equal(copy[0], 7.5);
  assert.notEqual(copy.buffer, bytes.buffer);
  assert.equal(dtypeOf(new Uint8ClampedArray(1)), undefined);
});

Deno.test("a typed array with a shape is a raster, and a wrong shape is refused", async () => {
  const { isShapedArray, toRaster } = await import("./raster.ts");
  const shaped = { data: Float32Array.of(1, 2, 3, 4, 5, 6), shape: [2, 3] };
  assert.ok(isShapedArray(shaped));
  assert.ok(!isShapedArray({ data: [1, 2], shape: [1, 2] }), "a plain array is JSON");
  assert.ok(!isShapedArray({ ...shaped, name: "x" }), "other keys make it a multi-output");
  const r = toRaster(shaped);
  assert.ok(r instanceof Raster);
  assert.deepEqual([r.dtype, r.height, r.width, r.data[5]], ["float32", 2, 3, 6]);
  assert.throws(() => toRaster({ data: new Float32Array(5), shape: [2, 3] }), /needs 6 values/);
});
