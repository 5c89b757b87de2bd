/**
 * A UDF over real data that ships with npm (Natural Earth 110m countries from `world-atlas`):
 * the countries whose name starts with `prefix`, with the centre of their bounding box and
 * their number of vertices. Used by `deno task demo` and the README.
 *
 * @module
 */
import * as arrow from "apache-arrow";
import { feature } from "topojson-client";
import atlas from "world-atlas/countries-110m.json" with { type: "json" };

type Position = number[];
type Coordinates = Position | Coordinates[];

interface Country {
  properties: { name: string };
  geometry: { coordinates: Coordinates };
}

function positions(coords: Coordinates, out: Position[] = []): Position[] {
  if (typeof coords[0] === "number") out.push(coords as Position);
  else for (const c of coords as Coordinates[]) positions(c, out);
  return out;
}

/** Countries whose name starts with `prefix` (all of them by default). */
export default function udf({ prefix = "" }) {
  // deno-lint-ignore no-explicit-any
  const topology = atlas as any;
  const all = feature(topology, topology.objects.countries) as unknown as { features: Country[] };
  const rows = all.features.filter((f) => f.properties.name.startsWith(prefix));
  const lon = new Float64Array(rows.length);
  const lat = new Float64Array(rows.length);
  const vertices = new Int32Array(rows.length);
  rows.forEach((country, i) => {
    const pts = positions(country.geometry.coordinates);
    const xs = pts.map((p) => p[0]);
    const ys = pts.map((p) => p[1]);
    lon[i] = (Math.min(...xs) + Math.max(...xs)) / 2;
    lat[i] = (Math.min(...ys) + Math.max(...ys)) / 2;
    vertices[i] = pts.length;
  });
  const name = rows.map((f) => f.properties.name);
  return arrow.tableFromArrays({ name, lon, lat, vertices });
}
