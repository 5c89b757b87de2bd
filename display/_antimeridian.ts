/**
 * Cutting geometry at the 180° antimeridian for flat maps (RFC 7946 §3.1.9), done once in Deno
 * before a map is embedded, so the browser (MapLibre) and the static SVG draw the same clean
 * parts. A line or ring whose consecutive longitudes jump by more than 180° crosses the
 * antimeridian; drawn as it is, that edge runs across the whole map (Russia, Fiji and Antarctica
 * in Natural Earth / world-atlas).
 *
 * Why not an antimeridian package: npm `geojson-antimeridian-cut` (0.1.0, one release, CommonJS
 * with core-js) pairs crossings by a latitude heuristic, copies every hole into every part and
 * has no case for rings around a pole (Antarctica); d3-geo's clipAntimeridian cuts along great
 * circles and reads ring orientation the spherical way, so RFC 7946 (counter-clockwise) polygons
 * come out as their complement. So the cutting is written here: rings are unwrapped to
 * continuous longitudes (a ring around a pole is closed along the pole's latitude), then
 * intersected with the 360°-wide strips they touch by `polyclip-ts` (the polygon clipper that
 * turf 7 uses), which returns separate clean polygons and handles holes and rings that cross
 * many times; lines are split by hand (interpolating the latitude at ±180°).
 *
 * @module
 */

import { intersection } from "polyclip-ts";
import type { GeoJsonGeometry } from "../client/formats/geo.ts";
import { ValidationError } from "../client/errors.ts";

type Position = number[];
type Ring = Position[];

/** True when two consecutive longitudes are on either side of the antimeridian. */
function jumps(a: number, b: number): boolean {
  return Math.abs(b - a) > 180;
}

function crosses(line: Position[]): boolean {
  for (let i = 1; i < line.length; i++) if (jumps(line[i - 1][0], line[i][0])) return true;
  return false;
}

/**
 * Splits a line at each antimeridian crossing; the parts meet at ±180° with the latitude
 * interpolated linearly in lon/lat.
 */
function splitLine(line: Position[]): Position[][] {
  const parts: Position[][] = [];
  let part: Position[] = [line[0]];
  for (let i = 1; i < line.length; i++) {
    const p = line[i - 1], q = line[i];
    if (!jumps(p[0], q[0])) {
      part.push(q);
      continue;
    }
    // Move q next to p (by ±360°) and cut the segment where it meets ±180°.
    const east = q[0] < p[0]; // 170 → -170 goes east through +180
    const qx = q[0] + (east ? 360 : -360);
    const edge = east ? 180 : -180;
    const t = qx === p[0] ? 0 : (edge - p[0]) / (qx - p[0]);
    const lat = p[1] + t * (q[1] - p[1]);
    if (p[0] !== edge || p[1] !== lat) part.push([edge, lat]);
    parts.push(part);
    part = [[-edge, lat]];
    if (q[0] !== -edge || q[1] !== lat) part.push(q);
  }
  parts.push(part);
  return parts.filter((p) => p.length >= 2);
}

/** Longitudes made continuous (each jump over 180° undone by ±360°); returns the shift at the end. */
function unwrap(ring: Ring): { ring: Ring; shift: number } {
  const out: Ring = new Array(ring.length);
  let shift = 0;
  for (let i = 0; i < ring.length; i++) {
    if (i > 0) {
      const d = ring[i][0] - ring[i - 1][0];
      if (d > 180) shift -= 360;
      else if (d < -180) shift += 360;
    }
    out[i] = [ring[i][0] + shift, ring[i][1]];
  }
  return { ring: out, shift };
}

/**
 * A ring as a closed ring in continuous longitudes. A ring that goes once around the globe
 * (Antarctica) ends 360° from where it started: it is closed through the pole nearer to its mean
 * latitude, along latitude ±90° (Web Mercator renderers clamp it to the map's edge).
 */
function planarRing(ring: Ring): Ring {
  const { ring: out } = unwrap(ring);
  const first = out[0], last = out[out.length - 1];
  const gap = last[0] - first[0];
  if (Math.abs(gap) < 180) return out; // closed (first and last are the same point)
  const mean = out.reduce((s, p) => s + p[1], 0) / out.length;
  const pole = mean < 0 ? -90 : 90;
  out.push([last[0], pole], [first[0], pole], [first[0], first[1]]);
  return out;
}

function ringRange(ring: Ring): [number, number, number, number] {
  let w = Infinity, e = -Infinity, s = Infinity, n = -Infinity;
  for (const [x, y] of ring) {
    if (x < w) w = x;
    if (x > e) e = x;
    if (y < s) s = y;
    if (y > n) n = y;
  }
  return [w, s, e, n];
}

/** Cuts one polygon (exterior ring then holes) into the parts on each side of the antimeridian. */
function cutPolygon(rings: Ring[]): Ring[][] {
  const outer = planarRing(rings[0]);
  const [w, s, e, n] = ringRange(outer);
  const centre = (w + e) / 2;
  // Holes are unwrapped on their own; move each by whole turns next to the exterior.
  const holes = rings.slice(1).map((hole) => {
    const r = planarRing(hole);
    const [hw, , he] = ringRange(r);
    const turns = Math.round((centre - (hw + he) / 2) / 360);
    return turns === 0 ? r : r.map(([x, y]) => [x + 360 * turns, y]);
  });
  const parts: Ring[][] = [];
  const first = Math.ceil((w - 180) / 360), last = Math.floor((e + 180) / 360);
  for (let k = first; k <= last; k++) {
    const lo = 360 * k - 180, hi = 360 * k + 180;
    if (!(lo < e && hi > w)) continue; // touches the strip only along its edge
    const strip: Ring = [[lo, s - 1], [hi, s - 1], [hi, n + 1], [lo, n + 1], [lo, s - 1]];
    let clipped: Ring[][];
    try {
      clipped = intersection([outer, ...holes] as never, [strip] as never) as Ring[][];
    } catch (cause) {
      throw new ValidationError(
        `Cannot cut a polygon at the antimeridian (${
          (cause as Error).message
        }): check that its rings are valid (closed, at least four positions)`,
        { cause },
      );
    }
    for (const poly of clipped) {
      parts.push(poly.map((r) => densify(k === 0 ? r : r.map(([x, y]) => [x - 360 * k, y]))));
    }
  }
  return parts;
}

/**
 * Adds points every 90° along edges longer than 180° (the edge along a pole of a ring around
 * it), so no edge of a cut part looks like a crossing again and cutting twice changes nothing.
 */
function densify(ring: Ring): Ring {
  if (!crosses(ring)) return ring;
  const out: Ring = [ring[0]];
  for (let i = 1; i < ring.length; i++) {
    const p = ring[i - 1], q = ring[i];
    const steps = Math.ceil(Math.abs(q[0] - p[0]) / 90);
    for (let j = 1; j < steps; j++) {
      out.push([p[0] + (q[0] - p[0]) * j / steps, p[1] + (q[1] - p[1]) * j / steps]);
    }
    out.push(q);
  }
  return out;
}

function polygonCrosses(rings: Ring[]): boolean {
  return rings.some(crosses);
}

/**
 * Cuts a GeoJSON geometry at the antimeridian: lines become MultiLineStrings and polygons
 * MultiPolygons whose parts meet at ±180°. A geometry that does not cross is returned as it is
 * (the same object).
 *
 * @example
 * ```ts
 * import { cutAntimeridian } from "./_antimeridian.ts";
 * const g = cutAntimeridian({ type: "LineString", coordinates: [[170, 0], [-170, 10]] });
 * if (JSON.stringify(g.coordinates) !== "[[[170,0],[180,5]],[[-180,5],[-170,10]]]") {
 *   throw new Error("unexpected");
 * }
 * ```
 */
export function cutAntimeridian(geometry: GeoJsonGeometry): GeoJsonGeometry {
  switch (geometry.type) {
    case "LineString": {
      const line = geometry.coordinates as Position[];
      if (!crosses(line)) return geometry;
      const parts = splitLine(line);
      return parts.length === 1
        ? { type: "LineString", coordinates: parts[0] }
        : { type: "MultiLineString", coordinates: parts };
    }
    case "MultiLineString": {
      const lines = geometry.coordinates as Position[][];
      if (!lines.some(crosses)) return geometry;
      return {
        type: "MultiLineString",
        coordinates: lines.flatMap((l) => crosses(l) ? splitLine(l) : [l]),
      };
    }
    case "Polygon": {
      const rings = geometry.coordinates as Ring[];
      if (rings.length === 0 || !polygonCrosses(rings)) return geometry;
      const parts = cutPolygon(rings);
      return parts.length === 1
        ? { type: "Polygon", coordinates: parts[0] }
        : { type: "MultiPolygon", coordinates: parts };
    }
    case "MultiPolygon": {
      const polys = geometry.coordinates as Ring[][];
      if (!polys.some(polygonCrosses)) return geometry;
      return {
        type: "MultiPolygon",
        coordinates: polys.flatMap((p) => p.length > 0 && polygonCrosses(p) ? cutPolygon(p) : [p]),
      };
    }
    case "GeometryCollection": {
      const members = geometry.geometries ?? [];
      const cut = members.map(cutAntimeridian);
      return cut.every((g, i) => g === members[i])
        ? geometry
        : { type: "GeometryCollection", geometries: cut };
    }
    default:
      return geometry; // points do not cross anything
  }
}

/**
 * Whether WKB (ISO or EWKB, 2D to 4D) holds a line or ring that crosses the antimeridian; reads
 * the bytes in place, so the many geometries that do not cross cost no parsing.
 *
 * @example
 * ```ts
 * import { wkbCrossesAntimeridian } from "./_antimeridian.ts";
 * import { wkbFromGeometry } from "../client/formats/geo.ts";
 * const wkb = wkbFromGeometry({ type: "LineString", coordinates: [[170, 0], [-170, 10]] });
 * if (!wkbCrossesAntimeridian(wkb)) throw new Error("unexpected");
 * ```
 */
export function wkbCrossesAntimeridian(wkb: Uint8Array): boolean {
  const dv = new DataView(wkb.buffer, wkb.byteOffset, wkb.byteLength);
  let pos = 0;
  let found = false;
  function sequence(le: boolean, dims: number): void {
    const n = dv.getUint32(pos, le);
    pos += 4;
    let prev = NaN;
    for (let i = 0; i < n; i++) {
      const x = dv.getFloat64(pos + 8 * dims * i, le);
      if (i > 0 && Math.abs(x - prev) > 180) found = true;
      prev = x;
    }
    pos += 8 * dims * n;
  }
  function geom(): void {
    const le = dv.getUint8(pos) === 1;
    const raw = dv.getUint32(pos + 1, le);
    pos += 5;
    if (raw & 0x20000000) pos += 4; // EWKB SRID
    const iso = (raw & 0xffff) % 1000;
    const isoDims = Math.floor((raw & 0xffff) / 1000);
    const dims = 2 + (isoDims === 3 ? 2 : isoDims > 0 ? 1 : 0) + (raw & 0x80000000 ? 1 : 0) +
      (raw & 0x40000000 ? 1 : 0);
    switch (iso) {
      case 1:
        pos += 8 * dims;
        return;
      case 2:
        return sequence(le, dims);
      case 3: {
        const rings = dv.getUint32(pos, le);
        pos += 4;
        for (let i = 0; i < rings && !found; i++) sequence(le, dims);
        return;
      }
      case 4:
      case 5:
      case 6:
      case 7: {
        const count = dv.getUint32(pos, le);
        pos += 4;
        for (let i = 0; i < count && !found; i++) geom();
        return;
      }
      default:
        throw new ValidationError(
          `Cannot read WKB geometry type ${raw}: expected a point, line, polygon or collection`,
        );
    }
  }
  geom();
  return found;
}
