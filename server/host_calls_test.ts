/**
 * A UDF's host calls through the service, as an attacker would make them: a saved UDF run by an
 * anonymous caller holding its share token asks its host to download the service's own files,
 * other users' files, system files, a symlink planted in its data folder and the service's own
 * HTTP port. Each is refused with an error naming the rule, nothing reaches the caller's folder,
 * and the service keeps serving.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { UdfEngine } from "../client/engine_types.ts";
import { options } from "../client/options.ts";
import { LocalEngine } from "../engine/mod.ts";
import { LocalStorage } from "./storage.ts";
import { localRunner, serviceCallers } from "./runner.ts";
import { startServer } from "./serve.ts";

const DOWNLOADER = `import * as fused from "fused";
export default async function udf({ url = "" }) {
  try {
    const path = await fused.download(url);
    return { ok: await Deno.readTextFile(path) };
  } catch (error) {
    return { refused: String(error.message) };
  }
}`;

Deno.test("downloads of a shared UDF are refused outside what its caller may reach", async () => {
  const root = await Deno.makeTempDir({ prefix: "fused-host-calls-" });
  const data = join(root, "server");
  options.update({ cacheDirectory: join(root, "cache"), dataDirectory: join(root, "local") });
  const engine = new LocalEngine({ dataDir: join(root, "engine"), maxWorkers: 2 });
  const server = await startServer({
    port: 0,
    dataDir: data,
    engine,
    runTimeoutMs: 30_000,
    quiet: true,
  });
  const admin = { authorization: `Bearer ${server.adminToken}` };
  const post = async (path: string, body: unknown) => {
    const response = await fetch(`${server.baseUrl}${path}`, {
      method: "POST",
      headers: { ...admin, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    assert.ok(response.ok, await response.clone().text());
    return await response.json();
  };
  try {
    const me = await (await fetch(`${server.baseUrl}/user/self`, { headers: admin })).json();
    const saved = await post("/udf/new", {
      slug: "fetcher",
      udf_body: JSON.stringify({ name: "fetcher", code: DOWNLOADER, entrypoint: "default" }),
    });
    assert.ok(saved.id);
    const { token } = await post("/udf-access-token/new", { udf_slug: "fetcher" });
    // Another user's file, and a link an admin with a shell left in the owner's data folder.
    const users = join(data, "udf", "users");
    const mine = join(users, me.id, "data");
    await Deno.mkdir(join(users, "someone-else", "data"), { recursive: true });
    await Deno.writeTextFile(join(users, "someone-else", "data", "private.txt"), "theirs");
    await Deno.mkdir(mine, { recursive: true });
    await Deno.writeTextFile(join(mine, "own.txt"), "own data");
    await Deno.symlink(join(data, "admin-credentials.json"), join(mine, "creds-link"));

    const run = async (url: string) => {
      const response = await fetch(
        `${server.url}/${token}.json?url=${encodeURIComponent(url)}&cache_max_age=0`,
      );
      const text = await response.text();
      assert.equal(response.status, 200, text);
      return JSON.parse(text) as { ok?: string; refused?: string };
    };
    const refused = [
      [`file://${join(data, "admin-credentials.json")}`, /outside the caller's data folder/],
      [`file://${join(data, "registry.db")}`, /outside the caller's data folder/],
      [`file://${join(users, "someone-else", "data", "private.txt")}`, /outside the caller's/],
      [`file://${join(mine, "..", "..", "someone-else", "data", "private.txt")}`, /outside/],
      [`file://${join(mine, "creds-link")}`, /outside the caller's data folder/],
      ["file:///etc/shadow", /outside the caller's data folder/],
      ["file:///proc/self/environ", /outside the caller's data folder/],
      [`${server.baseUrl}/user/self`, /loopback.*--allow-private-network/],
      [`http://localhost:${new URL(server.url).port}/`, /loopback.*--allow-private-network/],
      ["http://169.254.169.254/latest/meta-data/", /link-local.*--allow-private-network/],
      ["http://[::1]:5432/", /--allow-private-network/],
      ["gopher://127.0.0.1/", /scheme gopher/],
    ] as const;
    for (const [url, says] of refused) {
      const answer = await run(url);
      assert.equal(answer.ok, undefined, `${url} was downloaded`);
      assert.match(answer.refused!, says, url);
    }
    // Nothing of what was refused reached the owner's folder.
    for await (const entry of Deno.readDir(mine)) {
      if (entry.isFile) {
        const text = await Deno.readTextFile(join(mine, entry.name));
        assert.ok(!text.includes(server.adminToken), `${entry.name} holds the admin token`);
      }
    }
    // What is the caller's own still downloads, and the service still serves.
    assert.deepEqual(await run(`file://${join(mine, "own.txt")}`), { ok: "own data" });
    const self = await fetch(`${server.baseUrl}/user/self`, { headers: admin });
    assert.equal(self.status, 200, await self.text());
  } finally {
    await server.close();
    await engine.close();
    options.reset();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("on this machine, a UDF downloads from private addresses only when its run names the host", async () => {
  const root = await Deno.makeTempDir({ prefix: "fused-host-calls-" });
  options.update({ cacheDirectory: join(root, "cache"), dataDirectory: join(root, "data") });
  await Deno.mkdir(join(root, "data"));
  const files = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("local file server"),
  );
  const engine = new LocalEngine({ dataDir: join(root, "engine"), maxWorkers: 1 });
  const { udf } = await import("../client/udf.ts");
  const downloader = udf(DOWNLOADER, { name: "fetcher" });
  const url = `http://127.0.0.1:${files.addr.port}/a.txt`;
  try {
    const denied = await engine.run({ udf: downloader, parameters: { url } });
    assert.match(
      (denied.value as { refused: string }).refused,
      /loopback.*allowNet: \["127\.0\.0\.1:\d+"\]/,
    );
    const shadow = await engine.run({ udf: downloader, parameters: { url: "file:///etc/shadow" } });
    assert.match((shadow.value as { refused: string }).refused, /outside the caller's data/);
    const allowed = await engine.run({
      udf: downloader,
      parameters: { url },
      allowNet: [`127.0.0.1:${files.addr.port}`],
    });
    assert.deepEqual(allowed.value, { ok: "local file server" });
  } finally {
    await engine.close();
    await files.shutdown();
    options.reset();
    await Deno.remove(root, { recursive: true });
  }
});

const FILE_CALLS = `import * as fused from "fused";
export default async function udf({ url = "", to = "", upload = "" }) {
  try {
    if (upload) return { ok: await fused.api.upload(new TextEncoder().encode("x"), upload) };
    return { ok: await fused.download(url, to || undefined) };
  } catch (error) {
    return { refused: String(error.message) };
  }
}`;

for (
  const host of [
    // The service's own host for its users (server/runner.ts serviceCallers).
    "the service's host",
    // The service's runs answered by this process's SDK, whose fd:// is the service's folder.
    "this process's SDK with fd:// on the service's folder",
  ]
) {
  Deno.test(`refused fd:// paths of a UDF say the rule, never the service's folders (${host})`, async () => {
    const root = await Deno.makeTempDir({ prefix: "fused-host-calls-" });
    const data = join(root, "srv");
    const sdk = host.startsWith("this process");
    options.update({
      cacheDirectory: join(root, "cache"),
      dataDirectory: join(root, "local"),
      fdPrefix: sdk ? join(data, "files") : null,
    });
    const engine = new LocalEngine({ dataDir: join(root, "engine"), maxWorkers: 1 });
    const server = await startServer({
      port: 0,
      dataDir: data,
      engine,
      runner: sdk ? localRunner({ engine }) : undefined,
      runTimeoutMs: 30_000,
      quiet: true,
    });
    const run = async (parameters: Record<string, string>) => {
      const query = new URLSearchParams({ ...parameters, cache_max_age: "0" });
      const response = await fetch(`${server.baseUrl}/realtime/local/api/v1/run/udf?${query}`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${server.adminToken}`,
          "content-type": "application/json",
        },
        body: JSON.stringify({
          step_config: JSON.stringify({
            udf: { name: "files", type: "deno_v1", code: FILE_CALLS, entrypoint: "default" },
          }),
        }),
      });
      const text = await response.text();
      assert.equal(response.status, 200, text);
      return JSON.parse(text) as { ok?: string; refused?: string };
    };
    try {
      const rule = /fd:\/\/ paths may not contain \.\. segments/;
      const cases: [Record<string, string>, RegExp][] = [
        [{ url: "fd://../x" }, rule],
        [{ url: "fd://../../x" }, rule],
        [{ url: "fd://a/../../b" }, rule],
        [{ url: "fd://a/%2e%2e/b" }, rule],
        [{ url: "fd://./a" }, rule],
        [{ url: "fd://..", to: "x" }, rule],
        [{ url: "https://example.com/x", to: "../../x" }, /download path.*\.\./],
      ];
      if (!sdk) cases.push([{ upload: "fd://dir/" }, /names a folder: add a file name/]);
      for (const [parameters, says] of cases) {
        const answer = await run(parameters);
        const what = JSON.stringify(parameters);
        assert.equal(answer.ok, undefined, `${what} was not refused`);
        assert.match(answer.refused!, says, what);
        assert.ok(!answer.refused!.includes(root), `${what}: ${answer.refused} names a folder`);
      }
    } finally {
      await server.close();
      await engine.close();
      options.reset();
      await Deno.remove(root, { recursive: true });
    }
  });
}

Deno.test("an upload to an fd:// path ending in / is refused by the service's host, nothing written", async () => {
  const root = await Deno.makeTempDir({ prefix: "fused-host-calls-" });
  try {
    const storage = new LocalStorage(join(root, "files"));
    // File calls run no UDF: no engine is needed.
    const engine = {} as UdfEngine;
    const caller = serviceCallers({ engine, dataDir: join(root, "udf"), storage })("someone");
    // As a UDF that speaks to its host directly would ask, past the SDK's own check.
    for (const path of ["fd://dir/", "fd://a/b/", "fd://"]) {
      await assert.rejects(
        caller.host.files("files.upload", [path], new TextEncoder().encode("x"), {
          caller,
          signal: new AbortController().signal,
        }),
        /names a folder: add a file name/,
        path,
      );
    }
    assert.deepEqual(await storage.list(""), []);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test({
  name: "a batch job's downloads follow the operator's policy, as the service's own runs do",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "fused-host-calls-" });
    options.update({ cacheDirectory: join(root, "cache"), dataDirectory: join(root, "local") });
    const files = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      () => new Response("team file server"),
    );
    const engine = new LocalEngine({ dataDir: join(root, "engine"), maxWorkers: 1 });
    const { udf } = await import("../client/udf.ts");
    const { startJob, jobWaitForJob, jobGetResults } = await import("../client/api/mod.ts");
    const { Transport } = await import("../client/api/transport.ts");
    const url = `http://127.0.0.1:${files.addr.port}/a.txt`;
    const job = udf(DOWNLOADER.replace('url = ""', `url = ${JSON.stringify(url)}`), {
      name: "fetch_job",
    });
    try {
      for (const allow of [false, true]) {
        const server = await startServer({
          port: 0,
          dataDir: join(root, `server-${allow}`),
          engine,
          quiet: true,
          jobs: { pollMs: 50 },
          udfPolicy: allow ? { privateNetwork: "always" } : undefined,
        });
        try {
          const transport = new Transport({ baseUrl: server.baseUrl, token: server.adminToken });
          const started = await startJob(job, { transport });
          const done = await jobWaitForJob(started, {
            transport,
            pollIntervalSeconds: 0.05,
            timeout: 60,
          });
          assert.equal(done.state, "succeeded");
          const [result] = await jobGetResults(started, { transport }) as {
            ok?: string;
            refused?: string;
          }[];
          if (allow) assert.deepEqual(result, { ok: "team file server" });
          else assert.match(result.refused!, /not a public address.*--allow-private-network/);
        } finally {
          await server.close();
        }
      }
    } finally {
      await engine.close();
      await files.shutdown();
      options.reset();
      await Deno.remove(root, { recursive: true });
    }
  },
});
