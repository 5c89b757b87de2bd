/**
 * `fused.cache` with cacheStorage "object" in a single service's own batch jobs (no worker): the
 * job's process asks the service's job runner, which reads and writes the job owner's entries in
 * the service's object cache, so a value a job computed is a hit for its owner's service runs and
 * the other way round, and never another user's. Once with the embedded default (entries in
 * `<data-dir>/object_cache`), once with an S3 bucket (`--storage`, SQLite registry).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as api from "../../client/api/mod.ts";
import { Transport } from "../../client/api/transport.ts";
import { udf } from "../../client/udf.ts";
import { createBucket, useS3Env } from "../../tests/_s3.ts";
import { askRunner, type Service, withService } from "./_test_service.ts";

// A random part makes each computation unique: only fused.cache can give the same value twice.
const PICK = `import * as fused from "fused";
const pick = fused.cache(async (x: string) => x + ":" + crypto.randomUUID(), {
  cacheStorage: "object",
});
export default async function udf({ x = "1", nonce = "", ms = 0 }: { x?: string; nonce?: string; ms?: number }) {
  const value = await pick(x);
  console.log("picked " + value);
  await new Promise((resolve) => setTimeout(resolve, ms));
  return value;
}
`;
const WAIT = { pollIntervalSeconds: 0.05, timeout: 60 };

/** A service run of PICK as the token's user (the run cache kept out by the nonce). */
async function serviceRun(service: Service, token: string, x: string): Promise<string> {
  const res = await fetch(
    `${service.server.baseUrl}/realtime/local/api/v1/run/udf?x=${x}&nonce=${crypto.randomUUID()}&format=json`,
    {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ step_config: JSON.stringify({ udf: udf(PICK, { name: "pick" }) }) }),
    },
  );
  assert.equal(res.status, 200, await res.clone().text());
  return await res.json();
}

/** Starts a batch job of PICK as the owner. */
async function startJob(service: Service, parameters: Record<string, unknown>) {
  const transport = new Transport({
    baseUrl: service.server.baseUrl,
    token: service.owner.token,
  });
  const job = await api.startJob(udf(PICK, { name: "pick" }), {
    transport,
    parameters: { nonce: crypto.randomUUID(), ...parameters },
  });
  return { job, transport };
}

/** Runs a batch job of PICK as the owner; its value, as it printed it. */
async function jobRun(service: Service, x: string): Promise<string> {
  const { job, transport } = await startJob(service, { x });
  const done = await api.jobWaitForJob(job, { transport, ...WAIT });
  const logs = (await api.jobGetLogs(job, { transport })).map((r) => r.message);
  assert.equal(done.job_status, "Done", `${done.error}\n${logs.join("\n")}`);
  const picked = logs.find((m) => m.startsWith("picked "));
  assert.ok(picked, logs.join("\n"));
  // Its result is read from the store the service serves fd:// from (the bucket with --storage).
  assert.deepEqual(await job.getResults(), [picked.slice("picked ".length)]);
  return picked.slice("picked ".length);
}

/** Drops the owner's disk cache (the near cache runs and jobs share): a hit is the store's. */
async function dropNearCache(service: Service): Promise<void> {
  // Strict: the folder is there (the run or job wrote its near copy), so a hit after is the store's.
  await Deno.remove(join(service.dataDir, "udf", "users", service.owner.id, "cache"), {
    recursive: true,
  });
}

async function hitsBothWays(service: Service): Promise<void> {
  const fromJob = await jobRun(service, "j");
  assert.match(fromJob, /^j:[0-9a-f-]{36}$/);
  await dropNearCache(service);
  assert.equal(await serviceRun(service, service.owner.token, "j"), fromJob, "a job's value hits");
  const theirs = await serviceRun(service, service.other, "j");
  assert.match(theirs, /^j:/);
  assert.notEqual(theirs, fromJob, "another user misses and computes their own");

  const fromRun = await serviceRun(service, service.owner.token, "s");
  await dropNearCache(service);
  assert.equal(await jobRun(service, "s"), fromRun, "a service run's value hits in a job");
}

Deno.test({
  name:
    'a single service\'s batch job keeps cacheStorage "object" values where its runs do, for its owner only',
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withService({ storageUrl: null }, async (service) => {
      await hitsBothWays(service);
      // The entries are the owner's, in the service's local object store.
      const entries = join(service.dataDir, "object_cache", "fused.cache", service.owner.id);
      // One folder ("tmp"), by its digest, holding both entries by their keys' digests.
      const folders = [...Deno.readDirSync(entries)].map((e) => e.name);
      assert.equal(folders.length, 1, folders.join(", "));
      const names = [...Deno.readDirSync(join(entries, folders[0]))].map((e) => e.name);
      assert.equal(names.length, 2, names.join(", "));
      assert.ok([...folders, ...names].every((n) => /^[0-9a-f]{64}$/.test(n)), names.join(", "));

      // A question with a bad key, put beside a running job's own, is refused by the runner.
      const { job, transport } = await startJob(service, { x: "k", ms: 60_000 });
      const reply = await askRunner(service, job.job_id, {
        cache: "put",
        key: `../${service.owner.id}/x`,
      }, "x");
      assert.equal(reply.ok, false);
      assert.match(reply.error!.message, /two SHA-256 hex digests \(64 characters/);
      await assert.rejects(Deno.stat(join(entries, "x")), Deno.errors.NotFound, "nothing written");
      assert.equal((await api.jobCancel(job, { transport })).job_status, "Canceled");
    }),
});

Deno.test({
  name:
    'with an S3 bucket, a single service\'s batch job keeps "object" values and its results in the bucket',
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await useS3Env();
    const storageUrl = `s3://${await createBucket("jobobj")}/fused`;
    await withService({ storageUrl }, async (service) => {
      await hitsBothWays(service);
      await assert.rejects(
        Deno.stat(join(service.dataDir, "object_cache")),
        Deno.errors.NotFound,
        "nothing kept on the service's disk",
      );
      // The jobs' results were moved to the bucket: none is left in the local files folder.
      const left = [...Deno.readDirSync(join(service.dataDir, "files", "jobs"))].flatMap((d) =>
        [...Deno.readDirSync(join(service.dataDir, "files", "jobs", d.name))].map((f) => f.name)
      );
      assert.deepEqual(left, []);
    });
  },
});
