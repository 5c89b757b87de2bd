/**
 * Soak of the UDF service: `wrk` with many connections for a long stretch on a cached share-token
 * URL and on an uncached run (a Worker run per request), with the service's resident memory (RSS)
 * at start, after a warm-up and at the end. The service runs as `fused serve` in its own process,
 * so its RSS is its own; a `Deno.serve` answering the same bytes from memory, loaded the same way
 * in the same run, is the baseline of the throughput ratio.
 *
 * Run (the soak is 100 connections × 60 s; shorten it while the machine is shared):
 * `deno run -A bench/soak_bench.ts --seconds 60 --connections 100 --warmup 10`
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";

/** What one load measured. */
export interface SoakLoad {
  /** What was loaded. */
  name: string;
  /** Completed requests per second. */
  rps: number;
  /** Requests answered other than 2xx/3xx, plus socket errors. */
  errors: number;
  /** 99th percentile latency as wrk prints it. */
  p99: string;
  /** Service RSS in MB right after this load (for the baseline: unchanged, it is not loaded). */
  rssAfterMb: number;
}

/** The soak's result. */
export interface SoakResult {
  /** The loads, in order: baseline, token URL, uncached run. */
  loads: SoakLoad[];
  /** Service RSS in MB at start, after warm-up, at the end. */
  rssMb: { start: number; warm: number; end: number };
}

async function wrk(
  url: string,
  seconds: number,
  connections: number,
): Promise<Omit<SoakLoad, "name" | "rssAfterMb">> {
  const out = await new Deno.Command("wrk", {
    args: ["-t2", `-c${connections}`, `-d${seconds}s`, "--latency", "--timeout", "30s", url],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1]);
  if (!out.success || !Number.isFinite(rps)) {
    throw new Error(
      `wrk failed (installed by .ci/setup): ${text}${new TextDecoder().decode(out.stderr)}`,
    );
  }
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(text)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const socketErrors = socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
  return { rps, errors: non2xx + socketErrors, p99: /\s99%\s+(\S+)/.exec(text)?.[1] ?? "?" };
}

function rssMb(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) / 1024;
}

/** Runs the soak and prints what it measured. */
export async function main(args: string[] = Deno.args): Promise<SoakResult> {
  const flags = parseArgs({
    args,
    options: {
      seconds: { type: "string", default: "60" },
      connections: { type: "string", default: "100" },
      warmup: { type: "string", default: "10" },
    },
  }).values;
  const seconds = Number(flags.seconds);
  const connections = Number(flags.connections);
  const warmup = Number(flags.warmup);
  for (
    const [name, value] of [["seconds", seconds], ["connections", connections], [
      "warmup",
      warmup,
    ]] as const
  ) {
    if (!(Number.isInteger(value) && value > 0)) {
      throw new Error(`--${name} must be a whole number above 0, got ${value}`);
    }
  }
  const dir = await Deno.makeTempDir({ prefix: "fused-soak-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--unstable-worker-options",
      new URL("../server/main.ts", import.meta.url).pathname,
      "--port",
      "0",
      "--data-dir",
      join(dir, "server"),
    ],
    env: { FUSED_CACHE_DIRECTORY: join(dir, "cache"), FUSED_TEMP_DIRECTORY: dir },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let log = "";
  let base: string | undefined;
  while (!base) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`fused serve stopped: ${log}`);
    log += value;
    base = /listening on (http:\/\/127\.0\.0\.1:\d+)\/v1/.exec(log)?.[1];
  }
  (async () => {
    while (!(await reader.read().catch(() => ({ done: true }))).done) { /* drain */ }
  })();
  let body = new Uint8Array();
  const baseline = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    () => new Response(body),
  );
  try {
    const creds = JSON.parse(
      await Deno.readTextFile(join(dir, "server", "admin-credentials.json")),
    );
    const headers = {
      authorization: `Bearer ${creds.access_token}`,
      "content-type": "application/json",
    };
    const share = async (name: string, code: string): Promise<string> => {
      const saved = await (await fetch(`${base}/v1/udf/new`, {
        method: "POST",
        headers,
        body: JSON.stringify({
          slug: name,
          udf_body: JSON.stringify({ name, code, type: "deno_v1", entrypoint: "default" }),
        }),
      })).json();
      const token = await (await fetch(`${base}/v1/udf-access-token/new`, {
        method: "POST",
        headers,
        body: JSON.stringify({ udf_id: saved.id }),
      })).json();
      return token.token;
    };
    const tokenUrl = `${base}/${await share(
      "rows",
      "export default function udf({ n = 100 }: { n?: number }) { return Array.from({ length: n }, (_, i) => ({ i, x: i / 3 })) }",
    )}.json?n=100`;
    const uncachedUrl = `${base}/${await share(
      "trivial",
      "export default function udf({ n = 1 }: { n?: number }) { return n }",
    )}.json?cache_max_age=0`;
    const first = await fetch(tokenUrl);
    body = new Uint8Array(await first.arrayBuffer());
    if (first.status !== 200) {
      throw new Error(`The token URL answered ${first.status}: ${new TextDecoder().decode(body)}`);
    }
    const rss = { start: rssMb(child.pid), warm: 0, end: 0 };
    await wrk(tokenUrl, warmup, connections);
    await wrk(uncachedUrl, warmup, connections);
    rss.warm = rssMb(child.pid);
    const loads: SoakLoad[] = [];
    const cases = [
      ["Deno.serve, same bytes (baseline)", `http://127.0.0.1:${baseline.addr.port}/`],
      ["share-token URL (cached)", tokenUrl],
      ["uncached run (cache_max_age=0)", uncachedUrl],
    ];
    for (const [name, url] of cases) {
      const measured = await wrk(url, seconds, connections);
      loads.push({ name, ...measured, rssAfterMb: rssMb(child.pid) });
    }
    rss.end = rssMb(child.pid);
    console.log(
      `soak_bench: ${connections} connections x ${seconds} s per load, warm-up ${warmup} s, wrk -t2`,
    );
    for (const load of loads) {
      console.log(
        `  ${load.name.padEnd(36)} ${load.rps.toFixed(0).padStart(7)} req/s  p99 ${
          load.p99.padStart(8)
        }  errors ${load.errors}  RSS after ${load.rssAfterMb.toFixed(0)} MB`,
      );
    }
    console.log(`  token URL / baseline ratio: ${(loads[1].rps / loads[0].rps).toFixed(2)}`);
    console.log(
      `  service RSS: start ${rss.start.toFixed(0)} MB, after warm-up ${
        rss.warm.toFixed(0)
      } MB, end ${rss.end.toFixed(0)} MB`,
    );
    return { loads, rssMb: rss };
  } finally {
    await baseline.shutdown();
    child.kill("SIGTERM");
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await main();
