/**
 * Web Mercator (XYZ, y pointing down) tile math with the semantics of Python's `mercantile`,
 * which Fused uses to turn `x/y/z` into the `bounds` a tile UDF receives.
 *
 * @module
 */
import { ValidationError } from "./errors.ts";

/** `[west, south, east, north]` in degrees (WGS84). */
export type Bounds = [west: number, south: number, east: number, north: number];

/** An XYZ tile. */
export interface Tile {
  /** Column, 0 at the antimeridian (west), growing east. */
  x: number;
  /** Row, 0 at the north edge, growing south. */
  y: number;
  /** Zoom level. */
  z: number;
}

/** The highest zoom accepted: 2^30 tiles a side still has exact integer tile indices. */
export const MAX_ZOOM = 30;
/** The latitude limit of Web Mercator, `atan(sinh(pi))` in degrees. */
export const MAX_LATITUDE = 85.0511287798066;

// mercantile's epsilons: keep a point on a tile edge in the tile it starts, and keep the
// south-east corner of a bounding box out of the next tile.
const EPSILON = 1e-14;
const LL_EPSILON = 1e-11;

function checkZoom(z: number): void {
  if (!Number.isInteger(z) || z < 0 || z > MAX_ZOOM) {
    throw new ValidationError(`Invalid zoom ${z}: use an integer from 0 to ${MAX_ZOOM}`);
  }
}

function checkTile(x: number, y: number, z: number): void {
  checkZoom(z);
  const n = 2 ** z;
  for (const [name, v] of [["x", x], ["y", y]] as const) {
    if (!Number.isInteger(v) || v < 0 || v >= n) {
      throw new ValidationError(
        `Invalid tile ${z}/${x}/${y}: ${name} must be an integer from 0 to ${n - 1} at zoom ${z}`,
      );
    }
  }
}

function tileLongitude(x: number, n: number): number {
  return (x / n) * 360 - 180;
}

function tileLatitude(y: number, n: number): number {
  return (Math.atan(Math.sinh(Math.PI * (1 - (2 * y) / n))) * 180) / Math.PI;
}

/**
 * The bounds `[west, south, east, north]` of a tile, as `mercantile.bounds`.
 *
 * @example
 * ```ts
 * import { tileBounds } from "./tiles.ts";
 * tileBounds(0, 0, 0); // [-180, -85.0511287798066, 180, 85.0511287798066]
 * tileBounds({ x: 1, y: 1, z: 1 }); // [0, -85.0511287798066, 180, 0]
 * ```
 */
export function tileBounds(tile: Tile): Bounds;
/** The bounds of tile `x/y` at zoom `z`. */
export function tileBounds(x: number, y: number, z: number): Bounds;
export function tileBounds(xOrTile: number | Tile, y?: number, z?: number): Bounds {
  const t = typeof xOrTile === "object" ? xOrTile : { x: xOrTile, y: y as number, z: z as number };
  checkTile(t.x, t.y, t.z);
  const n = 2 ** t.z;
  return [
    tileLongitude(t.x, n),
    tileLatitude(t.y + 1, n),
    tileLongitude(t.x + 1, n),
    tileLatitude(t.y, n),
  ];
}

/**
 * The tile at zoom `z` that contains a point, as `mercantile.tile`. Latitudes beyond the
 * Web Mercator limit fall in the first or last row.
 *
 * @example
 * ```ts
 * import { lngLatToTile } from "./tiles.ts";
 * lngLatToTile(20.6852, 40.1222, 9); // { x: 285, y: 193, z: 9 }
 * ```
 */
export function lngLatToTile(lng: number, lat: number, z: number): Tile {
  checkZoom(z);
  if (!Number.isFinite(lng) || !Number.isFinite(lat) || Math.abs(lat) > 90) {
    throw new ValidationError(
      `Invalid point (${lng}, ${lat}): longitude and latitude must be finite, latitude within ±90`,
    );
  }
  const n = 2 ** z;
  const fx = lng / 360 + 0.5;
  const sinLat = Math.sin((lat * Math.PI) / 180);
  const fy = 0.5 - (0.25 * Math.log((1 + sinLat) / (1 - sinLat))) / Math.PI;
  return { x: toIndex(fx, n), y: toIndex(fy, n), z };
}

function toIndex(f: number, n: number): number {
  if (!(f > 0)) return 0; // also NaN, which log gives at the poles (sinLat = ±1 → ±Infinity ok)
  if (f >= 1) return n - 1;
  return Math.floor((f + EPSILON) * n);
}

/** Options of {@linkcode tilesForBounds}. */
export interface TilesForBoundsOptions {
  /** Refuse to list more tiles than this (default 1,000,000), to catch a zoom that is too high. */
  maxTiles?: number;
}

/** Checks `[west, south, east, north]` and returns it as numbers. */
export function checkBounds(bounds: readonly number[]): Bounds {
  if (!Array.isArray(bounds) || bounds.length !== 4 || !bounds.every(Number.isFinite)) {
    throw new ValidationError(
      `Invalid bounds ${
        JSON.stringify(bounds)
      }: use four finite numbers [west, south, east, north]`,
    );
  }
  const [w, s, e, n] = bounds;
  if (s > n || Math.abs(s) > 90 || Math.abs(n) > 90 || Math.abs(w) > 180 || Math.abs(e) > 180) {
    throw new ValidationError(
      `Invalid bounds [${
        bounds.join(", ")
      }]: use [west, south, east, north] with longitudes within ±180, latitudes within ±90 and south <= north`,
    );
  }
  return [w, s, e, n];
}

/**
 * The tiles at zoom `z` that intersect bounds `[west, south, east, north]`, as `mercantile.tiles`
 * (bounds crossing the antimeridian, `west > east`, are split in two). Ordered by x, then y.
 *
 * @example
 * ```ts
 * import { tilesForBounds } from "./tiles.ts";
 * tilesForBounds([-1, -1, 1, 1], 1).length; // 4
 * ```
 */
export function tilesForBounds(
  bounds: readonly number[],
  z: number,
  options: TilesForBoundsOptions = {},
): Tile[] {
  const [w, s, e, n] = checkBounds(bounds);
  checkZoom(z);
  const boxes: Bounds[] = w > e ? [[-180, s, e, n], [w, s, 180, n]] : [[w, s, e, n]];
  const ranges = boxes.map(([bw, bs, be, bn]) => {
    const south = Math.max(-MAX_LATITUDE, bs);
    const north = Math.min(MAX_LATITUDE, bn);
    const ul = lngLatToTile(bw, north, z);
    const lr = lngLatToTile(be - LL_EPSILON, south + LL_EPSILON, z);
    return { x0: ul.x, x1: lr.x, y0: ul.y, y1: lr.y };
  });
  const maxTiles = options.maxTiles ?? 1_000_000;
  const count = ranges.reduce((sum, r) => sum + (r.x1 - r.x0 + 1) * (r.y1 - r.y0 + 1), 0);
  if (count > maxTiles) {
    throw new ValidationError(
      `Bounds [${
        bounds.join(", ")
      }] cover ${count} tiles at zoom ${z}, more than maxTiles ${maxTiles}: use a lower zoom or raise maxTiles`,
    );
  }
  const tiles: Tile[] = [];
  for (const r of ranges) {
    for (let x = r.x0; x <= r.x1; x++) {
      for (let y = r.y0; y <= r.y1; y++) tiles.push({ x, y, z });
    }
  }
  return tiles;
}
