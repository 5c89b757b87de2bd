/**
 * Scale-out, against baselines measured in the same run, on a throw-away PostgreSQL 15 cluster
 * and s3rver on 127.0.0.1 (tests/_postgres.ts, tests/_s3.ts):
 * (a) 1,000 trivial remote runs through `fused.submit` against 2 `fused serve` processes on one
 *     database (`options.baseUrl` a list), per second, divided by the same against 1 of them
 *     (target ≥ 1.6 on 2 cores);
 * (b) the median time from a job's enqueue to its start on an idle `fused worker`
 *     (target ≤ 100 ms), from the registry's "Job queued" and "Job started" log times;
 * (c) 100 MB written and read back through the S3 store, divided by the same through the
 *     local-folder store;
 * (d) the median time from a cancel request to the answer that the running job stopped
 *     (target ≤ 2 s).
 *
 * Run: `deno run -A --unstable-worker-options bench/scale_bench.ts`
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { median } from "./_stats.ts";
import { createDatabase, freePort } from "../tests/_postgres.ts";
import { createBucket, s3Env } from "../tests/_s3.ts";

const RUNS = 1000;
const LATENCY_JOBS = 20;
const FILE_MB = 100;
const CLI = fileURLToPath(new URL("../cli.ts", import.meta.url));
const CONFIG = fileURLToPath(new URL("../deno.json", import.meta.url));

/** Numbers measured by one run of the benchmark. */
export interface ScaleBenchResult {
  /** Remote runs per second against one service. */
  oneServicePerSecond: number;
  /** Remote runs per second against two services on one database. */
  twoServicesPerSecond: number;
  /** twoServicesPerSecond / oneServicePerSecond (target ≥ 1.6). */
  ratio: number;
  /** Median enqueue → start of a job on an idle worker, ms (target ≤ 100). */
  medianStartMs: number;
  /** 100 MB write + read through S3, ms. */
  s3Ms: number;
  /** The same through the local folder, ms. */
  localMs: number;
  /** Median cancel request → cancelled answer of a running job, ms (target ≤ 2000). */
  medianCancelMs: number;
}

interface Proc {
  child: Deno.ChildProcess;
  output: () => string;
}

function spawn(args: string[], env: Record<string, string>): Proc {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-worker-options", `--config=${CONFIG}`, CLI, ...args],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const decoder = new TextDecoder();
  for (const stream of [child.stdout, child.stderr]) {
    (async () => {
      for await (const chunk of stream) text += decoder.decode(chunk);
    })();
  }
  return { child, output: () => text };
}

async function until(what: string, check: () => Promise<boolean>, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function service(
  env: Record<string, string>,
): Promise<{ proc: Proc; baseUrl: string; token: string }> {
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "scale_bench_service_" });
  const proc = spawn(["serve", "--port", String(port), "--data-dir", dir], env);
  const baseUrl = `http://127.0.0.1:${port}/v1`;
  await until(`the service on ${port}: ${proc.output()}`, async () => {
    try {
      const res = await fetch(`${baseUrl}/health`);
      await res.body?.cancel();
      return res.ok;
    } catch {
      return false;
    }
  });
  const token = JSON.parse(await Deno.readTextFile(`${dir}/admin-credentials.json`)).access_token;
  return { proc, baseUrl, token };
}

async function stop(proc: Proc): Promise<void> {
  try {
    proc.child.kill("SIGTERM");
  } catch {
    // Gone.
  }
  await proc.child.status;
}

/** 100 MB in 1 MiB chunks, written and read back through a store. */
async function roundTrip(
  store: {
    write(k: string, b: ReadableStream<Uint8Array>): Promise<unknown>;
    read(k: string): Promise<{ body: ReadableStream<Uint8Array> }>;
  },
): Promise<number> {
  const chunk = new Uint8Array(1 << 20).map((_, i) => i % 251);
  const t0 = performance.now();
  let left = FILE_MB;
  await store.write(
    "bench/big.bin",
    new ReadableStream({
      pull(c) {
        if (left-- === 0) return c.close();
        c.enqueue(chunk.slice());
      },
    }),
  );
  let got = 0;
  for await (const part of (await store.read("bench/big.bin")).body) got += part.byteLength;
  if (got !== FILE_MB << 20) throw new Error(`Read back ${got} bytes of ${FILE_MB << 20}`);
  return performance.now() - t0;
}

/** Runs the benchmark, prints a table and returns the numbers. */
export async function main(): Promise<ScaleBenchResult> {
  const home = await Deno.makeTempDir({ prefix: "scale_bench_" });
  Deno.env.set("FUSED_HOME", home);
  const fused = await import("../mod.ts");
  const { S3Storage } = await import("../server/s3_storage.ts");
  const { LocalStorage } = await import("../server/storage.ts");
  const database = await createDatabase("bench");
  const bucket = await createBucket("bench");
  const s3 = await s3Env();
  const env: Record<string, string> = {
    ...s3,
    FUSED_DATABASE_URL: database,
    FUSED_STORAGE_URL: `s3://${bucket}/fused`,
    PATH: Deno.env.get("PATH") ?? "",
    HOME: Deno.env.get("HOME") ?? home,
    NO_COLOR: "1",
  };
  const procs: Proc[] = [];
  try {
    const a = await service(env);
    procs.push(a.proc);
    const b = await service(env);
    procs.push(b.proc);
    const trivial = fused.udf(`export default function udf({ i = 0 }) { return i }`, {
      name: "trivial",
    });
    const args = Array.from({ length: RUNS }, (_, i) => ({ i }));
    await fused.api.login({ token: a.token, baseUrl: a.baseUrl });
    const run = async (baseUrl: string | string[]) => {
      fused.options.baseUrl = baseUrl;
      const t0 = performance.now();
      await fused.submit(trivial, args, { engine: "remote", maxWorkers: 32, cache: false });
      return performance.now() - t0;
    };
    await run([a.baseUrl, b.baseUrl]); // warm both services' engines
    const one: number[] = [];
    const two: number[] = [];
    for (let round = 0; round < 3; round++) {
      one.push(await run(a.baseUrl));
      two.push(await run([a.baseUrl, b.baseUrl]));
    }
    fused.options.baseUrl = a.baseUrl;

    const worker = spawn(["worker", "--concurrency", "1"], env);
    procs.push(worker);
    await until(
      `the worker: ${worker.output()}`,
      () => Promise.resolve(worker.output().includes("taking jobs")),
    );
    const starts: number[] = [];
    for (let i = 0; i < LATENCY_JOBS; i++) {
      const job = await fused.api.startJob(trivial, { parameters: { i } });
      let logs: { timestamp: number; message: string }[] = [];
      await until("a job to start", async () => {
        logs = await fused.api.jobGetLogs(job.job_id);
        return logs.some((l) => l.message === "Job succeeded");
      });
      const queued = logs.find((l) => l.message.startsWith("Job queued"))!;
      const started = logs.find((l) => l.message.startsWith("Job started on worker"))!;
      if (i > 0) starts.push(started.timestamp - queued.timestamp); // the first one warms up
    }

    const slow = fused.udf(
      `export default async function udf() { console.log("waiting"); await new Promise((r) => setTimeout(r, 60000)); return 1 }`,
      { name: "slow" },
    );
    const cancels: number[] = [];
    for (let i = 0; i < 5; i++) {
      const job = await fused.api.startJob(slow);
      await until(
        "a slow job to run",
        async () => (await fused.api.jobGetLogs(job.job_id)).some((l) => l.message === "waiting"),
      );
      const t0 = performance.now();
      const answer = await fused.api.jobCancel(job.job_id);
      if (answer.job_status !== "Canceled") throw new Error(`Cancel answered ${answer.job_status}`);
      cancels.push(performance.now() - t0);
    }

    const client = {
      endpoint: s3.AWS_ENDPOINT_URL,
      credentials: { accessKeyId: s3.AWS_ACCESS_KEY_ID, secretAccessKey: s3.AWS_SECRET_ACCESS_KEY },
    };
    const store = new S3Storage(`s3://${bucket}/io`, { client });
    const local = new LocalStorage(`${home}/files`);
    const s3Times: number[] = [];
    const localTimes: number[] = [];
    for (let round = 0; round < 3; round++) {
      localTimes.push(await roundTrip(local));
      s3Times.push(await roundTrip(store));
    }
    store.close();

    const result: ScaleBenchResult = {
      oneServicePerSecond: RUNS / (median(one) / 1000),
      twoServicesPerSecond: RUNS / (median(two) / 1000),
      ratio: median(one.map((o, i) => o / two[i])),
      medianStartMs: median(starts),
      s3Ms: median(s3Times),
      localMs: median(localTimes),
      medianCancelMs: median(cancels),
    };
    console.log("| case | value | ratio | target |");
    console.log("|---|---|---|---|");
    console.log(
      `| ${RUNS} remote submit runs, 1 service (baseline) | ${
        result.oneServicePerSecond.toFixed(0)
      } runs/s | | |`,
    );
    console.log(
      `| ${RUNS} remote submit runs, 2 services on one PostgreSQL | ${
        result.twoServicesPerSecond.toFixed(0)
      } runs/s | ${result.ratio.toFixed(2)} | ≥ 1.6 |`,
    );
    console.log(
      `| job enqueue → start, idle worker (median of ${starts.length}) | ${
        result.medianStartMs.toFixed(0)
      } ms | | ≤ 100 ms |`,
    );
    console.log(
      `| cancel → stopped, running job (median of ${cancels.length}) | ${
        result.medianCancelMs.toFixed(0)
      } ms | | ≤ 2000 ms |`,
    );
    console.log(
      `| ${FILE_MB} MB write + read, local folder (baseline) | ${
        result.localMs.toFixed(0)
      } ms | | |`,
    );
    console.log(
      `| ${FILE_MB} MB write + read, S3 (s3rver) | ${result.s3Ms.toFixed(0)} ms | ${
        (result.s3Ms / result.localMs).toFixed(2)
      } × local | |`,
    );
    return result;
  } finally {
    for (const proc of procs.reverse()) await stop(proc);
    await Deno.remove(home, { recursive: true });
  }
}

if (import.meta.main) await main();
