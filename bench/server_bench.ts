/**
 * Throughput of the UDF service (requests per second, bounded load loop in this process):
 * a cached share-token result against `Deno.serve` answering the same bytes from memory
 * (target ratio ≥ 0.5), and an uncached trivial UDF (`cache_max_age=0`, a Worker run per request).
 *
 * Run: `deno run -A --unstable-worker-options bench/server_bench.ts [seconds] [concurrency]`
 *
 * @module
 */
import { options } from "../client/options.ts";
import { LocalEngine } from "../engine/mod.ts";
import { localRunner } from "../server/runner.ts";
import { startServer } from "../server/serve.ts";

/** One measured load. */
export interface LoadResult {
  /** What was measured. */
  name: string;
  /** Completed requests per second. */
  rps: number;
  /** Requests that did not answer 200. */
  errors: number;
}

/** Hits `url` from `concurrency` loops for `seconds`; every loop stops at the deadline. */
async function load(name: string, url: string, seconds: number, concurrency: number): Promise<LoadResult> {
  const deadline = performance.now() + seconds * 1000;
  let done = 0;
  let errors = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < deadline) {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.status === 200) done++;
      else errors++;
    }
  }));
  return { name, rps: done / ((performance.now() - started) / 1000), errors };
}

/** Runs the benchmark and prints a table; returns the measurements and the ratio. */
export async function main(args: string[] = Deno.args): Promise<{ results: LoadResult[]; ratio: number }> {
  const seconds = Number(args[0] ?? 3);
  const concurrency = Number(args[1] ?? 32);
  const dir = await Deno.makeTempDir({ prefix: "fused-server-bench-" });
  options.update({ cacheDirectory: `${dir}/cache` });
  const engine = new LocalEngine({ dataDir: `${dir}/engine` });
  const server = await startServer({ port: 0, dataDir: `${dir}/server`, runner: localRunner({ engine }), quiet: true });
  const headers = { authorization: `Bearer ${server.adminToken}`, "content-type": "application/json" };
  const save = async (name: string, code: string): Promise<string> => {
    const saved = await (await fetch(`${server.baseUrl}/udf/new`, {
      method: "POST",
      headers,
      body: JSON.stringify({ slug: name, udf_body: JSON.stringify({ name, code, entrypoint: "default" }) }),
    })).json();
    const token = await (await fetch(`${server.baseUrl}/udf-access-token/new`, {
      method: "POST",
      headers,
      body: JSON.stringify({ udf_id: saved.id }),
    })).json();
    return token.token;
  };
  const tableToken = await save(
    "rows",
    `import { tableFromArrays } from "apache-arrow";
export default function udf({ n = 100 }: { n?: number }) {
  return tableFromArrays({ i: Int32Array.from({ length: n }, (_, i) => i), x: Float64Array.from({ length: n }, (_, i) => i / 3) });
}`,
  );
  const trivialToken = await save("trivial", "export default function udf({ n = 1 }: { n?: number }) { return n }");
  const cachedUrl = `${server.url}/${tableToken}.parquet?n=100`;
  const warm = await fetch(cachedUrl);
  const bytes = new Uint8Array(await warm.arrayBuffer());
  const contentType = warm.headers.get("content-type") ?? "application/octet-stream";

  const baseline = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    () => new Response(bytes, { headers: { "content-type": contentType } }),
  );
  const results = [
    await load("Deno.serve, same bytes from memory", `http://127.0.0.1:${baseline.addr.port}/`, seconds, concurrency),
    await load("cached token result (.parquet)", cachedUrl, seconds, concurrency),
    await load("uncached trivial UDF (cache_max_age=0)", `${server.url}/${trivialToken}.json?cache_max_age=0`, seconds, concurrency),
  ];
  await baseline.shutdown();
  await server.close();
  await engine.close();
  options.reset();
  await Deno.remove(dir, { recursive: true });

  const ratio = results[1].rps / results[0].rps;
  console.log(`server_bench: ${seconds}s per case, ${concurrency} concurrent fetch loops, body ${bytes.byteLength} bytes`);
  for (const r of results) console.log(`  ${r.name.padEnd(42)} ${r.rps.toFixed(0).padStart(7)} req/s  errors ${r.errors}`);
  console.log(`  cached token / Deno.serve ratio: ${ratio.toFixed(2)} (target >= 0.5)`);
  console.log(`  uncached UDF / cached token ratio: ${(results[2].rps / results[1].rps).toFixed(3)}`);
  return { results, ratio };
}

if (import.meta.main) await main();
