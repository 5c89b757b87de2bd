/**
 * What a disk quota costs a UDF run, against a baseline measured in the same run: warm runs of a
 * trivial UDF on one engine, interleaved, for a caller without a quota and for a service user
 * with one (`UserQuotas` over SQLite: a `sum` of their 1,000 recorded `fd://` files, and their
 * data folder of 200 files measured at most once a second), both inside the OS wall.
 *
 * Run: `deno run -A bench/quota_bench.ts [runs]`
 *
 * @module
 */
import { join } from "node:path";
import { udf } from "../client/udf.ts";
import type { CallerContext } from "../client/engine_types.ts";
import { LocalEngine } from "../engine/mod.ts";
import { localCaller } from "../engine/_local_host.ts";
import { SqliteRegistry } from "../server/registry/sqlite.ts";
import { UserQuotas } from "../server/quota.ts";
import { LocalStorage } from "../server/storage.ts";
import { formatMs, interleaved } from "./_stats.ts";

/** Numbers measured by one run of the benchmark. */
export interface QuotaBenchResult {
  /** Median warm run for a caller without a quota, ms. */
  plainMs: number;
  /** Median warm run for a caller with a quota, ms. */
  quotaMs: number;
}

/** Runs the benchmark and prints its table. */
export async function main(args: string[] = Deno.args): Promise<QuotaBenchResult> {
  const runs = Number(args[0] ?? 300);
  const root = await Deno.makeTempDir({ prefix: "fused-quota-bench-" });
  const registry = new SqliteRegistry(join(root, "registry.db"));
  const engine = new LocalEngine({ dataDir: join(root, "engine"), maxWorkers: 2, wall: "os" });
  try {
    const quotas = new UserQuotas({
      registry,
      storage: new LocalStorage(join(root, "files")),
      usersRoot: join(root, "udf"),
    });
    for (let i = 0; i < 1000; i++) await registry.recordFile(`f/${i}.bin`, "u1", 1000);
    const [dataDir, cacheDir] = quotas.foldersOf("u1");
    await Deno.mkdir(dataDir, { recursive: true });
    for (let i = 0; i < 200; i++) await Deno.writeFile(join(dataDir, `${i}`), new Uint8Array(10));
    const base = localCaller(engine);
    const callers: Record<"plain" | "quota", CallerContext> = {
      plain: { ...base, id: "u0", dataDir: join(root, "u0", "data"), cacheDir: join(root, "u0") },
      quota: { ...base, id: "u1", dataDir, cacheDir, quota: quotas.callerQuota("u1") },
    };
    const trivial = udf("export default () => 1", { name: "trivial" });
    const medians = await interleaved(runs, 20, {
      plain: () => engine.run({ udf: trivial, parameters: {}, caller: callers.plain }),
      quota: () => engine.run({ udf: trivial, parameters: {}, caller: callers.quota }),
    });
    const result = { plainMs: medians.plain, quotaMs: medians.quota };
    console.log(`load average: ${Deno.loadavg().map((l) => l.toFixed(2)).join(" ")}`);
    console.table({
      "warm run, no quota": { median: formatMs(result.plainMs) },
      "warm run, with a quota": { median: formatMs(result.quotaMs) },
      "ratio": { median: `${(result.quotaMs / result.plainMs).toFixed(2)}x` },
    });
    return result;
  } finally {
    await engine.close();
    await registry.close();
    await Deno.remove(root, { recursive: true });
  }
}

if (import.meta.main) await main();
