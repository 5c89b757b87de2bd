/**
 * What the machine-wide size account of the disk cache costs a write, against a baseline in the
 * same run: `writeCache` of a 1 KB value (envelope, temporary file, rename, then the `.size`
 * account counted up under its lock) beside the same envelope written alone (temporary file and
 * rename into a fresh entry folder: the write without any account), interleaved.
 *
 * Run: `deno run -A bench/cache_bench.ts [writes]`
 *
 * @module
 */
import { join } from "node:path";
import { writeCache } from "../client/cache.ts";
import { serializeValue } from "../client/formats/envelope.ts";
import { options } from "../client/options.ts";
import { formatMs, interleaved } from "./_stats.ts";

/** Numbers measured by one run of the benchmark. */
export interface CacheBenchResult {
  /** Median write of the envelope alone, ms. */
  plainMs: number;
  /** Median `writeCache`, size account included, ms. */
  accountedMs: number;
}

/** Runs the benchmark and prints its table. */
export async function main(args: string[] = Deno.args): Promise<CacheBenchResult> {
  const writes = Number(args[0] ?? 500);
  const root = await Deno.makeTempDir({ prefix: "fused-cache-bench-" });
  options.update({ cacheDirectory: join(root, "cache") });
  try {
    const value = new Uint8Array(1024).fill(7);
    const plain = async (i: number) => {
      const bytes = await serializeValue(value);
      const dir = join(root, "plain", `data_${i}`);
      await Deno.mkdir(dir, { recursive: true });
      const temp = join(dir, `value.bin.${Deno.pid}.${crypto.randomUUID()}.tmp`);
      await Deno.writeFile(temp, bytes);
      await Deno.rename(temp, join(dir, "value.bin"));
    };
    const accounted = (i: number) => writeCache(`k${i}`, value, { folder: "bench" });
    const medians = await interleaved(writes, 20, { plain, accounted });
    const result = { plainMs: medians.plain, accountedMs: medians.accounted };
    console.log(`load average: ${Deno.loadavg().map((l) => l.toFixed(2)).join(" ")}`);
    console.table({
      "1 KB write, no account": { median: formatMs(result.plainMs) },
      "1 KB writeCache, machine-wide account": { median: formatMs(result.accountedMs) },
      "ratio": { median: `${(result.accountedMs / result.plainMs).toFixed(2)}x` },
    });
    return result;
  } finally {
    options.reset();
    await Deno.remove(root, { recursive: true });
  }
}

if (import.meta.main) await main();
