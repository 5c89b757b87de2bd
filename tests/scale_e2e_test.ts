/**
 * Scale-out end to end: two `fused serve` and two `fused worker` processes (real processes, as a
 * user starts them) on one PostgreSQL database and one S3 bucket behave as one platform.
 */
import assert from "node:assert/strict";
import * as api from "../client/api/mod.ts";
import { udf } from "../client/udf.ts";
import { createDatabase, freePort, PG_PASSWORD } from "./_postgres.ts";
import { s3Env } from "./_s3.ts";
import { parsePrometheus } from "./_prometheus.ts";
import { spawn, startPlatform, startWorker, stop, waitFor } from "./_scale_processes.ts";

const JOB = `export default async function udf({ n = 0 }: { n?: number }) {
  console.log("begin " + n);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  console.log("end " + n);
  return { n };
}
`;

const SHARED = `export default function udf({ who = "world" }: { who?: string }) {
  return "hello " + who;
}
`;

Deno.test({
  name: "two services and two workers on one PostgreSQL and one S3 bucket act as one platform",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const metricsPort = freePort();
    const { env, storage, a, b } = await startPlatform("e2e", {
      a: ["--metrics-listen", String(metricsPort)],
    });
    const workers = [await startWorker(env, storage), await startWorker(env, storage)];
    try {
      await t.step("a UDF saved through A runs by its share token through B", async () => {
        const saved = await api.toFused(udf(SHARED, { name: "greet" }), { transport: a.transport });
        const token = await api.createUdfAccessToken(saved.id, undefined, {
          transport: a.transport,
        });
        const res = await fetch(
          `${b.baseUrl}/realtime-shared/${token.token}/run/file?format=json&who=b`,
        );
        assert.equal(res.status, 200, await res.clone().text());
        assert.match(await res.text(), /hello b/);
      });

      await t.step("a file uploaded through A lists and downloads through B", async () => {
        const bytes = new Uint8Array(3 << 20).map((_, i) => i % 251);
        await api.upload(bytes, "fd://shared/data.bin", { transport: a.transport });
        const listed = await api.list("fd://shared/", { transport: b.transport, details: true });
        assert.equal(listed.length, 1);
        const back = await api.get("fd://shared/data.bin", { transport: b.transport });
        assert.deepEqual(back, bytes);
        // A ranged read through B's HTTP route gets only those bytes from the store.
        const token = (await b.transport.token())!.token;
        const ranged = await fetch(`${b.baseUrl}/files/get?path=fd://shared/data.bin`, {
          headers: { authorization: `Bearer ${token}`, range: "bytes=1000-1999" },
        });
        assert.equal(ranged.status, 206);
        assert.equal(ranged.headers.get("content-range"), `bytes 1000-1999/${bytes.length}`);
        assert.deepEqual(new Uint8Array(await ranged.arrayBuffer()), bytes.slice(1000, 2000));
      });

      await t.step(
        "50 jobs all end, none twice at once, with complete logs, while a worker is killed",
        async () => {
          const job = udf(JOB, { name: "counter" });
          const started = await Promise.all(
            Array.from(
              { length: 50 },
              (_, n) =>
                api.startJob(job, {
                  transport: n % 2 ? a.transport : b.transport,
                  parameters: { n },
                }),
            ),
          );
          const ids = started.map((j) => j.job_id);
          const victim = workers[0];
          // Kill the first worker once it is running a job.
          await waitFor("a job running on the first worker", async () => {
            for (const id of ids) {
              const logs = await api.jobGetLogs(id, { transport: a.transport });
              if (
                logs.some((l) => l.message.includes(`:${victim.pid} (attempt`)) &&
                logs.some((l) => l.message.startsWith("begin")) &&
                !logs.some((l) => l.message === "Job succeeded")
              ) return true;
            }
            return undefined;
          });
          await stop(victim, "SIGKILL");
          const finals = await waitFor("every job to end", async () => {
            const all = await Promise.all(
              ids.map((id) => api.jobGetStatus(id, { transport: b.transport })),
            );
            return all.every((s) => s.finished_job_status) ? all : undefined;
          }, 240_000);
          let retried = 0;
          for (const [n, id] of ids.entries()) {
            const status = finals[n] as { state?: string; error?: string | null };
            const messages = (await api.jobGetLogs(id, { transport: a.transport })).map((l) =>
              l.message
            );
            const context = `job ${n} (${status.state}):\n${messages.join("\n")}`;
            assert.ok(
              status.state === "succeeded" || (status.state === "failed" && status.error),
              context,
            );
            const attempts = messages.filter((m) => m.startsWith("Job started on worker"));
            assert.ok(attempts.length >= 1, context);
            if (attempts.length > 1) {
              retried++;
              // Every attempt but the last ran on the killed worker: no two ran at once.
              for (const earlier of attempts.slice(0, -1)) {
                assert.match(earlier, new RegExp(`:${victim.pid} \\(attempt`), context);
              }
              const retryLine = messages.find((m) => m.startsWith("Attempt 2 of"));
              assert.ok(retryLine, context);
            }
            if (status.state === "succeeded") {
              // The last attempt's lines are all there, in order.
              const last = messages.lastIndexOf(attempts.at(-1)!);
              const tail = messages.slice(last);
              assert.deepEqual(
                tail.filter((m) => /^(begin|end) /.test(m) || m === "Job succeeded"),
                [`begin ${n}`, `end ${n}`, "Job succeeded"],
                context,
              );
              assert.deepEqual(await api.jobGetResults(id, { transport: b.transport }), [{ n }]);
            }
          }
          assert.ok(retried >= 1, "at least the killed worker's job was run again");
        },
      );

      await t.step("a job started through A is followed and cancelled through B", async () => {
        const slow = udf(
          `export default async function udf() { console.log("waiting"); await new Promise((r) => setTimeout(r, 120000)); return 1 }`,
          { name: "slow" },
        );
        const job = await api.startJob(slow, { transport: a.transport });
        await waitFor("the slow job to run", async () => {
          const logs = await api.jobGetLogs(job.job_id, { transport: b.transport });
          return logs.some((l) => l.message === "waiting") ? true : undefined;
        });
        const cancelled = await api.jobCancel(job.job_id, { transport: b.transport });
        assert.equal(cancelled.job_status, "Canceled");
        const logs = await api.jobGetLogs(job.job_id, { transport: a.transport });
        assert.equal(logs.at(-1)?.message, "Job cancelled");
      });

      await t.step(
        "a worker SIGTERMed mid-job finishes it, in one attempt, then exits",
        async () => {
          const live = workers[1];
          const job = await api.startJob(udf(JOB, { name: "counter" }), {
            transport: a.transport,
            parameters: { n: 7 },
          });
          await waitFor("the job to begin on the live worker", async () => {
            const logs = await api.jobGetLogs(job.job_id, { transport: b.transport });
            return logs.some((l) => l.message === "begin 7") ? true : undefined;
          });
          live.child.kill("SIGTERM");
          const status = await live.child.status;
          assert.equal(status.code, 0, live.output());
          const done = await api.jobGetStatus(job.job_id, { transport: a.transport });
          assert.equal(done.job_status, "Done", live.output());
          const messages = (await api.jobGetLogs(job.job_id, { transport: a.transport })).map((l) =>
            l.message
          );
          const starts = messages.filter((m) => m.startsWith("Job started on worker"));
          assert.equal(starts.length, 1, messages.join("\n"));
          assert.match(starts[0], new RegExp(`:${live.pid} \\(attempt 1,`));
          assert.ok(messages.includes("end 7"), messages.join("\n"));
          assert.equal(messages.at(-1), "Job succeeded");
          assert.match(live.output(), /Received SIGTERM: taking no new jobs/);
        },
      );

      await t.step("a job for an instance type no worker declares waits, and says so", async () => {
        const small = await startWorker(env, storage);
        workers.push(small);
        const job = await api.startJob(udf(JOB, { name: "counter" }), {
          transport: b.transport,
          instanceType: "medium",
        });
        await new Promise((r) => setTimeout(r, 2000));
        assert.equal(
          (await api.jobGetStatus(job.job_id, { transport: a.transport })).job_status,
          "Pending",
        );
        const logs = await api.jobGetLogs(job.job_id, { transport: a.transport });
        assert.ok(
          logs.some((l) =>
            l.message.startsWith("No running fused worker declares instance type medium")
          ),
          logs.map((l) => l.message).join("\n"),
        );
      });

      await t.step("/metrics of a service parses as Prometheus text", async () => {
        const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
        assert.equal(res.status, 200);
        const samples = parsePrometheus(await res.text());
        const jobs = samples.filter((s) => s.name === "fused_jobs");
        assert.ok(jobs.some((s) => s.labels.state === "succeeded" && s.value >= 1));
        assert.ok(jobs.some((s) => s.labels.state === "pending" && s.value >= 1));
        assert.ok(
          samples.some((s) =>
            s.name === "fused_queue_jobs" && s.labels.instance_type === "medium" &&
            s.labels.state === "queued" && s.value >= 1
          ),
        );
      });

      await t.step(
        "a service killed in the middle of an upload leaves no object behind",
        async () => {
          let sent = 0;
          const { promise: halfway, resolve } = Promise.withResolvers<void>();
          const body = new ReadableStream<Uint8Array>({
            async pull(controller) {
              if (sent >= 24 << 20) {
                resolve();
                await new Promise((r) => setTimeout(r, 60_000));
              }
              controller.enqueue(new Uint8Array(1 << 20));
              sent += 1 << 20;
            },
          });
          const token = (await b.transport.token())!.token;
          const upload = fetch(`${b.baseUrl}/files/upload?path=fd://half/big.bin`, {
            method: "PUT",
            headers: { authorization: `Bearer ${token}` },
            body,
          }).then((r) => r.body?.cancel(), () => undefined);
          await halfway;
          await stop(b.proc, "SIGKILL");
          await upload;
          assert.deepEqual(
            await api.list("fd://", { transport: a.transport }),
            ["fd://jobs/", "fd://shared/"],
          );
          await assert.rejects(api.list("fd://half/", { transport: a.transport }));
        },
      );
    } finally {
      for (const w of workers) await stop(w);
      await stop(b.proc);
      await stop(a.proc);
    }
  },
});

Deno.test({
  name: "a service or worker that cannot use its database or bucket says so and exits",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const database = await createDatabase("e2e_bad");
    const env = await s3Env();
    const run = async (args: string[]) => {
      const proc = spawn(args, env);
      const status = await proc.child.status;
      return { code: status.code, text: proc.output().trim() };
    };
    const noTrace = (text: string) => assert.doesNotMatch(text, /^\s+at /m, text);

    await t.step("a wrong database password", async () => {
      const dir = await Deno.makeTempDir();
      const out = await run([
        "serve",
        "--port",
        "0",
        "--data-dir",
        dir,
        "--database",
        database.replace(PG_PASSWORD, "wrong"),
        "--storage",
        "s3://any-bucket/x",
      ]);
      assert.equal(out.code, 1, out.text);
      assert.match(out.text, /refused the credentials .*fix the user and password/);
      noTrace(out.text);
    });

    await t.step("a database nobody listens on", async () => {
      const port = freePort();
      const out = await run([
        "worker",
        "--database",
        `postgres://fused:x@127.0.0.1:${port}/db`,
        "--storage",
        "s3://any-bucket/x",
      ]);
      assert.equal(out.code, 1, out.text);
      assert.match(out.text, new RegExp(`Cannot reach PostgreSQL at 127\\.0\\.0\\.1:${port}/db`));
      noTrace(out.text);
    });

    await t.step("a bucket that does not exist", async () => {
      const out = await run([
        "worker",
        "--database",
        database,
        "--storage",
        "s3://no-such-bucket-here/x",
      ]);
      assert.equal(out.code, 1, out.text);
      assert.match(out.text, /The bucket "no-such-bucket-here" does not exist/);
      noTrace(out.text);
    });
  },
});
