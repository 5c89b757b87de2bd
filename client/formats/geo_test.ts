import assert from "node:assert/strict";
import * as arrow from "apache-arrow";
import { ValidationError } from "../errors.ts";
import { CorruptDataError } from "./errors.ts";
import { binaryVector } from "./_columns.ts";
import {
  computeGeoMetadata,
  type GeoJsonFeatureCollection,
  type GeoJsonGeometry,
  geoMetadata,
  geometryFromWKB,
  tableFromGeoJSON,
  tableToGeoJSON,
  tableToRows,
  wkbFromGeometry,
  wktFromWKB,
} from "./geo.ts";

const shapes: GeoJsonGeometry[] = [
  { type: "Point", coordinates: [1.5, -2.25] },
  { type: "Point", coordinates: [1, 2, 3] },
  { type: "LineString", coordinates: [[0, 0], [10, 5]] },
  {
    type: "Polygon",
    coordinates: [[[0, 0], [4, 0], [4, 3], [0, 0]], [[1, 1], [2, 1], [2, 2], [1, 1]]],
  },
  { type: "MultiPoint", coordinates: [[0, 1], [2, 3]] },
  { type: "MultiLineString", coordinates: [[[0, 0], [1, 1]], [[2, 2], [3, 3]]] },
  { type: "MultiPolygon", coordinates: [[[[0, 0], [1, 0], [1, 1], [0, 0]]]] },
  {
    type: "GeometryCollection",
    geometries: [{ type: "Point", coordinates: [5, 6] }, {
      type: "LineString",
      coordinates: [[7, 8], [9, 10]],
    }],
  },
];

Deno.test("every GeoJSON geometry type round-trips through WKB", () => {
  for (const g of shapes) assert.deepEqual(geometryFromWKB(wkbFromGeometry(g)), g);
});

Deno.test("WKB is little-endian ISO with the standard type codes", () => {
  const wkb = wkbFromGeometry({ type: "Point", coordinates: [1, 2] });
  const view = new DataView(wkb.buffer, wkb.byteOffset, wkb.byteLength);
  assert.equal(wkb.byteLength, 21);
  assert.equal(view.getUint8(0), 1);
  assert.equal(view.getUint32(1, true), 1);
  assert.equal(view.getFloat64(5, true), 1);
  assert.equal(view.getFloat64(13, true), 2);
});

Deno.test("big-endian WKB from other writers decodes", () => {
  const be = new Uint8Array(21);
  const view = new DataView(be.buffer);
  view.setUint8(0, 0);
  view.setUint32(1, 1, false);
  view.setFloat64(5, -3.5, false);
  view.setFloat64(13, 7, false);
  assert.deepEqual(geometryFromWKB(be), { type: "Point", coordinates: [-3.5, 7] });
  assert.equal(wktFromWKB(be), "POINT(-3.5 7)");
});

Deno.test("geo metadata lists geometry types (with Z) and the 2D bbox of all rows", () => {
  const t = new arrow.Table({ geometry: binaryVector([...shapes.map(wkbFromGeometry), null]) });
  const meta = computeGeoMetadata(t, "geometry");
  assert.equal(meta.version, "1.1.0");
  assert.equal(meta.primary_column, "geometry");
  assert.deepEqual(meta.columns.geometry.geometry_types, [
    "GeometryCollection",
    "LineString",
    "MultiLineString",
    "MultiPoint",
    "MultiPolygon",
    "Point",
    "Point Z",
    "Polygon",
  ]);
  assert.deepEqual(meta.columns.geometry.bbox, [0, -2.25, 10, 10]);
  assert.equal(meta.columns.geometry.crs, undefined, "crs omitted means OGC:CRS84");
});

Deno.test("geo metadata of a malformed WKB value raises CorruptDataError", () => {
  const good = wkbFromGeometry({ type: "LineString", coordinates: [[0, 0], [1, 1]] });
  const t = new arrow.Table({ geometry: binaryVector([good.subarray(0, good.length - 3)]) });
  assert.throws(() => computeGeoMetadata(t, "geometry"), CorruptDataError);
  assert.throws(() => geometryFromWKB(Uint8Array.from([1, 99, 0, 0, 0])), CorruptDataError);
});

const collection: GeoJsonFeatureCollection = {
  type: "FeatureCollection",
  features: [
    {
      type: "Feature",
      geometry: { type: "Point", coordinates: [0, 0] },
      properties: { i: 1, f: 1.5, s: "a", b: true, o: { k: [1] }, n: null },
    },
    { type: "Feature", geometry: null, properties: { i: 2, f: 2, s: null, b: false, o: null } },
    {
      type: "Feature",
      geometry: { type: "Point", coordinates: [5, 5] },
      properties: { i: 3, f: -1, extra: "x" },
    },
  ],
};

Deno.test("tableFromGeoJSON makes typed columns from properties and a WKB geometry column", () => {
  const t = tableFromGeoJSON(collection);
  const types = Object.fromEntries(t.schema.fields.map((f) => [f.name, String(f.type)]));
  assert.deepEqual(types, {
    i: "Int32",
    f: "Float64",
    s: "Utf8",
    b: "Bool",
    o: "Utf8",
    n: "Utf8",
    extra: "Utf8",
    geometry: "Binary",
  });
  assert.deepEqual(t.getChild("s")!.toArray(), ["a", null, null]);
  assert.equal(t.getChild("o")!.get(0), '{"k":[1]}');
  assert.equal(t.getChild("geometry")!.get(1), null);
  assert.equal(t.getChild("extra")!.get(2), "x");
  const geo = geoMetadata(t)!;
  assert.deepEqual(geo.columns.geometry.geometry_types, ["Point"]);
  assert.deepEqual(geo.columns.geometry.bbox, [0, 0, 5, 5]);
});

Deno.test("tableToGeoJSON gives back the features, missing properties as null", () => {
  const back = tableToGeoJSON(tableFromGeoJSON(collection));
  assert.equal(back.features.length, 3);
  assert.deepEqual(back.features[0].geometry, { type: "Point", coordinates: [0, 0] });
  assert.equal(back.features[1].geometry, null);
  assert.deepEqual(back.features[2].properties, {
    i: 3,
    f: -1,
    s: null,
    b: null,
    o: null,
    n: null,
    extra: "x",
  });
});

Deno.test("tableToGeoJSON turns Int64 into numbers and needs a geometry column", () => {
  const t = new arrow.Table({
    big: arrow.makeVector(BigInt64Array.from([5n, 2n ** 60n])),
    geometry: binaryVector([wkbFromGeometry({ type: "Point", coordinates: [1, 1] }), null]),
  });
  const props = tableToGeoJSON(t).features.map((f) => f.properties!.big);
  assert.deepEqual(props, [5, "1152921504606846976"]);
  assert.throws(
    () => tableToGeoJSON(arrow.tableFromArrays({ x: [1] })),
    (e: Error) => e instanceof ValidationError && /no geometry column/.test(e.message),
  );
});

Deno.test("tableToRows gives JSON-friendly rows with GeoJSON geometry", () => {
  const rows = tableToRows(tableFromGeoJSON(collection));
  assert.deepEqual(rows[0].geometry, { type: "Point", coordinates: [0, 0] });
  assert.equal(rows[0].s, "a");
  assert.equal(JSON.parse(JSON.stringify(rows))[1].geometry, null);
});

Deno.test("bad GeoJSON input is refused with what was expected", () => {
  assert.throws(
    () => tableFromGeoJSON({ type: "Feature" } as never),
    /Expected a GeoJSON FeatureCollection/,
  );
  assert.throws(
    () =>
      tableFromGeoJSON({
        type: "FeatureCollection",
        features: [{ type: "Feature", geometry: null, properties: { geometry: 1 } }],
      }),
    /clashes with the geometry column/,
  );
  assert.throws(() => wkbFromGeometry({ type: "Blob", coordinates: [] }), ValidationError);
});

Deno.test("a large FeatureCollection builds typed numeric columns without nulls", () => {
  const features = Array.from({ length: 5000 }, (_, i) => ({
    type: "Feature" as const,
    geometry: { type: "Point", coordinates: [i % 360 - 180, (i % 180) - 90] },
    properties: { id: i, v: i / 7 },
  }));
  const t = tableFromGeoJSON({ type: "FeatureCollection", features });
  assert.equal(t.numRows, 5000);
  assert.ok(t.getChild("id")!.toArray() instanceof Int32Array);
  assert.ok(t.getChild("v")!.toArray() instanceof Float64Array);
  assert.deepEqual(geoMetadata(t)!.columns.geometry.bbox, [-180, -90, 179, 89]);
});

Deno.test("geo metadata reads EWKB with an SRID and Z flag, as PostGIS writes it", () => {
  const ewkb = new Uint8Array(1 + 4 + 4 + 24);
  const view = new DataView(ewkb.buffer);
  view.setUint8(0, 1);
  view.setUint32(1, 0x80000001 | 0x20000000, true); // Point, Z flag, SRID flag
  view.setUint32(5, 4326, true);
  [7, -8, 100].forEach((v, i) => view.setFloat64(9 + i * 8, v, true));
  const t = new arrow.Table({ geometry: binaryVector([ewkb]) });
  const meta = computeGeoMetadata(t, "geometry").columns.geometry;
  assert.deepEqual(meta.geometry_types, ["Point Z"]);
  assert.deepEqual(meta.bbox, [7, -8, 7, -8]);
  assert.deepEqual(geometryFromWKB(ewkb), { type: "Point", coordinates: [7, -8, 100] });
});
