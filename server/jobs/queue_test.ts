/**
 * Batch jobs on the shared queue: a service and a `fused worker` (both in this process here; the
 * end-to-end test in tests/scale_e2e_test.ts runs them as separate processes) on one PostgreSQL
 * database and one S3 bucket.
 */
import assert from "node:assert/strict";
import type * as arrow from "apache-arrow";
import * as api from "../../client/api/mod.ts";
import { isTable } from "../../client/formats/types.ts";
import { Transport } from "../../client/api/transport.ts";
import { udf } from "../../client/udf.ts";
import { createDatabase } from "../../tests/_postgres.ts";
import { createBucket, useS3Env } from "../../tests/_s3.ts";
import { type RunningServer, startServer } from "../serve.ts";
import { type RunningWorker, startWorker, type WorkerOptions } from "../worker.ts";
import { PgBoss } from "pg-boss";
import { PostgresRegistry } from "../registry/postgres.ts";
import { DEAD_JOB_QUEUE, JOB_END_CHANNEL } from "./queue.ts";

const HELLO = `export default function udf({ n = 1 }: { n?: number }) {
  console.log("hello", n);
  return { doubled: n * 2 };
}
`;

const SLOW = `export default async function udf({ ms = 60000 }: { ms?: number }) {
  console.log("sleeping");
  await new Promise((resolve) => setTimeout(resolve, ms));
  return "slept " + ms;
}
`;

const FAILING = `export default function udf() {
  throw new RangeError("boom at step 3");
}
`;

const WAIT = { pollIntervalSeconds: 0.05, timeout: 60 };
// pg-boss keeps timers and pooled connections for the life of its instance.
const shared = { sanitizeOps: false, sanitizeResources: false };

interface QueueContext {
  transport: Transport;
  /** The database the service and workers share. */
  databaseUrl: string;
  server: RunningServer;
  worker: RunningWorker;
  /** Starts another worker on the same database and store (closed at the end). */
  another: (options?: Partial<WorkerOptions>) => Promise<RunningWorker>;
}

async function withQueue(
  fn: (ctx: QueueContext) => Promise<void>,
  workerOptions: Partial<WorkerOptions> = {},
  quotaBytes?: number,
): Promise<void> {
  await useS3Env();
  const databaseUrl = await createDatabase("queue");
  const storageUrl = `s3://${await createBucket("queue")}/fused`;
  const dataDir = await Deno.makeTempDir();
  const server = await startServer({
    port: 0,
    dataDir,
    quiet: true,
    databaseUrl,
    storageUrl,
    quotaBytes,
  });
  const workers: RunningWorker[] = [];
  const another = async (options: Partial<WorkerOptions> = {}) => {
    const worker = await startWorker({
      databaseUrl,
      storageUrl,
      dataDir: `${dataDir}/worker${workers.length}`,
      quiet: true,
      quotaBytes,
      ...options,
    });
    workers.push(worker);
    return worker;
  };
  try {
    const worker = await another(workerOptions);
    const transport = new Transport({ baseUrl: server.baseUrl, token: server.adminToken });
    await fn({ transport, databaseUrl, server, worker, another });
  } finally {
    for (const worker of workers) await worker.close();
    await server.close();
    await Deno.remove(dataDir, { recursive: true });
  }
}

Deno.test({
  name: "a queued job runs on a worker, streams its logs and stores its result in S3",
  ...shared,
  fn: () =>
    withQueue(async ({ transport, worker }) => {
      const job = await api.startJob(udf(HELLO, { name: "hello" }), {
        transport,
        parameters: { n: 5 },
      });
      const done = await api.jobWaitForJob(job, { transport, ...WAIT });
      assert.equal(done.job_status, "Done");
      assert.deepEqual(await api.jobGetResults(job, { transport }), [{ doubled: 10 }]);
      assert.deepEqual(await api.list(`fd://jobs/${job.job_id}/`, { transport }), [
        `fd://jobs/${job.job_id}/0.json`,
      ]);
      const messages = (await api.jobGetLogs(job, { transport })).map((r) => r.message);
      assert.match(messages[0], /^Job queued on instance type small/);
      assert.ok(
        messages.includes(
          `Job started on worker ${worker.name} (attempt 1, instance type small, wall-clock limit 1 h)`,
        ),
        messages.join("\n"),
      );
      assert.ok(messages.includes("hello 5"), messages.join("\n"));
      assert.equal(messages.at(-1), "Job succeeded");
    }),
});

Deno.test({
  name: "a UDF's error fails its job at once with that error, without a retry",
  ...shared,
  fn: () =>
    withQueue(async ({ transport }) => {
      const job = await api.startJob(udf(FAILING, { name: "failing" }), { transport });
      const done = await api.jobWaitForJob(job, { transport, ...WAIT });
      assert.equal(done.job_status, "Failed");
      const messages = (await api.jobGetLogs(job, { transport })).map((r) => r.message);
      assert.ok(messages.some((m) => /^ERROR: .*boom at step 3/.test(m)), messages.join("\n"));
      assert.equal(messages.filter((m) => m.startsWith("Job started")).length, 1);
    }),
});

Deno.test({
  name: "cancelling a running queued job stops its UDF and records the cancel",
  ...shared,
  fn: () =>
    withQueue(async ({ transport }) => {
      const job = await api.startJob(udf(SLOW, { name: "slow" }), { transport });
      for (let i = 0; i < 600; i++) {
        const logs = (await api.jobGetLogs(job, { transport })).map((r) => r.message);
        if (logs.includes("sleeping")) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const cancelled = await api.jobCancel(job, { transport });
      assert.equal(cancelled.job_status, "Canceled");
      const messages = (await api.jobGetLogs(job, { transport })).map((r) => r.message);
      assert.equal(messages.at(-1), "Job cancelled");
    }),
});

Deno.test({
  name: "cancelling a queued job before any worker takes it ends it at once",
  ...shared,
  fn: async () => {
    await useS3Env();
    const dataDir = await Deno.makeTempDir();
    const server = await startServer({
      port: 0,
      dataDir,
      quiet: true,
      databaseUrl: await createDatabase("queue"),
      storageUrl: `s3://${await createBucket("queue")}/fused`,
    });
    try {
      const transport = new Transport({ baseUrl: server.baseUrl, token: server.adminToken });
      const job = await api.startJob(udf(HELLO, { name: "hello" }), { transport });
      assert.equal((await api.jobGetStatus(job.job_id, { transport })).job_status, "Pending");
      assert.equal((await api.jobCancel(job, { transport })).job_status, "Canceled");
    } finally {
      await server.close();
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

async function waitForLine(
  job: Parameters<typeof api.jobGetLogs>[0],
  transport: Transport,
  line: string,
): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    const logs = (await api.jobGetLogs(job, { transport })).map((r) => r.message);
    if (logs.includes(line)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`The job's log never said "${line}"`);
}

Deno.test({
  name: "a stopping worker finishes its running job, once, in one attempt, and takes no new one",
  ...shared,
  fn: () =>
    withQueue(async ({ transport, worker }) => {
      const job = await api.startJob(udf(SLOW, { name: "slow" }), {
        transport,
        parameters: { ms: 3000 },
      });
      await waitForLine(job, transport, "sleeping");
      const closed = worker.close();
      // Queued after the worker began to drain: it must not take it.
      const later = await api.startJob(udf(HELLO, { name: "hello" }), { transport });
      await closed;
      const done = await api.jobGetStatus(job.job_id, { transport });
      assert.equal(done.job_status, "Done");
      assert.deepEqual(await api.jobGetResults(job, { transport }), ["slept 3000"]);
      const messages = (await api.jobGetLogs(job, { transport })).map((r) => r.message);
      const starts = messages.filter((m) => m.startsWith("Job started"));
      assert.deepEqual(starts.length, 1, messages.join("\n"));
      assert.match(starts[0], /\(attempt 1,/);
      assert.equal(messages.at(-1), "Job succeeded");
      assert.equal((await api.jobGetStatus(later.job_id, { transport })).job_status, "Pending");
    }),
});

Deno.test({
  name: "a job stopped past the drain timeout goes back to the queue without spending a try",
  ...shared,
  fn: () =>
    withQueue(async ({ transport, worker, another }) => {
      const job = await api.startJob(udf(SLOW, { name: "slow" }), {
        transport,
        parameters: { ms: 2000 },
      });
      await waitForLine(job, transport, "sleeping");
      await worker.close();
      assert.equal((await api.jobGetStatus(job.job_id, { transport })).job_status, "Pending");
      const next = await another();
      const done = await api.jobWaitForJob(job, { transport, ...WAIT });
      assert.equal(done.job_status, "Done");
      const messages = (await api.jobGetLogs(job, { transport })).map((r) => r.message);
      const context = messages.join("\n");
      assert.ok(
        messages.includes(
          `Worker ${worker.name} stopped past its drain timeout of 0.2 s: the job goes back to the queue (this attempt does not count)`,
        ),
        context,
      );
      const starts = messages.filter((m) => m.startsWith("Job started"));
      assert.equal(starts.length, 2, context);
      assert.match(starts[1], new RegExp(`^Job started on worker ${next.name} \\(attempt 1,`));
      assert.ok(!messages.some((m) => m.startsWith("Attempt 2 of")), context);
    }, { drainTimeoutMs: 200 }),
});

Deno.test({
  name: "a job goes only to workers that declare its instance type, and waits for one",
  ...shared,
  fn: () =>
    withQueue(async ({ transport, another }) => {
      const job = await api.startJob(udf(HELLO, { name: "hello" }), {
        transport,
        instanceType: "large",
      });
      // The small worker is idle and polls every second: two seconds and the job still waits.
      await new Promise((r) => setTimeout(r, 2000));
      const status = await api.jobGetStatus(job.job_id, { transport }) as {
        job_status: string;
        status_message?: string | null;
      };
      assert.equal(status.job_status, "Pending");
      assert.equal(
        status.status_message,
        "No running fused worker declares instance type large: the job waits until one starts (fused worker --instance-types large)",
      );
      const messages = (await api.jobGetLogs(job, { transport })).map((r) => r.message);
      assert.ok(
        messages.includes(
          "No running fused worker declares instance type large: the job waits until one starts (fused worker --instance-types large)",
        ),
        messages.join("\n"),
      );
      const large = await another({ instanceTypes: ["large"] });
      // The service reads the live workers at most every 2 s: then the status stops saying so.
      let message: unknown = "unset";
      for (let i = 0; i < 100 && message !== null; i++) {
        const now = await api.jobGetStatus(job.job_id, { transport });
        message = (now as { status_message?: unknown }).status_message;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(message, null, "a worker declares it now");
      assert.equal((await api.jobWaitForJob(job, { transport, ...WAIT })).job_status, "Done");
      const started = (await api.jobGetLogs(job, { transport })).map((r) => r.message)
        .find((m) => m.startsWith("Job started"));
      assert.match(started ?? "", new RegExp(`^Job started on worker ${large.name} .*large`));
    }),
});

Deno.test({
  name: "retention deletes finished jobs past the age with their logs and results, and no others",
  ...shared,
  fn: () =>
    withQueue(async ({ transport }) => {
      const done = await api.startJob(udf(HELLO, { name: "hello" }), { transport });
      assert.equal((await api.jobWaitForJob(done, { transport, ...WAIT })).job_status, "Done");
      assert.equal((await api.list(`fd://jobs/${done.job_id}/`, { transport })).length, 1);
      // No worker takes "large" jobs here: this one stays pending, however old.
      const waiting = await api.startJob(udf(HELLO, { name: "hello" }), {
        transport,
        instanceType: "large",
      });
      let gone = false;
      for (let i = 0; i < 300 && !gone; i++) {
        await new Promise((r) => setTimeout(r, 100));
        gone = await api.jobGetStatus(done.job_id, { transport }).then(() => false, () => true);
      }
      assert.ok(gone, "the finished job was deleted");
      await assert.rejects(api.jobGetLogs(done, { transport }), /No job with id/);
      await assert.rejects(api.list(`fd://jobs/${done.job_id}/`, { transport }));
      const kept = await api.jobGetStatus(waiting.job_id, { transport });
      assert.equal(kept.job_status, "Pending");
    }, { retentionMs: 2000 }),
});

Deno.test({
  name: "a worker's results and uploads count against their owner's quota, shared by every process",
  ...shared,
  fn: () =>
    withQueue(
      async ({ transport }) => {
        const big = udf(`export default () => "x".repeat(40 * 1024)`, { name: "big" });
        const first = await api.jobWaitForJob(await api.startJob(big, { transport }), {
          transport,
          ...WAIT,
        });
        assert.equal(first.job_status, "Done", first.error ?? "");
        // The worker recorded the result in PostgreSQL: the service counts it.
        await assert.rejects(
          () => api.upload(new Uint8Array(30 * 1024), "fd://more.bin", { transport }),
          /quota of 65536 bytes; used 4\d{4} bytes \(fd:\/\/ files 4\d{4} bytes/,
        );
        const second = await api.jobWaitForJob(await api.startJob(big, { transport }), {
          transport,
          ...WAIT,
        });
        assert.equal(second.job_status, "Failed");
        assert.match(
          second.error ?? "",
          /Writing the result fd:\/\/jobs\/.*\/0\.\w+ is refused: .*quota of 65536 bytes/,
        );
        // Nothing of the refused result is in the bucket.
        await assert.rejects(
          () => api.list(`fd://jobs/${second.job_id}/`, { transport }),
          /No file or folder at fd:\/\/jobs/,
        );
        const uploader = udf(
          `import * as fused from "fused";
export default async () => await fused.api.upload(new Uint8Array(30 * 1024), "fd://w.bin");`,
          { name: "uploader" },
        );
        const third = await api.jobWaitForJob(await api.startJob(uploader, { transport }), {
          transport,
          ...WAIT,
        });
        assert.equal(third.job_status, "Failed");
        assert.match(third.error ?? "", /Uploading fd:\/\/w\.bin is refused: .*quota of 65536/);
      },
      {},
      64 * 1024,
    ),
});

Deno.test({
  name: "a Python UDF runs as a queued job on a worker: its prints in the logs, its table in S3",
  ...shared,
  fn: () =>
    withQueue(async ({ transport, worker }) => {
      const python = `import pandas as pd

@fused.udf
def udf(n: int = 1, label: str = "a"):
    print("python on a worker", n)
    return pd.DataFrame({"i": range(n), "label": [label] * n})
`;
      const job = await api.startJob(udf(python, { name: "py_worker" }), {
        transport,
        parameters: { n: 3, label: "w" },
      });
      const done = await api.jobWaitForJob(job, { transport, ...WAIT });
      assert.equal(done.job_status, "Done");
      const messages = (await api.jobGetLogs(job, { transport })).map((r) => r.message);
      assert.ok(messages.some((m) => m.startsWith(`Job started on worker ${worker.name}`)));
      assert.ok(messages.includes("python on a worker 3"), messages.join("\n"));
      const results = await api.jobGetResults(job, { transport });
      assert.equal(results.length, 1);
      assert.ok(isTable(results[0]));
      const table = results[0] as arrow.Table;
      assert.deepEqual([...table.getChild("i")!], [0n, 1n, 2n]);
      assert.deepEqual([...table.getChild("label")!], ["w", "w", "w"]);
      assert.equal((await api.list(`fd://jobs/${job.job_id}/`, { transport })).length, 1);
    }),
});

Deno.test({
  name: "a job given up through pg-boss's dead-letter queue tells a waiting cancel by NOTIFY",
  ...shared,
  fn: () =>
    withQueue(async ({ transport, databaseUrl }) => {
      // A job whose worker took it and died on its last attempt: running, with no worker (no
      // worker here declares "large"), then put on the dead-letter queue as pg-boss does.
      const job = await api.startJob(udf(HELLO, { name: "hello" }), {
        transport,
        instanceType: "large",
      });
      const registry = await PostgresRegistry.open(databaseUrl, { max: 1 });
      const boss = new PgBoss(databaseUrl);
      boss.on("error", () => {});
      try {
        assert.ok(await registry.setJobStatus(job.job_id, "running", null, { from: ["pending"] }));
        const { promise: told, resolve } = Promise.withResolvers<void>();
        const unlisten = await registry.listen(JOB_END_CHANNEL, (id) => {
          if (id === job.job_id) resolve();
        });
        try {
          // Kept as a value: without the NOTIFY it fails (the client stops waiting first).
          const cancel = api.jobCancel(job, { transport }).catch((err: Error) => err);
          for (
            let i = 0;
            i < 600 && !(await registry.jobAttempt(job.job_id))?.cancelRequested;
            i++
          ) {
            await new Promise((r) => setTimeout(r, 50));
          }
          assert.ok((await registry.jobAttempt(job.job_id))?.cancelRequested, "the cancel waits");
          await boss.start();
          await boss.send(DEAD_JOB_QUEUE, { jobId: job.job_id });
          let timer: ReturnType<typeof setTimeout> | undefined;
          await Promise.race([
            told,
            new Promise((_, reject) =>
              timer = setTimeout(() => reject(new Error("no NOTIFY of the job's end")), 30_000)
            ),
          ]).finally(() => clearTimeout(timer));
          const answer = await cancel;
          assert.ok(!(answer instanceof Error), String(answer));
          assert.equal(answer.job_status, "Failed");
        } finally {
          await unlisten();
        }
      } finally {
        await boss.stop({ graceful: false, timeout: 1000 });
        await registry.close();
      }
    }),
});
