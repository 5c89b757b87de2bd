import assert from "node:assert/strict";
import { decode, encode } from "fast-png";
import { interpolateViridis } from "d3-scale-chromatic";
import { CorruptDataError } from "./errors.ts";
import { pngToRaster, rasterToPNG } from "./png.ts";
import { Raster } from "./raster.ts";

function rgb(hex: string): number[] {
  return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
}

Deno.test("a single-band uint8 raster round-trips through PNG unchanged", () => {
  const data = Uint8Array.from({ length: 12 }, (_, i) => i * 20);
  const back = pngToRaster(rasterToPNG(Raster.from(data, [3, 4])));
  assert.deepEqual(back.shape, [3, 4]);
  assert.deepEqual([...back.data], [...data]);
});

Deno.test("RGB and RGBA uint8 rasters round-trip band-first", () => {
  for (const bands of [3, 4]) {
    const data = Uint8Array.from({ length: bands * 6 }, (_, i) => (i * 37) % 256);
    const back = pngToRaster(rasterToPNG(Raster.from(data, [bands, 2, 3])));
    assert.deepEqual(back.shape, [bands, 2, 3]);
    assert.deepEqual([...back.data], [...data]);
  }
});

Deno.test("a float band is coloured with viridis over its valid range, NaN transparent", () => {
  const r = Raster.from(Float32Array.from([10, 20, NaN, 30]), [2, 2]);
  const png = decode(rasterToPNG(r));
  assert.equal(png.channels, 4);
  const px = (i: number) => [...png.data.subarray(i * 4, i * 4 + 4)];
  assert.deepEqual(px(0), [...rgb(interpolateViridis(0)), 255]);
  assert.deepEqual(px(3), [...rgb(interpolateViridis(1)), 255]);
  assert.deepEqual(px(1), [...rgb(interpolateViridis(128 / 255)), 255]);
  assert.equal(px(2)[3], 0);
});

Deno.test("nodata is transparent and left out of the automatic range", () => {
  const r = Raster.from(Int16Array.from([-9999, 0, 50, 100]), [2, 2]);
  const png = decode(rasterToPNG(r, { nodata: -9999, colormap: "gray" }));
  assert.deepEqual([...png.data.subarray(0, 16)], [
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    255,
    128,
    128,
    128,
    255,
    255,
    255,
    255,
    255,
  ]);
});

Deno.test("an explicit range clamps values outside it", () => {
  const r = Raster.from(Float64Array.from([-5, 0, 5, 15]), [1, 4]);
  const png = decode(rasterToPNG(r, { colormap: "gray", range: [0, 10] }));
  assert.deepEqual([0, 1, 2, 3].map((i) => png.data[i * 4]), [0, 0, 128, 255]);
});

Deno.test("multi-band non-byte rasters are scaled to 0-255", () => {
  const r = Raster.from(Uint16Array.from([0, 1000, 2000, 0, 500, 2000, 0, 0, 2000]), [3, 1, 3]);
  const back = pngToRaster(rasterToPNG(r));
  assert.deepEqual([...back.data], [0, 128, 255, 0, 64, 255, 0, 0, 255]);
});

Deno.test("bounds survive a PNG round trip in a text chunk", () => {
  const r = Raster.from(new Uint8Array(4), [2, 2], { bounds: [-122.5, 37.1, -122.0, 37.9] });
  assert.deepEqual(pngToRaster(rasterToPNG(r)).bounds, [-122.5, 37.1, -122.0, 37.9]);
});

Deno.test("PNGs from other writers decode: palette, 16-bit and 1-bit gray", () => {
  const pal = pngToRaster(
    encode({
      width: 2,
      height: 1,
      data: Uint8Array.from([1, 0]),
      depth: 8,
      channels: 1,
      palette: [[255, 0, 0], [0, 0, 255]],
    }),
  );
  assert.deepEqual(pal.shape, [3, 1, 2]);
  assert.deepEqual([...pal.data], [0, 255, 0, 0, 255, 0]);
  const deep = pngToRaster(
    encode({ width: 2, height: 1, data: Uint16Array.from([1, 60000]), depth: 16, channels: 1 }),
  );
  assert.equal(deep.dtype, "uint16");
  assert.deepEqual([...deep.data], [1, 60000]);
  const bits = pngToRaster(
    encode({
      width: 10,
      height: 1,
      data: Uint8Array.from([0b10110000, 0b01000000]),
      depth: 1,
      channels: 1,
    }),
  );
  assert.deepEqual([...bits.data], [1, 0, 1, 1, 0, 0, 0, 0, 0, 1]);
});

Deno.test("a 2-band raster is refused for PNG with a hint", () => {
  assert.throws(
    () => rasterToPNG(Raster.from(new Uint8Array(8), [2, 2, 2])),
    /2-band raster.*raster\.band\(0\)/,
  );
});

Deno.test("bytes that are not a PNG raise CorruptDataError", () => {
  assert.throws(() => pngToRaster(new Uint8Array([1, 2, 3, 4])), CorruptDataError);
  const png = rasterToPNG(Raster.from(new Uint8Array(100), [10, 10]));
  assert.throws(() => pngToRaster(png.subarray(0, png.length - 20)), CorruptDataError);
});
