/**
 * `fd://` files of a single service's batch jobs (no worker) when the service serves `fd://` from
 * another store (`--storage`): the job's process holds no credential, so its UDFs' `fd://` calls
 * are asked of the job runner, which answers them on the service's store. A file a job writes is
 * there for its owner's service runs and the files API when the job is done, counts against the
 * owner's quota (not another user's), and a hostile key never reaches outside the `fd://` root.
 * Once with an S3 bucket, once with a folder store.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as api from "../../client/api/mod.ts";
import { Transport } from "../../client/api/transport.ts";
import { udf } from "../../client/udf.ts";
import { S3Storage } from "../s3_storage.ts";
import { LocalStorage, type Storage } from "../storage.ts";
import { createBucket, useS3Env } from "../../tests/_s3.ts";
import { askRunner, type Service, withService } from "./_test_service.ts";

const WRITE = udf(
  `import * as fused from "fused";
export default async function udf({ path = "fd://out/job.txt", size = 0, ms = 0 }: { path?: string; size?: number; ms?: number }) {
  await new Promise((resolve) => setTimeout(resolve, ms));
  const text = size > 0 ? "x".repeat(size) : "from job";
  await fused.api.upload(new TextEncoder().encode(text), path);
  const back = new TextDecoder().decode(await fused.api.get(path));
  return { back: back.length > 20 ? back.length : back, listed: await fused.api.list("fd://out/") };
}
`,
  { name: "write" },
);
const READ = udf(
  `import * as fused from "fused";
export default async function udf({ path = "", nonce = "" }: { path?: string; nonce?: string }) {
  return new TextDecoder().decode(await fused.api.get(path));
}
`,
  { name: "read" },
);
const WAIT = { pollIntervalSeconds: 0.05, timeout: 60 };
const QUOTA = 64 * 1024;

/** Runs WRITE as the owner; the job as it ended, and its log lines. */
async function jobWrite(service: Service, parameters: Record<string, unknown>) {
  const transport = new Transport({ baseUrl: service.server.baseUrl, token: service.owner.token });
  const job = await api.startJob(WRITE, { transport, parameters });
  const done = await api.jobWaitForJob(job, { transport, ...WAIT });
  const logs = (await api.jobGetLogs(job, { transport })).map((r) => r.message).join("\n");
  return { job, done, logs };
}

/** A service run of READ as the token's user: its status and answer. */
async function serviceRead(service: Service, token: string, path: string) {
  const res = await fetch(
    `${service.server.baseUrl}/realtime/local/api/v1/run/udf?path=${path}&nonce=${crypto.randomUUID()}&format=json`,
    {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ step_config: JSON.stringify({ udf: READ }) }),
    },
  );
  return { status: res.status, body: await res.json() };
}

function filesApi(service: Service, token: string, route: string, init: RequestInit = {}) {
  return fetch(`${service.server.baseUrl}/files/${route}`, {
    ...init,
    headers: { authorization: `Bearer ${token}` },
  });
}

async function jobFilesReachTheStore(service: Service, cacheStore: Storage): Promise<void> {
  const { done, logs, job } = await jobWrite(service, {});
  assert.equal(done.job_status, "Done", `${done.error}\n${logs}`);
  assert.deepEqual(await job.getResults(), [{ back: "from job", listed: ["fd://out/job.txt"] }]);

  // The owner reads it back through a service run and the files API, right after the job.
  assert.deepEqual(await serviceRead(service, service.owner.token, "fd://out/job.txt"), {
    status: 200,
    body: "from job",
  });
  const got = await filesApi(service, service.owner.token, "get?path=fd://out/job.txt");
  assert.equal(await got.text(), "from job");
  const listed = await filesApi(service, service.owner.token, "list?path=fd://out/");
  assert.deepEqual(await listed.json(), ["fd://out/job.txt"]);
  // Nothing of it stayed in the service's local files folder.
  await assert.rejects(Deno.stat(join(service.dataDir, "files", "out")), Deno.errors.NotFound);

  // A UDF's hostile path is refused by the job's host, naming the problem; nothing written.
  const hostile = await jobWrite(service, { path: "fd://../fused.cache/evil.txt" });
  assert.equal(hostile.done.job_status, "Failed");
  assert.match(hostile.logs, /may not contain \.\. segments/);
  assert.equal(await cacheStore.stat("evil.txt"), null);

  // The owner's quota counts the job's file: a job past it fails, and the files API refuses an
  // upload that fits alone but not beside the job's file; another user is not charged for it.
  const big = await jobWrite(service, { path: "fd://out/big.txt", size: QUOTA / 2 });
  assert.equal(big.done.job_status, "Done", `${big.done.error}\n${big.logs}`);
  const over = await jobWrite(service, { path: "fd://out/over.txt", size: QUOTA / 2 });
  assert.equal(over.done.job_status, "Failed");
  assert.match(over.logs, /quota/i);
  assert.equal(
    (await filesApi(service, service.owner.token, "list?path=fd://out/").then((r) => r.json()))
      .includes("fd://out/over.txt"),
    false,
    "nothing of a refused write is kept",
  );
  const upload = (token: string, name: string) =>
    filesApi(service, token, `upload?path=fd://theirs/${name}`, {
      method: "POST",
      body: new Uint8Array(QUOTA / 2),
    });
  const ownerUpload = await upload(service.owner.token, "a.bin");
  assert.equal(ownerUpload.status, 507, await ownerUpload.text());
  const otherUpload = await upload(service.other, "b.bin");
  assert.equal(otherUpload.status, 201, await otherUpload.text());

  // A question put beside a running job's own with a key outside fd:// is refused by the runner.
  const running = await api.startJob(WRITE, {
    transport: new Transport({ baseUrl: service.server.baseUrl, token: service.owner.token }),
    parameters: { path: "fd://out/late.txt", ms: 60_000 },
  });
  for (
    const [key, problem] of [
      ["../fused.cache/evil.txt", /may not contain \.\. segments/],
      ["/etc/x", /is absolute/],
      ["out/", /names a folder/],
      [7, /a key must be an fd:\/\/ path/],
    ] as const
  ) {
    const reply = await askRunner(service, running.job_id, { files: "write", key }, "evil");
    assert.equal(reply.ok, false);
    assert.match(reply.error!.message, problem);
  }
  assert.equal(await cacheStore.stat("evil.txt"), null);
  const cancelled = await api.jobCancel(running, {
    transport: new Transport({ baseUrl: service.server.baseUrl, token: service.owner.token }),
  });
  assert.equal(cancelled.job_status, "Canceled");
}

Deno.test({
  name: "with an S3 bucket, a single service's batch job writes fd:// files to the bucket",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await useS3Env();
    const bucket = await createBucket("jobfd");
    await withService(
      { storageUrl: `s3://${bucket}/fused`, quotaBytes: QUOTA },
      async (service) => {
        const cacheStore = new S3Storage(`s3://${bucket}/fused.cache`);
        try {
          await jobFilesReachTheStore(service, cacheStore);
          // The job's file is an object of the bucket under the fd:// prefix.
          const store = new S3Storage(`s3://${bucket}/fused`);
          assert.equal((await store.stat("out/job.txt"))?.size, 8);
          store.close();
        } finally {
          cacheStore.close();
        }
      },
    );
  },
});

Deno.test({
  name: "with a folder store, a single service's batch job writes fd:// files to that folder",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "fused-job-fd-store-" });
    try {
      const storageUrl = join(root, "fused");
      await withService({ storageUrl, quotaBytes: QUOTA }, async (service) => {
        await jobFilesReachTheStore(service, new LocalStorage(join(root, "fused.cache")));
        assert.equal(await Deno.readTextFile(join(storageUrl, "out", "job.txt")), "from job");
      });
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
