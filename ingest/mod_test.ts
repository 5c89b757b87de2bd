import assert from "node:assert/strict";
import * as arrow from "apache-arrow";
import { feature } from "topojson-client";
import { NotSupportedError, ValidationError } from "../client/errors.ts";
import {
  type GeoJsonFeatureCollection,
  geoMetadata,
  parquetToTable,
} from "../client/formats/mod.ts";
import { options } from "../client/options.ts";
import { measureGeometries } from "./_wkb_measure.ts";
import { getChunkFromTable, getChunksMetadata, ingest, ingestNongeospatial } from "./mod.ts";
import { testTempDir } from "../tests/_helpers.ts";

const NODE_MODULES = new URL("../node_modules/", import.meta.url);
const AIRPORTS = new URL("vega-datasets/data/airports.csv", NODE_MODULES);
const COUNTRIES_ZIP = new URL("../tests/fixtures/ingest/countries.zip", import.meta.url);

/** Natural Earth 1:110m countries (npm world-atlas) as GeoJSON. */
async function countries(): Promise<GeoJsonFeatureCollection> {
  const topology = JSON.parse(
    await Deno.readTextFile(new URL("world-atlas/countries-110m.json", NODE_MODULES)),
  );
  const fc = feature(topology, topology.objects.countries) as unknown as GeoJsonFeatureCollection;
  // Keep name only: "properties" of some countries are empty objects.
  return {
    type: "FeatureCollection",
    features: fc.features.map((f) => ({ ...f, properties: { name: f.properties?.name ?? null } })),
  };
}

type Chunk = Record<string, unknown> & {
  file_id: string;
  chunk_id: number;
  num_rows: bigint;
  sum_area: number;
};

async function chunkRows(table: string): Promise<Chunk[]> {
  return (await getChunksMetadata(table)).toArray().map((r) => r.toJSON() as Chunk);
}

Deno.test("countries ingested by area: chunks respect the area maximum and their bboxes hold their rows", async () => {
  const dir = await testTempDir();
  const input = await countries();
  const result = await ingest(input, {
    output: `${dir}/countries`,
    partitioningMethod: "area",
    partitioningForceUtm: null,
  });
  assert.equal(result.rows, input.features.length - result.droppedRows);
  assert.equal(result.droppedRows, 0);
  const chunks = await chunkRows(`${dir}/countries`);
  assert.equal(chunks.length, result.chunks);
  const totalArea = chunks.reduce((s, c) => s + c.sum_area, 0);
  assert.ok(
    Math.abs(result.maximumPerChunk - totalArea / 100) < 1e-6 * totalArea,
    "default per-chunk maximum is 1/100 of the total",
  );
  for (const c of chunks) {
    assert.ok(
      c.sum_area <= result.maximumPerChunk || c.num_rows === 1n,
      `chunk ${c.file_id}/${c.chunk_id} holds ${c.sum_area}`,
    );
    const rows = await getChunkFromTable(`${dir}/countries`, c.file_id, c.chunk_id);
    const m = measureGeometries(rows.getChild("geometry")!);
    for (let i = 0; i < rows.numRows; i++) {
      assert.ok(m.minx[i] >= (c.bbox_minx as number) && m.maxx[i] <= (c.bbox_maxx as number));
      assert.ok(m.miny[i] >= (c.bbox_miny as number) && m.maxy[i] <= (c.bbox_maxy as number));
    }
  }
  const whole = await getChunkFromTable(`${dir}/countries`, null);
  assert.deepEqual(
    [...whole.getChild("name")!].sort(),
    input.features.map((f) => f.properties!.name).sort(),
  );
});

Deno.test("airports with default maxima: about ten files, rows per file at most a tenth", async () => {
  const dir = await testTempDir();
  const result = await ingest(AIRPORTS, { output: `${dir}/a`, partitioningForceUtm: null });
  const lines = (await Deno.readTextFile(AIRPORTS)).trim().split("\n").length - 1;
  assert.equal(result.rows, lines);
  assert.equal(result.maximumPerFile, lines / 10);
  const chunks = await chunkRows(`${dir}/a`);
  const perFile = new Map<string, number>();
  for (const c of chunks) {
    perFile.set(c.file_id, (perFile.get(c.file_id) ?? 0) + Number(c.num_rows));
    assert.ok(Number(c.num_rows) <= lines / 100);
  }
  assert.ok([...perFile.values()].every((n) => n <= lines / 10));
  assert.equal(perFile.size, result.files);
  assert.ok(result.files >= 10 && result.files <= 40, `${result.files} files`);
  assert.ok(result.timings.totalMs >= result.timings.writeMs);
});

Deno.test("targetNumChunks sets the per-chunk maximum when none is given", async () => {
  const dir = await testTempDir();
  const result = await ingest(AIRPORTS, { output: `${dir}/a`, targetNumChunks: 20 });
  assert.equal(result.maximumPerChunk, result.rows / 20);
});

Deno.test("a zipped Shapefile is ingested end to end", async () => {
  const dir = await testTempDir();
  const result = await ingest(COUNTRIES_ZIP, {
    output: `${dir}/z`,
    partitioningMaximumPerChunk: 3,
  });
  assert.equal(result.rows, 12);
  const whole = await getChunkFromTable(`${dir}/z`, null, null, { columns: ["name", "geometry"] });
  assert.ok([...whole.getChild("name")!].includes("Kazakhstan"));
  assert.ok((await chunkRows(`${dir}/z`)).every((c) => c.num_rows <= 3n));
});

Deno.test("explodeGeometries gives one row per polygon part", async () => {
  const dir = await testTempDir();
  const input = await countries();
  const result = await ingest(input, { output: `${dir}/e`, explodeGeometries: true });
  assert.ok(result.inputRows > input.features.length, `${result.inputRows} parts`);
  const whole = await getChunkFromTable(`${dir}/e`, null);
  assert.equal(whole.numRows, result.rows);
  const types = new Set(geoMetadata(whole)!.columns.geometry.geometry_types);
  assert.deepEqual([...types], ["Polygon"]);
  const canada = [...whole.getChild("name")!].filter((n) => n === "Canada").length;
  assert.ok(canada > 1, `Canada has ${canada} parts`);
});

Deno.test("out-of-bounds and null geometries are dropped and counted", async () => {
  const dir = await testTempDir();
  const fc: GeoJsonFeatureCollection = {
    type: "FeatureCollection",
    features: [
      { type: "Feature", geometry: { type: "Point", coordinates: [10, 10] }, properties: { i: 0 } },
      {
        type: "Feature",
        geometry: { type: "Point", coordinates: [500000, 4000000] },
        properties: { i: 1 },
      },
      { type: "Feature", geometry: null, properties: { i: 2 } },
    ],
  };
  const dropped = await ingest(fc, { output: `${dir}/a` });
  assert.deepEqual([dropped.rows, dropped.droppedRows], [1, 2]);
  const kept = await ingest(fc, { output: `${dir}/b`, dropOutOfBounds: false });
  assert.deepEqual([kept.rows, kept.droppedRows], [2, 1]);
  const projected = { ...fc, features: [fc.features[1]] };
  await assert.rejects(
    ingest(projected, { output: `${dir}/c` }),
    /No rows left to ingest: all 1 geometries .*reproject to EPSG:4326/,
  );
});

Deno.test("unsupported and unknown options are refused by name", async () => {
  const dir = await testTempDir();
  const out = `${dir}/x`;
  for (
    const [key, value] of [["gdalConfig", { layer: "a" }], ["subdivideMethod", "area"], [
      "asUdf",
      true,
    ], ["schema", {}]] as const
  ) {
    await assert.rejects(ingest(AIRPORTS, { output: out, [key]: value } as never), (e: Error) => {
      assert.ok(e instanceof NotSupportedError, String(e));
      assert.match(e.message, new RegExp(`Option ${key} is not supported`));
      return true;
    });
  }
  await assert.rejects(
    ingest(AIRPORTS, { output: out, lonlat_cols: ["a", "b"] } as never),
    /Unknown ingest option "lonlat_cols": write it as "lonlatCols"/,
  );
  await assert.rejects(ingest(AIRPORTS, {} as never), /ingest needs an output/);
  await assert.rejects(
    ingest(AIRPORTS, { output: out, partitioningMethod: "volume" as never }),
    /Unknown partitioningMethod "volume"/,
  );
  await assert.rejects(
    ingest(AIRPORTS, { output: out, partitioningMethod: "area" }),
    /gives a total of 0 .*use "rows" or "coords"/,
  );
  await assert.rejects(
    ingest(AIRPORTS, { output: out, partitioningMaximumPerChunk: -1 }),
    /partitioningMaximumPerChunk must be a number above 0/,
  );
  await assert.rejects(
    ingest(AIRPORTS, { output: "https://x.org/t" }),
    /ingest writes local folders/,
  );
  assert.deepEqual([...Deno.readDirSync(dir)], [], "nothing was written");
});

Deno.test("ingest refuses an existing output before reading, and overwrite replaces it", async () => {
  const dir = await testTempDir();
  await Deno.mkdir(`${dir}/t`);
  await Deno.writeTextFile(`${dir}/t/keep.txt`, "mine");
  await assert.rejects(ingest(`${dir}/missing.csv`, { output: `${dir}/t` }), (e: Error) => {
    assert.ok(e instanceof ValidationError);
    assert.match(e.message, /already exists and is not empty: pass overwrite: true/);
    return true;
  });
  assert.equal(await Deno.readTextFile(`${dir}/t/keep.txt`), "mine");
  await ingest(AIRPORTS, { output: `${dir}/t`, overwrite: true });
  assert.ok(![...Deno.readDirSync(`${dir}/t`)].some((e) => e.name === "keep.txt"));
});

Deno.test("outputMetadata gets the chunk index as a GeoParquet table, and fd:// outputs work", async () => {
  const root = await testTempDir();
  options.fdPrefix = root;
  try {
    const result = await ingest(AIRPORTS, {
      output: "fd://bucket/main",
      outputMetadata: "fd://bucket/fused",
    });
    assert.equal(result.path, `${root}/bucket/main`);
    const index = parquetToTable(await Deno.readFile(`${root}/bucket/fused/0.parquet`));
    assert.equal(index.numRows, result.chunks);
    assert.equal(geoMetadata(index)?.primary_column, "geometry");
    assert.equal((await getChunksMetadata("fd://bucket/main")).numRows, result.chunks);
  } finally {
    options.reset();
  }
});

Deno.test("ingestNongeospatial orders by the partition column and keeps equal values in one chunk", async () => {
  const dir = await testTempDir();
  const n = 1000;
  const t = new arrow.Table({
    day: arrow.vectorFromArray(
      Array.from({ length: n }, (_, i) => `2024-01-${String(1 + ((i * 7) % 20)).padStart(2, "0")}`),
      new arrow.Utf8(),
    ),
    v: arrow.makeVector(Float64Array.from({ length: n }, (_, i) => i)),
  });
  const result = await ingestNongeospatial(t, {
    output: `${dir}/n`,
    partitionCol: "day",
    partitioningMaximumPerFile: 400,
    partitioningMaximumPerChunk: 120,
  });
  assert.equal(result.rows, n);
  const chunks = await chunkRows(`${dir}/n`);
  const seen = new Map<string, string>();
  let last = "";
  for (const c of chunks) {
    assert.ok(Number(c.num_rows) <= 120);
    const rows = await getChunkFromTable(`${dir}/n`, c.file_id, c.chunk_id);
    for (const day of rows.getChild("day")!) {
      assert.ok(day >= last, "rows are ordered by the partition column");
      last = day;
      const where = `${c.file_id}/${c.chunk_id}`;
      assert.equal(seen.get(day) ?? where, where, `${day} is in one chunk`);
      seen.set(day, where);
    }
  }
  assert.equal(seen.size, 20);
  await assert.rejects(
    ingestNongeospatial(t, { output: `${dir}/m`, partitionCol: "nope" }),
    /partitionCol "nope" is not a column/,
  );
  await assert.rejects(
    ingestNongeospatial(t, { output: `${dir}/m`, explodeGeometries: true } as never),
    /Unknown ingestNongeospatial option "explodeGeometries"/,
  );
});
