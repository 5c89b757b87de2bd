/**
 * `fused.load` and `fused.run` of saved UDFs by name from inside a UDF, as the public catalog
 * composes them (a runner UDF that loads a worker UDF by name), on every engine: the service
 * (a share token called anonymously), this machine's local engine logged in to a service,
 * `fused.submit`, a batch job on the in-process job runner, and a batch job on a `fused worker`.
 * Each acts as the run's caller: what that user may see is found, another user's private UDF is
 * refused with the same words as a missing one, a share token runs as its UDF's owner.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as fused from "../mod.ts";
import * as api from "../client/api/mod.ts";
import { Transport } from "../client/api/transport.ts";
import { type RunningServer, startServer } from "../server/mod.ts";
import { withServiceAndWorker } from "./_service_with_worker.ts";

/** The worker UDF the others compose. */
const WORKER = `export default function udf({ n = 1 }: { n?: number }) {
  return n * 10;
}`;

/** Bob's private UDF: it tells whose data folder it runs with. */
const SECRET = `import * as fused from "fused";
export default function udf({ n = 1 }: { n?: number }) {
  return { secret: 42 * n, data: fused.filePath("x.txt") };
}`;

/** Loads (mode "load") or runs (mode "run") the UDF `ref` and answers what happened. */
const CALLER = `import * as fused from "fused";
export default async function udf({ ref = "worker", mode = "run", n = 1 }) {
  try {
    if (mode === "load") {
      const loaded = await fused.load(ref);
      return { name: loaded.name, value: await fused.run(loaded, { n, cache: false }) };
    }
    return { value: await fused.run(ref, { n, cache: false }) };
  } catch (error) {
    return { refused: (error as Error).message };
  }
}`;

const RECURSE = `import * as fused from "fused";
export default async function udf({ n = 1 }: { n?: number }) {
  return await fused.run("recurse", { n, cache: false });
}`;

/** A batch job's UDF: loads and runs saved UDFs by name, and tries one it may not see. */
function batchUdf(shared?: string): string {
  return `import * as fused from "fused";
async function attempt(work: () => Promise<unknown>) {
  try {
    return await work();
  } catch (error) {
    return { refused: (error as Error).message };
  }
}
export default async function udf() {
  return {
    loaded: (await fused.load("worker")).name,
    byName: await fused.run("alice/worker", { n: 6, cache: false }),
    private: await attempt(() => fused.load("bob/secret")),
    token: ${shared ? `await attempt(() => fused.run("${shared}", { cache: false }))` : "null"},
  };
}`;
}

interface User {
  id: string;
  token: string;
  transport: Transport;
}

/** The service's users and UDFs of these tests: alice (caller, worker) and bob (secret, open). */
interface World {
  alice: User;
  bob: User;
  /** Share token of alice's caller UDF. */
  callerToken: string;
  /** Share token of bob's private secret UDF. */
  secretToken: string;
}

async function call(server: RunningServer, token: string, path: string, body?: unknown) {
  const response = await fetch(`${server.baseUrl}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  assert.ok(response.ok, `${path}: ${response.status} ${text}`);
  return JSON.parse(text);
}

async function newUser(server: RunningServer, handle: string): Promise<User> {
  const user = await call(server, server.adminToken, "/admin/users", {
    email: `${handle}@example.com`,
    handle,
  });
  const issued = await call(server, server.adminToken, "/admin/tokens", { user_id: user.id });
  const token = issued.access_token;
  return { id: user.id, token, transport: new Transport({ baseUrl: server.baseUrl, token }) };
}

async function save(
  server: RunningServer,
  user: User,
  slug: string,
  code: string,
  allowPublicRead = false,
): Promise<void> {
  await call(server, user.token, "/udf/new", {
    slug,
    udf_body: JSON.stringify({ name: slug, code, entrypoint: "default" }),
    allow_public_read: allowPublicRead,
  });
}

async function share(server: RunningServer, user: User, slug: string): Promise<string> {
  return (await call(server, user.token, "/udf-access-token/new", { udf_slug: slug })).token;
}

async function populate(server: RunningServer): Promise<World> {
  const alice = await newUser(server, "alice");
  const bob = await newUser(server, "bob");
  await save(server, alice, "worker", WORKER);
  await save(server, alice, "caller", CALLER);
  await save(server, alice, "recurse", RECURSE);
  await save(server, bob, "secret", SECRET);
  await save(server, bob, "open", WORKER, true);
  return {
    alice,
    bob,
    callerToken: await share(server, alice, "caller"),
    secretToken: await share(server, bob, "secret"),
  };
}

/** Runs alice's caller UDF through its share token, with no credential at all. */
async function anonymously(server: RunningServer, token: string, query: Record<string, string>) {
  const search = new URLSearchParams({ ...query, cache_max_age: "0" });
  const response = await fetch(`${server.url}/${token}.json?${search}`);
  const text = await response.text();
  assert.equal(response.status, 200, text);
  return JSON.parse(text);
}

const WAIT = { pollIntervalSeconds: 0.05, timeout: 90 };

const root = await Deno.makeTempDir({ prefix: "udf_load_inside_test_" });
const engine = new fused.LocalEngine({ dataDir: join(root, "engine"), maxWorkers: 4 });

Deno.test({
  name: "UDFs load and run saved UDFs by name as their caller",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const server = await startServer({
      port: 0,
      dataDir: join(root, "server"),
      engine,
      quiet: true,
      runTimeoutMs: 60_000,
      jobs: { pollMs: 50 },
    });
    fused.options.update({
      dataDirectory: join(root, "data"),
      cacheDirectory: join(root, "cache"),
      baseUrl: server.baseUrl,
      verboseUdfRuns: false,
    });
    const udfCode = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      () => new Response(WORKER),
    );
    const world = await populate(server);
    const { alice, bob, callerToken, secretToken } = world;
    try {
      await t.step(
        "a shared UDF called anonymously loads and runs another saved UDF by name",
        async () => {
          const loaded = await anonymously(server, callerToken, { mode: "load", n: "3" });
          assert.deepEqual(loaded, { name: "worker", value: 30 });
          const ran = await anonymously(server, callerToken, { ref: "alice/worker", n: "4" });
          assert.deepEqual(ran, { value: 40 });
          const open = await anonymously(server, callerToken, { ref: "bob/open", mode: "load" });
          assert.deepEqual(open, { name: "open", value: 10 });
        },
      );

      await t.step(
        "another user's private UDF is refused with the same words as a missing one",
        async () => {
          for (const mode of ["load", "run"]) {
            const secret = await anonymously(server, callerToken, { ref: "bob/secret", mode });
            const missing = await anonymously(server, callerToken, { ref: "bob/nothing", mode });
            assert.match(secret.refused, /No UDF "secret" of bob that the caller may read/);
            assert.equal(secret.refused.replace("secret", "nothing"), missing.refused);
          }
          const own = await anonymously(server, callerToken, { ref: "nothing" });
          assert.match(own.refused, /The caller has no saved UDF "nothing": save it first/);
        },
      );

      await t.step("a share token runs as its UDF's owner, whose code stays theirs", async () => {
        const ran = await anonymously(server, callerToken, { ref: secretToken });
        assert.equal(ran.value.secret, 42);
        assert.ok(ran.value.data.includes(join("users", bob.id, "data")), ran.value.data);
        const loaded = await anonymously(server, callerToken, { ref: secretToken, mode: "load" });
        assert.match(loaded.refused, /only its owner can read its code; run it with fused\.run/);
      });

      await t.step("runs by name stop at options.maxRecursionFactor", async () => {
        const deep = await anonymously(server, callerToken, { ref: "recurse" });
        assert.match(
          deep.refused,
          /levels deep, over the limit of 5 \(options\.maxRecursionFactor\)/,
        );
      });

      await t.step(
        "on the local engine a UDF loads by name from the service this machine is logged in to",
        async () => {
          Deno.env.set("FUSED_AUTH_TOKEN", alice.token);
          const caller = fused.udf(CALLER, { name: "local_caller" });
          const run = async (parameters: Record<string, unknown>) =>
            (await engine.run({ udf: caller, parameters })).value as Record<string, unknown>;
          assert.deepEqual(await run({ mode: "load", n: 5 }), { name: "worker", value: 50 });
          assert.deepEqual(await run({ ref: "alice/worker", n: 2 }), { value: 20 });
          const refused = await run({ ref: "bob/secret", mode: "load" });
          assert.match(String(refused.refused), /not shared with you/);
          // A token runs on the service, as its UDF's owner.
          const token = await run({ ref: secretToken }) as { value: { data: string } };
          assert.ok(token.value.data.includes(join("users", bob.id)), token.value.data);
        },
      );

      await t.step("fused.submit runs a UDF that runs another by name", async () => {
        const caller = fused.udf(CALLER, { name: "submitted_caller" });
        const table = await fused.submit(caller, [{ n: 1 }, { n: 2 }], {
          engine: "local",
          cache: false,
        }) as { toArray(): { toJSON(): Record<string, unknown> }[] };
        const rows = table.toArray().map((row) => JSON.stringify(row.toJSON()));
        assert.equal(rows.length, 2);
        assert.ok(
          rows.some((r) => r.includes("10")) && rows.some((r) => r.includes("20")),
          rows.join(),
        );
      });

      await t.step("a URL loads through the host only when the run allows its host", async () => {
        const url = `http://127.0.0.1:${udfCode.addr.port}/hello.ts`;
        const caller = fused.udf(CALLER, { name: "url_caller" });
        const denied = await engine.run({ udf: caller, parameters: { ref: url, mode: "load" } });
        assert.match(
          String((denied.value as { refused: string }).refused),
          /loopback.*allowNet: \["127\.0\.0\.1:\d+"\]/,
        );
        const allowed = await engine.run({
          udf: caller,
          parameters: { ref: url, mode: "load", n: 7 },
          allowNet: [`127.0.0.1:${udfCode.addr.port}`],
        });
        assert.deepEqual(allowed.value, { name: "hello", value: 70 });
      });

      await t.step("a batch job on the in-process job runner finds UDFs as its owner", async () => {
        const job = await api.startJob(fused.udf(batchUdf(secretToken), { name: "batch" }), {
          transport: alice.transport,
        });
        const done = await api.jobWaitForJob(job, { transport: alice.transport, ...WAIT });
        const logs = (await api.jobGetLogs(job, { transport: alice.transport }))
          .map((l) => l.message).join("\n");
        assert.equal(done.state, "succeeded", logs);
        const [result] = await api.jobGetResults(job, { transport: alice.transport }) as {
          loaded: string;
          byName: number;
          private: { refused: string };
          token: { secret: number; data: string };
        }[];
        assert.equal(result.loaded, "worker");
        assert.equal(result.byName, 60);
        assert.match(result.private.refused, /No UDF "secret" of bob that the caller may read/);
        assert.equal(result.token.secret, 42);
        assert.ok(result.token.data.includes(join("users", bob.id)), result.token.data);
      });
    } finally {
      Deno.env.delete("FUSED_AUTH_TOKEN");
      await server.close();
      await udfCode.shutdown();
      fused.options.reset();
    }
  },
});

Deno.test({
  name: "a batch job on a fused worker finds saved UDFs as its owner",
  // pg-boss keeps timers and pooled connections for the life of its instance.
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withServiceAndWorker("load_inside", join(root, "scale"), engine, async (server) => {
      const { alice } = await populate(server);
      const job = await api.startJob(fused.udf(batchUdf(), { name: "batch" }), {
        transport: alice.transport,
      });
      const done = await api.jobWaitForJob(job, { transport: alice.transport, ...WAIT });
      const logs = (await api.jobGetLogs(job, { transport: alice.transport }))
        .map((l) => l.message).join("\n");
      assert.equal(done.state, "succeeded", logs);
      assert.match(logs, /Job started on worker/);
      const [result] = await api.jobGetResults(job, { transport: alice.transport }) as {
        loaded: string;
        byName: number;
        private: { refused: string };
      }[];
      assert.equal(result.loaded, "worker");
      assert.equal(result.byName, 60);
      assert.match(result.private.refused, /No UDF "secret" of bob that the caller may read/);
    });
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
