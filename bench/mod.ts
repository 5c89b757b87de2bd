/**
 * Every benchmark in one run: `deno task bench` (or `deno task bench engine server` for some).
 * Each prints its own table of medians and ratios against a baseline measured in the same run.
 *
 * @module
 */
const BENCHES: Record<string, () => Promise<{ main(): Promise<unknown> }>> = {
  engine: () => import("./engine_bench.ts"),
  formats: () => import("./formats_bench.ts"),
  submit: () => import("./submit_bench.ts"),
  server: () => import("./server_bench.ts"),
  display: () => import("./display_bench.ts"),
  kernel: () => import("./kernel_bench.ts"),
  ingest: () => import("./ingest_bench.ts"),
  scale: () => import("./scale_bench.ts"),
};

/** Runs the named benchmarks (all by default), one after the other. */
export async function main(names: string[] = Deno.args): Promise<void> {
  const unknown = names.filter((n) => !(n in BENCHES));
  if (unknown.length) {
    throw new Error(
      `Unknown benchmark ${unknown.join(", ")}: choose from ${Object.keys(BENCHES).join(", ")}`,
    );
  }
  for (const name of names.length ? names : Object.keys(BENCHES)) {
    console.log(`\n# ${name}\n`);
    await (await BENCHES[name]()).main();
  }
}

if (import.meta.main) await main();
