/**
 * What a Python UDF costs beside a TypeScript one, measured in the same run on one engine (both
 * inside the OS wall): the cold first run of a new UDF version (module written, process started
 * in its namespaces, module loaded) for a bare Python UDF, one importing pandas and one importing
 * geopandas, against a TypeScript UDF's (spare processes off: engine/_pool.ts); the same with
 * geopandas when the new version takes over a spare process that imported it already (on a second
 * engine, each run once its spare is ready), and when a UDF of the caller never run before does;
 * and a warm run of a trivial Python UDF against a
 * TypeScript one's. Cold runs are interleaved, so load from other processes hits all alike.
 *
 * Run: `deno run -A bench/python_bench.ts [cold runs] [warm runs]` (default 8 and 300); part of
 * bench/engine_bench.ts.
 *
 * @module
 */
import { udf } from "../client/udf.ts";
import { LocalEngine } from "../engine/mod.ts";
import { formatMs, quantile } from "./_stats.ts";

/** Numbers measured by one run, medians in milliseconds. */
export interface PythonBenchResult {
  /** Cold first run of a new TypeScript UDF version (the baseline). */
  coldTsMs: number;
  /** Cold first run of a new Python UDF version returning 1. */
  coldBareMs: number;
  /** The same, the UDF importing pandas. */
  coldPandasMs: number;
  /** The same, the UDF importing geopandas. */
  coldGeopandasMs: number;
  /** The same, the new version taking over a spare process that imported geopandas. */
  coldSpareMs: number;
  /** The first run of a new UDF (a name not run before) importing geopandas, taking over a spare. */
  coldNewUdfSpareMs: number;
  /** Warm run of a TypeScript UDF returning 1 (the baseline). */
  warmTsMs: number;
  /** Warm run of a Python UDF returning 1. */
  warmPythonMs: number;
}

const PYTHON_CASES = {
  bare: "",
  pandas: "import pandas\n",
  geopandas: "import geopandas\n",
} as const;

/** Measures cold and warm Python runs against TypeScript ones; prints its rows when `print`. */
export async function pythonBench(
  coldRuns = 8,
  warmRuns = 300,
  print = true,
): Promise<PythonBenchResult> {
  const dataDir = await Deno.makeTempDir({ prefix: "python_bench_" });
  const engine = new LocalEngine({ dataDir, maxWorkers: 2, wall: "os", pythonSpares: false });
  // Room for each new UDF's process (each round leaves one, and its version's one) and a spare:
  // a spare goes to a free slot or to an older version's of the same UDF, never to another
  // UDF's (engine/_pool.ts).
  const spares = new LocalEngine({ dataDir, maxWorkers: 2 * coldRuns + 4, wall: "os" });
  try {
    const stamp = crypto.randomUUID(); // fresh versions, never seen by any cache
    const cold: Record<"ts" | "spare" | "newUdf" | keyof typeof PYTHON_CASES, number[]> = {
      ts: [],
      bare: [],
      pandas: [],
      geopandas: [],
      spare: [],
      newUdf: [],
    };
    const time = async (code: string, name: string, on = engine) => {
      const t0 = performance.now();
      const { value } = await on.run({ udf: udf(code, { name }) });
      if (value !== 1) throw new Error(`${name} returned ${value}`);
      return performance.now() - t0;
    };
    for (let i = 0; i < coldRuns; i++) {
      cold.ts.push(
        await time(`// ${stamp} ${i}\nexport default function udf() { return 1 }`, "cold_ts"),
      );
      for (const [name, imports] of Object.entries(PYTHON_CASES)) {
        const code = `# ${stamp} ${i}\n${imports}\n@fused.udf\ndef udf():\n    return 1\n`;
        cold[name as keyof typeof PYTHON_CASES].push(await time(code, `cold_${name}`));
      }
      const spared =
        `# ${stamp} ${i}\n${PYTHON_CASES.geopandas}\n@fused.udf\ndef udf():\n    return 1\n`;
      // The first version makes the image's first process (and its spare): not measured.
      if (i === 0) await time(`# first\n${spared}`, "cold_spare", spares);
      await spareReady(spares);
      cold.spare.push(await time(spared, "cold_spare", spares));
      // A UDF of the same caller never run before: a spare is per caller, not per UDF.
      await spareReady(spares);
      cold.newUdf.push(await time(`# new\n${spared}`, `cold_new_${i}`, spares));
    }
    const tsOne = udf(`export default function udf() { return 1 }`, { name: "one_ts" });
    const pyOne = udf(`@fused.udf\ndef udf():\n    return 1\n`, { name: "one_py" });
    const warm = { ts: [] as number[], python: [] as number[] };
    for (let i = 0; i < warmRuns + 20; i++) {
      for (const [name, u] of [["ts", tsOne], ["python", pyOne]] as const) {
        const t0 = performance.now();
        await engine.run({ udf: u });
        if (i >= 20) warm[name].push(performance.now() - t0);
      }
    }
    const result: PythonBenchResult = {
      coldTsMs: quantile(cold.ts, 0.5),
      coldBareMs: quantile(cold.bare, 0.5),
      coldPandasMs: quantile(cold.pandas, 0.5),
      coldGeopandasMs: quantile(cold.geopandas, 0.5),
      coldSpareMs: quantile(cold.spare, 0.5),
      coldNewUdfSpareMs: quantile(cold.newUdf, 0.5),
      warmTsMs: quantile(warm.ts, 0.5),
      warmPythonMs: quantile(warm.python, 0.5),
    };
    if (print) {
      const row = (name: string, samples: number[], versus: string) =>
        console.log(
          `| ${name} | ${formatMs(quantile(samples, 0.5))} | ${
            formatMs(quantile(samples, 0.95))
          } | ${versus} |`,
        );
      const x = (ms: number, base: number) => `${(ms / base).toFixed(ms / base < 0.1 ? 3 : 1)}x`;
      row("cold run, new TypeScript UDF version, OS wall (baseline)", cold.ts, "");
      for (const name of Object.keys(PYTHON_CASES) as (keyof typeof PYTHON_CASES)[]) {
        row(
          `cold run, new Python UDF version${name === "bare" ? "" : `, import ${name}`}`,
          cold[name],
          `${x(quantile(cold[name], 0.5), result.coldTsMs)} TypeScript's`,
        );
      }
      row(
        "cold run, new Python UDF version, import geopandas, taking over a spare process",
        cold.spare,
        `${x(result.coldSpareMs, result.coldTsMs)} TypeScript's`,
      );
      row(
        "cold first run of a new Python UDF, import geopandas, taking over a spare process",
        cold.newUdf,
        `${x(result.coldNewUdfSpareMs, result.coldGeopandasMs)} the same without a spare`,
      );
      row("warm run, TypeScript UDF returns 1 (baseline)", warm.ts, "");
      row(
        "warm run, Python UDF returns 1",
        warm.python,
        `${x(result.warmPythonMs, result.warmTsMs)} TypeScript's`,
      );
    }
    return result;
  } finally {
    await engine.close();
    await spares.close();
    await Deno.remove(dataDir, { recursive: true });
  }
}

/** Waits (at most 30 s) until `engine` has a spare Python process ready. */
async function spareReady(engine: LocalEngine): Promise<void> {
  for (let wait = 0; wait < 600 && engine.stats.spares === 0; wait++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  if (engine.stats.spares === 0) throw new Error("no spare Python process within 30 s");
}

/** Runs the benchmark with `[cold runs] [warm runs]` and prints its table. */
export async function main(args: string[] = Deno.args): Promise<PythonBenchResult> {
  console.log(`load average: ${Deno.loadavg().map((l) => l.toFixed(2)).join(", ")}`);
  console.log("| case | median | p95 | versus |");
  console.log("|---|---|---|---|");
  return await pythonBench(Number(args[0] ?? 8), Number(args[1] ?? 300));
}

if (import.meta.main) await main();
