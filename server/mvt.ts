/**
 * Mapbox Vector Tile output for tile runs (`?format=mvt`): whatever geo result `fused.map` draws
 * (a table with a WKB geometry column or lon/lat columns, or GeoJSON) becomes GeoJSON features,
 * cut to the tile with `geojson-vt` and written with `vt-pbf`, in one layer named `udf` as Fused
 * does. A result that has no geometry is answered 422 with what to return instead.
 *
 * @module
 */
import GeoJSONVT from "geojson-vt";
import vtpbf from "vt-pbf";
import { ValidationError } from "../client/errors.ts";
import { decodeResult } from "../client/formats/result.ts";
import type { GeoJsonFeatureCollection } from "../client/formats/geo.ts";
import { geoJsonOfResult } from "../display/map_data.ts";
import { HttpError } from "./_http.ts";
import { etagOf, type RunAnswer, type RunService, type RunSpec } from "./runs.ts";

/** Content type of a vector tile. */
export const MVT_CONTENT_TYPE = "application/vnd.mapbox-vector-tile";

/** Layer name of every tile, as Fused's MVT output. */
export const MVT_LAYER = "udf";

interface GeoJsonVtIndex {
  getTile(z: number, x: number, y: number): unknown | null;
}

/** Runs a tile UDF and answers its table as a vector tile. */
export async function mvtAnswer(runs: RunService, spec: RunSpec): Promise<RunAnswer> {
  const tile = spec.tile;
  if (!tile) {
    throw new HttpError(400, "MVT output needs a tile: use /run/tiles/{z}/{x}/{y}?format=mvt");
  }
  // Tables travel as Parquet (WKB or lon/lat columns), GeoJSON objects as JSON.
  const geo = await runs.execute({ ...spec, format: "parquet,json" });
  if (geo.status !== 200) return geo;
  let collection: GeoJsonFeatureCollection;
  try {
    const value = await decodeResult(geo.body, geo.headers["content-type"]);
    collection = tileFeatures(geoJsonOfResult(value));
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    throw new HttpError(
      422,
      `Tile UDF "${spec.udf.name}" returned no map features: ${err.message}`,
    );
  }
  // geojson-vt 5 is a class; indexing only down to this tile's zoom keeps it cheap.
  const index =
    new (GeoJSONVT as unknown as new (data: unknown, options: unknown) => GeoJsonVtIndex)(
      collection,
      { maxZoom: tile.z, indexMaxZoom: tile.z, indexMaxPoints: 0, extent: 4096, buffer: 64 },
    );
  const cut = index.getTile(tile.z, tile.x, tile.y);
  const layers = cut ? { [MVT_LAYER]: cut } : {};
  const bytes = new Uint8Array(
    (vtpbf as unknown as { fromGeojsonVt(l: unknown, o: unknown): Uint8Array }).fromGeojsonVt(
      layers,
      { version: 2 },
    ),
  );
  return {
    status: 200,
    body: bytes,
    headers: { ...geo.headers, "content-type": MVT_CONTENT_TYPE, etag: etagOf(bytes) },
  };
}

/** Properties vt-pbf can write: numbers, strings, booleans (others as JSON text, bytes dropped). */
function tileFeatures(fc: GeoJsonFeatureCollection): GeoJsonFeatureCollection {
  for (const f of fc.features) {
    const props = f.properties ?? {};
    for (const [k, v] of Object.entries(props)) {
      if (v === null || v === undefined || v instanceof Uint8Array) delete props[k];
      else if (typeof v === "bigint") props[k] = Number(v);
      else if (typeof v === "object") props[k] = JSON.stringify(v);
    }
    f.properties = props;
  }
  return fc;
}
