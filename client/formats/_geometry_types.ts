/**
 * The geometry type names of Simple Features, GeoJSON and GeoParquet, in WKB code order
 * (`GEOMETRY_TYPE_NAMES[code - 1]`): one list for the GeoJSON check and the WKB scan.
 *
 * @module
 */

/** Point (WKB 1) to GeometryCollection (WKB 7). */
export const GEOMETRY_TYPE_NAMES: readonly string[] = [
  "Point",
  "LineString",
  "Polygon",
  "MultiPoint",
  "MultiLineString",
  "MultiPolygon",
  "GeometryCollection",
];
