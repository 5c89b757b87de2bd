/**
 * `fused.cache` with cacheStorage "object" across a platform: two `fused serve` processes on one
 * PostgreSQL database and one S3 bucket, each with its own data folder (so its own near cache).
 * A value a UDF cached through A is a hit through B; another user, through B, never sees it.
 * The same for a batch job on a worker, and for the SDK logged in to A, then to B (each time with
 * an empty disk cache).
 * Each run's caller has its cache folder in its service's data folder, so B's near cache starts
 * empty: a hit there comes from the bucket.
 */
import assert from "node:assert/strict";
import { cache } from "../client/cache.ts";
import { options } from "../client/options.ts";
import { udf } from "../client/udf.ts";
import * as api from "../client/api/mod.ts";
import { type Proc, type Service, startPlatform, startWorker, stop } from "./_scale_processes.ts";

// The run's own nonce keeps the run cache out of it: only fused.cache can repeat the value.
const pickIn = (folder: string) =>
  `import * as fused from "fused";
const pick = fused.cache(async (x: string) => x + ":" + crypto.randomUUID(), {
  cacheStorage: "object",
  cacheFolderPath: "${folder}",
});
export default async function udf({ x = "1", nonce = "" }: { x?: string; nonce?: string }) {
  return await pick(x);
}
`;
const PICK = pickIn("tmp");

async function run(
  service: Service,
  token: string,
  nonce: string,
  x = "7",
  source = PICK,
): Promise<string> {
  const res = await fetch(
    `${service.baseUrl}/realtime/local/api/v1/run/udf?x=${x}&nonce=${nonce}&format=json`,
    {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ step_config: JSON.stringify({ udf: udf(source, { name: "pick" }) }) }),
    },
  );
  assert.equal(res.status, 200, await res.clone().text());
  assert.equal(res.headers.get("x-fused-cached"), null, "not an answer of the run cache");
  return JSON.stringify(await res.json());
}

async function admin(
  service: Service,
  path: string,
  body: unknown,
): Promise<Record<string, string>> {
  const token = (await service.transport.token())!.token;
  const res = await fetch(`${service.baseUrl}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  assert.ok(res.ok, await res.clone().text());
  return await res.json();
}

Deno.test({
  name:
    'fused.cache with cacheStorage "object" computed through one service is a hit through another, for its user only',
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const platform = await startPlatform("objcache");
    const { a, b } = platform;
    let worker: Proc | undefined;
    try {
      const owner = (await a.transport.token())!.token;
      const first = await run(a, owner, "1");
      assert.match(first, /7:[0-9a-f-]{36}/);
      assert.equal(await run(a, owner, "2"), first, "a hit through A, from its near cache");
      assert.equal(await run(b, owner, "3"), first, "a hit through B, from the bucket");

      const user = await admin(a, "/admin/users", { email: "bea@x.org" });
      const other = (await admin(a, "/admin/tokens", { user_id: user.id })).access_token;
      const theirs = await run(b, other, "4");
      assert.match(theirs, /7:[0-9a-f-]{36}/);
      assert.notEqual(theirs, first, "another user computes their own value");
      assert.equal(await run(a, other, "5"), theirs, "... which is theirs on every service");

      // A batch job on a worker keeps its value in the same place.
      worker = await startWorker(platform.env, platform.storage);
      const jobValue = async (nonce: string) => {
        const job = await api.startJob(udf(PICK, { name: "pick" }), {
          transport: a.transport,
          parameters: { x: "w", nonce },
        });
        const done = await api.jobWaitForJob(job, {
          transport: a.transport,
          pollIntervalSeconds: 0.2,
          timeout: 120,
        });
        assert.equal(done.job_status, "Done", JSON.stringify(done));
        const results = JSON.stringify(await api.jobGetResults(job, { transport: a.transport }));
        const value = /w:[0-9a-f-]{36}/.exec(results)?.[0];
        assert.ok(value, results);
        return value;
      };
      const fromJob = await jobValue("job");
      assert.equal(await run(b, owner, "6", "w"), JSON.stringify(fromJob), "a hit through B");
      assert.equal(await jobValue("job-2"), fromJob, "a hit on the worker");

      // The SDK logged in to a service: its disk in front, the bucket behind.
      const calls: string[] = [];
      const label = (x: string) => {
        calls.push(x);
        return `${x}:${crypto.randomUUID()}`;
      };
      const disks: string[] = [];
      const sdkRun = async (service: Service, token: string) => {
        disks.push(await Deno.makeTempDir({ prefix: "fused-e2e-near-" }));
        options.update({ baseUrl: service.baseUrl, cacheDirectory: disks.at(-1)! });
        Deno.env.set("FUSED_AUTH_TOKEN", token);
        return await cache(label, { cacheStorage: "object", cacheVerbose: false })("sdk");
      };
      try {
        const computed = await sdkRun(a, owner);
        assert.equal(await sdkRun(b, owner), computed, "a hit through B, with an empty disk");
        assert.deepEqual(calls, ["sdk"]);
        assert.notEqual(await sdkRun(b, other), computed, "another user computes their own");
        assert.deepEqual(calls, ["sdk", "sdk"]);
      } finally {
        options.reset();
        Deno.env.delete("FUSED_AUTH_TOKEN");
        for (const disk of disks) await Deno.remove(disk, { recursive: true });
      }

      // A clear of one folder (here fused.cache's default, "tmp") through A: gone from the bucket
      // and from every service's near copies; another folder's and another user's stay.
      const keep = pickIn("kept");
      const kept = await run(a, owner, "10", "7", keep);
      assert.equal(await run(b, owner, "11", "7", keep), kept, "a hit through B");
      assert.equal(await run(b, owner, "12"), first, "B holds the old value");
      assert.equal(await api.deleteObjectCache({ folder: "tmp", transport: a.transport }), true);
      // B hears of the clear by NOTIFY: a bounded wait for it, then B computes afresh.
      let fromB = first;
      for (let i = 0; i < 50 && fromB === first; i++) {
        fromB = await run(b, owner, `13-${i}`);
        if (fromB === first) await new Promise((r) => setTimeout(r, 20));
      }
      assert.match(fromB, /7:[0-9a-f-]{36}/);
      assert.notEqual(fromB, first, "B computed it again: its near copy went with the clear");
      assert.equal(
        await run(a, owner, "14"),
        fromB,
        "A's near copy went too: B's value, from the bucket",
      );
      assert.equal(await run(b, owner, "15", "7", keep), kept, "another folder's entry stays");
      assert.equal(await run(b, other, "16"), theirs, "another user's entry stays");
      // The worker heard of it too: its near copy is gone, so its next job computes afresh.
      assert.notEqual(await jobValue("job-3"), fromJob, "the worker computed it again");
    } finally {
      if (worker) await stop(worker);
      await stop(b.proc);
      await stop(a.proc);
    }
  },
});
