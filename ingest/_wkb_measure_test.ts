import assert from "node:assert/strict";
import * as arrow from "apache-arrow";
import { type GeoJsonGeometry, geometryFromWKB, wkbFromGeometry } from "../client/formats/mod.ts";
import { explodeWkb, measureGeometries, TYPE_Z } from "./_wkb_measure.ts";

function column(geoms: (GeoJsonGeometry | null)[]): arrow.Vector {
  return arrow.vectorFromArray(
    geoms.map((g) => (g ? wkbFromGeometry(g) : null)),
    new arrow.Binary(),
  );
}

const SQUARE_WITH_HOLE: GeoJsonGeometry = {
  type: "Polygon",
  coordinates: [
    [[100, 0], [104, 0], [104, 4], [100, 4], [100, 0]], // area 16, centroid (102, 2)
    [[100, 0], [100, 2], [102, 2], [102, 0], [100, 0]], // hole: area 4, centroid (101, 1)
  ],
};

Deno.test("polygon area, perimeter, centroid and coordinates are planar and account for holes", () => {
  const m = measureGeometries(column([SQUARE_WITH_HOLE]));
  assert.equal(m.area[0], 12);
  assert.equal(m.length[0], 16 + 8);
  assert.equal(m.coords[0], 10);
  // (16 * (102, 2) - 4 * (101, 1)) / 12
  assert.ok(Math.abs(m.cx[0] - (16 * 102 - 4 * 101) / 12) < 1e-12);
  assert.ok(Math.abs(m.cy[0] - (16 * 2 - 4 * 1) / 12) < 1e-12);
  assert.deepEqual([m.minx[0], m.miny[0], m.maxx[0], m.maxy[0]], [100, 0, 104, 4]);
});

Deno.test("line centroids are length-weighted and point centroids are means", () => {
  const m = measureGeometries(column([
    { type: "LineString", coordinates: [[0, 0], [2, 0], [2, 1]] },
    { type: "MultiPoint", coordinates: [[0, 0], [4, 2]] },
    { type: "Point", coordinates: [-70, 40, 12] },
  ]));
  assert.equal(m.length[0], 3);
  assert.ok(Math.abs(m.cx[0] - (2 * 1 + 1 * 2) / 3) < 1e-12 && Math.abs(m.cy[0] - 0.5 / 3) < 1e-12);
  assert.deepEqual([m.cx[1], m.cy[1], m.area[1], m.coords[1]], [2, 1, 0, 2]);
  assert.deepEqual([m.cx[2], m.cy[2], m.coords[2]], [-70, 40, 1], "a Z coordinate is skipped over");
});

Deno.test("null and empty geometries get NaN centroids; bad WKB names its row", () => {
  const m = measureGeometries(column([null, { type: "MultiPolygon", coordinates: [] }]));
  assert.ok(Number.isNaN(m.cx[0]) && Number.isNaN(m.cx[1]));
  const bad = arrow.vectorFromArray([
    wkbFromGeometry({ type: "Point", coordinates: [1, 1] }),
    new Uint8Array([1, 2, 0, 0, 0, 1]),
  ], new arrow.Binary());
  assert.throws(() => measureGeometries(bad), /Cannot read the WKB geometry of row 1/);
});

Deno.test("explode splits multi-part geometries into parts that keep their row", () => {
  const { parts, rows } = explodeWkb(column([
    {
      type: "MultiPolygon",
      coordinates: [SQUARE_WITH_HOLE.coordinates as number[][][], [[[0, 0], [1, 0], [1, 1], [
        0,
        0,
      ]]]],
    },
    null,
    { type: "Point", coordinates: [5, 5] },
    { type: "MultiPoint", coordinates: [[1, 1], [2, 2], [3, 3]] },
  ]));
  assert.deepEqual([...rows], [0, 0, 1, 2, 3, 3, 3]);
  assert.equal(parts[2], null);
  assert.deepEqual(geometryFromWKB(parts[0]!), SQUARE_WITH_HOLE);
  assert.deepEqual(geometryFromWKB(parts[6]!), { type: "Point", coordinates: [3, 3] });
});

Deno.test("the 2D point fast path measures as the generic walk, odd values included", () => {
  const coords: [number, number][] = [
    [1.5, -2.25],
    [-0, 0],
    [0, -0],
    [NaN, NaN], // POINT EMPTY
    [NaN, 3], // half NaN: odd
    [Infinity, 1], // infinite: odd
    [-Infinity, -Infinity],
    [179.9999, 89.9999],
  ];
  // The same points little-endian (the fast path) and big-endian (the generic walk).
  const encode = (le: boolean): arrow.Vector =>
    arrow.vectorFromArray(
      coords.map(([x, y]) => {
        const v = new DataView(new ArrayBuffer(21));
        v.setUint8(0, le ? 1 : 0);
        v.setUint32(1, 1, le);
        v.setFloat64(5, x, le);
        v.setFloat64(13, y, le);
        return new Uint8Array(v.buffer);
      }),
      new arrow.Binary(),
    );
  const fast = measureGeometries(encode(true));
  const walked = measureGeometries(encode(false));
  for (const key of Object.keys(fast) as (keyof typeof fast)[]) {
    if (key === "plainPoints") continue; // counted by the fast path only
    const a = fast[key], b = walked[key];
    if (typeof a === "number") assert.equal(a, b, key);
    else {
      Array.from(a as Float64Array).forEach((v, i) =>
        assert.ok(Object.is(v, (b as Float64Array)[i]), `${key}[${i}]: ${v} vs ${b}`)
      );
    }
  }
  assert.equal(fast.oddCoordinates, 3);
  assert.deepEqual(Array.from(fast.types), coords.map(() => 1));
  // Plain: finite and neither coordinate -0 (the first and last points only).
  assert.equal(fast.plainPoints, 2);
  assert.equal(walked.plainPoints, 0);
});

Deno.test("type codes record Z, and empty or null rows", () => {
  const m = measureGeometries(column([
    { type: "Point", coordinates: [1, 2, 3] },
    null,
    SQUARE_WITH_HOLE,
    { type: "MultiPolygon", coordinates: [] },
  ]));
  assert.deepEqual(Array.from(m.types), [1 + TYPE_Z, 0, 3, 6]);
  assert.equal(m.oddCoordinates, 0);
});
