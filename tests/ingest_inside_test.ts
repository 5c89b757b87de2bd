/**
 * Ingest and fd:// tables wherever the SDK runs: a script's `fused.ingest` to fd:// lands on the
 * service it is logged in to (not in a folder of this machine); a UDF on the service and a UDF
 * on the local engine ingest into fd:// through their host, as their caller; `.runBatch()` runs
 * the ingest as a batch job on the service's job runner; and a service on S3 storage gets the
 * table in its bucket. Each time the table is read back through the service's file API and with
 * `getChunksMetadata` / `getChunkFromTable`.
 */
import assert from "node:assert/strict";
import { homedir } from "node:os";
import { join } from "node:path";
import * as fused from "../mod.ts";
import { embeddedServerDir } from "../client/file_path.ts";
import { startServer } from "../server/mod.ts";
import { createBucket, s3Env } from "./_s3.ts";

const AIRPORTS = new URL("../node_modules/vega-datasets/data/airports.csv", import.meta.url);
const QUAKES = new URL("../node_modules/vega-datasets/data/earthquakes.json", import.meta.url);
const QUAKE_COUNT = JSON.parse(await Deno.readTextFile(QUAKES)).features.length;

const root = await Deno.makeTempDir({ prefix: "ingest_inside_test_" });
// An http(s) input, which a UDF's host downloads for it (its own process has no network).
const files = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async () => {
  return new Response(await Deno.readFile(AIRPORTS), { headers: { "content-type": "text/csv" } });
});
const airportsUrl = `http://127.0.0.1:${files.addr.port}/airports.csv`;
const bucket = `ingest-inside-${crypto.randomUUID().slice(0, 8)}`;
const engine = new fused.LocalEngine({ dataDir: join(root, "engine"), maxWorkers: 2 });
const server = await startServer({
  port: 0,
  dataDir: join(root, "server"),
  engine,
  quiet: true,
  runTimeoutMs: 120_000,
});
fused.options.update({
  dataDirectory: join(root, "data"),
  cacheDirectory: join(root, "cache"),
  tempDirectory: join(root, "temp"),
  baseUrl: server.baseUrl,
  verboseUdfRuns: false,
});
Deno.env.set("FUSED_AUTH_TOKEN", server.adminToken);

function api(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${server.baseUrl}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${server.adminToken}`, ...init.headers },
  });
}

async function listed(url: string): Promise<string[]> {
  const res = await api(`/files/list?path=${encodeURIComponent(url)}`);
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json() as string[]).sort();
}

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

/** Staging folders that are left: none once every ingest has finished. */
async function staged(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(join(dir, ".fused-ingest"))) names.push(e.name);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return names;
}

/** The service lists the table, and its chunk index and chunks read back through the API. */
async function assertTable(
  url: string,
  result: { chunks: number; rows: number; files: number },
  list: (folder: string) => Promise<string[]> = listed,
): Promise<void> {
  const names = await list(`${url}/`);
  assert.ok(names.includes(`${url}/_sample`), names.join(", "));
  assert.equal(names.filter((n) => n.endsWith(".parquet")).length, result.files);
  const chunks = await fused.getChunksMetadata(url);
  assert.equal(chunks.numRows, result.chunks);
  const total = chunks.toArray().reduce((s, r) => s + Number(r.toJSON().num_rows), 0);
  assert.equal(total, result.rows);
  const first = await fused.getChunkFromTable(url, 0, 0);
  assert.equal(first.numRows, Number(chunks.get(0)!.toJSON().num_rows));
  assert.equal((await fused.getChunkFromTable(url, null)).numRows, result.rows);
}

const UDF_INGEST = `import * as fused from "fused";
export default async function udf({ input = "", output = "", column = "mag" }) {
  const result = await fused.ingest(input, { output, partitioningMaximumPerChunk: 100 }).run();
  const index = await fused.getChunksMetadata(output);
  const chunk = await fused.getChunkFromTable(output, 0, 0, { columns: [column] });
  return { path: result.path, files: result.files, chunks: result.chunks, rows: result.rows,
    indexRows: index.numRows, chunkColumns: chunk.schema.fields.map((f) => f.name) };
}`;

/** What the ingest UDF returns. */
interface UdfResult {
  path: string;
  files: number;
  chunks: number;
  rows: number;
  indexRows: number;
  chunkColumns: string[];
}

/** Saves the ingest UDF on a service, shares it, and runs it through its token there. */
async function runOnService(
  service: { url: string; baseUrl: string; adminToken: string },
  parameters: Record<string, string>,
): Promise<UdfResult> {
  const call = (path: string, body: unknown) =>
    fetch(`${service.baseUrl}${path}`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${service.adminToken}`,
        "content-type": "application/json",
      },
      body: JSON.stringify(body),
    });
  const slug = `ingest_${crypto.randomUUID().slice(0, 8)}`;
  const udf = { name: slug, code: UDF_INGEST, entrypoint: "default" };
  const saved = await call("/udf/new", { slug, udf_body: JSON.stringify(udf) });
  assert.ok(saved.ok, await saved.text());
  const { token } = await (await call("/udf-access-token/new", { udf_slug: slug })).json();
  const query = new URLSearchParams({ ...parameters, cache_max_age: "0" });
  const res = await fetch(`${service.url}/${token}.json?${query}`);
  const body = await res.text();
  assert.equal(res.status, 200, body);
  return JSON.parse(body);
}

Deno.test({
  name: "ingest and fd:// tables from scripts, UDFs and batch jobs go to the service's store",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    await t.step(
      "a script's ingest to fd:// lands on the logged-in service, not a local folder",
      async () => {
        const url = `fd://${bucket}/script/airports`;
        const result = await fused.ingest(AIRPORTS.pathname, {
          output: url,
          outputMetadata: `fd://${bucket}/script/airports_index`,
          partitioningMaximumPerFile: 1000,
          partitioningMaximumPerChunk: 200,
        }).run();
        assert.equal(result.path, url);
        assert.ok(result.files > 1 && result.chunks > result.files);
        await assertTable(url, result);
        assert.ok(
          await exists(join(root, "server", "files", bucket, "script", "airports", "_sample")),
        );
        assert.deepEqual(await listed(`fd://${bucket}/script/airports_index/`), [
          `fd://${bucket}/script/airports_index/0.parquet`,
        ]);
        for (
          const local of [
            join(homedir(), ".fused", "server", "files"),
            join(embeddedServerDir(), "files"),
          ]
        ) {
          assert.equal(await exists(join(local, bucket)), false, `nothing in ${local}`);
        }
        assert.deepEqual(await staged(join(root, "temp")), []);
        const sample = await fused.download(`${url}/_sample`);
        assert.deepEqual(
          await Deno.readFile(sample),
          await Deno.readFile(
            join(root, "server", "files", bucket, "script", "airports", "_sample"),
          ),
        );
      },
    );

    await t.step(
      "an existing fd:// table is refused unless overwrite, then replaced whole",
      async () => {
        const url = `fd://${bucket}/script/airports`;
        await assert.rejects(
          fused.ingest(AIRPORTS.pathname, { output: url }).run(),
          /already exists and is not empty: pass overwrite: true/,
        );
        const before = await listed(`${url}/`);
        // Awaiting the job runs it here, as before ingest returned a job.
        const again = await fused.ingest(AIRPORTS.pathname, { output: url, overwrite: true });
        assert.notDeepEqual(await listed(`${url}/`), before, "the default layout differs");
        await assertTable(url, again); // every file listed is one of the new table's
      },
    );

    await t.step("a UDF on the service ingests a GeoJSON from fd:// into fd://", async () => {
      await fused.api.upload(QUAKES.pathname, `fd://${bucket}/inputs/earthquakes.geojson`);
      const url = `fd://${bucket}/service/quakes`;
      const value = await runOnService(server, {
        input: `fd://${bucket}/inputs/earthquakes.geojson`,
        output: url,
      });
      assert.equal(value.path, url);
      assert.equal(value.rows, QUAKE_COUNT);
      assert.equal(value.indexRows, value.chunks);
      assert.deepEqual(value.chunkColumns, ["mag"]);
      await assertTable(url, value);
      const me = await (await api("/user/self")).json();
      assert.deepEqual(await staged(join(root, "server", "udf", "users", me.id, "data")), []);
    });

    await t.step(
      "a UDF on the local engine ingests into the logged-in service's fd://",
      async () => {
        const url = `fd://${bucket}/local/quakes`;
        const { value } = await engine.run({
          udf: fused.udf(UDF_INGEST, { name: "ingest_local" }),
          parameters: { input: `fd://${bucket}/inputs/earthquakes.geojson`, output: url },
          timeoutMs: 120_000,
        });
        const result = value as unknown as UdfResult;
        assert.equal(result.path, url);
        assert.equal(result.rows, QUAKE_COUNT);
        await assertTable(url, result);
        // An http(s) input: the host downloads it as the caller may (the run names the host).
        const fromHttp = await engine.run({
          udf: fused.udf(UDF_INGEST, { name: "ingest_local" }),
          parameters: {
            input: airportsUrl,
            output: `fd://${bucket}/local/airports`,
            column: "iata",
          },
          allowNet: [`127.0.0.1:${files.addr.port}`],
          timeoutMs: 120_000,
        });
        const airports = fromHttp.value as unknown as UdfResult;
        assert.deepEqual(airports.chunkColumns, ["iata"]);
        await assertTable(`fd://${bucket}/local/airports`, airports);
        assert.deepEqual(await staged(join(root, "data")), []);
      },
    );

    await t.step(".runBatch() runs the ingest on the service's job runner", async () => {
      await assert.rejects(
        fused.ingest(QUAKES.pathname, { output: `fd://${bucket}/batch/x` }).runBatch(),
        /local path, which the service's workers cannot read; upload it first/,
      );
      const url = `fd://${bucket}/batch/quakes`;
      const job = await fused.ingest(`fd://${bucket}/inputs/earthquakes.geojson`, {
        output: url,
        partitioningMaximumPerChunk: 300,
      }).runBatch();
      const final = await job.waitForJob({ pollIntervalSeconds: 0.5 });
      const logs = (await final.getLogs()).map((l) => l.message).join("\n");
      assert.equal(final.job_status, "Done", logs);
      const result = await final.getResult() as { path: string; rows: number; chunks: number };
      assert.equal(result.path, url);
      assert.equal(result.rows, QUAKE_COUNT);
      await assertTable(
        url,
        result as { path: string; rows: number; chunks: number; files: number },
      );
    });

    await t.step("on a service with S3 storage the table is in the bucket", async () => {
      const env = await s3Env();
      for (const [k, v] of Object.entries(env)) Deno.env.set(k, v);
      const s3Bucket = await createBucket("ingest");
      const s3Service = await startServer({
        port: 0,
        dataDir: join(root, "s3-server"),
        engine,
        quiet: true,
        runTimeoutMs: 120_000,
        storageUrl: `s3://${s3Bucket}/fused`,
      });
      try {
        fused.options.baseUrl = s3Service.baseUrl;
        Deno.env.set("FUSED_AUTH_TOKEN", s3Service.adminToken);
        const url = "fd://tables/airports";
        const result = await fused.ingest(AIRPORTS.pathname, { output: url }).run();
        assert.equal((await fused.getChunksMetadata(url)).numRows, result.chunks);
        assert.equal((await fused.getChunkFromTable(url, null)).numRows, result.rows);
        // A UDF on that service writes its table to the bucket through the service's host.
        await fused.api.upload(QUAKES.pathname, "fd://inputs/earthquakes.geojson");
        const quakes = await runOnService(s3Service, {
          input: "fd://inputs/earthquakes.geojson",
          output: "fd://tables/quakes",
        });
        assert.equal(quakes.rows, QUAKE_COUNT);
        await assertTable("fd://tables/quakes", quakes, (url) => fused.api.list(url));
        const objects = await (await fetch(`${env.AWS_ENDPOINT_URL}/${s3Bucket}?list-type=2`))
          .text();
        assert.match(objects, /<Key>fused\/tables\/airports\/_sample<\/Key>/);
        assert.match(objects, /<Key>fused\/tables\/quakes\/_sample<\/Key>/);
        assert.equal(await exists(join(root, "s3-server", "files", "tables")), false);
      } finally {
        fused.options.baseUrl = server.baseUrl;
        Deno.env.set("FUSED_AUTH_TOKEN", server.adminToken);
        for (const name of Object.keys(env)) Deno.env.delete(name);
        await s3Service.close();
      }
    });

    await t.step("cleanup", async () => {
      Deno.env.delete("FUSED_AUTH_TOKEN");
      await server.close();
      await engine.close();
      await files.shutdown();
      fused.options.reset();
      await Deno.remove(root, { recursive: true });
    });
  },
});
