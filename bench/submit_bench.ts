/**
 * Fan-out throughput, against baselines measured in the same run:
 * (a) 1,000 trivial local runs through `fused.submit` (maxWorkers 8) per second, divided by the
 *     same 1,000 runs sent straight to the engine's Worker pool with 8 in flight (target ≥ 0.8);
 * (b) 1,000 trivial remote runs through `fused.submit` against the embedded service started here
 *     on 127.0.0.1, per second.
 *
 * Run: `deno run -A --unstable-worker-options bench/submit_bench.ts`
 *
 * @module
 */
import { median } from "./_stats.ts";

const RUNS = 1000;
const IN_FLIGHT = 8;

/** Numbers measured by one run of the benchmark. */
export interface SubmitBenchResult {
  /** Runs per second straight through the engine's pool. */
  enginePerSecond: number;
  /** Runs per second through `submit` (local). */
  submitPerSecond: number;
  /** submitPerSecond / enginePerSecond (target ≥ 0.8). */
  ratio: number;
  /** Runs per second through `submit` against the local service. */
  remotePerSecond: number;
}

/** Runs `count` tasks with at most `limit` at once; resolves when all are done. */
async function bounded(count: number, limit: number, task: (i: number) => Promise<unknown>) {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < count) await task(next++);
  }));
}

/** Runs the benchmark, prints a table and returns the numbers. */
export async function main(): Promise<SubmitBenchResult> {
  const home = await Deno.makeTempDir({ prefix: "submit_bench_" });
  Deno.env.set("FUSED_HOME", home); // credentials and settings stay out of ~/.fused
  const fused = await import("../mod.ts");
  const { LocalEngine } = await import("../engine/mod.ts");
  const { cachingLocalEngine, installEngine } = await import("../client/run.ts");
  const { startServer } = await import("../server/mod.ts");
  const engine = new LocalEngine({ dataDir: `${home}/engine`, maxWorkers: IN_FLIGHT });
  installEngine("local", cachingLocalEngine(engine));
  fused.options.cacheDirectory = `${home}/cache`;
  const server = await startServer({ dataDir: `${home}/server`, port: 0, quiet: true });
  try {
    const trivial = fused.udf(`export default function udf({ i = 0 }) { return i }`, {
      name: "trivial",
    });
    const args = Array.from({ length: RUNS }, (_, i) => ({ i }));
    // Warm the pool: every Worker has the UDF loaded before either side is timed.
    await bounded(IN_FLIGHT * 4, IN_FLIGHT, (i) => engine.run({ udf: trivial, parameters: { i } }));

    const engineTimes: number[] = [];
    const submitTimes: number[] = [];
    for (let round = 0; round < 7; round++) {
      let t0 = performance.now();
      await bounded(RUNS, IN_FLIGHT, (i) => engine.run({ udf: trivial, parameters: args[i] }));
      engineTimes.push(performance.now() - t0);
      t0 = performance.now();
      await fused.submit(trivial, args, { engine: "local", maxWorkers: IN_FLIGHT, cache: false });
      submitTimes.push(performance.now() - t0);
    }

    await fused.api.login({ token: server.adminToken, baseUrl: server.baseUrl });
    const remoteTimes: number[] = [];
    for (let round = 0; round < 2; round++) {
      const t0 = performance.now();
      await fused.submit(trivial, args, { engine: "remote", maxWorkers: 32, cache: false });
      remoteTimes.push(performance.now() - t0);
    }

    const result: SubmitBenchResult = {
      enginePerSecond: RUNS / (median(engineTimes) / 1000),
      submitPerSecond: RUNS / (median(submitTimes) / 1000),
      // Median of per-round ratios: each round times both back to back, which cancels drift
      // in the load from other processes better than a ratio of medians.
      ratio: median(engineTimes.map((e, i) => e / submitTimes[i])),
      remotePerSecond: RUNS / (median(remoteTimes) / 1000),
    };
    console.log("| case | runs/s | ratio | target |");
    console.log("|---|---|---|---|");
    console.log(
      `| engine pool, ${IN_FLIGHT} in flight (baseline) | ${
        result.enginePerSecond.toFixed(0)
      } | | |`,
    );
    console.log(
      `| fused.submit local, maxWorkers ${IN_FLIGHT} | ${result.submitPerSecond.toFixed(0)} | ${
        result.ratio.toFixed(2)
      } | ≥ 0.8 |`,
    );
    console.log(
      `| fused.submit remote, local service, maxWorkers 32 | ${
        result.remotePerSecond.toFixed(0)
      } | | |`,
    );
    return result;
  } finally {
    installEngine("local", undefined);
    await engine.close();
    await server.close();
    await Deno.remove(home, { recursive: true });
  }
}

if (import.meta.main) await main();
