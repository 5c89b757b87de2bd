/**
 * The README's Python → TypeScript table stays true: every row marked "done" has an example here
 * that calls what the row names, as a user would (on a service started on 127.0.0.1 for the
 * rows that need one), and every example belongs to a row still marked "done". A row that stops
 * working fails its step; a row newly marked "done" without an example fails the first step.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as fused from "../mod.ts";
import { startServer } from "../server/mod.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** An Arrow table, as `fused.submit` collects one. */
type Table = Awaited<ReturnType<fused.JobPool["collect"]>>;

/** The table's rows: the Python cell, and the status cell. */
async function tableRows(): Promise<{ python: string; status: string }[]> {
  const readme = await Deno.readTextFile(join(ROOT, "README.md"));
  const section = readme.split("## Python names and their TypeScript names")[1]?.split("\n## ")[0];
  assert.ok(section, "the README has the Python names section");
  return section.split("\n")
    .filter((line) => line.startsWith("| ") && !line.startsWith("| Python") && !/^\| -/.test(line))
    .map((line) => {
      const cells = line.slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim());
      return { python: cells[0], status: cells[cells.length - 1] };
    });
}

/** What the examples share: a UDF saved on the service, its share token, scratch folders. */
interface Context {
  dir: string;
  server: { url: string; baseUrl: string; adminToken: string };
  double: fused.Udf;
}

const DOUBLE = `export default function udf({ n = 1, bounds }: { n?: number; bounds?: number[] }) {
  console.log("doubling", n);
  return { n, doubled: n * 2, tile: bounds !== undefined };
}`;
const WAIT = { pollIntervalSeconds: 0.05, timeout: 60 };

/** One example per "done" row, keyed by a piece of the row's Python cell. */
const EXAMPLES: Record<string, (ctx: Context) => Promise<void>> = {
  "`@fused.udf(": async ({ dir }) => {
    const u = fused.udf(`export default ({ n = 1 }: { n?: number }) => n + 1`, {
      name: "plus_one",
      cacheMaxAge: "1h",
      instanceType: "small",
      defaultParameters: { n: 41 },
      metadata: { "fused:description": "adds one" },
    });
    assert.deepEqual([u.name, u.cacheMaxAge, u.instanceType], ["plus_one", 3600, "small"]);
    assert.equal(await fused.run(u, { engine: "local", instanceType: "realtime" }), 42);
    await Deno.writeTextFile(join(dir, "helpers.ts"), "export const k = 10;\n");
    const withHeader = fused.udf(
      `import { k } from "helpers";\nexport default ({ n = 1 }: { n?: number }) => n * k;`,
      { name: "times_k", headers: [join(dir, "helpers.ts")] },
    );
    assert.equal(await fused.run(withHeader, { engine: "local", n: 4, cache: false }), 40);
  },
  "`fused.load(": async () => {
    const countries = await fused.load(join(ROOT, "examples", "countries.ts"));
    assert.equal(countries.name, "countries");
    const fromCode = await fused.load(
      `export default function udf() {\n  return "from code";\n}\n`,
    );
    assert.equal(await fused.run(fromCode), "from code");
    assert.equal(await fused.run(await fused.load("export default () => 3")), 3);
    const folder = join(await Deno.makeTempDir(), "plus");
    await fromCode.toDirectory(folder);
    assert.equal((await fused.load(join(folder, "meta.json"))).code, fromCode.code);
  },
  "`fused.run(udf": async ({ double }) => {
    assert.deepEqual(await fused.run(double, { n: 4 }), { n: 4, doubled: 8, tile: false });
    const tile = await fused.run(double, { x: 1, y: 1, z: 2, type: "tile" }) as { tile: boolean };
    assert.equal(tile.tile, true);
    assert.deepEqual(await fused.run(double.job({ n: 5 }), { sync: false }), {
      n: 5,
      doubled: 10,
      tile: false,
    });
  },
  "_return_response=True": async ({ double }) => {
    const response = await fused.runDetailed(double, { n: 6, cache: false });
    assert.deepEqual(response.data, { n: 6, doubled: 12, tile: false });
    assert.match(response.logs.stdout, /doubling 6/);
    assert.equal(response.cached, false);
    assert.ok(response.timeTakenMs >= 0);
  },
  "`fused.submit(udf, arg_list": async ({ double }) => {
    function* ns(): Generator<number> {
      yield* [1, 2];
    }
    const table = await fused.submit(double, ns(), { engine: "local", cache: false }) as Table;
    assert.deepEqual(table.toArray().map((r) => r.result.doubled), [2, 4]);
    const nested = await fused.submit(double.job({ n: 5 }), [{}], {
      engine: "local",
      flatten: false,
      cache: false,
    }) as Table;
    assert.equal(nested.get(0)!.result.doubled, 10);
  },
  "`JobPool.cancel/retry": async ({ double }) => {
    const pool = await fused.submit(double, [1, 2, 3], { collect: false, engine: "local" });
    await pool.wait();
    assert.ok(pool.done() && pool.allSucceeded() && pool.anySucceeded() && !pool.anyFailed());
    assert.equal(pool.status().success, 3);
    assert.deepEqual((await pool.results()).map((r) => (r as { doubled: number }).doubled), [
      2,
      4,
      6,
    ]);
    assert.equal(pool.argDf().numRows, 3);
    assert.equal(pool.df().numRows, 3);
    assert.deepEqual(pool.getStatusDf().getChild("status")!.toJSON(), Array(3).fill("success"));
    assert.equal(pool.getResultsDf().get(0)!.result.doubled, 2);
    assert.equal(pool.firstError(), undefined);
    assert.match(pool.firstLog() ?? "", /doubling 1/);
    assert.equal(pool.success().size, 3);
    assert.equal(pool.pending().size + pool.running().size + pool.cancelled().size, 0);
    assert.equal(pool.times().length, 3);
    assert.ok(pool.totalTime() >= 0);
    assert.equal((await pool.collect()).numRows, 3);
  },
  "JobPool progress in notebooks": async ({ double }) => {
    const { renderPoolHtml } = await import("../display/job_pool_widget.ts");
    const pool = await fused.submit(double, [7, 8], { collect: false, engine: "local" });
    await pool.wait();
    assert.match(renderPoolHtml(pool.progress()), /2\/2/);
  },
  "`fused.__version__`": () => {
    assert.match(fused.version, /^\d+\.\d+\.\d+/);
    return Promise.resolve();
  },
  "`fused.options.*`": async ({ dir }) => {
    const { FusedOptions } = await import("../client/options.ts");
    const options = new FusedOptions({ home: join(dir, "options-home"), env: {} });
    options.requestTimeout = [3, 27];
    options.maxWorkers = 4;
    const path = await options.save();
    const again = new FusedOptions({ home: join(dir, "options-home"), env: {} });
    assert.deepEqual([again.requestTimeout, again.maxWorkers], [[3, 27], 4]);
    assert.match(await Deno.readTextFile(path), /max_workers = 4/);
    assert.throws(
      () => ((options as unknown as Record<string, unknown>).noLogin = true),
      fused.NotSupportedError,
    );
    const fromEnv = new FusedOptions({ home: null, env: { FUSED_RUN_TIMEOUT: "300" } });
    assert.equal(fromEnv.runTimeout, 300);
  },
  "`Udf.to_fused": async ({ double }) => {
    const copy = fused.udf(DOUBLE, { name: "double_copy" });
    await copy.toFused({ overwrite: true });
    const token = await copy.createAccessToken();
    assert.ok((await copy.getAccessTokens()).some((t) => t.token === token.token));
    assert.match(copy.catalogUrl ?? "", /double_copy/);
    await fused.run(copy, { n: 1 });
    assert.ok(await copy.deleteCache() >= 1);
    await copy.deleteSaved();
    assert.ok(!("double_copy" in await fused.api.getUdfs()));
    assert.ok(double.catalogUrl, "the shared UDF is still saved");
  },
  "`fused.api.login": async ({ server }) => {
    assert.equal((await fused.api.whoami()).email, "admin@localhost");
    assert.equal(await fused.api.accessToken(), server.adminToken);
    assert.equal(await fused.api.logout(), true);
    await assert.rejects(fused.api.accessToken(), /Not logged in/);
    await fused.api.login({ token: server.adminToken, baseUrl: server.baseUrl });
  },
  "`fused.api.list": async ({ dir }) => {
    const local = join(dir, "hello.txt");
    await Deno.writeTextFile(local, "hello");
    await fused.api.upload(local, "fd://readme/hello.txt");
    assert.deepEqual(await fused.api.list("fd://readme/"), ["fd://readme/hello.txt"]);
    assert.equal(new TextDecoder().decode(await fused.api.get("fd://readme/hello.txt")), "hello");
    const copy = await fused.api.download("fd://readme/hello.txt", join(dir, "copy.txt"));
    assert.equal(await Deno.readTextFile(copy), "hello");
    const signed = await fused.api.signUrl("fd://readme/hello.txt", { expiration: 60 });
    assert.equal(await (await fetch(signed)).text(), "hello");
    const prefix = await fused.api.signUrlPrefix("fd://readme/");
    assert.deepEqual(Object.keys(prefix), ["fd://readme/hello.txt"]);
    await fused.api.delete("fd://readme/hello.txt");
    assert.deepEqual(await fused.api.list("fd://readme/"), []);
  },
  "`fused.api.get_udfs`": async () => {
    assert.equal((await fused.api.getUdfs()).double?.name, "double");
  },
  "`fused.core.run_tile": async ({ double }) => {
    const [token] = await double.getAccessTokens();
    const file = await fused.core.runSharedFile(token.token, { parameters: { n: 2 } });
    assert.deepEqual(file, { n: 2, doubled: 4, tile: false });
    const tile = await fused.core.runSharedTile(token.token, { x: 0, y: 0, z: 0 }) as {
      tile: boolean;
    };
    assert.equal(tile.tile, true);
    const saved = await fused.core.runFile("admin@localhost", "double", { parameters: { n: 3 } });
    assert.deepEqual(saved, { n: 3, doubled: 6, tile: false });
  },
  "`fused.api.job_get_logs": async ({ double }) => {
    const job = await double.job({ n: 9 }).runBatch({ instanceType: "small" });
    const done = await fused.api.jobWaitForJob(job, WAIT);
    assert.ok(done instanceof fused.api.BatchJob && done.finished);
    assert.equal((await fused.api.jobGetStatus(job)).job_status, "Done");
    assert.ok((await fused.api.jobGetLogs(job)).some((l) => /doubling 9/.test(l.message)));
    const printed: string[] = [];
    await fused.api.jobPrintLogs(job, { write: (line) => printed.push(line) });
    assert.ok(printed.some((l) => /doubling 9/.test(l)));
    await fused.api.jobTailLogs(job, { write: () => {}, timeout: 10 });
    assert.equal(typeof await fused.api.jobGetExecTime(job), "number");
    assert.ok((await fused.api.jobCancel(job)) instanceof fused.api.BatchJob);
  },
  "`FusedAPI.start_job": async ({ double }) => {
    const api = new fused.api.FusedAPI();
    const job = await api.startJob(double.job({ n: 10 }).toJobConfig(), {
      instanceType: "small",
    });
    const done = await api.waitForJob(job, WAIT);
    assert.equal(done.job_status, "Done");
    assert.ok((await api.getJobs()).some((j) => j.id === job.job_id));
    assert.equal((await api.getStatus(job)).job_status, "Done");
    assert.ok((await api.getLogs(job)).length > 0);
    await api.tailLogs(job, { write: () => {}, timeout: 10 });
    assert.equal((await api.cancelJob(job)).job_status, "Done");
  },
  "`udf(arg_list).run_batch(instance_type)`": async ({ double }) => {
    const job = await double.job({ n: 11 }).runBatch({ instanceType: "small" });
    assert.ok(job instanceof fused.api.BatchJob);
    await job.waitForJob(WAIT);
    assert.deepEqual(await job.getResult(), { n: 11, doubled: 22, tile: false });
  },
  "`fused.ingest_nongeospatial(": async ({ dir }) => {
    const { tableFromArrays } = await import("apache-arrow");
    const table = tableFromArrays({ id: Int32Array.from({ length: 10 }, (_, i) => i) });
    const result = await fused.ingestNongeospatial(table, {
      output: join(dir, "ids"),
      partitionCol: "id",
      partitioningMaximumPerFile: 5,
    });
    assert.deepEqual([result.rows, result.files], [10, 2]);
  },
  "`%%udf NAME`": async () => {
    const { getMagic } = await import("../magics/mod.ts");
    const { testContext } = await import("../magics/_test_context.ts");
    const ctx = testContext();
    const value = await getMagic("cell", "udf")!.run(
      "triple --run n=3",
      "export default function udf({ n = 1 }: { n?: number }) {\n  return n * 3;\n}\n",
      ctx,
    );
    assert.equal(value, 9);
    assert.equal((ctx.scope.triple as fused.Udf).name, "triple");
  },
};

Deno.test({
  name: "every row the README marks done runs its documented example",
  // Batch jobs run in child processes the service keeps track of; it stops them on close.
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const rows = await tableRows();
    const done = rows.filter((r) => r.status.startsWith("done"));
    await t.step("each done row has exactly one example, and each example a done row", () => {
      for (const row of done) {
        const keys = Object.keys(EXAMPLES).filter((k) => row.python.includes(k));
        assert.equal(keys.length, 1, `examples for the done row ${row.python}: ${keys}`);
      }
      for (const key of Object.keys(EXAMPLES)) {
        assert.ok(
          done.some((r) => r.python.includes(key)),
          `the example "${key}" belongs to no row marked done`,
        );
      }
    });
    const dir = await Deno.makeTempDir({ prefix: "fused-readme-table-" });
    const before = { home: Deno.env.get("FUSED_HOME"), cache: fused.options.cacheDirectory };
    Deno.env.set("FUSED_HOME", join(dir, "fused-home"));
    fused.options.cacheDirectory = join(dir, "cache");
    const server = await startServer({ dataDir: join(dir, "server"), port: 0, quiet: true });
    try {
      await fused.api.login({ token: server.adminToken, baseUrl: server.baseUrl });
      const double = fused.udf(DOUBLE, { name: "double" });
      await double.toFused({ overwrite: true });
      await double.createAccessToken();
      const ctx: Context = { dir, server, double };
      for (const row of done) {
        const key = Object.keys(EXAMPLES).find((k) => row.python.includes(k))!;
        await t.step(
          `${row.python.replaceAll("`", "").slice(0, 90)} works`,
          () => EXAMPLES[key](ctx),
        );
      }
    } finally {
      await fused.api.logout().catch(() => {});
      await server.close();
      fused.options.reset();
      fused.options.cacheDirectory = before.cache;
      if (before.home === undefined) Deno.env.delete("FUSED_HOME");
      else Deno.env.set("FUSED_HOME", before.home);
      await Deno.remove(dir, { recursive: true });
    }
  },
});
