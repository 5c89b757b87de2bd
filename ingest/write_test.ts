import assert from "node:assert/strict";
import * as arrow from "apache-arrow";
import { parquetMetadata, parquetReadObjects } from "hyparquet";
import { compressors } from "hyparquet-compressors";
import { Buffer } from "node:buffer";
import { tableFromGeoJSON } from "../client/formats/mod.ts";
import type { ChunkStats } from "./metadata.ts";
import { takeRows } from "./_take.ts";
import { plainPointsData } from "./_columns.ts";
import { openWriters, refuseExisting, writeChunkedTable, writeRowGroups } from "./write.ts";
import { testTempDir } from "../tests/_helpers.ts";

/** 10 points on a line with an id; rows already in output order. */
function points(n = 10): arrow.Table {
  return tableFromGeoJSON({
    type: "FeatureCollection",
    features: Array.from({ length: n }, (_, i) => ({
      type: "Feature" as const,
      geometry: { type: "Point", coordinates: [i, i / 2] },
      properties: { id: i },
    })),
  });
}

function stat(fileId: number, chunkId: number, a: number, b: number): ChunkStats {
  return {
    fileId: String(fileId),
    chunkId,
    bbox: [a, a / 2, b - 1, (b - 1) / 2],
    sumArea: 0,
    sumLength: 0,
    numCoords: b - a,
    numRows: b - a,
  };
}

const FILES: [number, number][] = [[0, 6], [6, 10]];
const CHUNKS: [number, number][][] = [[[0, 1], [1, 4], [4, 6]], [[6, 10]]];
const STATS = [stat(0, 0, 0, 1), stat(0, 1, 1, 4), stat(0, 2, 4, 6), stat(1, 0, 6, 10)];

function file(bytes: Uint8Array): ArrayBuffer {
  return bytes.slice().buffer;
}

Deno.test("each file's row groups are its chunks, as hyparquet reads them", async () => {
  const dir = await testTempDir();
  const written = await writeChunkedTable(`${dir}/t`, points(), FILES, CHUNKS, STATS);
  assert.deepEqual({ files: written.files, chunks: written.chunks }, { files: 2, chunks: 4 });
  const names = [...Deno.readDirSync(`${dir}/t`)].map((e) => e.name).sort();
  assert.deepEqual(names, ["0.parquet", "1.parquet", "_sample"]);
  const f0 = file(await Deno.readFile(`${dir}/t/0.parquet`));
  assert.deepEqual(parquetMetadata(f0).row_groups.map((g) => Number(g.num_rows)), [1, 3, 2]);
  const f1 = file(await Deno.readFile(`${dir}/t/1.parquet`));
  assert.deepEqual(parquetMetadata(f1).row_groups.map((g) => Number(g.num_rows)), [4]);
  const rows = await parquetReadObjects({ file: f1, compressors });
  assert.deepEqual(rows.map((r) => r.id), [6, 7, 8, 9]);
  assert.deepEqual(rows[0].geometry, { type: "Point", coordinates: [6, 3] });
});

Deno.test("each file has GeoParquet 1.1 geo metadata with its own bbox", async () => {
  const dir = await testTempDir();
  await writeChunkedTable(`${dir}/t`, points(), FILES, CHUNKS, STATS);
  const kv = parquetMetadata(file(await Deno.readFile(`${dir}/t/1.parquet`))).key_value_metadata!;
  const geo = JSON.parse(kv.find((e) => e.key === "geo")!.value!);
  assert.equal(geo.version, "1.1.0");
  assert.equal(geo.primary_column, "geometry");
  assert.deepEqual(geo.columns.geometry.geometry_types, ["Point"]);
  assert.deepEqual(geo.columns.geometry.bbox, [6, 3, 9, 4.5]);
});

Deno.test("_sample holds sample rows and the chunk index in its key-value metadata", async () => {
  const dir = await testTempDir();
  await writeChunkedTable(`${dir}/t`, points(), FILES, CHUNKS, STATS, { sampleRows: 5 });
  const sample = file(await Deno.readFile(`${dir}/t/_sample`));
  const kv = new Map(parquetMetadata(sample).key_value_metadata!.map((e) => [e.key, e.value]));
  assert.equal(kv.get("fused:format_version"), "5");
  const rows = await parquetReadObjects({ file: sample, compressors });
  assert.deepEqual(rows.map((r) => r.id), [0, 2, 4, 6, 8]);
  const index = new Uint8Array(Buffer.from(kv.get("fused:_metadata")!, "base64"));
  const indexFile = file(index);
  assert.deepEqual(
    parquetMetadata(indexFile).schema.slice(1).map((s) => s.name),
    [
      "file_id",
      "chunk_id",
      "bbox_minx",
      "bbox_miny",
      "bbox_maxx",
      "bbox_maxy",
      "sum_area",
      "sum_length",
      "num_coords",
      "num_rows",
    ],
  );
  const chunks = await parquetReadObjects({ file: indexFile, compressors });
  assert.deepEqual(
    chunks.map((c) => [c.file_id, c.chunk_id, Number(c.num_rows), c.bbox_minx, c.bbox_maxy]),
    [["0", 0, 1, 0, 0], ["0", 1, 3, 1, 1.5], ["0", 2, 2, 4, 2.5], ["1", 0, 4, 6, 4.5]],
  );
});

Deno.test("an existing non-empty output is refused unless overwrite is set", async () => {
  const dir = await testTempDir();
  await writeChunkedTable(`${dir}/t`, points(), FILES, CHUNKS, STATS);
  await assert.rejects(
    writeChunkedTable(`${dir}/t`, points(), FILES, CHUNKS, STATS),
    /Output .*\/t already exists and is not empty: pass overwrite: true/,
  );
  await writeChunkedTable(`${dir}/t`, points(4), [[0, 4]], [[[0, 4]]], [stat(0, 0, 0, 4)], {
    overwrite: true,
  });
  const names = [...Deno.readDirSync(`${dir}/t`)].map((e) => e.name).sort();
  assert.deepEqual(names, ["0.parquet", "_sample"], "the old files are gone");
  assert.deepEqual(
    [...Deno.readDirSync(dir)].map((e) => e.name),
    ["t"],
    "no temporary folder is left",
  );
  await Deno.mkdir(`${dir}/empty`);
  await refuseExisting(`${dir}/empty`, false); // an empty folder is free
  await Deno.writeTextFile(`${dir}/f`, "x");
  await assert.rejects(refuseExisting(`${dir}/f`, false), /already exists as a file/);
});

Deno.test("a failed write leaves neither the output nor a temporary folder", async () => {
  const dir = await testTempDir();
  const notWkb = arrow.tableFromArrays({ geometry: Float64Array.from([1, 2]) });
  await assert.rejects(
    writeChunkedTable(`${dir}/t`, notWkb, [[0, 2]], [[[0, 2]]], [stat(0, 0, 0, 2)]),
    /must hold WKB bytes/,
  );
  assert.deepEqual([...Deno.readDirSync(dir)], []);
});

Deno.test("writeRowGroups writes one row group per record batch, even large ones", () => {
  const sizes = [3, 70_000, 1, 20_000];
  const batches = sizes.map((n, b) =>
    new arrow.Table({
      v: arrow.makeVector(Float64Array.from({ length: n }, (_, i) => b * 1e6 + i)),
      s: arrow.vectorFromArray(Array.from({ length: n }, (_, i) => `row ${i}`), new arrow.Utf8()),
    }).batches[0]
  );
  const bytes = writeRowGroups(new arrow.Table(batches));
  assert.deepEqual(parquetMetadata(file(bytes)).row_groups.map((g) => Number(g.num_rows)), sizes);
});

Deno.test("files written on writer threads are the bytes written on this thread", async () => {
  const dir = await testTempDir();
  try {
    const table = points(2000);
    const files: [number, number][] = [[0, 700], [700, 1500], [1500, 2000]];
    const chunks: [number, number][][] = [[[0, 300], [300, 700]], [[700, 1500]], [[1500, 2000]]];
    const written = [];
    for (const writers of [0, 2]) {
      written.push(
        await writeChunkedTable(`${dir}/w${writers}`, table, files, chunks, [], { writers }),
      );
      for (const f of [0, 1, 2]) {
        assert.deepEqual(
          await Deno.readFile(`${dir}/w${writers}/${f}.parquet`),
          await Deno.readFile(`${dir}/w0/${f}.parquet`),
          `file ${f} with ${writers} writer threads`,
        );
      }
    }
    assert.deepEqual(written[0], written[1]);
    await assert.rejects(
      () => writeChunkedTable(`${dir}/bad`, table, files, chunks, [], { writers: -1 }),
      /writers must be "auto" or a whole number from 0, got -1/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("threads the caller opened write the same files and stay open for the caller", async () => {
  const dir = await testTempDir();
  const threads = openWriters(2, 2000, 3);
  try {
    const table = points(2000);
    const files: [number, number][] = [[0, 700], [700, 1500], [1500, 2000]];
    const chunks: [number, number][][] = [[[0, 300], [300, 700]], [[700, 1500]], [[1500, 2000]]];
    await writeChunkedTable(`${dir}/here`, table, files, chunks, [], { writers: 0 });
    for (const name of ["a", "b"]) {
      await writeChunkedTable(`${dir}/${name}`, table, files, chunks, [], { threads });
      for (const f of [0, 1, 2]) {
        assert.deepEqual(
          await Deno.readFile(`${dir}/${name}/${f}.parquet`),
          await Deno.readFile(`${dir}/here/${f}.parquet`),
          `file ${f} of ${name}`,
        );
      }
    }
    assert.equal((await threads)?.size, 2);
  } finally {
    (await threads)?.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a column given in output order writes the bytes gathering it writes", async () => {
  const dir = await testTempDir();
  try {
    const table = points(300);
    const order = Uint32Array.from({ length: 300 }, (_, i) => (i * 7) % 300);
    const files: [number, number][] = [[0, 120], [120, 300]];
    const chunks: [number, number][][] = [[[0, 50], [50, 120]], [[120, 300]]];
    const x = Float64Array.from(order, (row) => row);
    const y = Float64Array.from(order, (row) => row / 2);
    const inOrder = (first: number, last: number) =>
      new Map([["geometry", plainPointsData(x.subarray(first, last), y.subarray(first, last))]]);
    const options = { order, writers: 0 };
    await writeChunkedTable(`${dir}/a`, table, files, chunks, [], options);
    await writeChunkedTable(`${dir}/b`, table, files, chunks, [], { ...options, inOrder });
    // Data files only: `_sample` has several key-value entries, which parquet-wasm orders by a
    // hash map seeded anew for each map.
    for (const name of ["0.parquet", "1.parquet"]) {
      assert.deepEqual(
        await Deno.readFile(`${dir}/b/${name}`),
        await Deno.readFile(`${dir}/a/${name}`),
        name,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("rows gathered file by file through `order` give the files of the gathered table", async () => {
  const dir = await testTempDir();
  try {
    const table = points(500);
    // A scrambled order: odd rows backwards, then even rows.
    const order = Uint32Array.from([
      ...Array.from({ length: 250 }, (_, i) => 499 - 2 * i),
      ...Array.from({ length: 250 }, (_, i) => 2 * i),
    ]);
    const files: [number, number][] = [[0, 120], [120, 500]];
    const chunks: [number, number][][] = [[[0, 50], [50, 120]], [[120, 400], [400, 500]]];
    const options = { sampleRows: 37, writers: 0 };
    await writeChunkedTable(`${dir}/a`, takeRows(table, order), files, chunks, [], options);
    await writeChunkedTable(`${dir}/b`, table, files, chunks, [], { ...options, order });
    for (const name of ["0.parquet", "1.parquet"]) {
      assert.deepEqual(
        await Deno.readFile(`${dir}/b/${name}`),
        await Deno.readFile(`${dir}/a/${name}`),
      );
    }
    const sample = async (t: string) =>
      (await parquetReadObjects({
        file: file(await Deno.readFile(`${dir}/${t}/_sample`)),
        compressors,
      })).map((r) => r.id);
    assert.deepEqual(await sample("b"), await sample("a"));
    assert.equal((await sample("a")).length, 37);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
