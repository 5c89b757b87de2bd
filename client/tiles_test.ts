import assert from "node:assert/strict";
import { ValidationError } from "./errors.ts";
import { checkBounds, lngLatToTile, MAX_LATITUDE, tileBounds, tilesForBounds } from "./tiles.ts";

function assertClose(actual: readonly number[], expected: readonly number[]): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-9, `${actual} vs ${expected}`));
}

Deno.test("tile 0/0/0 covers the whole Web Mercator world", () => {
  assertClose(tileBounds(0, 0, 0), [-180, -85.0511287798066, 180, 85.0511287798066]);
});

Deno.test("tile bounds match mercantile's reference values", () => {
  // mercantile tests/test_funcs.py test_bbox and the README's `mercantile.tool 20,35,6`.
  assertClose(tileBounds(486, 332, 10), [
    -9.140625,
    53.12040528310657,
    -8.7890625,
    53.33087298301705,
  ]);
  assertClose(tileBounds({ x: 20, y: 35, z: 6 }), [
    -67.5,
    -21.943045533438177,
    -61.875,
    -16.636191878397653,
  ]);
  assertClose(tileBounds(0, 0, 1), [-180, 0, 0, MAX_LATITUDE]);
});

Deno.test("a point maps to the tile mercantile gives", () => {
  assert.deepEqual(lngLatToTile(20.6852, 40.1222, 9), { x: 285, y: 193, z: 9 });
  assert.deepEqual(lngLatToTile(-105, 40, 1), { x: 0, y: 0, z: 1 });
});

Deno.test("points beyond the edges fall in the edge tiles", () => {
  assert.deepEqual(lngLatToTile(180, -90, 3), { x: 7, y: 7, z: 3 });
  assert.deepEqual(lngLatToTile(-180, 90, 3), { x: 0, y: 0, z: 3 });
});

Deno.test("the centre of a tile maps back to that tile", () => {
  for (const [x, y, z] of [[486, 332, 10], [0, 0, 0], [1023, 1023, 10], [5, 9, 4]]) {
    const [w, s, e, n] = tileBounds(x, y, z);
    assert.deepEqual(lngLatToTile((w + e) / 2, (s + n) / 2, z), { x, y, z });
  }
});

Deno.test("tiles for bounds match mercantile's reference values", () => {
  assert.deepEqual(tilesForBounds([-105, 39.99, -104.99, 40], 14), [
    { x: 3413, y: 6202, z: 14 },
    { x: 3413, y: 6203, z: 14 },
  ]);
});

Deno.test("tiles for the whole world are clamped to the zoom's rows", () => {
  const tiles = tilesForBounds([-180, -90, 180, 90], 1);
  assert.equal(tiles.length, 4);
  assert.deepEqual(new Set(tiles.map((t) => t.y)), new Set([0, 1]));
});

Deno.test("bounds crossing the antimeridian are split in two", () => {
  assert.deepEqual(tilesForBounds([175, 5, -175, 10], 2), [
    { x: 0, y: 1, z: 2 },
    { x: 3, y: 1, z: 2 },
  ]);
});

Deno.test("a zoom that lists too many tiles is refused with the count", () => {
  assert.throws(
    () => tilesForBounds([-180, -90, 180, 90], 12, { maxTiles: 1000 }),
    (err: Error) => err instanceof ValidationError && /16777216 tiles at zoom 12/.test(err.message),
  );
});

Deno.test("tiles outside the zoom's range are refused with the valid range", () => {
  assert.throws(() => tileBounds(2, 0, 1), /x must be an integer from 0 to 1 at zoom 1/);
  assert.throws(() => tileBounds(0, -1, 1), /y must be an integer from 0 to 1/);
  assert.throws(() => tileBounds(0.5, 0, 1), ValidationError);
  assert.throws(() => tileBounds(0, 0, 31), /Invalid zoom 31: use an integer from 0 to 30/);
  assert.throws(() => lngLatToTile(0, 0, -1), /Invalid zoom -1/);
  assert.throws(() => lngLatToTile(0, 91, 1), /latitude within ±90/);
});

Deno.test("bounds must be four numbers with south below north", () => {
  assert.deepEqual(checkBounds([1, 2, 3, 4]), [1, 2, 3, 4]);
  assert.throws(() => checkBounds([1, 2, 3]), /use four finite numbers/);
  assert.throws(() => checkBounds([0, 10, 1, 5]), /south <= north/);
  assert.throws(() => checkBounds([0, Number.NaN, 1, 5]), ValidationError);
});
