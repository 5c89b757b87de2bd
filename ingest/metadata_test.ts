import assert from "node:assert/strict";
import * as arrow from "apache-arrow";
import { type GeoJsonGeometry, withGeoMetadata, wkbFromGeometry } from "../client/formats/mod.ts";
import { chunkStats, decodeChunkIndex, encodeChunkIndex, fileGeoMetadata } from "./metadata.ts";
import { partition } from "./partition.ts";
import { takeRows } from "./_take.ts";
import { measureGeometries } from "./_wkb_measure.ts";

Deno.test("the chunk index encodes to base64 Parquet and decodes back", () => {
  const meta = encodeChunkIndex([
    {
      fileId: "0",
      chunkId: 0,
      bbox: [1, 2, 3, 4],
      sumArea: 0.5,
      sumLength: 2,
      numCoords: 9,
      numRows: 3,
    },
  ]);
  assert.equal(meta.get("fused:format_version"), "5");
  const t = decodeChunkIndex(meta, "here");
  assert.deepEqual(t.get(0)!.toJSON(), {
    file_id: "0",
    chunk_id: 0,
    bbox_minx: 1,
    bbox_miny: 2,
    bbox_maxx: 3,
    bbox_maxy: 4,
    sum_area: 0.5,
    sum_length: 2,
    num_coords: 9n,
    num_rows: 3n,
  });
  assert.throws(
    () => decodeChunkIndex(new Map(), "x/_sample"),
    /Dataset does not have Fused metadata/,
  );
  assert.throws(
    () => decodeChunkIndex(new Map([["fused:format_version", "3"], ["fused:_metadata", ""]]), "x"),
    /format 3; only format 5 is read/,
  );
});

Deno.test("each file's geo metadata from the measures equals a scan of the file's rows", () => {
  const geoms: (GeoJsonGeometry | null)[] = [];
  for (let i = 0; i < 600; i++) {
    const x = ((i * 37) % 340) - 170, y = ((i * 11) % 160) - 80;
    const kind = i % 6;
    geoms.push(
      kind === 0
        ? { type: "Point", coordinates: [x, y] }
        : kind === 1
        ? { type: "Point", coordinates: [x, y, i] }
        : kind === 2
        ? { type: "LineString", coordinates: [[x, y], [x + 1, y + 2]] }
        : kind === 3
        ? { type: "Polygon", coordinates: [[[x, y], [x + 1, y], [x, y + 1], [x, y]]] }
        : kind === 4
        ? { type: "MultiPoint", coordinates: [[x, y], [x - 2, y - 1]] }
        : i % 12 === 5
        ? null
        : { type: "Point", coordinates: [-0, 0] },
    );
  }
  const table = new arrow.Table({
    i: arrow.makeVector(Int32Array.from(geoms, (_, i) => i)),
    geometry: arrow.vectorFromArray(
      geoms.map((g) => (g ? wkbFromGeometry(g) : null)),
      new arrow.Binary(),
    ),
  });
  const m = measureGeometries(table.getChild("geometry")!);
  const p = partition({ x: m.cx.map((v) => v || 0), y: m.cy.map((v) => v || 0) }, {
    maxPerFile: 100,
    maxPerChunk: 30,
  });
  const geo = fileGeoMetadata(p, chunkStats(p, m), m, "geometry")!;
  assert.equal(geo.length, p.files.length);
  assert.ok(p.files.length > 3);
  p.files.forEach(([a, b], f) => {
    const rows = takeRows(table, p.order.subarray(a, b));
    assert.equal(geo[f], withGeoMetadata(rows, "geometry").schema.metadata.get("geo"), `file ${f}`);
  });
  m.oddCoordinates = 1;
  assert.equal(fileGeoMetadata(p, chunkStats(p, m), m, "geometry"), null);
});

Deno.test("chunk statistics of plain points from the centroids in order equal those of the rows", () => {
  const n = 3000;
  const wkb = new Uint8Array(n * 21);
  const view = new DataView(wkb.buffer);
  for (let i = 0; i < n; i++) {
    view.setUint8(i * 21, 1);
    view.setUint32(i * 21 + 1, 1, true);
    view.setFloat64(i * 21 + 5, ((i * 7919) % 360) - 180 + 0.25, true);
    view.setFloat64(i * 21 + 13, ((i * 104729) % 170) - 85 + 0.5, true);
  }
  const geometry = arrow.makeVector(arrow.makeData({
    type: new arrow.Binary(),
    length: n,
    nullCount: 0,
    valueOffsets: Int32Array.from({ length: n + 1 }, (_, i) => i * 21),
    data: wkb,
  }));
  const m = measureGeometries(geometry);
  assert.equal(m.plainPoints, n);
  const p = partition({ x: m.cx, y: m.cy }, { maxPerFile: 1000, maxPerChunk: 90 });
  assert.ok(p.chunks.flat().length > 30);
  assert.deepEqual(chunkStats(p, m, { plainPoints: true }), chunkStats(p, m));
  assert.throws(
    () => chunkStats({ ...p, centroids: undefined }, m, { plainPoints: true }),
    /needs the partitioning's centroids/,
  );
});
