/**
 * Mapbox Vector Tile output for tile runs (`?format=mvt`): the UDF's table is encoded as
 * GeoJSON by the shared result encoder, cut to the tile with `geojson-vt` and written with
 * `vt-pbf`, in one layer named `udf` as Fused does.
 *
 * @module
 */
import GeoJSONVT from "geojson-vt";
import vtpbf from "vt-pbf";
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
  const geo = await runs.execute({ ...spec, format: "geojson" });
  if (geo.status !== 200) return geo;
  const collection = JSON.parse(new TextDecoder().decode(geo.body));
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
