import assert from "node:assert/strict";
import { join } from "node:path";
import { FusedAPI } from "../../client/api/fused_api.ts";
import * as api from "../../client/api/mod.ts";
import { setGlobalTransport, Transport } from "../../client/api/transport.ts";
import { HttpError, UdfRuntimeError } from "../../client/errors.ts";
import { options } from "../../client/options.ts";
import { run } from "../../client/run.ts";
import { udf } from "../../client/udf.ts";
import { LocalEngine } from "../../engine/mod.ts";
import { parseLine } from "../../magics/args.ts";
import { fusedLine } from "../../magics/fused_line.ts";
import { FUSED_LINE } from "../../magics/spec.ts";
import { testContext } from "../../magics/_test_context.ts";
import { SqliteRegistry } from "../registry/sqlite.ts";
import { localRunner } from "../runner.ts";
import { type RunningServer, startServer } from "../serve.ts";
import type { JobRunnerOptions } from "./runner.ts";
import { processAlive, processStartTime } from "./runner.ts";

const HELLO = `export default function udf({ n = 1 }: { n?: number }) {
  console.log("hello", n);
  return { doubled: n * 2 };
}
`;

const SLOW = `export default async function udf({ ms = 60000 }: { ms?: number }) {
  await new Promise((resolve) => setTimeout(resolve, ms));
  return "slept " + ms;
}
`;

const FAILING = `export default function udf() {
  console.log("about to fail");
  throw new RangeError("boom at step 3");
}
`;

interface JobService {
  server: RunningServer;
  transport: Transport;
  dataDir: string;
}

async function startService(
  dataDir: string,
  engine: LocalEngine,
  jobs: JobRunnerOptions = {},
  serve: { retentionMs?: number } = {},
): Promise<JobService> {
  const server = await startServer({
    port: 0,
    dataDir,
    runner: localRunner({ engine }),
    quiet: true,
    jobs: { pollMs: 50, killGraceMs: 1000, ...jobs },
    ...serve,
  });
  const transport = new Transport({ baseUrl: server.baseUrl, token: server.adminToken });
  return { server, transport, dataDir };
}

/** Kills any job process a failed test left behind, waiting (bounded) until it is gone. */
async function killLeftovers(dataDir: string): Promise<void> {
  let registry: SqliteRegistry;
  try {
    registry = new SqliteRegistry(join(dataDir, "registry.db"));
  } catch {
    return;
  }
  try {
    for (const job of await registry.listJobsWithStatus(["running"])) {
      const proc = job.process;
      if (!proc || !processAlive(proc.pid, proc.startTime)) continue;
      Deno.kill(proc.pid, "SIGKILL");
      for (let i = 0; i < 100 && processAlive(proc.pid, proc.startTime); i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  } finally {
    await registry.close();
  }
}

/** One service in a fresh data folder for `fn`; everything is stopped and removed after. */
async function withJobService(
  fn: (service: JobService) => Promise<void>,
  jobs: JobRunnerOptions = {},
  serve: { retentionMs?: number } = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "fused-jobs-test-" });
  options.update({ cacheDirectory: `${dir}/cache` });
  const engine = new LocalEngine({ dataDir: `${dir}/engine`, maxWorkers: 2 });
  const service = await startService(`${dir}/server`, engine, jobs, serve);
  try {
    await fn(service);
  } finally {
    await service.server.close();
    await killLeftovers(service.dataDir);
    await engine.close();
    options.reset();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Polls `check` every 25 ms until it returns a value, for at most `timeoutMs`. */
async function until<T>(
  check: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  what: string,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await check();
    if (value) return value;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
}

function pidOf(status: { instance_id?: string | null }): number {
  const match = /^pid-(\d+)$/.exec(status.instance_id ?? "");
  assert.ok(match, `instance_id ${status.instance_id} names a pid`);
  return Number(match[1]);
}

const WAIT = { pollIntervalSeconds: 0.05, timeout: 30 };

Deno.test("a batch job runs its UDF in another process and stores its result and logs", async () => {
  await withJobService(async ({ transport }) => {
    const hello = udf(HELLO, { name: "hello" });
    const job = await api.startJob(hello, {
      transport,
      instanceType: "small",
      parameters: { n: 5 },
    });
    assert.ok(job instanceof api.BatchJob);
    assert.equal(job.job_name, "hello");
    assert.equal(job.instance_type, "small");
    const done = await api.jobWaitForJob(job, { transport, ...WAIT });
    assert.equal(done.job_status, "Done");
    assert.equal(done.finished_job_status, true);
    assert.equal(done.state, "succeeded");
    assert.notEqual(pidOf(done as { instance_id?: string }), Deno.pid);
    const results = await api.jobGetResults(job, { transport });
    assert.deepEqual(results, [{ doubled: 10 }]);
    const files = await api.list(`fd://jobs/${job.job_id}/`, { transport });
    assert.deepEqual(files, [`fd://jobs/${job.job_id}/0.json`]);
    const messages = (await api.jobGetLogs(job, { transport })).map((r) => r.message);
    assert.ok(messages.includes("hello 5"), messages.join("\n"));
    assert.match(messages.find((m) => m.startsWith(`Job ${job.job_id} started`)) ?? "", /small/);
    assert.equal(messages.at(-1), "Job succeeded");
  });
});

Deno.test("with a retention age, a single service deletes its finished jobs, logs, results and run folders", async () => {
  await withJobService(
    async ({ transport, dataDir }) => {
      const job = await api.startJob(udf(HELLO, { name: "hello" }), { transport });
      const slow = await api.startJob(udf(SLOW, { name: "slow" }), { transport });
      // A retention of 2 s sweeps every second: the finished job goes, the running one stays.
      const done = await api.jobWaitForJob(job, { transport, ...WAIT });
      assert.equal(done.job_status, "Done");
      assert.ok(await Deno.stat(join(dataDir, "jobs", job.job_id)));
      await until(async () => {
        try {
          await api.jobGetStatus(job, { transport });
          return false;
        } catch (err) {
          return err instanceof HttpError && err.status === 404;
        }
      }, "the finished job to be deleted");
      await assert.rejects(api.list(`fd://jobs/${job.job_id}/`, { transport }), /HTTP 404/);
      await assert.rejects(Deno.stat(join(dataDir, "jobs", job.job_id)), Deno.errors.NotFound);
      const running = await api.jobGetStatus(slow, { transport });
      assert.equal(running.job_status, "Running");
      await api.jobCancel(slow, { transport });
    },
    {},
    { retentionMs: 2000 },
  );
});

Deno.test("every job function of fused.api and FusedAPI reads the same job", async () => {
  await withJobService(async ({ transport, server }) => {
    const fusedApi = new FusedAPI({ baseUrl: server.baseUrl, token: server.adminToken });
    const job = await fusedApi.startJob(udf(HELLO, { name: "hello" }), {
      instanceType: "small",
      parameters: { n: 2 },
    });
    const done = await fusedApi.waitForJob(job, WAIT);
    assert.equal(done.job_status, "Done");
    assert.equal((await fusedApi.getStatus(job.job_id)).job_status, "Done");
    assert.equal((await api.jobGetStatus(job.job_id, { transport })).job_status, "Done");
    const logs = await fusedApi.getLogs(job);
    assert.deepEqual(await api.jobGetLogs(job.job_id, { transport }), logs);
    // since_ms gives the lines after that time, and times never repeat within a job.
    assert.deepEqual(
      await api.jobGetLogs(job, { transport, sinceMs: logs[1].timestamp }),
      logs.slice(2),
    );
    const printed: string[] = [];
    await api.jobPrintLogs(job, { transport, write: (l) => printed.push(l) });
    assert.deepEqual(printed, logs.map((r) => r.message));
    const tailed: string[] = [];
    await fusedApi.tailLogs(job, { write: (l) => tailed.push(l), timeout: 10 });
    assert.deepEqual(tailed.slice(0, 2), [`Logs for: ${job.job_id}`, "Job is not running (Done)"]);
    const execSeconds = (logs.at(-1)!.timestamp - logs[0].timestamp) / 1000;
    assert.equal(await api.jobGetExecTime(job, { transport }), execSeconds);
    assert.equal(await fusedApi.getExecTime(job), execSeconds);
    const history = await fusedApi.getJobs({ n: 5 });
    assert.deepEqual(history.map((j) => [j.id, j.job_status, j.instance_type]), [
      [job.job_id, "Done", "small"],
    ]);
    // Cancelling a finished job leaves it as it was.
    assert.equal((await api.jobCancel(job, { transport })).job_status, "Done");
    assert.equal((await fusedApi.cancelJob(job)).job_status, "Done");
    assert.deepEqual(await fusedApi.getJobResults(job), [{ doubled: 4 }]);
  });
});

Deno.test("the BatchJob of udf.job(...).runBatch() has the job's operations as methods", async () => {
  await withJobService(async ({ server }) => {
    setGlobalTransport(new Transport({ baseUrl: server.baseUrl, token: server.adminToken }));
    try {
      const job = await udf(HELLO, { name: "hello" }).job({ n: 7 }).runBatch({
        instanceType: "small",
      });
      assert.ok(job instanceof api.BatchJob);
      const done = await job.waitForJob(WAIT);
      assert.ok(done.finished);
      assert.equal((await job.getStatus()).job_status, "Done");
      assert.deepEqual(await job.getResult(), { doubled: 14 });
      const printed: string[] = [];
      await job.printLogs({ write: (l) => printed.push(l) });
      assert.ok(printed.includes("hello 7"));
      assert.equal(typeof await job.getExecTime(), "number");
      const tailed: string[] = [];
      await job.tailLogs({ write: (l) => tailed.push(l), timeout: 10 });
      assert.equal(tailed[1], "Job is not running (Done)");
      assert.equal((await job.cancel()).job_status, "Done");
      const placeholder = api.BatchJob.fromJobId(job.job_id);
      assert.equal((await placeholder.getStatus()).job_status, "Done");
    } finally {
      setGlobalTransport(undefined);
    }
  });
});

Deno.test("fused.run with a batch instance type runs a batch job and returns its result", async () => {
  await withJobService(async ({ server }) => {
    setGlobalTransport(new Transport({ baseUrl: server.baseUrl, token: server.adminToken }));
    try {
      const value = await run(udf(HELLO, { name: "hello" }), {
        instanceType: "small",
        n: 21,
        verbose: false,
      });
      assert.deepEqual(value, { doubled: 42 });
      await assert.rejects(
        run(udf(HELLO), { instanceType: "small", engine: "local" }),
        /runs as a batch job on the service: use engine: "remote"/,
      );
    } finally {
      setGlobalTransport(undefined);
    }
  });
});

Deno.test("a failing UDF fails its job with the error in its logs, and fused.run throws it", async () => {
  await withJobService(async ({ transport, server }) => {
    const job = await api.startJob(udf(FAILING, { name: "failing" }), { transport });
    const done = await api.jobWaitForJob(job, { transport, ...WAIT });
    assert.equal(done.job_status, "Failed");
    assert.match(done.error ?? "", /RangeError: boom at step 3/);
    const messages = (await api.jobGetLogs(job, { transport })).map((r) => r.message);
    assert.ok(messages.includes("about to fail"));
    assert.ok(messages.some((m) => /^ERROR: .*boom at step 3/.test(m)), messages.join("\n"));
    assert.deepEqual(await api.jobGetResults(job, { transport }), []);
    setGlobalTransport(new Transport({ baseUrl: server.baseUrl, token: server.adminToken }));
    try {
      await assert.rejects(
        run(udf(FAILING, { name: "failing" }), { instanceType: "small", verbose: false }),
        (err: Error) => {
          assert.ok(err instanceof UdfRuntimeError);
          assert.match(err.message, /Batch job .* failed: .*boom at step 3/);
          assert.match(err.logs.stdout, /about to fail/);
          return true;
        },
      );
    } finally {
      setGlobalTransport(undefined);
    }
  });
});

Deno.test("an unknown instance type is refused with the valid types listed", async () => {
  await withJobService(async ({ transport }) => {
    for (const type of ["m5.large", "huge"]) {
      await assert.rejects(
        api.startJob(udf(HELLO), { transport, instanceType: type }),
        (err: Error) => {
          assert.ok(err instanceof HttpError);
          assert.equal(err.status, 400);
          assert.match(
            err.message,
            new RegExp(`Unknown instance type "${type.replace(".", "\\.")}"`),
          );
          assert.match(err.message, /"small", "medium", "large"/);
          return true;
        },
      );
    }
    assert.deepEqual(await api.getJobs({ transport }), []);
  });
});

Deno.test("an unknown job id answers 404 with a message naming it", async () => {
  await withJobService(async ({ transport }) => {
    const calls = [
      () => api.jobGetStatus("no-such-job", { transport }),
      () => api.jobGetLogs("no-such-job", { transport }),
      () => api.jobCancel("no-such-job", { transport }),
      () => api.jobGetResults("no-such-job", { transport }),
    ];
    for (const call of calls) {
      await assert.rejects(call(), (err: Error) => {
        assert.ok(err instanceof HttpError, String(err));
        assert.equal(err.status, 404);
        assert.match(err.message, /No job with id "no-such-job"/);
        return true;
      });
    }
  });
});

Deno.test("cancelling a running job stops its process and marks it cancelled", async () => {
  await withJobService(async ({ transport }) => {
    const job = await api.startJob(udf(SLOW, { name: "slow" }), { transport });
    const running = await until(async () => {
      const s = await api.jobGetStatus(job, { transport });
      return s.job_status === "Running" && s.instance_id ? s : null;
    }, "the job to run");
    const pid = pidOf(running);
    await until(
      async () =>
        (await api.jobGetLogs(job, { transport })).some((r) => /Running UDF/.test(r.message)),
      "the UDF to start",
    );
    assert.notEqual(processStartTime(pid), null);
    const cancelled = await api.jobCancel(job, { transport });
    assert.equal(cancelled.job_status, "Canceled");
    assert.equal(cancelled.finished_job_status, true);
    assert.equal(processStartTime(pid), null, `process ${pid} is gone`);
    const messages = (await api.jobGetLogs(job, { transport })).map((r) => r.message);
    assert.equal(messages.at(-1), "Job cancelled");
  });
});

Deno.test("logs stream into the registry while the job runs and tailLogs shows them", async () => {
  await withJobService(async ({ transport }) => {
    const job = await api.startJob(udf(SLOW, { name: "slow" }), {
      transport,
      parameters: { ms: 60_000 },
    });
    const tailed: string[] = [];
    const tail = api.jobTailLogs(job, {
      transport,
      refreshSeconds: 0.05,
      timeout: 20,
      write: (l) => tailed.push(l),
    });
    await until(() => tailed.some((l) => /Running UDF "slow"/.test(l)), "a live log line");
    // The job is still running: these lines came from its output file while it ran.
    assert.equal((await api.jobGetStatus(job, { transport })).job_status, "Running");
    await api.jobCancel(job, { transport });
    await tail;
    assert.equal(tailed[0], `Logs for: ${job.job_id}`);
    assert.ok(tailed.some((l) => l.startsWith(`Job ${job.job_id} started`)));
  });
});

Deno.test("what the UDF prints reaches the job's logs while it still runs", async () => {
  const chatty = `export default async function udf() {
  console.log("halfway there");
  await new Promise((resolve) => setTimeout(resolve, 60_000));
}
`;
  await withJobService(async ({ transport }) => {
    const job = await api.startJob(udf(chatty, { name: "chatty" }), { transport });
    await seenWhileRunning(job, transport, "halfway there");
  });
});

/** Tails a running job until `line` shows, checks it still runs, then cancels it. */
async function seenWhileRunning(
  job: api.BatchJob,
  transport: Transport,
  line: string,
): Promise<void> {
  const tailed: string[] = [];
  const tail = api.jobTailLogs(job, {
    transport,
    refreshSeconds: 0.05,
    timeout: 30,
    write: (l) => tailed.push(l),
  });
  await until(() => tailed.some((l) => l.includes(line)), "the UDF's own line");
  assert.equal((await api.jobGetStatus(job, { transport })).job_status, "Running");
  await api.jobCancel(job, { transport });
  await tail;
}

Deno.test("jobs wait for a free slot of their instance type, and a pending job can be cancelled", async () => {
  const one = { heapMb: 256, wallClockMs: 60_000, slots: 1 };
  await withJobService(async ({ transport }) => {
    const first = await api.startJob(udf(SLOW, { name: "slow" }), {
      transport,
      instanceType: "one",
    });
    const second = await api.startJob(udf(HELLO, { name: "hello" }), {
      transport,
      instanceType: "one",
    });
    assert.equal(second.job_status, "Pending");
    const third = await api.startJob(udf(HELLO, { name: "hello" }), {
      transport,
      instanceType: "one",
    });
    const cancelled = await api.jobCancel(second, { transport });
    assert.equal(cancelled.job_status, "Canceled");
    assert.equal(cancelled.start_date, null);
    assert.equal((await api.jobGetStatus(third, { transport })).job_status, "Pending");
    await api.jobCancel(first, { transport });
    // The slot is free again: the third job runs to the end.
    assert.equal((await api.jobWaitForJob(third, { transport, ...WAIT })).job_status, "Done");
    assert.equal((await api.jobGetStatus(second, { transport })).job_status, "Canceled");
  }, { instanceTypes: { one } });
});

Deno.test("a job that runs past its wall-clock limit is stopped and failed", async () => {
  const quick = { heapMb: 256, wallClockMs: 1000, slots: 1 };
  await withJobService(async ({ transport }) => {
    const job = await api.startJob(udf(SLOW, { name: "slow" }), {
      transport,
      instanceType: "quick",
    });
    const done = await api.jobWaitForJob(job, { transport, ...WAIT });
    assert.equal(done.job_status, "Failed");
    assert.match(done.error ?? "", /did not finish within|wall-clock limit/);
  }, { instanceTypes: { quick } });
});

Deno.test("a job outlives a restart of the service and ends with its logs kept", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fused-jobs-restart-" });
  options.update({ cacheDirectory: `${dir}/cache` });
  const engine = new LocalEngine({ dataDir: `${dir}/engine`, maxWorkers: 2 });
  const dataDir = `${dir}/server`;
  let second: JobService | undefined;
  try {
    const first = await startService(dataDir, engine);
    let jobId: string;
    let pid: number;
    try {
      const job = await api.startJob(udf(SLOW, { name: "slow" }), {
        transport: first.transport,
        parameters: { ms: 2500 },
      });
      jobId = job.job_id;
      await until(
        async () =>
          (await api.jobGetLogs(job, { transport: first.transport })).some((r) =>
            /Running UDF/.test(r.message)
          ),
        "the UDF to start",
      );
      pid = pidOf(await api.jobGetStatus(job, { transport: first.transport }));
    } finally {
      await first.server.close();
    }
    assert.notEqual(processStartTime(pid), null, "the job runs on without the service");
    second = await startService(dataDir, engine);
    const done = await api.jobWaitForJob(jobId, { transport: second.transport, ...WAIT });
    assert.equal(done.job_status, "Done");
    assert.deepEqual(await api.jobGetResults(jobId, { transport: second.transport }), [
      "slept 2500",
    ]);
    const messages = (await api.jobGetLogs(jobId, { transport: second.transport })).map((r) =>
      r.message
    );
    const order = [
      messages.findIndex((m) => m.startsWith(`Job ${jobId} started`)),
      messages.findIndex((m) => m.startsWith("Running UDF")),
      messages.findIndex((m) => m.startsWith("Service restarted: re-attached")),
      messages.indexOf("Job succeeded"),
    ];
    assert.ok(order.every((i) => i >= 0), messages.join("\n"));
    assert.deepEqual([...order].sort((a, b) => a - b), order);
    assert.equal(new Set(messages).size, messages.length, "no line is copied twice");
  } finally {
    await second?.server.close();
    await killLeftovers(dataDir);
    await engine.close();
    options.reset();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a job whose process ended while the service was down gets the outcome it wrote", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fused-jobs-down-" });
  options.update({ cacheDirectory: `${dir}/cache` });
  const engine = new LocalEngine({ dataDir: `${dir}/engine`, maxWorkers: 2 });
  const dataDir = `${dir}/server`;
  let second: JobService | undefined;
  try {
    const first = await startService(dataDir, engine);
    let jobId: string;
    let pid: number;
    try {
      const job = await api.startJob(udf(SLOW, { name: "slow" }), {
        transport: first.transport,
        parameters: { ms: 300 },
      });
      jobId = job.job_id;
      pid = pidOf(
        await until(async () => {
          const s = await api.jobGetStatus(job, { transport: first.transport });
          return s.instance_id ? s : null;
        }, "the job's process"),
      );
    } finally {
      await first.server.close();
    }
    await until(() => processStartTime(pid) === null, "the job's process to end");
    const endSeen = Date.now();
    // The service stays down a while longer: the job's end time must not include that.
    await new Promise((r) => setTimeout(r, 1500));
    second = await startService(dataDir, engine);
    const done = await api.jobGetStatus(jobId, { transport: second.transport });
    assert.equal(done.job_status, "Done");
    const messages = (await api.jobGetLogs(jobId, { transport: second.transport })).map((r) =>
      r.message
    );
    // The job's own lines come first, in the order written; the restart's line after them.
    const restarted = messages.indexOf(
      "Service restarted: the job's process ended while the service was down",
    );
    assert.ok(restarted > messages.indexOf("Job succeeded"), messages.join("\n"));
    assert.ok(messages.indexOf("Job succeeded") >= 0, messages.join("\n"));
    const { end_date: end } = done as { end_date?: string };
    assert.ok(end && Date.parse(end) <= endSeen, `the job ended at ${end}, after it was seen gone`);
  } finally {
    await second?.server.close();
    await killLeftovers(dataDir);
    await engine.close();
    options.reset();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the %fused jobs, logs and cancel magics work against the job routes", async () => {
  await withJobService(async ({ server, transport }) => {
    setGlobalTransport(new Transport({ baseUrl: server.baseUrl, token: server.adminToken }));
    try {
      const job = await api.startJob(udf(SLOW, { name: "slow" }), { transport });
      await until(
        async () =>
          (await api.jobGetLogs(job, { transport })).some((r) => /Running UDF/.test(r.message)),
        "the UDF to start",
      );
      const jobs = testContext();
      await fusedLine(await parseLine(FUSED_LINE, "jobs"), jobs);
      assert.match(jobs.stdout, new RegExp(`${job.job_id}\\s+Running\\s+small`));
      const logs = testContext();
      await fusedLine(await parseLine(FUSED_LINE, `logs ${job.job_id}`), logs);
      assert.match(logs.stdout, /Running UDF "slow"/);
      const cancel = testContext();
      await fusedLine(await parseLine(FUSED_LINE, `cancel ${job.job_id}`), cancel);
      assert.equal(cancel.stdout, `Job ${job.job_id}: Canceled\n`);
      const follow = testContext();
      await fusedLine(await parseLine(FUSED_LINE, `logs ${job.job_id} --follow`), follow);
      assert.match(follow.stdout, /Job is not running \(Canceled\)[\s\S]*Job cancelled\n$/);
    } finally {
      setGlobalTransport(undefined);
    }
  });
});

Deno.test("a Python UDF runs as a batch job: its result stored, its prints streamed to the logs", async () => {
  const python = `import pandas as pd
import time

@fused.udf
def udf(n: int = 1, wait: float = 0):
    print("hello from python", n)
    time.sleep(wait)
    return {"doubled": n * 2}
`;
  await withJobService(async ({ transport }) => {
    const job = await api.startJob(udf(python, { name: "py_job" }), {
      transport,
      parameters: { n: 5 },
    });
    const done = await api.jobWaitForJob(job, { transport, ...WAIT });
    assert.equal(done.state, "succeeded");
    assert.deepEqual(await api.jobGetResults(job, { transport }), [{ doubled: 10 }]);
    const messages = (await api.jobGetLogs(job, { transport })).map((r) => r.message);
    assert.ok(messages.includes("hello from python 5"), messages.join("\n"));
    // While it still runs: its line is in the logs before it ends, and cancelling stops it.
    const slow = await api.startJob(udf(python, { name: "py_slow" }), {
      transport,
      parameters: { n: 7, wait: 60 },
    });
    await seenWhileRunning(slow, transport, "hello from python 7");
  });
});

Deno.test("a batch job's fd:// writes count against its owner's disk quota", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fused-jobs-quota-" });
  options.update({ cacheDirectory: `${dir}/cache` });
  const engine = new LocalEngine({ dataDir: `${dir}/engine`, maxWorkers: 2 });
  const server = await startServer({
    port: 0,
    dataDir: `${dir}/server`,
    engine,
    quiet: true,
    quotaBytes: 64 * 1024,
    jobs: { pollMs: 50, killGraceMs: 1000 },
  });
  const transport = new Transport({ baseUrl: server.baseUrl, token: server.adminToken });
  try {
    // The result (about 40 KiB of JSON) is its owner's.
    const big = udf(`export default () => "x".repeat(40 * 1024)`, { name: "big" });
    const done = await api.jobWaitForJob(await api.startJob(big, { transport }), {
      transport,
      ...WAIT,
    });
    assert.equal(done.job_status, "Done", done.error ?? "");
    await assert.rejects(
      () => api.upload(new Uint8Array(30 * 1024), "fd://more.bin", { transport }),
      (err: unknown) => {
        assert.ok(err instanceof HttpError && err.status === 507, String(err));
        assert.match(err.message, /quota of 65536 bytes; used 4\d{4} bytes \(fd:\/\/ files 4\d{4}/);
        return true;
      },
    );
    // A job's UDF that uploads past what is left fails, naming the quota; nothing is kept.
    const uploader = udf(
      `import * as fused from "fused";
export default async () => await fused.api.upload(new Uint8Array(30 * 1024), "fd://from-job.bin");`,
      { name: "uploader" },
    );
    const failed = await api.jobWaitForJob(await api.startJob(uploader, { transport }), {
      transport,
      ...WAIT,
    });
    assert.equal(failed.job_status, "Failed");
    assert.match(failed.error ?? "", /Uploading fd:\/\/from-job\.bin is refused: .*quota of 65536/);
    assert.deepEqual(await api.list("fd://", { transport }), ["fd://jobs/"]);
    // At the quota, a job does not start.
    const [result] = await api.list(`fd://jobs/${done.job_id}/`, { transport, details: true });
    await api.upload(new Uint8Array(64 * 1024 - (result.size ?? 0)), "fd://fill.bin", {
      transport,
    });
    const refused = await api.jobWaitForJob(await api.startJob(big, { transport }), {
      transport,
      ...WAIT,
    });
    assert.equal(refused.job_status, "Failed");
    assert.match(
      refused.error ?? "",
      /^Batch job .* is refused: .*quota of 65536 bytes; used 65536 bytes/,
    );
  } finally {
    await server.close();
    await killLeftovers(`${dir}/server`);
    await engine.close();
    options.reset();
    await Deno.remove(dir, { recursive: true });
  }
});
