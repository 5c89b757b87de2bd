import assert from "node:assert/strict";
import { decodeChunkIndex, encodeChunkIndex } from "./metadata.ts";

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
