/**
 * Every benchmark in one run: `deno task bench` (or `deno task bench engine server` for some).
 * Each prints its own table of medians and ratios against a baseline measured in the same run,
 * and reports its rows of the performance table (bench/_summary.ts), printed together at the end.
 *
 * @module
 */

import { formatSummary, takeRows } from "./_summary.ts";

/** A benchmark module: its `main` takes its own arguments (none here: each runs whole). */
export interface BenchModule {
  /** Runs the benchmark and prints its table. */
  main(args?: string[]): Promise<unknown>;
}

/** The benchmarks by name, each loaded on first use. */
export type BenchTable = Record<string, () => Promise<BenchModule>>;

const BENCHES: BenchTable = {
  engine: () => import("./engine_bench.ts"),
  formats: () => import("./formats_bench.ts"),
  submit: () => import("./submit_bench.ts"),
  server: () => import("./server_bench.ts"),
  display: () => import("./display_bench.ts"),
  kernel: () => import("./kernel_bench.ts"),
  ingest: () => import("./ingest_bench.ts"),
  scale: () => import("./scale_bench.ts"),
  quota: () => import("./quota_bench.ts"),
  cache: () => import("./cache_bench.ts"),
};

/** Options of {@linkcode main}. */
export interface BenchOptions {
  /** The benchmarks to choose from (default: every benchmark of this folder). */
  benches?: BenchTable;
}

/**
 * Runs the named benchmarks (all by default), one after the other, each whole: a bench's `main`
 * gets an empty argument list, never this command's names (which its default, `Deno.args`,
 * would hold; `server 3 32` reads them as seconds and connections).
 *
 * @example
 * ```ts
 * import { main } from "./mod.ts";
 * let seen: string[] | undefined;
 * const fake = { main: (args?: string[]) => Promise.resolve(seen = args) };
 * await main(["fake"], { benches: { fake: () => Promise.resolve(fake) } });
 * if (seen?.length !== 0) throw new Error("unexpected");
 * ```
 */
export async function main(
  names: string[] = Deno.args,
  options: BenchOptions = {},
): Promise<void> {
  const benches = options.benches ?? BENCHES;
  const unknown = names.filter((n) => !(n in benches));
  if (unknown.length) {
    throw new Error(
      `Unknown benchmark ${unknown.join(", ")}: choose from ${Object.keys(benches).join(", ")}`,
    );
  }
  takeRows();
  for (const name of names.length ? names : Object.keys(benches)) {
    console.log(`\n# ${name}\n`);
    await (await benches[name]()).main([]);
  }
  const rows = takeRows();
  if (rows.length) {
    console.log(
      `\n# Summary: the performance table, each row against its baseline\n\n${formatSummary(rows)}`,
    );
  }
}

if (import.meta.main) await main();
