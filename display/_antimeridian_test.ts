import assert from "node:assert/strict";
import { feature } from "topojson-client";
import { type GeoJsonGeometry, wkbFromGeometry } from "../client/formats/geo.ts";
import { cutAntimeridian, wkbCrossesAntimeridian } from "./_antimeridian.ts";
import { packageFile } from "./assets.ts";

type Ring = number[][];

/** Planar (lon/lat) area of a ring by the shoelace formula, unsigned. */
function ringArea(ring: Ring): number {
  let a = 0;
  for (let i = 1; i < ring.length; i++) {
    a += ring[i - 1][0] * ring[i][1] - ring[i][0] * ring[i - 1][1];
  }
  return Math.abs(a) / 2;
}

function polygonArea(rings: Ring[]): number {
  return ringArea(rings[0]) - rings.slice(1).reduce((s, r) => s + ringArea(r), 0);
}

function polygonsOf(g: GeoJsonGeometry): Ring[][] {
  return g.type === "Polygon" ? [g.coordinates as Ring[]] : g.coordinates as Ring[][];
}

function longestJump(g: GeoJsonGeometry): number {
  let most = 0;
  for (const poly of polygonsOf(g)) {
    for (const ring of poly) {
      for (let i = 1; i < ring.length; i++) {
        most = Math.max(most, Math.abs(ring[i][0] - ring[i - 1][0]));
      }
    }
  }
  return most;
}

Deno.test("a line from 170 to -170 becomes two parts meeting at ±180 at the interpolated latitude", () => {
  const g = cutAntimeridian({ type: "LineString", coordinates: [[170, 0], [-170, 10]] });
  assert.equal(g.type, "MultiLineString");
  const [west, east] = g.coordinates as Ring[];
  // The crossing is halfway in longitude (170 → 180 → 190), so halfway in latitude.
  assert.deepEqual(west, [[170, 0], [180, 5]]);
  assert.deepEqual(east, [[-180, 5], [-170, 10]]);
});

Deno.test("a line crossing westwards meets -180 then 180", () => {
  const g = cutAntimeridian({
    type: "LineString",
    coordinates: [[-175, -20], [175, -10], [170, -10]],
  });
  assert.deepEqual(g.coordinates, [[[-175, -20], [-180, -15]], [[180, -15], [175, -10], [
    170,
    -10,
  ]]]);
});

Deno.test("a line through a vertex on the antimeridian keeps no one-point parts", () => {
  const g = cutAntimeridian({
    type: "LineString",
    coordinates: [[179, 1], [180, 2], [-180, 2], [-179, 3]],
  });
  assert.deepEqual(g.coordinates, [[[179, 1], [180, 2]], [[-180, 2], [-179, 3]]]);
});

Deno.test("a polygon crossing the antimeridian becomes parts on both sides whose areas add up", () => {
  const g = cutAntimeridian({
    type: "Polygon",
    coordinates: [[[170, 10], [170, -10], [-170, -10], [-170, 12], [170, 10]]],
  });
  assert.equal(g.type, "MultiPolygon");
  const parts = g.coordinates as Ring[][];
  assert.equal(parts.length, 2);
  const east = parts.find((p) => p[0].every(([x]) => x >= 170 && x <= 180))!;
  const west = parts.find((p) => p[0].every(([x]) => x >= -180 && x <= -170))!;
  assert.ok(east && west, JSON.stringify(parts));
  // Unwrapped, the input is the quadrilateral 170..190 with a slanted top edge.
  const whole = ringArea([[170, 10], [170, -10], [190, -10], [190, 12], [170, 10]]);
  assert.ok(Math.abs(polygonArea(east) + polygonArea(west) - whole) < 1e-9);
  assert.ok(Math.abs(polygonArea(east) - 10 * 20.5) < 1e-9); // top edge at 180 is 11
});

Deno.test("holes crossing the antimeridian are cut with their polygon and their area stays out", () => {
  const g = cutAntimeridian({
    type: "Polygon",
    coordinates: [
      [[160, -20], [-160, -20], [-160, 20], [160, 20], [160, -20]],
      [[175, -5], [-175, -5], [-175, 5], [175, 5], [175, -5]],
    ],
  });
  const parts = polygonsOf(g);
  assert.equal(parts.length, 2);
  const total = parts.reduce((s, p) => s + polygonArea(p), 0);
  assert.ok(Math.abs(total - (40 * 40 - 10 * 10)) < 1e-9, `area ${total}`);
  // The hole reaches the cut, so each part's outline runs round its half of the hole.
  const has = (p: Ring[], x: number, y: number) => p.flat().some(([a, b]) => a === x && b === y);
  assert.equal(parts.filter((p) => has(p, 175, -5) && has(p, 175, 5)).length, 1);
  assert.equal(parts.filter((p) => has(p, -175, -5) && has(p, -175, 5)).length, 1);
  assert.ok(longestJump(g) <= 180);
});

Deno.test("a hole on one side of the cut stays a hole of the part on that side", () => {
  const hole = [[-178, -2], [-176, -2], [-176, 2], [-178, 2], [-178, -2]];
  const g = cutAntimeridian({
    type: "Polygon",
    coordinates: [[[170, -10], [-170, -10], [-170, 10], [170, 10], [170, -10]], hole],
  });
  const parts = polygonsOf(g);
  const west = parts.find((p) => p[0].every(([x]) => x <= -170))!;
  const east = parts.find((p) => p[0].every(([x]) => x >= 170))!;
  assert.equal(west.length, 2);
  assert.equal(east.length, 1);
  assert.ok(Math.abs(polygonArea(west) - (10 * 20 - 2 * 4)) < 1e-9);
  assert.ok(west[1].every(([x, y]) => hole.some(([a, b]) => a === x && b === y)));
});

Deno.test("a ring that goes around the south pole is closed along the pole", () => {
  // Antarctica-like: eastwards all round the globe at -70..-72, no pole in the data.
  const ring = [[-170, -70], [-90, -72], [0, -70], [90, -72], [170, -70], [-170, -70]];
  const g = cutAntimeridian({ type: "Polygon", coordinates: [ring] });
  const parts = polygonsOf(g);
  const all = parts.flat(2);
  assert.ok(all.every(([x]) => x >= -180 && x <= 180));
  assert.equal(Math.min(...all.map(([, y]) => y)), -90);
  assert.ok(all.every(([, y]) => y <= -70));
  assert.ok(longestJump(g) <= 180, "no edge runs across the map");
  // The area between the ring and the pole: trapezoids over the 360° the ring covers.
  const unwrapped = [...ring.slice(0, -1), [190, -70]];
  let expected = 0;
  for (let i = 1; i < unwrapped.length; i++) {
    const [x0, y0] = unwrapped[i - 1], [x1, y1] = unwrapped[i];
    expected += (x1 - x0) * ((y0 + 90) + (y1 + 90)) / 2;
  }
  const total = parts.reduce((s, p) => s + polygonArea(p), 0);
  assert.ok(Math.abs(total - expected) < 1e-6, `${total} vs ${expected}`);
});

Deno.test("a ring around the north pole is closed along the north pole", () => {
  const g = cutAntimeridian({
    type: "Polygon",
    coordinates: [[[-180, 80], [-60, 82], [60, 80], [180, 82], [-180, 80]]],
  });
  const all = polygonsOf(g).flat(2);
  assert.equal(Math.max(...all.map(([, y]) => y)), 90);
  assert.ok(all.every(([, y]) => y >= 80));
});

Deno.test("geometry that does not cross is returned as the same object", () => {
  const geoms: GeoJsonGeometry[] = [
    { type: "Point", coordinates: [179, 0] },
    { type: "LineString", coordinates: [[170, 0], [179.9, 1], [100, 2]] },
    { type: "Polygon", coordinates: [[[-10, 0], [10, 0], [10, 10], [-10, 0]]] },
    { type: "MultiPolygon", coordinates: [[[[170, 0], [180, 0], [180, 5], [170, 0]]]] },
    {
      type: "GeometryCollection",
      geometries: [{ type: "LineString", coordinates: [[-179, 0], [-170, 0]] }],
    },
  ];
  for (const g of geoms) assert.equal(cutAntimeridian(g), g, g.type);
});

Deno.test("cutting a cut geometry changes nothing", () => {
  const once = cutAntimeridian({
    type: "Polygon",
    coordinates: [[[-170, -70], [0, -75], [170, -70], [-170, -70]]],
  });
  assert.equal(cutAntimeridian(once), once);
});

Deno.test("world-atlas Russia, Fiji and Antarctica come out with no edge across the map", () => {
  // deno-lint-ignore no-explicit-any
  const atlas = JSON.parse(packageFile("world-atlas", "countries-110m.json")) as any;
  // deno-lint-ignore no-explicit-any
  const countries = (feature(atlas, atlas.objects.countries) as any).features as {
    properties: { name: string };
    geometry: GeoJsonGeometry;
  }[];
  const crossing = countries.filter((c) => longestJump(c.geometry) > 180);
  assert.deepEqual(crossing.map((c) => c.properties.name).sort(), [
    "Antarctica",
    "Fiji",
    "Russia",
  ]);
  for (const c of crossing) {
    const cut = cutAntimeridian(c.geometry);
    assert.ok(longestJump(cut) <= 180, c.properties.name);
    const xs = polygonsOf(cut).flat(2).map(([x]) => x);
    assert.ok(xs.some((x) => x > 170) && xs.some((x) => x < -170), c.properties.name);
  }
});

Deno.test("WKB is scanned for crossings in place, in 2D and 3D", () => {
  const line = (coords: number[][]) => wkbFromGeometry({ type: "LineString", coordinates: coords });
  assert.equal(wkbCrossesAntimeridian(line([[170, 0], [-170, 1]])), true);
  assert.equal(wkbCrossesAntimeridian(line([[170, 0], [179, 1]])), false);
  // Z values far apart must not be read as longitudes.
  assert.equal(wkbCrossesAntimeridian(line([[0, 0, -500], [1, 1, 900]])), false);
  assert.equal(wkbCrossesAntimeridian(line([[170, 0, 5], [-170, 1, 5]])), true);
  const multi = wkbFromGeometry({
    type: "MultiPolygon",
    coordinates: [
      [[[0, 0], [1, 0], [1, 1], [0, 0]]],
      [[[179, 0], [-179, 0], [-179, 1], [179, 0]]],
    ],
  });
  assert.equal(wkbCrossesAntimeridian(multi), true);
  assert.equal(
    wkbCrossesAntimeridian(wkbFromGeometry({ type: "Point", coordinates: [180, 0] })),
    false,
  );
});
