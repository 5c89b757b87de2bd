import assert from "node:assert/strict";
import { writeArrayBuffer } from "geotiff";
import { CorruptDataError } from "./errors.ts";
import { geotiffToRaster } from "./tiff.ts";

Deno.test("a georeferenced float GeoTIFF is read with its bounds", async () => {
  const values = Float32Array.from({ length: 12 }, (_, i) => i / 2);
  const tiff = writeArrayBuffer(values, {
    width: 4,
    height: 3,
    ModelPixelScale: [0.5, 0.25, 0],
    ModelTiepoint: [0, 0, 0, 10, 50, 0],
    GeographicTypeGeoKey: 4326,
    GTModelTypeGeoKey: 2,
  });
  const r = await geotiffToRaster(new Uint8Array(tiff));
  assert.equal(r.dtype, "float32");
  assert.deepEqual(r.shape, [3, 4]);
  assert.deepEqual([...r.data], [...values]);
  assert.deepEqual(r.bounds, [10, 49.25, 12, 50]);
});

Deno.test("a multi-band TIFF becomes a band-first raster", async () => {
  const data = [[[1, 2], [3, 4]], [[5, 6], [7, 8]], [[9, 10], [11, 12]]]; // band, row, col
  const tiff = writeArrayBuffer(data, { width: 2, height: 2 });
  const r = await geotiffToRaster(new Uint8Array(tiff));
  assert.deepEqual(r.shape, [3, 2, 2]);
  assert.deepEqual([...r.data], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  assert.deepEqual(r.bounds, [-180, -90, 180, 90]); // geotiff.js's writer default
});

/** A minimal baseline TIFF (8-bit gray, one strip, no GeoTIFF tags), written by hand. */
function plainTiff(width: number, height: number, pixels: Uint8Array): Uint8Array {
  const tags: [number, number, number][] = [ // tag, type (3 short, 4 long), value
    [256, 3, width],
    [257, 3, height],
    [258, 3, 8],
    [259, 3, 1],
    [262, 3, 1],
    [273, 4, 0], // strip offset, patched below
    [277, 3, 1],
    [278, 3, height],
    [279, 4, pixels.length],
  ];
  const ifdSize = 2 + tags.length * 12 + 4;
  const out = new Uint8Array(8 + ifdSize + pixels.length);
  const view = new DataView(out.buffer);
  out.set([0x49, 0x49, 42, 0]);
  view.setUint32(4, 8, true);
  view.setUint16(8, tags.length, true);
  tags.forEach(([tag, type, value], i) => {
    const at = 10 + i * 12;
    view.setUint16(at, tag, true);
    view.setUint16(at + 2, type, true);
    view.setUint32(at + 4, 1, true);
    const v = tag === 273 ? 8 + ifdSize : value;
    if (type === 3) view.setUint16(at + 8, v, true);
    else view.setUint32(at + 8, v, true);
  });
  out.set(pixels, 8 + ifdSize);
  return out;
}

Deno.test("a TIFF without georeferencing is read without bounds", async () => {
  const r = await geotiffToRaster(plainTiff(3, 2, Uint8Array.from([1, 2, 3, 4, 5, 6])));
  assert.deepEqual(r.shape, [2, 3]);
  assert.deepEqual([...r.data], [1, 2, 3, 4, 5, 6]);
  assert.equal(r.bounds, undefined);
});

Deno.test("a TIFF in a view on a larger buffer is read", async () => {
  const tiff = new Uint8Array(
    writeArrayBuffer(Uint8Array.from([9, 8, 7, 6]), { width: 2, height: 2 }),
  );
  const padded = new Uint8Array(tiff.length + 16);
  padded.set(tiff, 16);
  const r = await geotiffToRaster(padded.subarray(16));
  assert.deepEqual([...r.data], [9, 8, 7, 6]);
});

Deno.test("bytes that are not a TIFF raise CorruptDataError", async () => {
  await assert.rejects(
    () => geotiffToRaster(new TextEncoder().encode("hello, not a tiff")),
    CorruptDataError,
  );
});
