import assert from "node:assert/strict";
import { decode } from "fast-png";
import { Buffer } from "node:buffer";
import { Raster } from "../client/formats/raster.ts";
import { valueRange } from "../client/formats/png.ts";
import { describeRaster, rasterToMimeBundle } from "./raster.ts";

function png(b64: unknown): ReturnType<typeof decode> {
  return decode(Buffer.from(String(b64), "base64"));
}

Deno.test("a single-band float raster becomes a colour-mapped PNG with range and bounds", () => {
  const r = Raster.from(Float32Array.from([0, 1, 2, 3, 4, 5]), [2, 3], { bounds: [0, 0, 3, 2] });
  const b = rasterToMimeBundle(r);
  const img = png(b.data["image/png"]);
  assert.equal(img.width, 3);
  assert.equal(img.height, 2);
  assert.equal(img.channels, 4);
  // automatic range: the smallest and largest values get different colours
  assert.notDeepEqual([...img.data.slice(0, 3)], [...img.data.slice(20, 23)]);
  assert.deepEqual(b.metadata?.["image/png"], {
    width: 3,
    height: 2,
    bounds: [0, 0, 3, 2],
    range: [0, 5],
    colormap: "viridis",
  });
  assert.equal(b.data["text/plain"], "Raster 2×3 float32, bounds [0, 0, 3, 2], range [0, 5]");
});

Deno.test("a three-band uint8 raster becomes an RGB PNG with the exact values", () => {
  const data = new Uint8Array(3 * 2 * 2);
  data.fill(200, 0, 4); // red band
  data.fill(10, 4, 8);
  data.fill(30, 8, 12);
  const b = rasterToMimeBundle(Raster.from(data, [3, 2, 2]));
  const img = png(b.data["image/png"]);
  assert.equal(img.channels, 3);
  assert.deepEqual([...img.data.slice(0, 3)], [200, 10, 30]);
  assert.equal(b.data["text/plain"], "Raster 3×2×2 uint8, range [10, 200]");
});

Deno.test("a four-band raster becomes an RGBA PNG", () => {
  const b = rasterToMimeBundle(Raster.from(new Uint8Array(4 * 4 * 4).fill(7), [4, 4, 4]));
  assert.equal(png(b.data["image/png"]).channels, 4);
});

Deno.test("nodata values are left out of the range and drawn transparent", () => {
  const r = Raster.from(Float64Array.from([-9999, 1, 2, 3]), [2, 2]);
  const b = rasterToMimeBundle(r, { nodata: -9999 });
  assert.deepEqual((b.metadata?.["image/png"] as { range: number[] }).range, [1, 3]);
  assert.equal(png(b.data["image/png"]).data[3], 0);
});

Deno.test("a raster of only NaN has no range and still renders", () => {
  const r = Raster.from(new Float32Array([NaN, NaN]), [1, 2]);
  assert.equal(valueRange(r.data), undefined);
  const b = rasterToMimeBundle(r);
  assert.equal(b.data["text/plain"], "Raster 1×2 float32");
  assert.equal(png(b.data["image/png"]).width, 2);
});

Deno.test("a two-band raster is refused with the formats module's clear error", () => {
  assert.throws(
    () => rasterToMimeBundle(Raster.from(new Uint8Array(8), [2, 2, 2])),
    /2-band raster/,
  );
});

Deno.test("the one-line description rounds long decimals", () => {
  const r = Raster.from(new Uint8Array(4), [2, 2], { bounds: [-122.123456789, 37, -121, 38] });
  assert.equal(describeRaster(r), "Raster 2×2 uint8, bounds [-122.1235, 37, -121, 38]");
});
