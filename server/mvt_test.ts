import assert from "node:assert/strict";
import * as arrow from "apache-arrow";
import { VectorTile } from "@mapbox/vector-tile";
import { PbfReader } from "pbf";
import { udf } from "../client/udf.ts";
import type { RunResponse } from "../client/engine_types.ts";
import { tableFromGeoJSON } from "../client/formats/geo.ts";
import { tileBounds } from "../client/tiles.ts";
import { mvtAnswer } from "./mvt.ts";
import { RunService } from "./runs.ts";

/** A run service whose "UDF" returns `value` for any tile, as the local engine would. */
function serviceReturning(value: unknown): RunService {
  return new RunService(() =>
    Promise.resolve({
      data: value,
      logs: { stdout: "", stderr: "" },
      timeTakenMs: 1,
      cached: false,
    } as unknown as RunResponse), { runTimeoutMs: 30_000 });
}

const TILE = { z: 2, x: 2, y: 1 };
const [west, south, east, north] = tileBounds(TILE);
const inside = [west + (east - west) / 3, south + (north - south) / 3];

async function tileOf(value: unknown): Promise<{ status: number; body: Uint8Array }> {
  const spec = {
    udf: udf("export default function udf() { return null }", { name: "t" }),
    udfId: null,
    parameters: {},
    tile: TILE,
    format: "mvt",
    cacheMaxAge: 0,
  };
  return await mvtAnswer(serviceReturning(value), spec);
}

function layerOf(body: Uint8Array) {
  return new VectorTile(new PbfReader(body)).layers.udf;
}

Deno.test("a lon/lat table becomes point features of the tile, with its columns", async () => {
  const table = arrow.tableFromArrays({
    lon: Float64Array.from([inside[0], -170]),
    lat: Float64Array.from([inside[1], -80]),
    name: ["in", "out"],
    n: BigInt64Array.from([7n, 8n]),
  });
  const answer = await tileOf(table);
  assert.equal(answer.status, 200);
  const layer = layerOf(answer.body);
  assert.equal(layer.length, 1);
  assert.equal(layer.feature(0).type, 1); // point
  assert.deepEqual({ ...layer.feature(0).properties }, { name: "in", n: 7 });
});

Deno.test("a GeoJSON result becomes features of the tile", async () => {
  const answer = await tileOf({
    type: "FeatureCollection",
    features: [{
      type: "Feature",
      geometry: { type: "Point", coordinates: inside },
      properties: { label: "geojson", tags: ["a"] },
    }],
  });
  assert.equal(answer.status, 200);
  const f = layerOf(answer.body).feature(0);
  assert.equal(f.properties.label, "geojson");
  assert.equal(f.properties.tags, '["a"]');
});

Deno.test("a WKB table becomes features of the tile", async () => {
  const table = tableFromGeoJSON({
    type: "FeatureCollection",
    features: [{
      type: "Feature",
      geometry: {
        type: "Polygon",
        coordinates: [[[west, south], [east, south], [east, north], [west, south]]],
      },
      properties: { k: 1 },
    }],
  });
  const layer = layerOf((await tileOf(table)).body);
  assert.equal(layer.length, 1);
  assert.equal(layer.feature(0).type, 3); // polygon
});

Deno.test("a result without geometry is answered 422 with what to return", async () => {
  await assert.rejects(
    () => tileOf(arrow.tableFromArrays({ a: Int32Array.from([1]) })),
    (err: Error & { status?: number }) => {
      assert.equal(err.status, 422);
      assert.match(err.message, /Tile UDF "t" returned no map features: .*lon\/lat columns/);
      return true;
    },
  );
  await assert.rejects(() => tileOf(42), /Cannot draw a number result as map features/);
});
