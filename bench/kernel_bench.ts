/**
 * Kernel benchmark: the fused kernel against stock `deno jupyter` (the baseline), both driven by
 * Debian's jupyter_client in the same run through tests/kernel_driver.py.
 *
 * Prints, for each measure, both medians and the ratio fused / deno (below 1 = fused is faster):
 * - round trip of a trivial cell (`1+1`: execute_request until idle),
 * - a cell that logs 20,000 lines (until idle),
 * - kernel process start until its first kernel_info_reply (the row "kernel start →
 *   kernel_info_reply" of the performance table, reported through bench/_summary.ts), and in
 *   the same alternating start rounds the fused kernel started without its socket launcher
 *   (`kernel/_launch.pl`), as it started before it had one.
 *
 * Run: `deno run -A bench/kernel_bench.ts` (needs /usr/bin/python3 with python3-jupyter-client).
 *
 * @module
 */

import { join } from "node:path";
import { installKernelspec, KERNEL_NAME, kernelspec } from "../kernel/install.ts";
import { reportRow } from "./_summary.ts";

const PYTHON = "/usr/bin/python3";
const DRIVER = new URL("../tests/kernel_driver.py", import.meta.url).pathname;
const BASELINE = "deno-baseline";
/** The fused kernel without its socket launcher (Deno binds the sockets): starts only. */
const DIRECT = "fused-direct";

/** One kernel's measurements, in seconds. */
export interface KernelTimings {
  /** Median round trip of `1+1`. */
  trivialMedianS: number;
  /** Median time of a cell logging 20,000 lines (NaN when it never finished). */
  log20000MedianS: number;
  /** Fewest lines of that cell seen on iopub in one run (checks nothing was lost). */
  logLinesSeen: number;
  /** Runs of the logging cell that got no reply within 60 s. */
  logFailures: number;
  /** Median time from process start to the first kernel_info_reply. */
  startupMedianS: number;
}

/** Result of {@linkcode main}. */
export interface KernelBenchResult {
  /** The fused kernel. */
  fused: KernelTimings;
  /** Stock `deno jupyter`. */
  deno: KernelTimings;
  /** Median start of the fused kernel without the launcher, in the same start rounds. */
  directStartupMedianS: number;
  /** fused / deno for each measure; `directStartup` is the kernel without the launcher. */
  ratios: { trivial: number; log20000: number; startup: number; directStartup: number };
}

/** Runs tests/kernel_driver.py's side-by-side comparison of the given kernels. */
async function compare(
  env: Record<string, string>,
  kernels: string[],
): Promise<Record<string, Record<string, unknown>>> {
  const out = await new Deno.Command(PYTHON, {
    args: [DRIVER, "compare", ...kernels],
    env: { ...env, DRIVER_TIMEOUT: "900" },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(960_000),
  }).output();
  if (out.code !== 0) {
    throw new Error(`The kernel benchmark driver failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
}

function timings(b: Record<string, unknown>): KernelTimings {
  return {
    trivialMedianS: Number(b.trivial_median_s),
    log20000MedianS: b.log_20000_median_s == null ? NaN : Number(b.log_20000_median_s),
    logLinesSeen: Number(b.log_lines_seen),
    logFailures: (b.log_failures as string[]).length,
    startupMedianS: Number(b.startup_median_s),
  };
}

/**
 * Installs both kernelspecs into a temp prefix, measures both kernels and prints the ratios.
 *
 * @example
 * ```ts ignore
 * const { ratios } = await main();
 * ```
 */
export async function main(): Promise<KernelBenchResult> {
  const prefix = await Deno.makeTempDir({ prefix: "fused-kernel-bench-" });
  try {
    await installKernelspec({ prefix });
    const direct = join(prefix, "share", "jupyter", "kernels", DIRECT);
    await Deno.mkdir(direct, { recursive: true });
    await Deno.writeTextFile(
      join(direct, "kernel.json"),
      JSON.stringify({ ...kernelspec({ perlPath: false }), display_name: "Fused (no launcher)" }),
    );
    // Stock Deno's kernelspec, written by hand (as `deno jupyter --install` would, plus
    // message-mode interrupts and NO_COLOR so both kernels are configured alike).
    const baseline = join(prefix, "share", "jupyter", "kernels", BASELINE);
    await Deno.mkdir(baseline, { recursive: true });
    await Deno.writeTextFile(
      join(baseline, "kernel.json"),
      JSON.stringify({
        argv: [Deno.execPath(), "jupyter", "--kernel", "--conn", "{connection_file}"],
        display_name: "Deno (baseline)",
        language: "typescript",
        interrupt_mode: "message",
        env: { NO_COLOR: "1" },
      }),
    );
    const env = {
      JUPYTER_PATH: join(prefix, "share", "jupyter"),
      JUPYTER_RUNTIME_DIR: join(prefix, "runtime"),
      XDG_DATA_HOME: join(prefix, "data"),
      BENCH_ROUNDS: Deno.env.get("BENCH_ROUNDS") ?? "200",
      // Starts alternate between the kernels; a start is ~0.1-0.3 s, and jupyter_client's
      // connection retries (every 100 ms until the kernel listens) make single starts jumpy.
      BENCH_STARTS: Deno.env.get("BENCH_STARTS") ?? "15",
      // The kernel as it started before the launcher, in the same alternating start rounds.
      BENCH_START_ONLY: DIRECT,
    };
    // Both kernels run side by side, alternating cell by cell, so that load from other processes
    // on the machine falls on both alike.
    const both = await compare(env, [KERNEL_NAME, BASELINE]);
    const fused = timings(both[KERNEL_NAME]);
    const deno = timings(both[BASELINE]);
    const directStartupMedianS = Number(both[DIRECT].startup_median_s);
    const result: KernelBenchResult = {
      fused,
      deno,
      directStartupMedianS,
      ratios: {
        trivial: fused.trivialMedianS / deno.trivialMedianS,
        log20000: fused.log20000MedianS / deno.log20000MedianS,
        startup: fused.startupMedianS / deno.startupMedianS,
        directStartup: directStartupMedianS / deno.startupMedianS,
      },
    };
    const ms = (s: number) => `${(s * 1000).toFixed(1)} ms`;
    const row = (name: string, f: number, d: number, r: number) =>
      console.log(
        `${name.padEnd(34)} fused ${ms(f).padStart(10)}  deno ${ms(d).padStart(10)}  ` +
          `ratio ${r.toFixed(2)}`,
      );
    console.log("kernel bench (fused / deno jupyter; below 1 = fused faster)");
    row(
      "trivial cell round trip (median)",
      fused.trivialMedianS,
      deno.trivialMedianS,
      result.ratios.trivial,
    );
    row(
      "20,000 console.log lines (median)",
      fused.log20000MedianS,
      deno.log20000MedianS,
      result.ratios.log20000,
    );
    row(
      "start to first kernel_info_reply",
      fused.startupMedianS,
      deno.startupMedianS,
      result.ratios.startup,
    );
    row(
      "start, without the launcher",
      directStartupMedianS,
      deno.startupMedianS,
      result.ratios.directStartup,
    );
    reportRow({
      path: "kernel start → kernel_info_reply",
      value: result.ratios.startup,
      unit: "x",
      baseline: "`deno jupyter`",
      atMost: 0.5,
    });
    console.log(
      `20,000-line cell: lines seen on iopub fused ${fused.logLinesSeen}, deno ${deno.logLinesSeen}; ` +
        `runs without reply in 60 s fused ${fused.logFailures}, deno ${deno.logFailures}`,
    );
    return result;
  } finally {
    await Deno.remove(prefix, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) await main();
