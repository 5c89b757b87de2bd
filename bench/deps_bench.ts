/**
 * What a UDF's npm packages cost (engine/_deps.ts): the first run of a UDF whose package is new
 * to Deno's cache (resolved and downloaded from the npm registry, installed, then run), against
 * the first run of a UDF without packages (process start and module load only), the first run
 * of the same pinned UDF on another engine (its folder is on disk: no install), and warm runs.
 *
 * Every measurement uses a fresh, empty `DENO_DIR` (in a child process, so the caller's own cache
 * is untouched), warmed by one run without packages so that the SDK's transpiled modules are not
 * counted. Needs the npm registry.
 *
 * Run: `deno run -A bench/deps_bench.ts [npm:SPECIFIER] [warm runs]`
 * (default `npm:@turf/helpers@7.1.0`, 20 warm runs)
 *
 * @module
 */
import { udf } from "../client/udf.ts";
import { LocalEngine } from "../engine/mod.ts";
import { formatMs, quantile } from "./_stats.ts";

/** Options of {@linkcode depsBench}. */
export interface DepsBenchOptions {
  /** The package the UDF imports, new to the fresh cache (default `npm:@turf/helpers@7.1.0`). */
  specifier?: string;
  /** Warm runs measured after the first (default 20). */
  warmRuns?: number;
}

/** Numbers measured by one run of the benchmark, in milliseconds. */
export interface DepsBenchResult {
  /** The package imported. */
  specifier: string;
  /** First run of a new UDF version without npm packages (after the cache was warmed). */
  firstRunNoPackagesMs: number;
  /** First run of the UDF importing the package: resolve, download, install, start, run. */
  firstRunMs: number;
  /** First run of the pinned UDF on a second engine over the same data folder: no install. */
  otherEngineFirstRunMs: number;
  /** Median warm run of the UDF (its process and module loaded). */
  warmRunMs: number;
  /** `deno install` processes the two engines started (1 expected). */
  installs: number;
}

const MEASURE_FLAG = "--measure";

/** Measures in this process (its DENO_DIR must be the fresh one). */
async function measure(specifier: string, warmRuns: number): Promise<DepsBenchResult> {
  const dataDir = await Deno.makeTempDir({ prefix: "deps_bench_data_" });
  const engine = new LocalEngine({ dataDir, maxWorkers: 1 });
  const other = new LocalEngine({ dataDir, maxWorkers: 1 });
  const timed = async (run: () => Promise<unknown>): Promise<number> => {
    const started = performance.now();
    await run();
    return performance.now() - started;
  };
  try {
    const plain = (n: number) => udf(`export default () => ${n};`, { name: "plain" });
    await engine.run({ udf: plain(1) }); // warms the fresh cache with the SDK's modules
    const firstRunNoPackagesMs = await timed(() => engine.run({ udf: plain(2) }));
    const code = `import * as pkg from ${JSON.stringify(specifier)};
export default () => Object.keys(pkg).length;`;
    const withPackage = udf(code, { name: "pkg" });
    const firstRunMs = await timed(() => engine.run({ udf: withPackage }));
    const warm: number[] = [];
    for (let i = 0; i < warmRuns; i++) {
      warm.push(await timed(() => engine.run({ udf: withPackage })));
    }
    const saved = udf(code, { name: "pkg", metadata: withPackage.metadata ?? undefined });
    const otherEngineFirstRunMs = await timed(() => other.run({ udf: saved }));
    return {
      specifier,
      firstRunNoPackagesMs,
      firstRunMs,
      otherEngineFirstRunMs,
      warmRunMs: quantile(warm, 0.5),
      installs: engine.stats.npmInstalls + other.stats.npmInstalls,
    };
  } finally {
    await engine.close();
    await other.close();
    await Deno.remove(dataDir, { recursive: true });
  }
}

/** Runs the measurement in a child process with a fresh, empty DENO_DIR. */
export async function depsBench(options: DepsBenchOptions = {}): Promise<DepsBenchResult> {
  const specifier = options.specifier ?? "npm:@turf/helpers@7.1.0";
  const warmRuns = options.warmRuns ?? 20;
  const cache = await Deno.makeTempDir({ prefix: "deps_bench_deno_dir_" });
  try {
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL(import.meta.url).pathname,
        MEASURE_FLAG,
        specifier,
        String(warmRuns),
      ],
      env: { DENO_DIR: cache, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const said = new TextDecoder().decode(output.stdout);
    if (!output.success) {
      throw new Error(`The measurement failed: ${new TextDecoder().decode(output.stderr)}`);
    }
    return JSON.parse(said.trim().split("\n").at(-1)!);
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
}

function loadAverage(): string {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  } catch {
    return "unknown";
  }
}

/** Prints the measurement as a table. */
export async function main(args: string[] = Deno.args): Promise<void> {
  const [specifier, runs] = args;
  const before = loadAverage();
  const r = await depsBench({ specifier, warmRuns: runs ? Number(runs) : undefined });
  console.log(`npm package: ${r.specifier} (fresh DENO_DIR), load average ${before}`);
  console.table({
    "first run, no npm packages": formatMs(r.firstRunNoPackagesMs),
    "first run, package new to DENO_DIR": formatMs(r.firstRunMs),
    "first run of the pinned UDF, another engine": formatMs(r.otherEngineFirstRunMs),
    "warm run (median)": formatMs(r.warmRunMs),
    "deno install processes": r.installs,
  });
}

if (import.meta.main) {
  if (Deno.args[0] === MEASURE_FLAG) {
    const result = await measure(Deno.args[1], Number(Deno.args[2]));
    console.log(JSON.stringify(result));
  } else {
    await main();
  }
}
