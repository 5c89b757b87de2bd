/**
 * Batch jobs on the shared queue: a service and a `fused worker` (both in this process here; the
 * end-to-end test in tests/scale_e2e_test.ts runs them as separate processes) on one PostgreSQL
 * database and one S3 bucket.
 */
import assert from "node:assert/strict";
import * as api from "../../client/api/mod.ts";
import { Transport } from "../../client/api/transport.ts";
import { udf } from "../../client/udf.ts";
import { createDatabase } from "../../tests/_postgres.ts";
import { createBucket, s3Env } from "../../tests/_s3.ts";
import { type RunningServer, startServer } from "../serve.ts";
import { type RunningWorker, startWorker } from "../worker.ts";

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

async function withQueue(
  fn: (
    ctx: { transport: Transport; server: RunningServer; worker: RunningWorker },
  ) => Promise<void>,
  quotaBytes?: number,
): Promise<void> {
  for (const [k, v] of Object.entries(await s3Env())) Deno.env.set(k, v);
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
  let worker: RunningWorker | undefined;
  try {
    worker = await startWorker({
      databaseUrl,
      storageUrl,
      dataDir: `${dataDir}/worker`,
      quiet: true,
      quotaBytes,
    });
    const transport = new Transport({ baseUrl: server.baseUrl, token: server.adminToken });
    await fn({ transport, server, worker });
  } finally {
    await worker?.close();
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
    for (const [k, v] of Object.entries(await s3Env())) Deno.env.set(k, v);
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

Deno.test({
  name: "a worker's results and uploads count against their owner's quota, shared by every process",
  ...shared,
  fn: () =>
    withQueue(async ({ transport }) => {
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
    }, 64 * 1024),
});
