import assert from "node:assert/strict";
import * as arrow from "apache-arrow";
import {
  geoMetadata,
  geometryFromWKB,
  parquetToTable,
  tableToParquet,
} from "../client/formats/mod.ts";
import { getChunkFromTable, getChunksMetadata } from "./chunks.ts";
import { ingest } from "./mod.ts";
import { testTempDir } from "../tests/_helpers.ts";

const AIRPORTS = new URL("../node_modules/vega-datasets/data/airports.csv", import.meta.url);

/** Ingests the real airports CSV once per test into a fresh folder. */
async function airports(): Promise<{ dir: string; table: string }> {
  const dir = await testTempDir();
  await ingest(AIRPORTS, {
    output: `${dir}/airports`,
    partitioningMaximumPerFile: 1000,
    partitioningMaximumPerChunk: 150,
  });
  return { dir, table: `${dir}/airports` };
}

Deno.test("getChunksMetadata lists every chunk with its bbox polygon", async () => {
  const { table } = await airports();
  const chunks = await getChunksMetadata(table);
  const rows = chunks.toArray().map((r) => r.toJSON());
  const total = rows.reduce((s, r) => s + Number(r.num_rows), 0);
  const csvRows = (await Deno.readTextFile(AIRPORTS)).trim().split("\n").length - 1;
  assert.equal(total, csvRows);
  assert.ok(rows.every((r) => Number(r.num_rows) <= 150));
  assert.equal(geoMetadata(chunks)?.primary_column, "geometry");
  const box = geometryFromWKB(rows[0].geometry) as { coordinates: number[][][] };
  assert.deepEqual(box.coordinates[0][0], [rows[0].bbox_minx, rows[0].bbox_miny]);
  assert.deepEqual(box.coordinates[0][2], [rows[0].bbox_maxx, rows[0].bbox_maxy]);
});

Deno.test("getChunkFromTable reads one chunk whose rows lie inside the chunk's bbox", async () => {
  const { table } = await airports();
  const chunks = (await getChunksMetadata(table)).toArray().map((r) => r.toJSON());
  for (const c of [chunks[0], chunks[chunks.length - 1], chunks[Math.floor(chunks.length / 2)]]) {
    const rows = await getChunkFromTable(table, c.file_id, c.chunk_id);
    assert.equal(rows.numRows, Number(c.num_rows));
    for (const row of rows) {
      const lon = row.longitude as number, lat = row.latitude as number;
      assert.ok(
        lon >= c.bbox_minx && lon <= c.bbox_maxx && lat >= c.bbox_miny && lat <= c.bbox_maxy,
      );
    }
  }
});

Deno.test("getChunkFromTable reads selected columns, a whole file, and the whole table", async () => {
  const { table } = await airports();
  const some = await getChunkFromTable(table, "0", 0, { columns: ["iata", "state"] });
  assert.deepEqual(some.schema.fields.map((f) => f.name), ["iata", "state"]);
  assert.equal(some.schema.metadata.has("geo"), false, "geo metadata goes with its column");
  const chunks = (await getChunksMetadata(table)).toArray().map((r) => r.toJSON());
  const file0 = chunks.filter((c) => c.file_id === "0").reduce((s, c) => s + Number(c.num_rows), 0);
  assert.equal((await getChunkFromTable(table, 0, null)).numRows, file0);
  const whole = await getChunkFromTable(table, null);
  const ids = [...whole.getChild("iata")!].sort();
  const csv = (await Deno.readTextFile(AIRPORTS)).trim().split("\n").slice(1).map((l) =>
    l.split(",")[0]
  ).sort();
  assert.deepEqual(ids, csv);
  assert.equal(geoMetadata(whole)?.primary_column, "geometry");
});

Deno.test("getChunkFromTable refuses unknown files, chunks and columns", async () => {
  const { table } = await airports();
  await assert.rejects(getChunkFromTable(table, 99, 0), /has no file 99\.parquet/);
  await assert.rejects(getChunkFromTable(table, 0, 500), /chunks \(0-\d+\), not chunk 500/);
  await assert.rejects(
    getChunkFromTable(table, 0, 0, { columns: ["nope"] }),
    /has no column "nope"/,
  );
  await assert.rejects(getChunkFromTable(table, "../x", 0), /File id "\.\.\/x" is not valid/);
  await assert.rejects(getChunkFromTable(table, 0, -1), /Chunk id -1 is not valid/);
});

Deno.test("a folder without _sample or without its metadata has no Fused metadata", async () => {
  const dir = await testTempDir();
  await assert.rejects(
    getChunksMetadata(dir),
    /Dataset does not have Fused metadata: .* has no _sample file/,
  );
  await Deno.writeFile(
    `${dir}/_sample`,
    tableToParquet(arrow.tableFromArrays({ a: Int32Array.from([1]) })),
  );
  await assert.rejects(
    getChunksMetadata(dir),
    /Dataset does not have Fused metadata: .* no "fused:_metadata" entry/,
  );
});

Deno.test("an ingested table is read over http as well", async () => {
  const { table } = await airports();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const name = new URL(req.url).pathname.replace(/^\/t\//, "");
    try {
      return new Response(await Deno.readFile(`${table}/${name}`));
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
  try {
    const url = `http://127.0.0.1:${server.addr.port}/t`;
    const local = await getChunksMetadata(table);
    const remote = await getChunksMetadata(url);
    assert.equal(remote.numRows, local.numRows);
    const a = await getChunkFromTable(url, 0, 1);
    const b = await getChunkFromTable(table, 0, 1);
    assert.deepEqual([...a.getChild("iata")!], [...b.getChild("iata")!]);
    await assert.rejects(
      getChunksMetadata(`http://127.0.0.1:${server.addr.port}/none`),
      /does not have Fused metadata/,
    );
  } finally {
    await server.shutdown();
  }
});

Deno.test("the sparse chunk read gives the same rows as reading the whole file", async () => {
  const { table } = await airports();
  const whole = parquetToTable(await Deno.readFile(`${table}/0.parquet`));
  const chunks = (await getChunksMetadata(table)).toArray().map((r) => r.toJSON()).filter((c) =>
    c.file_id === "0"
  );
  let at = 0;
  for (const c of chunks) {
    const part = await getChunkFromTable(table, 0, c.chunk_id);
    assert.deepEqual([...part.getChild("iata")!], [
      ...whole.getChild("iata")!.slice(at, at + part.numRows),
    ]);
    at += part.numRows;
  }
  assert.equal(at, whole.numRows);
});
