import assert from "node:assert/strict";
import * as arrow from "apache-arrow";
import { wkbFromGeometry } from "../client/formats/mod.ts";
import { plainPointsData } from "./_columns.ts";

Deno.test("plain points rebuilt from coordinates are the WKB of those points", () => {
  const coords: [number, number][] = [[1.5, -2.25], [-180, 90], [0, 0], [1e-300, -7]];
  const data = plainPointsData(
    Float64Array.from(coords, (c) => c[0]),
    Float64Array.from(coords, (c) => c[1]),
  );
  const vector = arrow.makeVector(data);
  assert.equal(vector.nullCount, 0);
  coords.forEach(([x, y], i) =>
    assert.deepEqual(vector.get(i), wkbFromGeometry({ type: "Point", coordinates: [x, y] }))
  );
});
