/**
 * Real UDFs live on npm libraries: one importing h3-js, @turf/turf and proj4 runs on every
 * engine — this machine's local engine, `fused.submit`, the service through a share token called
 * anonymously, a batch job on the in-process job runner, and a batch job on a `fused worker` —
 * with the versions pinned when the service saved it. A service whose operator denies a package
 * refuses to save a UDF importing it, naming the package.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as fused from "../mod.ts";
import * as api from "../client/api/mod.ts";
import { Transport } from "../client/api/transport.ts";
import { NPM_LOCK_METADATA_KEY } from "../client/udf.ts";
import { type RunningServer, startServer } from "../server/mod.ts";
import { withServiceAndWorker } from "./_service_with_worker.ts";

const GEO = `import { latLngToCell } from "npm:h3-js@4.1.0";
import * as turf from "npm:@turf/turf@7";
import proj4 from "npm:proj4@2";
export default function udf({ lat = 37.7749, lng = -122.4194 }: { lat?: number; lng?: number }) {
  const [x, y] = proj4("EPSG:4326", "EPSG:3857", [lng, lat]);
  return {
    cell: latLngToCell(lat, lng, 7),
    km: turf.distance(turf.point([0, 0]), turf.point([1, 0])),
    x: Math.round(x),
    y: Math.round(y),
  };
}`;

interface Geo {
  cell: string;
  km: number;
  x: number;
  y: number;
}

/** What every engine must answer for San Francisco. */
function assertGeo(value: unknown, where: string): void {
  const geo = value as Geo;
  assert.equal(geo.cell, "872830828ffffff", where);
  assert.ok(Math.abs(geo.km - 111.19) < 0.01, `${where}: ${geo.km} km`);
  // Web Mercator of (-122.4194, 37.7749): x = R·λ, y = R·ln(tan(π/4 + φ/2)), R = 6378137.
  assert.equal(geo.x, -13627665, where);
  assert.equal(geo.y, 4547675, where);
}

async function call(server: RunningServer, token: string, path: string, body?: unknown) {
  const response = await fetch(`${server.baseUrl}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

async function saveGeo(server: RunningServer, token: string) {
  return await call(server, token, "/udf/new", {
    slug: "geo",
    udf_body: JSON.stringify({ name: "geo", code: GEO, entrypoint: "default" }),
  });
}

const WAIT = { pollIntervalSeconds: 0.05, timeout: 120 };
const root = await Deno.makeTempDir({ prefix: "udf_npm_test_" });
const engine = new fused.LocalEngine({ dataDir: join(root, "engine"), maxWorkers: 2 });

async function batchResult(transport: Transport, udf: fused.Udf): Promise<[unknown, string]> {
  const job = await api.startJob(udf, { transport });
  const done = await api.jobWaitForJob(job, { transport, ...WAIT });
  const logs = (await api.jobGetLogs(job, { transport })).map((l) => l.message).join("\n");
  assert.equal(done.state, "succeeded", logs);
  const [result] = await api.jobGetResults(job, { transport });
  return [result, logs];
}

Deno.test({
  name: "a UDF importing h3-js, @turf/turf and proj4 runs on every engine with pinned versions",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const server = await startServer({
      port: 0,
      dataDir: join(root, "server"),
      engine,
      quiet: true,
      runTimeoutMs: 120_000,
      jobs: { pollMs: 50 },
    });
    fused.options.update({
      dataDirectory: join(root, "data"),
      cacheDirectory: join(root, "cache"),
      baseUrl: server.baseUrl,
      verboseUdfRuns: false,
    });
    const transport = new Transport({ baseUrl: server.baseUrl, token: server.adminToken });
    try {
      let pinned: fused.Udf | undefined;
      await t.step("saving on the service pins the versions the UDF resolved", async () => {
        const saved = await saveGeo(server, server.adminToken);
        assert.equal(saved.status, 201, JSON.stringify(saved.body));
        pinned = fused.Udf.fromJSON(saved.body.udf_body);
        const lock = JSON.stringify(pinned.metadata?.[NPM_LOCK_METADATA_KEY]);
        for (const name of ["h3-js@4.1.0", "@turf/turf@7", "proj4@2"]) {
          assert.ok(lock?.includes(name), `${name} is not pinned: ${lock}`);
        }
      });

      await t.step("locally", async () => {
        assertGeo(
          (await engine.run({ udf: fused.udf(GEO, { name: "geo_local" }) })).value,
          "local",
        );
      });

      await t.step("through a share token, called anonymously", async () => {
        const { body } = await call(server, server.adminToken, "/udf-access-token/new", {
          udf_slug: "geo",
        });
        const response = await fetch(`${server.url}/${body.token}.json?cache_max_age=0`);
        const text = await response.text();
        assert.equal(response.status, 200, text);
        assertGeo(JSON.parse(text), "share token");
      });

      await t.step("in fused.submit", async () => {
        const pool = await fused.submit(
          fused.udf(GEO, { name: "geo_submit" }),
          [{ lat: 37.7749 }, { lat: 37.7749 }],
          { collect: false, engine: "local", cache: false },
        );
        const results = await pool.results();
        assert.equal(results.length, 2);
        for (const result of results) assertGeo(result, "submit");
      });

      await t.step("as a batch job on the in-process job runner", async () => {
        const [result] = await batchResult(transport, pinned!);
        assertGeo(result, "batch job");
      });
    } finally {
      await server.close();
      fused.options.reset();
    }
  },
});

Deno.test({
  name: "a UDF importing h3-js, @turf/turf and proj4 runs on a fused worker",
  // pg-boss keeps timers and pooled connections for the life of its instance.
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withServiceAndWorker("udf_npm", join(root, "scale"), engine, async (server) => {
      const saved = await saveGeo(server, server.adminToken);
      assert.equal(saved.status, 201, JSON.stringify(saved.body));
      const transport = new Transport({ baseUrl: server.baseUrl, token: server.adminToken });
      const [result, logs] = await batchResult(transport, fused.Udf.fromJSON(saved.body.udf_body));
      assert.match(logs, /Job started on worker/);
      assertGeo(result, "fused worker");
    });
  },
});

Deno.test({
  name: "a service that denies a package refuses to save a UDF importing it, naming it",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const server = await startServer({
      port: 0,
      dataDir: join(root, "deny"),
      engine,
      quiet: true,
      udfPolicy: { npm: { deny: ["h3-js"] } },
    });
    try {
      const saved = await saveGeo(server, server.adminToken);
      assert.equal(saved.status, 400, JSON.stringify(saved.body));
      assert.match(saved.body.detail, /h3-js.*not allowed/);
    } finally {
      await server.close();
    }
  },
});

Deno.test({
  name: "cleanup",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await engine.close();
    await Deno.remove(root, { recursive: true });
  },
});
