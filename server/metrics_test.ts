/**
 * Prometheus metrics of a service and a worker on one PostgreSQL database and one S3 bucket,
 * read as a scraper reads them and parsed strictly as the text exposition format.
 */
import assert from "node:assert/strict";
import * as api from "../client/api/mod.ts";
import { Transport } from "../client/api/transport.ts";
import { udf } from "../client/udf.ts";
import { createDatabase } from "../tests/_postgres.ts";
import { createBucket, useS3Env } from "../tests/_s3.ts";
import { parsePrometheus, type Sample } from "../tests/_prometheus.ts";
import { parseListenAddress, routeKind } from "./metrics.ts";
import { DEFAULT_POOLS } from "./ops_flags.ts";
import { startServer } from "./serve.ts";
import { startWorker } from "./worker.ts";

function value(
  samples: Sample[],
  name: string,
  labels: Record<string, string>,
): number | undefined {
  return samples.find((s) =>
    s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)
  )?.value;
}

async function scrape(url: string): Promise<{ text: string; samples: Sample[] }> {
  const res = await fetch(url);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  return { text, samples: parsePrometheus(text) };
}

Deno.test("the strict parser refuses what is not the text format", () => {
  const ok = "# TYPE a counter\na 1\n";
  assert.deepEqual(parsePrometheus(ok), [{ name: "a", labels: {}, value: 1 }]);
  for (
    const bad of [
      "a 1\n", // no TYPE
      "# TYPE a counter\na{b=1} 1\n", // unquoted label
      "# TYPE a counter\na one\n", // not a number
      "# TYPE a gauge\n# TYPE a gauge\na 1\n", // two TYPEs
      '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\n',
      "# TYPE a counter\na 1", // no final newline
    ]
  ) {
    assert.throws(() => parsePrometheus(bad), assert.AssertionError, bad);
  }
});

Deno.test("a route's kind comes from a fixed list, whatever token its path holds", () => {
  assert.equal(routeKind("/v1/realtime-shared/fsh_0123abcd/run/file"), "run");
  assert.equal(routeKind("/v1/udf/saved/run/start"), "run");
  assert.equal(routeKind("/v1/run"), "jobs");
  assert.equal(routeKind("/v1/run/by-id/42/cancel"), "jobs");
  assert.equal(routeKind("/v1/logs/42"), "jobs");
  assert.equal(routeKind("/v1/files/list"), "files");
  assert.equal(routeKind("/v1/user/self"), "other");
});

Deno.test("a metrics address is HOST:PORT or PORT, and a bad one names the form", () => {
  assert.deepEqual(parseListenAddress("9464"), { hostname: "127.0.0.1", port: 9464 });
  assert.deepEqual(parseListenAddress("10.0.0.5:9464"), { hostname: "10.0.0.5", port: 9464 });
  assert.deepEqual(parseListenAddress("[::1]:0"), { hostname: "::1", port: 0 });
  assert.match(String(parseListenAddress("host:99999")), /^Invalid --metrics-listen "host:99999"/);
});

Deno.test({
  name: "a service and a worker serve parseable Prometheus metrics on addresses of their own",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await useS3Env();
    const databaseUrl = await createDatabase("metrics");
    const storageUrl = `s3://${await createBucket("metrics")}/fused`;
    const dataDir = await Deno.makeTempDir();
    const metricsListen = { hostname: "127.0.0.1", port: 0 };
    const server = await startServer({
      port: 0,
      dataDir,
      quiet: true,
      databaseUrl,
      storageUrl,
      metricsListen,
    });
    const worker = await startWorker({
      databaseUrl,
      storageUrl,
      dataDir: `${dataDir}/worker`,
      quiet: true,
      metricsListen,
    });
    try {
      const transport = new Transport({ baseUrl: server.baseUrl, token: server.adminToken });
      const saved = await api.toFused(
        udf(`export default function udf() { return "hi" }`, { name: "hi" }),
        { transport },
      );
      const { token } = await api.createUdfAccessToken(saved.id, undefined, { transport });
      const cached: string[] = [];
      for (let i = 0; i < 2; i++) {
        const res = await fetch(`${server.baseUrl}/realtime-shared/${token}/run/file?format=json`);
        assert.equal(res.status, 200, await res.clone().text());
        cached.push(res.headers.get("x-fused-cached") ?? "false");
        await res.body?.cancel();
      }
      assert.deepEqual(cached, ["false", "true"]);
      const job = await api.startJob(udf(`export default function udf() { return 1 }`), {
        transport,
      });
      const done = await api.jobWaitForJob(job, {
        transport,
        pollIntervalSeconds: 0.05,
        timeout: 60,
      });
      assert.equal(done.job_status, "Done");

      const service = await scrape(server.metricsUrl!);
      const requests = "fused_http_request_duration_seconds_count";
      assert.equal(value(service.samples, requests, { route: "run", status: "2xx" }), 2);
      assert.equal(value(service.samples, "fused_run_cache_hits_total", { role: "service" }), 1);
      assert.equal(value(service.samples, "fused_jobs", { state: "succeeded" }), 1);
      assert.equal(
        value(service.samples, "fused_queue_jobs", { instance_type: "small", state: "queued" }),
        0,
      );
      assert.equal(
        value(service.samples, "fused_db_pool_max_connections", { pool: "registry" }),
        DEFAULT_POOLS.service.registry,
      );
      // Nothing of a user's: no token, no UDF name, no job id, no e-mail.
      for (const secret of [token, saved.id, job.job_id, server.adminToken, "@"]) {
        assert.ok(!service.text.includes(secret), `the metrics hold ${secret}`);
      }

      const work = await scrape(worker.metricsUrl!);
      assert.equal(
        value(work.samples, "fused_worker_job_duration_seconds_count", {
          instance_type: "small",
          outcome: "succeeded",
        }),
        1,
      );
      assert.equal(value(work.samples, "fused_worker_jobs_running", { role: "worker" }), 0);
      assert.equal(
        value(work.samples, "fused_db_pool_max_connections", { pool: "queue" }),
        DEFAULT_POOLS.worker.queue,
      );

      // Not on the API's port, and nothing else on the metrics one.
      const onApi = await fetch(`${server.url}/metrics`);
      await onApi.body?.cancel();
      assert.notEqual(onApi.status, 200);
      const other = await fetch(server.metricsUrl!.replace("/metrics", "/v1/user/self"));
      assert.equal(other.status, 404);
      await other.body?.cancel();
    } finally {
      await worker.close();
      await server.close();
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
