/**
 * Local engine overhead, against a baseline measured in the same process:
 * (a) warm run of a trivial UDF vs a raw Worker postMessage round trip (target ≤ 3x);
 *     and the same through `fused.run` with the cache off (the SDK's dispatch on top);
 * (b) cold first `fused.run` of a new UDF version: module files written, Worker started, module loaded
 *     (target < 100 ms median).
 *
 * Run: `deno run -A --unstable-worker-options bench/engine_bench.ts`
 *
 * @module
 */
import { cachingLocalEngine, installEngine, run } from "../client/run.ts";
import { udf } from "../client/udf.ts";
import { LocalEngine } from "../engine/mod.ts";
import { formatMs, quantile } from "./_stats.ts";

/** Numbers measured by one run of the benchmark, in milliseconds. */
export interface EngineBenchResult {
  /** Median raw Worker postMessage round trip. */
  rawRoundTripMs: number;
  /** Median warm `LocalEngine.run` of a UDF returning 1. */
  warmRunMs: number;
  /** warmRunMs / rawRoundTripMs. */
  warmRatio: number;
  /** Median warm `fused.run` (cache off) of the same UDF: engine plus the SDK's dispatch. */
  warmFusedRunMs: number;
  /** warmFusedRunMs / rawRoundTripMs (target ≤ 3). */
  warmFusedRunRatio: number;
  /** Median cold run of a fresh UDF version. */
  coldRunMs: number;
  /** 95th percentile of the cold runs. */
  coldRunP95Ms: number;
  /** Median start of a bare Worker importing a fresh one-line module (cold baseline). */
  rawColdMs: number;
}

async function rawRoundTrip(runs: number): Promise<number[]> {
  const code = `self.onmessage = (e) => self.postMessage(e.data);`;
  const url = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
  const worker = new Worker(url, {
    type: "module",
    deno: { permissions: "none" },
  });
  const samples: number[] = [];
  try {
    for (let i = 0; i < runs + 50; i++) {
      const t0 = performance.now();
      await new Promise<void>((resolve) => {
        worker.onmessage = () => resolve();
        worker.postMessage({ type: "run", id: i, parameters: {} });
      });
      if (i >= 50) samples.push(performance.now() - t0); // the first 50 warm the JIT
    }
  } finally {
    worker.terminate();
    URL.revokeObjectURL(url);
  }
  return samples;
}

/** Starts a restricted Worker that imports a fresh one-line module, until its answer. */
async function rawCold(dir: string, runs: number): Promise<number[]> {
  const code = `self.onmessage = async (e) => self.postMessage((await import(e.data)).default());`;
  const url = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
  const samples: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      const file = `${dir}/raw_${i}.ts`;
      await Deno.writeTextFile(file, `// ${crypto.randomUUID()}\nexport default () => 1;\n`);
      const t0 = performance.now();
      const worker = new Worker(url, {
        type: "module",
        deno: {
          permissions: {
            read: [dir],
            write: false,
            net: false,
            env: false,
            run: false,
            ffi: false,
            sys: false,
            import: false,
          },
        },
      });
      await new Promise<void>((resolve) => {
        worker.onmessage = () => resolve();
        worker.postMessage(`file://${file}`);
      });
      samples.push(performance.now() - t0);
      worker.terminate();
    }
  } finally {
    URL.revokeObjectURL(url);
  }
  return samples;
}

/** Runs the benchmark, prints a table and returns the numbers. */
export async function main(): Promise<EngineBenchResult> {
  const dataDir = await Deno.makeTempDir({ prefix: "engine_bench_" });
  const engine = new LocalEngine({ dataDir, maxWorkers: 4 });
  try {
    const raw = await rawRoundTrip(1000);

    const trivial = udf(`export default function udf() { return 1 }`, { name: "one" });
    const warm: number[] = [];
    for (let i = 0; i < 1050; i++) {
      const t0 = performance.now();
      await engine.run({ udf: trivial });
      if (i >= 50) warm.push(performance.now() - t0);
    }

    installEngine("local", cachingLocalEngine(engine));
    const warmFused: number[] = [];
    for (let i = 0; i < 1050; i++) {
      const t0 = performance.now();
      await run(trivial, { cache: false, verbose: false });
      if (i >= 50) warmFused.push(performance.now() - t0);
    }

    const cold: number[] = [];
    const stamp = crypto.randomUUID(); // a fresh version per run, never seen by Deno's caches
    for (let i = 0; i < 20; i++) {
      const fresh = udf(`// ${stamp} ${i}\nexport default function udf() { return 1 }`, {
        name: "cold",
      });
      const t0 = performance.now();
      await run(fresh, { cache: false, verbose: false });
      cold.push(performance.now() - t0);
    }

    const rawColdSamples = await rawCold(dataDir, 20);
    const result: EngineBenchResult = {
      rawColdMs: quantile(rawColdSamples, 0.5),
      rawRoundTripMs: quantile(raw, 0.5),
      warmRunMs: quantile(warm, 0.5),
      warmRatio: quantile(warm, 0.5) / quantile(raw, 0.5),
      warmFusedRunMs: quantile(warmFused, 0.5),
      warmFusedRunRatio: quantile(warmFused, 0.5) / quantile(raw, 0.5),
      coldRunMs: quantile(cold, 0.5),
      coldRunP95Ms: quantile(cold, 0.95),
    };
    console.log("| case | median | p95 | target |");
    console.log("|---|---|---|---|");
    console.log(
      `| raw Worker postMessage round trip (baseline) | ${formatMs(result.rawRoundTripMs)} | ${
        formatMs(quantile(raw, 0.95))
      } | |`,
    );
    console.log(
      `| warm LocalEngine.run, UDF returns 1 | ${formatMs(result.warmRunMs)} | ${
        formatMs(quantile(warm, 0.95))
      } | ratio ${result.warmRatio.toFixed(2)}x (≤ 3x) |`,
    );
    console.log(
      `| warm fused.run (cache off), UDF returns 1 | ${formatMs(result.warmFusedRunMs)} | ${
        formatMs(quantile(warmFused, 0.95))
      } | ratio ${result.warmFusedRunRatio.toFixed(2)}x (≤ 3x) |`,
    );
    console.log(
      `| bare Worker start + import of a fresh module (baseline) | ${
        formatMs(result.rawColdMs)
      } | ${formatMs(quantile(rawColdSamples, 0.95))} | |`,
    );
    console.log(
      `| cold fused.run, fresh UDF version | ${formatMs(result.coldRunMs)} | ${
        formatMs(result.coldRunP95Ms)
      } | < 100 ms (ratio ${(result.coldRunMs / result.rawColdMs).toFixed(2)}x baseline) |`,
    );
    return result;
  } finally {
    installEngine("local", undefined);
    await engine.close();
    await Deno.remove(dataDir, { recursive: true });
  }
}

if (import.meta.main) await main();
