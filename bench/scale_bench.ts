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
 *     (target ≤ 2 s);
 * (e) job submissions a second (POST /run, queued for an instance type no worker takes) against
 *     2 services divided by the same against 1 (target ≥ 1.7 with `--cpu-quota`).
 *
 * Run: `deno run -A --unstable-worker-options bench/scale_bench.ts [--cpu-quota CORES]`
 *
 * On a machine with fewer cores than the load needs, two services cannot show that they scale:
 * they share the same cores. `--cpu-quota 0.4` gives each service process (and the UDF processes
 * it starts) a fixed CPU budget of 0.4 core in a cgroup (v1 `cpu` controller, as root), while
 * PostgreSQL, s3rver and this load generator stay outside it: then two services have twice the
 * CPU of one, as two machines would.
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { Transport } from "../client/api/transport.ts";
import { median } from "./_stats.ts";
import { createDatabase, freePort } from "../tests/_postgres.ts";
import { createBucket, s3Env } from "../tests/_s3.ts";
import { type Proc, spawn, stop } from "../tests/_scale_processes.ts";

const RUNS = 1000;
const SUBMITS = 300;
const CGROUP_CPU = "/sys/fs/cgroup/cpu";
const LATENCY_JOBS = 20;
const FILE_MB = 100;

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
  /** Job submissions a second against one service. */
  oneServiceSubmitsPerSecond: number;
  /** twoServices / oneService job submissions a second (target ≥ 1.7 with a CPU quota). */
  submitRatio: number;
  /** The CPU quota of each service process, in cores (null: none). */
  cpuQuota: number | null;
}

/** A cgroup that limits a service's CPU. */
interface CpuLimit {
  /** Share of the CPU periods so far in which the group was throttled (used up its quota). */
  throttled(): Promise<number>;
  /** Removes the group once its processes are gone. */
  remove(): Promise<void>;
}

/**
 * Puts a running process, and the processes it starts from now on, in a new cgroup v1 `cpu`
 * group limited to `cores`.
 */
async function limitCpu(pid: number, cores: number): Promise<CpuLimit> {
  const dir = `${CGROUP_CPU}/fused-bench-${Deno.pid}-${pid}`;
  try {
    await Deno.mkdir(dir);
  } catch (err) {
    throw new Error(
      `Cannot make a cgroup in ${CGROUP_CPU} (${
        (err as Error).message
      }): --cpu-quota needs root and the cgroup v1 cpu controller; run without it`,
    );
  }
  const period = 100_000;
  await Deno.writeTextFile(`${dir}/cpu.cfs_period_us`, String(period));
  await Deno.writeTextFile(`${dir}/cpu.cfs_quota_us`, String(Math.round(cores * period)));
  await Deno.writeTextFile(`${dir}/cgroup.procs`, String(pid));
  return {
    async throttled() {
      const stat = await Deno.readTextFile(`${dir}/cpu.stat`);
      const field = (name: string) => Number(new RegExp(`^${name} (\\d+)`, "m").exec(stat)?.[1]);
      return field("nr_throttled") / Math.max(1, field("nr_periods"));
    },
    async remove() {
      for (let i = 0; i < 50; i++) {
        try {
          return await Deno.remove(dir);
        } catch {
          await new Promise((r) => setTimeout(r, 100)); // its last processes are still exiting
        }
      }
      console.error(`Could not remove the cgroup ${dir}: remove it with rmdir`);
    },
  };
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
  cpuQuota: number | null,
  limits: CpuLimit[],
): Promise<{ proc: Proc; baseUrl: string; token: string }> {
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "scale_bench_service_" });
  const proc = spawn(["serve", "--port", String(port), "--data-dir", dir], env);
  if (cpuQuota !== null) limits.push(await limitCpu(proc.child.pid, cpuQuota));
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

/** Runs the benchmark (`--cpu-quota CORES` per service), prints a table, returns the numbers. */
export async function main(args: string[] = Deno.args): Promise<ScaleBenchResult> {
  const { values } = parseArgs({ args, options: { "cpu-quota": { type: "string" } } });
  const cpuQuota = values["cpu-quota"] === undefined ? null : Number(values["cpu-quota"]);
  if (cpuQuota !== null && !(cpuQuota > 0 && cpuQuota <= 64)) {
    throw new Error(`Invalid --cpu-quota "${values["cpu-quota"]}": use cores, e.g. 0.4`);
  }
  const limits: CpuLimit[] = [];
  const home = await Deno.makeTempDir({ prefix: "scale_bench_" });
  Deno.env.set("FUSED_HOME", home);
  const fused = await import("../mod.ts");
  const { S3Storage } = await import("../server/s3_storage.ts");
  const { LocalStorage } = await import("../server/storage.ts");
  const transportModule = await import("../client/api/transport.ts");
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
    const a = await service(env, cpuQuota, limits);
    procs.push(a.proc);
    const b = await service(env, cpuQuota, limits);
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
    // Whether the quota was what bounded the services (else something outside it was).
    const throttledRuns = await Promise.all(limits.map((l) => l.throttled()));

    // Submissions: 16 clients at once, each alternating over the services it is given; the jobs
    // wait on an instance type no worker here declares, so nothing runs them meanwhile.
    const transports = [a, b].map((s) =>
      new transportModule.Transport({ baseUrl: s.baseUrl, token: s.token })
    );
    const submitAll = async (services: Transport[]) => {
      let next = 0;
      const t0 = performance.now();
      await Promise.all(Array.from({ length: 16 }, async () => {
        while (next < SUBMITS) {
          const transport = services[next++ % services.length];
          await fused.api.startJob(trivial, { transport, instanceType: "large" });
        }
      }));
      return performance.now() - t0;
    };
    await submitAll(transports); // warm up
    const submitOne: number[] = [];
    const submitTwo: number[] = [];
    for (let round = 0; round < 3; round++) {
      submitOne.push(await submitAll([transports[0]]));
      submitTwo.push(await submitAll(transports));
    }
    const throttledAll = await Promise.all(limits.map((l) => l.throttled()));

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
      oneServiceSubmitsPerSecond: SUBMITS / (median(submitOne) / 1000),
      submitRatio: median(submitOne.map((o, i) => o / submitTwo[i])),
      cpuQuota,
    };
    const quota = cpuQuota === null ? "" : `, ${cpuQuota} core each`;
    const percent = (shares: number[]) => shares.map((x) => `${(x * 100).toFixed(0)}%`).join(", ");
    console.log("| case | value | ratio | target |");
    console.log("|---|---|---|---|");
    console.log(
      `| ${RUNS} remote submit runs, 1 service${quota} (baseline) | ${
        result.oneServicePerSecond.toFixed(0)
      } runs/s | | |`,
    );
    console.log(
      `| ${RUNS} remote submit runs, 2 services${quota} on one PostgreSQL | ${
        result.twoServicesPerSecond.toFixed(0)
      } runs/s | ${result.ratio.toFixed(2)} | ≥ ${cpuQuota === null ? "1.6" : "1.7"} |`,
    );
    console.log(
      `| ${SUBMITS} job submissions, 1 service${quota} (baseline) | ${
        result.oneServiceSubmitsPerSecond.toFixed(0)
      } jobs/s | | |`,
    );
    console.log(
      `| ${SUBMITS} job submissions, 2 services${quota} | ${
        (result.oneServiceSubmitsPerSecond * result.submitRatio).toFixed(0)
      } jobs/s | ${result.submitRatio.toFixed(2)} | ≥ 1.7 with a quota |`,
    );
    if (cpuQuota !== null) {
      console.log(
        `| CPU periods the services (A, B) were throttled: after the runs | ${
          percent(throttledRuns)
        } | | |`,
      );
      console.log(`| the same after the submissions too | ${percent(throttledAll)} | | |`);
    }
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
    for (const limit of limits) await limit.remove();
    await Deno.remove(home, { recursive: true });
  }
}

if (import.meta.main) await main();
