/**
 * What the machine-wide size account of the disk cache costs a write, against a baseline in the
 * same run: `writeCache` of a 1 KB value (envelope, temporary file, rename, then the `.size`
 * account counted up under its lock) beside the same envelope written alone (temporary file and
 * rename into a fresh entry folder: the write without any account), interleaved. A third case is
 * the whole miss of a share-token run (client/run.ts): a missed read, the entry's lock, the read
 * again under it, the write of a small run result, the lock's release; against the same plain
 * write, it says what a miss costs besides its one entry write.
 *
 * Run: `deno run -A bench/cache_bench.ts [writes]`
 *
 * @module
 */
import { join } from "node:path";
import { readCache, withCacheLock, writeCache } from "../client/cache.ts";
import { serializeValue } from "../client/formats/envelope.ts";
import { options } from "../client/options.ts";
import { formatMs, interleaved } from "./_stats.ts";

/** Numbers measured by one run of the benchmark. */
export interface CacheBenchResult {
  /** Median write of the envelope alone, ms. */
  plainMs: number;
  /** Median `writeCache`, size account included, ms. */
  accountedMs: number;
  /** Median miss of a run's cache (read, lock, read, write, release), ms. */
  missMs: number;
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
    // As client/run.ts's runCached misses, with a 1 KB result.
    const miss = async (i: number) => {
      const key = `m${i}`;
      const where = { folder: "udf/bench" };
      if ((await readCache(key, { ...where, maxAgeSeconds: 60 })).hit) throw new Error("a hit");
      await withCacheLock(key, where, async () => {
        if ((await readCache(key, { ...where, maxAgeSeconds: 60 })).hit) throw new Error("a hit");
        await writeCache(key, value, where);
      });
    };
    const medians = await interleaved(writes, 20, { plain, accounted, miss });
    const result = {
      plainMs: medians.plain,
      accountedMs: medians.accounted,
      missMs: medians.miss,
    };
    console.log(`load average: ${Deno.loadavg().map((l) => l.toFixed(2)).join(" ")}`);
    console.table({
      "1 KB write, no account": { median: formatMs(result.plainMs) },
      "1 KB writeCache, machine-wide account": { median: formatMs(result.accountedMs) },
      "ratio": { median: `${(result.accountedMs / result.plainMs).toFixed(2)}x` },
      "miss of a run's cache (read, lock, read, 1 KB write, release)": {
        median: formatMs(result.missMs),
      },
      "miss / write without account": { median: `${(result.missMs / result.plainMs).toFixed(2)}x` },
    });
    return result;
  } finally {
    options.reset();
    await Deno.remove(root, { recursive: true });
  }
}

if (import.meta.main) await main();
