import assert from "node:assert/strict";
import * as arrow from "apache-arrow";
import { ipcToTable, tableToIPC, tableToIPCChunks } from "./arrow.ts";
import { CorruptDataError } from "./errors.ts";
import { tableFromGeoJSON } from "./geo.ts";

Deno.test("a table with dictionary, binary and metadata round-trips through Arrow IPC", () => {
  const t = tableFromGeoJSON({
    type: "FeatureCollection",
    features: [{
      type: "Feature",
      geometry: { type: "Point", coordinates: [1, 2] },
      properties: { a: "x" },
    }],
  }).assign(arrow.tableFromArrays({ cat: ["p"] }));
  const back = ipcToTable(tableToIPC(t));
  assert.deepEqual(
    back.schema.fields.map((f) => String(f.type)),
    t.schema.fields.map((f) => String(f.type)),
  );
  assert.equal(back.schema.metadata.get("geo"), t.schema.metadata.get("geo"));
  assert.deepEqual(back.getChild("geometry")!.get(0), t.getChild("geometry")!.get(0));
  assert.equal(back.getChild("cat")!.get(0), "p");
});

Deno.test("bytes that are not Arrow IPC raise CorruptDataError", () => {
  assert.throws(
    () => ipcToTable(new TextEncoder().encode("definitely not arrow")),
    CorruptDataError,
  );
  const ipc = tableToIPC(
    arrow.tableFromArrays({ x: Float64Array.from({ length: 100 }, (_, i) => i) }),
  );
  assert.throws(() => ipcToTable(ipc.subarray(0, 7)), CorruptDataError);
});

Deno.test("IPC chunks joined are the same bytes as tableToIPC", async () => {
  const t = arrow.tableFromArrays({ x: Float64Array.from([1, 2, 3]), s: ["a", "b", "a"] });
  const chunks = await tableToIPCChunks(t);
  const joined = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    joined.set(c, at);
    at += c.byteLength;
  }
  assert.deepEqual(joined, tableToIPC(t));
});
