/**
 * Ingest benchmark: partition 1,000,000 points into a chunked GeoParquet table, against the
 * baseline of one raw parquet-wasm ZSTD write of the same Arrow table (`tableToIPC`, then
 * `Table.fromIPCStream` and `writeParquet`, as the issue 19 probe does), measured in the same
 * run, interleaved round by round; medians. Our formats module's `tableToParquet` is shown
 * beside it. Reports the row "ingest 1M points (Fused's defaults)" (goal: at most 2.0x).
 *
 * Data: synthetic (seeded), 1,000,000 points in six Gaussian-like clusters plus 20% uniform
 * noise over the globe, with an Int32 `id`, a Float64 `value`, a Utf8 `kind` and a WKB
 * `geometry` column. Options: Fused's defaults (rows; files of at most 1/10 and chunks of at
 * most 1/100 of the rows; UTM zones per chunk).
 *
 * Run: `cd /work/main && deno run -A bench/ingest_bench.ts`
 *
 * @module
 */

import * as arrow from "apache-arrow";
import * as pq from "parquet-wasm";
import { tableToParquet } from "../client/formats/parquet.ts";
import { ingest } from "../ingest/mod.ts";
import { partition } from "../ingest/partition.ts";
import { formatMs, median } from "./_stats.ts";
import { reportRow } from "./_summary.ts";

const ROWS = 1_000_000;
const RUNS = 5;

/** The baseline: one parquet-wasm write of the table, ZSTD, nothing else. */
function rawParquetWrite(table: arrow.Table): Uint8Array {
  const props = new pq.WriterPropertiesBuilder().setCompression(pq.Compression.ZSTD).build();
  return pq.writeParquet(pq.Table.fromIPCStream(arrow.tableToIPC(table, "stream")), props);
}

/** Builds the synthetic table column by column (no row objects). */
export function makePoints(rows: number): arrow.Table {
  let seed = 7;
  const random = (): number => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const centers = [[-74, 40.7], [2.35, 48.85], [139.7, 35.7], [-46.6, -23.5], [77.2, 28.6], [
    -0.1,
    51.5,
  ]];
  const id = new Int32Array(rows);
  const value = new Float64Array(rows);
  const kinds = ["shop", "school", "park", "station"];
  const kind: string[] = new Array(rows);
  const valueOffsets = new Int32Array(rows + 1);
  const wkb = new Uint8Array(rows * 21);
  const view = new DataView(wkb.buffer);
  for (let i = 0; i < rows; i++) {
    let lon: number, lat: number;
    if (random() < 0.2) {
      lon = random() * 360 - 180;
      lat = random() * 170 - 85;
    } else {
      const [cx, cy] = centers[i % centers.length];
      // Sum of three uniforms: a cheap bell shape, a few degrees wide.
      lon = cx + (random() + random() + random() - 1.5) * 3;
      lat = cy + (random() + random() + random() - 1.5) * 2;
    }
    id[i] = i;
    value[i] = random() * 1000;
    kind[i] = kinds[i & 3];
    const at = i * 21;
    view.setUint8(at, 1);
    view.setUint32(at + 1, 1, true);
    view.setFloat64(at + 5, lon, true);
    view.setFloat64(at + 13, lat, true);
    valueOffsets[i + 1] = at + 21;
  }
  return new arrow.Table({
    id: arrow.makeVector(id),
    value: arrow.makeVector(value),
    kind: arrow.vectorFromArray(kind, new arrow.Utf8()),
    geometry: arrow.makeVector(
      arrow.makeData({
        type: new arrow.Binary(),
        length: rows,
        nullCount: 0,
        valueOffsets,
        data: wkb,
      }),
    ),
  });
}

/** Runs the benchmark and prints a table of medians and the ratio to the baseline. */
export async function main(): Promise<void> {
  const table = makePoints(ROWS);
  const dir = await Deno.makeTempDir({ prefix: "ingest_bench_" });
  try {
    const raw: number[] = [];
    const baseline: number[] = [];
    const full: number[] = [];
    const partitionOnly: number[] = [];
    let last = null as Awaited<ReturnType<typeof ingest>> | null;
    // Centroids of points are the points: partition() alone, on typed arrays.
    const x = new Float64Array(ROWS);
    const y = new Float64Array(ROWS);
    const geom = table.getChild("geometry")!.data[0];
    const bytes = geom.values as Uint8Array;
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < ROWS; i++) {
      x[i] = dv.getFloat64(i * 21 + 5, true);
      y[i] = dv.getFloat64(i * 21 + 13, true);
    }
    for (let r = 0; r < RUNS; r++) {
      let t = performance.now();
      const bytes = rawParquetWrite(table);
      raw.push(performance.now() - t);
      if (bytes.byteLength === 0) throw new Error("parquet-wasm wrote nothing");

      t = performance.now();
      const one = tableToParquet(table);
      baseline.push(performance.now() - t);
      await Deno.writeFile(`${dir}/one.parquet`, one);

      t = performance.now();
      last = await ingest(table, { output: `${dir}/table`, overwrite: true });
      full.push(performance.now() - t);

      t = performance.now();
      partition({ x, y }, { maxPerFile: ROWS / 10, maxPerChunk: ROWS / 100, forceUtm: "chunk" });
      partitionOnly.push(performance.now() - t);
    }
    const b = median(raw);
    const f = median(full);
    const p = median(partitionOnly);
    console.log(
      `ingest of ${ROWS.toLocaleString("en")} synthetic points, median of ${RUNS} runs (load ${
        Deno.loadavg().map((l) => l.toFixed(2)).join(" ")
      })`,
    );
    console.log(`| step | time | rows/s | vs one raw parquet-wasm ZSTD write |`);
    console.log(`|---|---|---|---|`);
    const row = (name: string, ms: number): void =>
      console.log(
        `| ${name} | ${formatMs(ms)} | ${Math.round(ROWS / (ms / 1000)).toLocaleString("en")} | ${
          (ms / b).toFixed(2)
        }x |`,
      );
    row("baseline: raw parquet-wasm ZSTD write, one file", b);
    row("tableToParquet, one file", median(baseline));
    row("ingest (read + measure + partition + write)", f);
    row("partition() alone on centroids", p);
    reportRow({
      path: "ingest 1M points (Fused's defaults)",
      value: f / b,
      unit: "x",
      baseline: "one raw parquet-wasm ZSTD write of the same table",
      atMost: 2.0,
    });
    if (last) {
      console.log(
        `\nlast ingest: ${last.files} files, ${last.chunks} chunks, ${last.rows} rows, ${
          (last.bytes / 1e6).toFixed(1)
        } MB; read ${formatMs(last.timings.readMs)}, measure+partition ${
          formatMs(last.timings.partitionMs)
        }, gather+write ${formatMs(last.timings.writeMs)}`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await main();
