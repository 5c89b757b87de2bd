/**
 * One platform across machines, end to end: two `fused serve` processes on one PostgreSQL
 * database and one S3 bucket answer readiness truthfully through a database outage, refuse a
 * submit during it without leaving a job behind, answer a repeated submit with its first job,
 * clear a cache on both when asked through one, share results cached through one with a third
 * (its own temp folder), answer a run started on one through the other,
 * and an SDK given both keeps working when one is killed.
 *
 * This file stops and starts the shared test PostgreSQL: run it on its own.
 */
import assert from "node:assert/strict";
import * as api from "../client/api/mod.ts";
import { Transport } from "../client/api/transport.ts";
import { udf } from "../client/udf.ts";
import { createDatabase, startPostgres, stopPostgres } from "./_postgres.ts";
import {
  type Service,
  spawn,
  startPlatform,
  startService,
  stop,
  waitFor,
} from "./_scale_processes.ts";

const HELLO = `export default function udf({ who = "world" }: { who?: string }) {
  return "hello " + who;
}
`;

/** What `/v1/health` answers. */
interface Health {
  status: number;
  body: { status: string; detail?: string; down?: Record<string, string> };
}

async function health(service: Service, path = "/health"): Promise<Health> {
  const res = await fetch(`${service.baseUrl}${path}`);
  return { status: res.status, body: await res.json() };
}

/** A job submit as the SDK sends it, through plain fetch (to see the very first answer). */
async function submit(service: Service, key: string): Promise<Response> {
  const token = (await service.transport.token())!.token;
  return await fetch(`${service.baseUrl}/run`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
      "idempotency-key": key,
    },
    body: JSON.stringify({
      config: { name: "hello", steps: [{ type: "udf", udf: udf(HELLO, { name: "hello" }) }] },
    }),
  });
}

Deno.test({
  name: "two services on one database and bucket: readiness, outages, repeated submits, failover",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const platform = await startPlatform("platform");
    const { a, b } = platform;
    try {
      await t.step("both are ready and alive", async () => {
        for (const service of [a, b]) {
          const ready = await health(service);
          assert.equal(ready.status, 200, JSON.stringify(ready.body));
          assert.equal(ready.body.status, "ok");
          assert.equal((await health(service, "/health/live")).status, 200);
        }
      });

      await t.step("the admin token is one per platform, the same on every service", async () => {
        assert.equal((await a.transport.token())!.token, (await b.transport.token())!.token);
      });

      await t.step(
        "with PostgreSQL stopped: not ready naming the database, a submit is 503 and leaves no job",
        async () => {
          await stopPostgres();
          let down;
          try {
            down = await waitFor("A to say it is not ready", async () => {
              const h = await health(a);
              return h.status === 503 ? h : undefined;
            }, 30_000);
            const refused = await submit(a, "during-outage");
            assert.equal(refused.status, 503, await refused.clone().text());
            assert.match((await refused.json()).detail, /PostgreSQL/);
            assert.equal((await health(a, "/health/live")).status, 200);
          } finally {
            await startPostgres();
          }
          assert.equal(down.body.status, "unavailable");
          assert.match(down.body.down?.database ?? "", /Cannot reach PostgreSQL/);
          assert.ok(down.body.down?.queue, JSON.stringify(down.body));
          assert.equal(down.body.down?.store, undefined, JSON.stringify(down.body));
          await waitFor("A and B to be ready again", async () => {
            const states = await Promise.all([a, b].map((s) => health(s)));
            return states.every((h) => h.status === 200) ? true : undefined;
          }, 60_000);
          // Nothing of the refused submit exists, nor appears once the database is back.
          await new Promise((r) => setTimeout(r, 2000));
          assert.deepEqual(await api.getJobs({ transport: b.transport }), []);
        },
      );

      await t.step(
        "a submit repeated with its key, on either service, answers the first job",
        async () => {
          const first = await submit(a, "key-1");
          assert.equal(first.status, 200, await first.clone().text());
          const again = await submit(b, "key-1");
          assert.equal(again.status, 200, await again.clone().text());
          const [j1, j2] = [await first.json(), await again.json()];
          assert.equal(j2.job_id, j1.job_id);
          const jobs = await api.getJobs({ transport: a.transport });
          assert.deepEqual(jobs.map((j) => j.id), [j1.job_id]);
        },
      );

      await t.step("a cache cleared through A is cleared on B too", async () => {
        const saved = await api.toFused(udf(HELLO, { name: "greet" }), { transport: a.transport });
        const share = await api.createUdfAccessToken(saved.id, undefined, {
          transport: a.transport,
        });
        const run = async () => {
          const res = await fetch(`${b.url}/${share.token}.json?who=cache`);
          assert.equal(res.status, 200, await res.clone().text());
          await res.body?.cancel();
          return res.headers.get("x-fused-cached");
        };
        assert.equal(await run(), null);
        assert.equal(await run(), "true", "B answers the second run from its cache");
        const token = (await a.transport.token())!.token;
        const cleared = await fetch(
          `${a.baseUrl}/realtime-shared/local/udf-cache/by-id/${saved.id}/delete`,
          { method: "DELETE", headers: { authorization: `Bearer ${token}` } },
        );
        assert.equal(cleared.status, 200, await cleared.clone().text());
        await cleared.body?.cancel();
        // Past the response memo's second, so only B's own run cache could still answer.
        await new Promise((r) => setTimeout(r, 1500));
        assert.equal(await run(), null, "B computed it afresh");
      });

      await t.step(
        "a result cached through A is a hit through a service with its own temp folder",
        async () => {
          const saved = await api.toFused(udf(HELLO, { name: "shared_cache" }), {
            transport: a.transport,
          });
          const share = await api.createUdfAccessToken(saved.id, undefined, {
            transport: a.transport,
          });
          const tmp = await Deno.makeTempDir({ prefix: "fused-e2e-tmp-" });
          const c = await startService({ ...platform.env, TMPDIR: tmp }, platform.storage);
          try {
            const run = async (service: Service) => {
              const res = await fetch(`${service.url}/${share.token}.json?who=shared`);
              assert.equal(res.status, 200, await res.clone().text());
              assert.match(await res.text(), /hello shared/);
              return res.headers.get("x-fused-cached");
            };
            assert.equal(await run(a), null, "computed through A");
            assert.equal(await run(c), "true", "a hit through C, from the bucket");
          } finally {
            await stop(c.proc);
            await Deno.remove(tmp, { recursive: true });
          }
        },
      );

      await t.step("a run started on A is collected on B, by its owner only", async () => {
        const token = (await a.transport.token())!.token;
        const auth = { authorization: `Bearer ${token}` };
        const base = "/realtime/local/api/v1/run/udf";
        // Longer than the start's wait (3 s), so the start answers 202.
        const slow = udf(
          `export default async function udf() { await new Promise((r) => setTimeout(r, 4000)); return "slow done"; }`,
          { name: "slow" },
        );
        const started = await fetch(`${a.baseUrl}${base}/start`, {
          method: "POST",
          headers: { ...auth, "content-type": "application/json", "fused-run-id": "run-1" },
          body: JSON.stringify({ step_config: JSON.stringify({ udf: slow }), format: "json" }),
        });
        assert.equal(started.status, 202, await started.clone().text());
        await started.body?.cancel();
        // Another user asking B for it hears of no such run.
        const user = await (await fetch(`${a.baseUrl}/admin/users`, {
          method: "POST",
          headers: { ...auth, "content-type": "application/json" },
          body: JSON.stringify({ email: "bea@x.org" }),
        })).json();
        const other = await (await fetch(`${a.baseUrl}/admin/tokens`, {
          method: "POST",
          headers: { ...auth, "content-type": "application/json" },
          body: JSON.stringify({ user_id: user.id }),
        })).json();
        const stranger = await fetch(`${b.baseUrl}${base}/get/run-1`, {
          headers: { authorization: `Bearer ${other.access_token}` },
        });
        assert.equal(stranger.status, 404);
        await stranger.body?.cancel();
        const answer = await waitFor("the run's answer through B", async () => {
          const res = await fetch(`${b.baseUrl}${base}/get/run-1`, { headers: auth });
          if (res.status === 202) {
            await res.body?.cancel();
            return undefined;
          }
          return res;
        }, 60_000);
        assert.equal(answer.status, 200, await answer.clone().text());
        assert.match(await answer.text(), /slow done/);
      });

      await t.step("an SDK given both services keeps working with one killed", async () => {
        const token = (await a.transport.token())!.token;
        // The default retry settings: a dead service used to cost 31 s every second call.
        const sdk = new Transport({ baseUrl: [a.baseUrl, b.baseUrl], token });
        await stop(b.proc, "SIGKILL");
        const signal = AbortSignal.timeout(20_000);
        for (let i = 0; i < 6; i++) {
          const me = await api.whoami({ transport: sdk, signal });
          assert.equal(me.email, "admin@localhost");
        }
        const job = await api.startJob(udf(HELLO, { name: "hello" }), { transport: sdk, signal });
        assert.equal(
          (await api.jobGetStatus(job.job_id, { transport: sdk, signal })).job_id,
          job.job_id,
        );
      });
    } finally {
      await stop(b.proc);
      await stop(a.proc);
    }
  },
});

Deno.test({
  name: "fused serve with --database but no --storage is refused with the reason",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const proc = spawn(["serve", "--port", "0", "--data-dir", dir], {
      FUSED_DATABASE_URL: await createDatabase("nostore"),
    });
    const status = await proc.child.status;
    assert.equal(status.code, 1, proc.output());
    assert.match(proc.output(), /--database without --storage .*--storage s3:\/\/BUCKET\/PREFIX/);
    await Deno.remove(dir, { recursive: true });
  },
});
