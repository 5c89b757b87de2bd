/**
 * Result formats benchmark: our module against raw library calls on the same data, same process.
 *
 * Data: synthetic, 1,000,000 rows × 4 columns, as display-perf §4.1: `id` Int32 sequential,
 * `lon`/`lat` Float64 uniform random (seeded, so nearly incompressible: a worst case), `cat`
 * Dictionary<Int32, Utf8> with 16 values.
 *
 * - Parquet encode + decode (ZSTD) through `tableToParquet`/`parquetToTable` vs raw parquet-wasm.
 *   Target: at most 1.2x.
 * - Worker → caller: `toTransferable`/`fromTransferable` through a real Worker `postMessage` vs
 *   posting raw Arrow IPC bytes and `tableFromIPC`.
 * - Cache envelope: `serializeValue`/`deserializeValue` vs raw `tableToIPC`/`tableFromIPC`, a row
 *   of the performance table (bench/_summary.ts). Target: at most 1.3x. Under it, its two steps
 *   against theirs and its floor: raw plus the two CRC-32 passes of the envelope's checksum (one
 *   on write, one on read). Beside it, the cache as runs use it: `writeCache` + `readCache`
 *   through its file vs the IPC bytes written and read.
 *
 * Run: `cd /work/main && deno run -A --unstable-worker-options bench/formats_bench.ts`
 *
 * @module
 */

import * as arrow from "apache-arrow";
import * as pq from "parquet-wasm";
import { parquetToTable, tableToParquet } from "../client/formats/parquet.ts";
import {
  fromTransferable,
  toTransferable,
  type TransferMessage,
} from "../client/formats/transfer.ts";
import { deserializeValue, serializeValue } from "../client/formats/envelope.ts";
import { readCache, writeCache } from "../client/cache.ts";
import { options } from "../client/options.ts";
import { median } from "./_stats.ts";
import { crc32 } from "node:zlib";
import { reportRow } from "./_summary.ts";

const ROWS = 1_000_000;
const RUNS = 9;
/** Worker round trips are short and GC-noisy (7–50 ms each), so they get more runs. */
const WORKER_RUNS = 25;
/** The envelope's runs are 20–60 ms each, and its ratio is a row of the performance table. */
const ENVELOPE_RUNS = 21;
/** The performance table's goal for the envelope (issue 19). */
const ENVELOPE_GOAL = 1.3;

/** Builds the synthetic 1 M-row table column by column (no row objects). */
function makeTable(rows: number): arrow.Table {
  let seed = 42;
  const random = (): number => {
    // mulberry32: seeded so every run compresses the same data
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const id = new Int32Array(rows);
  const lon = new Float64Array(rows);
  const lat = new Float64Array(rows);
  const codes = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    id[i] = i;
    lon[i] = random() * 360 - 180;
    lat[i] = random() * 180 - 90;
    codes[i] = Math.floor(random() * 16);
  }
  const names = arrow.vectorFromArray(
    Array.from({ length: 16 }, (_, i) => `category_${i}`),
    new arrow.Utf8(),
  );
  const cat = arrow.makeVector(arrow.makeData({
    type: new arrow.Dictionary(new arrow.Utf8(), new arrow.Int32()),
    length: rows,
    data: codes,
    dictionary: names,
  }));
  return new arrow.Table({
    id: arrow.makeVector(id),
    lon: arrow.makeVector(lon),
    lat: arrow.makeVector(lat),
    cat,
  });
}

/** The envelope's runs: whole round trips, their two steps, and one CRC-32 pass of its bytes. */
interface EnvelopeTiming {
  ours: number[];
  raw: number[];
  serialize: number[];
  deserialize: number[];
  encode: number[];
  decode: number[];
  crc: number[];
}

interface Timing {
  encode: number[];
  decode: number[];
}

function rawParquetWrite(table: arrow.Table): Uint8Array {
  const props = new pq.WriterPropertiesBuilder().setCompression(pq.Compression.ZSTD).build();
  return pq.writeParquet(pq.Table.fromIPCStream(arrow.tableToIPC(table, "stream")), props);
}

function rawParquetRead(bytes: Uint8Array): arrow.Table {
  return arrow.tableFromIPC(pq.readParquet(bytes).intoIPCStream());
}

/** Times encode and decode of both variants, alternating them so drift hits both alike. */
function benchParquet(table: arrow.Table): { ours: Timing; raw: Timing; size: [number, number] } {
  const ours: Timing = { encode: [], decode: [] };
  const raw: Timing = { encode: [], decode: [] };
  let size: [number, number] = [0, 0];
  for (let run = 0; run <= RUNS; run++) {
    for (const variant of run % 2 ? ["raw", "ours"] : ["ours", "raw"]) {
      const t0 = performance.now();
      const bytes = variant === "ours" ? tableToParquet(table) : rawParquetWrite(table);
      const t1 = performance.now();
      const back = variant === "ours" ? parquetToTable(bytes) : rawParquetRead(bytes);
      const t2 = performance.now();
      if (back.numRows !== table.numRows) throw new Error(`${variant} read ${back.numRows} rows`);
      if (run === 0) { // warm-up run: not timed
        if (variant === "ours") size[0] = bytes.byteLength;
        else size[1] = bytes.byteLength;
        continue;
      }
      const target = variant === "ours" ? ours : raw;
      target.encode.push(t1 - t0);
      target.decode.push(t2 - t1);
    }
  }
  size = [size[0], size[1]];
  return { ours, raw, size };
}

/** Worker side: builds the table once, then answers "ours" / "raw" requests. */
function workerMain(): void {
  const table = makeTable(ROWS);
  const scope = self as unknown as {
    postMessage(message: unknown, transfer?: ArrayBuffer[]): void;
    onmessage: ((e: MessageEvent<string>) => void) | null;
  };
  scope.onmessage = async (e) => {
    if (e.data === "ours") {
      const { message, transfer } = await toTransferable(table);
      scope.postMessage(message, transfer);
    } else {
      const ipc = arrow.tableToIPC(table, "stream");
      scope.postMessage(ipc, [ipc.buffer as ArrayBuffer]);
    }
  };
  scope.postMessage("ready");
}

/** Times request → decoded table through a real Worker for both variants. */
async function benchWorker(): Promise<{ ours: number[]; raw: number[] }> {
  const worker = new Worker(import.meta.url, { type: "module" });
  const next = (): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error("the bench Worker did not answer within 60 s")),
        60_000,
      );
      worker.onmessage = (e) => {
        clearTimeout(timer);
        resolve(e.data);
      };
      worker.onerror = (e) => {
        clearTimeout(timer);
        reject(e.error ?? new Error(e.message));
      };
    });
  const times = { ours: [] as number[], raw: [] as number[] };
  try {
    const ready = next();
    if (await ready !== "ready") throw new Error("the bench Worker did not start");
    for (let run = 0; run <= WORKER_RUNS; run++) {
      for (const variant of run % 2 ? ["raw", "ours"] as const : ["ours", "raw"] as const) {
        const t0 = performance.now();
        const reply = next();
        worker.postMessage(variant);
        const data = await reply;
        const table = variant === "ours"
          ? await fromTransferable(data as TransferMessage) as arrow.Table
          : arrow.tableFromIPC(data as Uint8Array);
        const t1 = performance.now();
        if (table.numRows !== ROWS) throw new Error(`${variant} got ${table.numRows} rows`);
        if (run > 0) times[variant].push(t1 - t0);
      }
    }
  } finally {
    worker.terminate();
  }
  return times;
}

/**
 * Times the cache envelope against raw Arrow IPC, back to back in each run, the order switched
 * every run so that neither always runs first (on a heap the other just filled).
 */
async function benchEnvelope(table: arrow.Table): Promise<EnvelopeTiming> {
  const times: EnvelopeTiming = {
    ours: [],
    raw: [],
    serialize: [],
    deserialize: [],
    encode: [],
    decode: [],
    crc: [],
  };
  for (let run = 0; run <= ENVELOPE_RUNS; run++) {
    for (const variant of run % 2 ? ["raw", "ours"] : ["ours", "raw"]) {
      const t0 = performance.now();
      let back: arrow.Table;
      let t1: number;
      let envelope: Uint8Array | undefined;
      if (variant === "ours") {
        envelope = await serializeValue(table);
        t1 = performance.now();
        back = await deserializeValue(envelope) as arrow.Table;
      } else {
        const ipc = arrow.tableToIPC(table, "stream");
        t1 = performance.now();
        back = arrow.tableFromIPC(ipc);
      }
      const t2 = performance.now();
      if (back.numRows !== ROWS) throw new Error(`${variant} read ${back.numRows} rows`);
      // One CRC-32 pass over what the envelope's checksum covers, timed apart from ours: the
      // envelope takes two (serialize, deserialize), the part of its cost a full check sets.
      const t3 = performance.now();
      if (envelope) crc32(envelope);
      const crcMs = performance.now() - t3;
      if (run === 0) continue; // warm-up run: not timed
      if (variant === "ours") {
        times.ours.push(t2 - t0);
        times.serialize.push(t1 - t0);
        times.deserialize.push(t2 - t1);
        times.crc.push(crcMs);
      } else {
        times.raw.push(t2 - t0);
        times.encode.push(t1 - t0);
        times.decode.push(t2 - t1);
      }
    }
  }
  return times;
}

/**
 * Times the cache as a UDF run uses it, through its file (`writeCache` then `readCache`: the
 * envelope's parts written to a temporary file and renamed, then read back and checked), against
 * the raw Arrow IPC bytes written to a file and read back, alternated as above.
 */
async function benchCacheFile(table: arrow.Table): Promise<{ ours: number[]; raw: number[] }> {
  const dir = await Deno.makeTempDir({ prefix: "formats_bench_cache_" });
  const before = options.cacheDirectory;
  options.cacheDirectory = dir;
  const times = { ours: [] as number[], raw: [] as number[] };
  try {
    for (let run = 0; run <= RUNS; run++) {
      for (const variant of run % 2 ? ["raw", "ours"] : ["ours", "raw"]) {
        const t0 = performance.now();
        let back: arrow.Table;
        if (variant === "ours") {
          await writeCache("bench", table);
          const found = await readCache("bench");
          if (!found.hit) throw new Error("the cache entry just written was not read back");
          back = found.value as arrow.Table;
        } else {
          await Deno.writeFile(`${dir}/raw.arrow`, arrow.tableToIPC(table, "stream"));
          back = arrow.tableFromIPC(await Deno.readFile(`${dir}/raw.arrow`));
        }
        const ms = performance.now() - t0;
        if (back.numRows !== ROWS) throw new Error(`${variant} read ${back.numRows} rows`);
        if (run > 0) times[variant as "ours" | "raw"].push(ms);
      }
    }
  } finally {
    options.cacheDirectory = before;
    await Deno.remove(dir, { recursive: true });
  }
  return times;
}

/** The median of per-run ratios ours / raw (each run timed both back to back). */
function pairedRatio(ours: number[], raw: number[]): number {
  return median(ours.map((x, i) => x / raw[i]));
}

/**
 * One result line. The verdict uses the median of per-run ratios (each run times ours and raw
 * back to back), which cancels load drift from other processes better than a ratio of medians.
 */
function row(name: string, ours: number[], raw: number[], target?: number): string {
  const ratio = median(ours) / median(raw);
  const paired = pairedRatio(ours, raw);
  const minRatio = Math.min(...ours) / Math.min(...raw);
  const verdict = target === undefined
    ? ""
    : paired <= target
    ? `ok (≤ ${target}x)`
    : `OVER ${target}x`;
  const ms = (x: number): string => x.toFixed(1).padStart(7);
  const r = (x: number): string => `${x.toFixed(2).padStart(5)}x`;
  return `| ${name.padEnd(40)} | ${ms(median(ours))} | ${ms(median(raw))} | ${r(ratio)} | ${
    ms(Math.min(...ours))
  } | ${ms(Math.min(...raw))} | ${r(minRatio)} | ${r(paired)} | ${verdict}`;
}

/** Runs every measurement and prints a table of medians and ratios. */
export async function main(): Promise<void> {
  const t0 = performance.now();
  const table = makeTable(ROWS);
  console.log(
    `Synthetic table: ${
      ROWS.toLocaleString("en")
    } rows × 4 columns (id Int32, lon/lat Float64 random, cat Dictionary<Int32,Utf8> × 16), built in ${
      (performance.now() - t0).toFixed(0)
    } ms. Medians of ${RUNS} runs (Worker: ${WORKER_RUNS}) after 1 warm-up, variants alternated.\n`,
  );
  const p = benchParquet(table);
  const w = await benchWorker();
  const e = await benchEnvelope(table);
  const c = await benchCacheFile(table);
  if (Deno.env.get("BENCH_VERBOSE")) console.log({ worker: w, parquet: p });
  const oursPq = p.ours.encode.map((x, i) => x + p.ours.decode[i]);
  const rawPq = p.raw.encode.map((x, i) => x + p.raw.decode[i]);
  console.log(
    `| ${
      "operation".padEnd(40)
    } | ours ms | raw ms  | median | ours ms | raw ms  |  min   | paired |`,
  );
  console.log(
    `| ${"".padEnd(40)} | median  | median  | ratio  |   min   |   min   | ratio  | ratio  |`,
  );
  console.log(
    `|${"-".repeat(42)}|---------|---------|--------|---------|---------|--------|--------|`,
  );
  console.log(row("Parquet ZSTD encode", p.ours.encode, p.raw.encode));
  console.log(row("Parquet ZSTD decode", p.ours.decode, p.raw.decode));
  console.log(row("Parquet ZSTD encode + decode", oursPq, rawPq, 1.2));
  console.log(row("Worker → caller: to/fromTransferable", w.ours, w.raw, 1.2));
  console.log(row("Cache envelope: serialize + deserialize", e.ours, e.raw, ENVELOPE_GOAL));
  console.log(row("  serializeValue vs tableToIPC", e.serialize, e.encode));
  console.log(row("  deserializeValue vs tableFromIPC", e.deserialize, e.decode));
  console.log(
    row("  raw + 2 CRC-32 passes (the floor)", e.raw.map((x, i) => x + 2 * e.crc[i]), e.raw),
  );
  console.log(row("Cache write + read, through its file", c.ours, c.raw));
  reportRow({
    path: "cache envelope serialize + deserialize (1M × 4)",
    value: pairedRatio(e.ours, e.raw),
    unit: "x",
    baseline: `tableToIPC + tableFromIPC (paired median of ${ENVELOPE_RUNS} runs)`,
    atMost: ENVELOPE_GOAL,
  });
  console.log(
    "\nraw = parquet-wasm writeParquet/readParquet (ZSTD) + Arrow IPC; Worker raw = posting tableToIPC bytes + tableFromIPC;\nenvelope raw = tableToIPC + tableFromIPC (no checksum, no framing); floor = raw + two CRC-32 passes over the envelope (one timed per run, apart), what a check of every byte on write and on read adds;\ncache raw = those IPC bytes written to a file and read back.\npaired ratio = median over runs of ours/raw timed back to back (the verdict uses it).",
  );
  console.log(
    `\nParquet size: ours ${(p.size[0] / 1e6).toFixed(2)} MB, raw ${
      (p.size[1] / 1e6).toFixed(2)
    } MB`,
  );
}

const inWorker = typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !==
    "undefined" &&
  self instanceof
    (globalThis as unknown as { WorkerGlobalScope: new () => object }).WorkerGlobalScope;
if (inWorker) workerMain();
else if (import.meta.main) await main();
