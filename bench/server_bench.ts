/**
 * Throughput of the UDF service in requests per second, measured with `wrk` when it is installed
 * (else with bounded fetch loops in this process):
 * a cached share-token result, and an uncached trivial UDF (`cache_max_age=0`, a sandboxed
 * process run per request), each against `Deno.serve` answering the same bytes from memory (its
 * own bytes: `Deno.serve` answers the trivial UDF's 1-byte body about twice as fast as the
 * table's 1,297 bytes, so measuring the uncached run against the table's baseline, as this bench
 * did before, doubled its ratio). Reports the two rows of the performance table (issue 19)
 * through `_summary.ts`: "cached share-token route" (goal ≥ 0.9x) and "uncached trivial UDF
 * through a share token" (≥ 0.2x), each the median of its per-round ratios (every round loads
 * both baselines and both routes). Beside each it prints the CPU a request of this process (the
 * service, or the baseline) and of the UDF processes, read from `/proc` around every load: on this
 * shared 2-core machine the rates move with other processes' load, the CPU a request much less.
 * A fifth case runs the trivial UDF with the cache on and a parameter never asked before in every
 * request (printed beside the row, not reported): the other way a probe makes runs uncached, where
 * each run also goes through the file cache.
 *
 * Run: `deno run -A bench/server_bench.ts [seconds] [concurrency]`
 *
 * @module
 */
import { options } from "../client/options.ts";
import { LocalEngine } from "../engine/mod.ts";
import { startServer } from "../server/serve.ts";
import { reportRow } from "./_summary.ts";

/** One measured load. */
export interface LoadResult {
  /** What was measured. */
  name: string;
  /** Completed requests per second. */
  rps: number;
  /** Requests that did not answer 200. */
  errors: number;
  /** CPU of this process (the service and the baselines' `Deno.serve`) a request, µs (Linux). */
  hostCpuUs?: number;
  /** CPU of this process's descendants (the UDF processes) a request, µs (Linux). */
  childCpuUs?: number;
}

/** Completed requests of a load, their rate, and those that did not answer 200. */
interface Load {
  requests: number;
  rps: number;
  errors: number;
}

/**
 * CPU milliseconds (user + system) used so far by this process and by its descendants (the UDF
 * processes and their sandboxes), from `/proc`; undefined without it. A process that ends between
 * two readings takes its CPU with it, so the descendants' share is a lower bound.
 */
function cpuMs(): { self: number; children: number } | undefined {
  let names: string[];
  try {
    names = [...Deno.readDirSync("/proc")].map((e) => e.name).filter((n) => /^\d+$/.test(n));
  } catch {
    return undefined;
  }
  const parents = new Map<number, number>();
  const ticks = new Map<number, number>();
  for (const name of names) {
    let text: string;
    try {
      text = Deno.readTextFileSync(`/proc/${name}/stat`);
    } catch {
      continue; // ended meanwhile
    }
    // After the command name: state, ppid, ... utime (11), stime (12), in USER_HZ (100) ticks.
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    parents.set(Number(name), Number(fields[1]));
    ticks.set(Number(name), Number(fields[11]) + Number(fields[12]));
  }
  let children = 0;
  for (const [pid, used] of ticks) {
    for (let p = parents.get(pid); p !== undefined && p > 1; p = parents.get(p)) {
      if (p === Deno.pid) {
        children += used;
        break;
      }
    }
  }
  return { self: (ticks.get(Deno.pid) ?? 0) * 10, children: children * 10 };
}

/**
 * Where a load goes: one URL, or with `distinctFrom` a URL ending in `=` that every request
 * completes with the next number from there (a parameter never asked before: no cache answers).
 */
interface Target {
  url: string;
  distinctFrom?: number;
}

/** Hits a target from `concurrency` loops for `seconds`; every loop stops at the deadline. */
async function loadInProcess(
  { url, distinctFrom }: Target,
  seconds: number,
  concurrency: number,
): Promise<Load> {
  let next = distinctFrom ?? 0;
  const deadline = performance.now() + seconds * 1000;
  let done = 0;
  let errors = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < deadline) {
      const res = await fetch(distinctFrom === undefined ? url : `${url}${next++}`);
      await res.arrayBuffer();
      if (res.status === 200) done++;
      else errors++;
    }
  }));
  return { requests: done + errors, rps: done / ((performance.now() - started) / 1000), errors };
}

/** The same load with `wrk` (a separate process, so the client does not share our thread). */
async function loadWithWrk(
  { url, distinctFrom }: Target,
  seconds: number,
  concurrency: number,
): Promise<Load> {
  // wrk takes whole seconds ("-d3.3s" is a usage error).
  const args = ["-t1", `-c${concurrency}`, `-d${Math.max(1, Math.round(seconds))}s`, url];
  const script = distinctFrom === undefined ? undefined : await Deno.makeTempFile({
    prefix: "server_bench_",
    suffix: ".lua",
  });
  if (script) {
    await Deno.writeTextFile(
      script,
      `local n = ${distinctFrom}\nrequest = function()\n  n = n + 1\n  return wrk.format("GET", wrk.path .. n)\nend\n`,
    );
    args.push("-s", script);
  }
  const out = await new Deno.Command("wrk", { args, stdout: "piped", stderr: "piped" }).output()
    .finally(() => script && Deno.remove(script));
  const text = new TextDecoder().decode(out.stdout);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1]);
  const requests = Number(/(\d+) requests in/.exec(text)?.[1]);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(text)?.[1] ?? 0);
  if (!out.success || !Number.isFinite(rps) || !Number.isFinite(requests)) {
    throw new Error(`wrk failed: ${text}${new TextDecoder().decode(out.stderr)}`);
  }
  return { requests, rps, errors: non2xx };
}

async function hasWrk(): Promise<boolean> {
  try {
    return (await new Deno.Command("wrk", { args: ["--version"], stdout: "null", stderr: "null" })
      .output()) !== null;
  } catch {
    return false;
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/**
 * Runs the benchmark and prints a table; returns the measurements and the ratios. With
 * `report: false` (another bench borrowing the measurement) the table rows are not reported.
 */
export async function main(
  args: string[] = Deno.args,
  how: { report?: boolean } = {},
): Promise<{ results: LoadResult[]; ratio: number; uncachedRatio: number }> {
  const seconds = Number(args[0] ?? 10);
  const concurrency = Number(args[1] ?? 32);
  const dir = await Deno.makeTempDir({ prefix: "fused-server-bench-" });
  options.update({ cacheDirectory: `${dir}/cache` });
  const engine = new LocalEngine({ dataDir: `${dir}/engine` });
  const server = await startServer({
    port: 0,
    dataDir: `${dir}/server`,
    engine,
    quiet: true,
  });
  const headers = {
    authorization: `Bearer ${server.adminToken}`,
    "content-type": "application/json",
  };
  const save = async (name: string, code: string): Promise<string> => {
    const saved = await (await fetch(`${server.baseUrl}/udf/new`, {
      method: "POST",
      headers,
      body: JSON.stringify({
        slug: name,
        udf_body: JSON.stringify({ name, code, entrypoint: "default" }),
      }),
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
  const trivialToken = await save(
    "trivial",
    "export default function udf({ n = 1 }: { n?: number }) { return n }",
  );
  const cachedUrl = `${server.url}/${tableToken}.parquet?n=100`;
  const warm = await fetch(cachedUrl);
  const bytes = new Uint8Array(await warm.arrayBuffer());
  const contentType = warm.headers.get("content-type") ?? "application/octet-stream";

  const uncachedUrl = `${server.url}/${trivialToken}.json?cache_max_age=0`;
  const distinctUrl = `${server.url}/${trivialToken}.json?n=`;
  const first = await fetch(uncachedUrl);
  const uncachedBytes = new Uint8Array(await first.arrayBuffer());
  const baselines = [
    { bytes, contentType },
    { bytes: uncachedBytes, contentType: first.headers.get("content-type")! },
  ].map((answer) =>
    Deno.serve(
      { port: 0, hostname: "127.0.0.1", onListen: () => {} },
      () => new Response(answer.bytes, { headers: { "content-type": answer.contentType } }),
    )
  );
  const baselineUrl = (i: number) => `http://127.0.0.1:${baselines[i].addr.port}/`;
  const useWrk = await hasWrk();
  const load = useWrk ? loadWithWrk : loadInProcess;
  const cases = [
    { name: "Deno.serve, the table's bytes from memory", url: baselineUrl(0) },
    { name: "cached token result (.parquet)", url: cachedUrl },
    { name: "Deno.serve, the trivial UDF's bytes", url: baselineUrl(1) },
    { name: "uncached trivial UDF (cache_max_age=0)", url: uncachedUrl },
    // Cache on, every request a parameter never asked before: each run also misses, locks and
    // writes the service's file cache (client/cache.ts).
    { name: "trivial UDF, new parameters each request", url: distinctUrl, distinct: true },
  ];
  // Numbers never asked before, in every load of the distinct case.
  let distinctFrom = 0;
  const target = (c: { url: string; distinct?: boolean }): Target =>
    c.distinct ? { url: c.url, distinctFrom: distinctFrom += 10_000_000 } : { url: c.url };
  // The uncached case's UDF processes start once (one per core) before anything is measured:
  // the row is the steady state, not a cold start.
  await load({ url: uncachedUrl }, 1, concurrency);
  // Rounds interleave the cases so that load from other processes hits them alike; medians.
  const rounds = 5;
  const samples = cases.map(() => [] as number[]);
  const errors = cases.map(() => 0);
  // CPU a request, whatever the machine's load: this process (the service or the baseline; the
  // load generator too without wrk) and the UDF processes.
  const cpu = cases.map(() => ({ self: 0, children: 0, requests: 0 }));
  for (let round = 0; round < rounds; round++) {
    for (const [i, c] of cases.entries()) {
      const before = cpuMs();
      const r = await load(target(c), seconds / rounds, concurrency);
      const after = cpuMs();
      samples[i].push(r.rps);
      errors[i] += r.errors;
      if (before && after) {
        cpu[i].self += after.self - before.self;
        cpu[i].children += Math.max(0, after.children - before.children);
        cpu[i].requests += r.requests;
      }
    }
  }
  const perRequest = (ms: number, requests: number) =>
    requests > 0 ? (ms * 1000) / requests : undefined;
  const results: LoadResult[] = cases.map((c, i) => ({
    name: c.name,
    rps: median(samples[i]),
    errors: errors[i],
    hostCpuUs: perRequest(cpu[i].self, cpu[i].requests),
    childCpuUs: perRequest(cpu[i].children, cpu[i].requests),
  }));
  for (const baseline of baselines) await baseline.shutdown();
  await server.close();
  await engine.close();
  options.reset();
  await Deno.remove(dir, { recursive: true });

  // Each round's ratio is taken against its baseline in that round, then the median of them.
  const ratioOf = (i: number, base: number) =>
    median(samples[i].map((rps, round) => rps / samples[base][round]));
  const ratio = ratioOf(1, 0);
  const uncachedRatio = ratioOf(3, 2);
  const distinctRatio = ratioOf(4, 2);
  console.log(
    `server_bench: ${seconds}s per case in ${rounds} interleaved rounds (median), ${concurrency} connections, ${
      useWrk ? "wrk" : "in-process fetch loops"
    }, bodies ${bytes.byteLength} and ${uncachedBytes.byteLength} bytes, load average ${
      Deno.loadavg().map((l) => l.toFixed(2)).join(" ")
    }`,
  );
  const us = (value: number | undefined) =>
    value === undefined ? "     -" : value.toFixed(0).padStart(6);
  console.log(
    `  ${"".padEnd(42)} ${"req/s".padStart(7)}  CPU µs/request: ${
      useWrk ? "this process" : "this process with its load loops"
    }, UDF processes`,
  );
  for (const r of results) {
    console.log(
      `  ${r.name.padEnd(42)} ${r.rps.toFixed(0).padStart(7)}  ${us(r.hostCpuUs)} ${
        us(r.childCpuUs)
      }  errors ${r.errors}`,
    );
  }
  console.log(`  cached token / Deno.serve ratio: ${ratio.toFixed(2)} (goal >= 0.9)`);
  console.log(`  uncached UDF / Deno.serve ratio: ${uncachedRatio.toFixed(3)} (goal >= 0.2)`);
  console.log(
    `  new parameters each request / Deno.serve ratio: ${
      distinctRatio.toFixed(3)
    } (the same row when a probe makes runs uncached by their parameters)`,
  );
  const baselineName = (what: string) =>
    `Deno.serve of the same bytes (${what}), ${concurrency} connections`;
  if (how.report === false) return { results, ratio, uncachedRatio };
  reportRow({
    path: "cached share-token route",
    value: ratio,
    unit: "x",
    baseline: baselineName(`${bytes.byteLength} B`),
    atLeast: 0.9,
  });
  reportRow({
    path: "uncached trivial UDF through a share token",
    value: uncachedRatio,
    unit: "x",
    baseline: baselineName(`${uncachedBytes.byteLength} B`),
    atLeast: 0.2,
  });
  return { results, ratio, uncachedRatio };
}

if (import.meta.main) await main();
