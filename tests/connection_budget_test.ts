/**
 * The connection budget (README, "Scale-out"): with the default pool sizes a service and a worker,
 * each under load, hold few enough PostgreSQL connections that 10 services and 50 workers stay
 * under 300. Counted by PostgreSQL itself (pg_stat_activity), at the peak of the load.
 */
import assert from "node:assert/strict";
import * as api from "../client/api/mod.ts";
import { Transport } from "../client/api/transport.ts";
import { udf } from "../client/udf.ts";
import { startServer } from "../server/serve.ts";
import { startWorker } from "../server/worker.ts";
import { createDatabase, psql } from "./_postgres.ts";
import { createBucket, useS3Env } from "./_s3.ts";

const LOGGING = `export default async function udf({ n = 0 }: { n?: number }) {
  for (let i = 0; i < 20; i++) {
    console.log("line " + i);
    await new Promise((r) => setTimeout(r, 20));
  }
  return n;
}
`;

/** Runs `load` while counting the database's connections every 50 ms; the most seen. */
async function peakConnections(database: string, load: () => Promise<void>): Promise<number> {
  const count = async () =>
    Number(await psql(`SELECT count(*) FROM pg_stat_activity WHERE datname = '${database}'`));
  let peak = await count();
  let done = false;
  const sampling = (async () => {
    while (!done) {
      peak = Math.max(peak, await count());
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  try {
    await load();
  } finally {
    done = true;
    await sampling;
  }
  return Math.max(peak, await count());
}

Deno.test({
  name: "with default pools 10 services and 50 workers under load hold fewer than 300 connections",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await useS3Env();
    const databaseUrl = await createDatabase("budget");
    const database = new URL(databaseUrl).pathname.slice(1);
    const storageUrl = `s3://${await createBucket("budget")}/fused`;
    const dataDir = await Deno.makeTempDir();
    const server = await startServer({ port: 0, dataDir, quiet: true, databaseUrl, storageUrl });
    const transport = new Transport({ baseUrl: server.baseUrl, token: server.adminToken });
    try {
      // The service alone first: many requests at once, each reading the registry.
      const service = await peakConnections(database, async () => {
        await Promise.all(
          Array.from({ length: 50 }, () => api.getJobs({ transport }).then(() => {})),
        );
        await Promise.all(
          Array.from(
            { length: 4 },
            (_, n) =>
              api.startJob(udf(LOGGING, { name: "logging" }), { transport, parameters: { n } }),
          ),
        );
      });
      // Then a worker beside it, running those jobs (claims, log lines, results, heartbeats).
      const both = await peakConnections(database, async () => {
        const worker = await startWorker({
          databaseUrl,
          storageUrl,
          dataDir: `${dataDir}/worker`,
          quiet: true,
        });
        try {
          for (const job of await api.getJobs({ transport })) {
            const done = await api.jobWaitForJob(job.id, {
              transport,
              pollIntervalSeconds: 0.05,
              timeout: 120,
            });
            assert.equal(done.job_status, "Done");
          }
        } finally {
          await worker.close();
        }
      });
      const perWorker = both - service;
      const total = 10 * service + 50 * perWorker;
      console.log(
        `connections: service ${service}, worker ${perWorker}; 10 services + 50 workers: ${total}`,
      );
      assert.ok(service <= 7, `a service holds ${service} connections`);
      assert.ok(perWorker <= 4, `a worker holds ${perWorker} connections`);
      assert.ok(total < 300, `10 services and 50 workers would hold ${total}`);
    } finally {
      await server.close();
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
