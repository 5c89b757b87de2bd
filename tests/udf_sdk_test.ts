/**
 * The SDK from inside a UDF, as fused-py users write it: `fused.cache` at module level,
 * `fused.download`, `fused.filePath`, a nested `fused.run`, and `fused.api` file calls — on the
 * local engine (as this machine's user) and through the service (as the requesting user). The UDF
 * runs in its sandboxed process with no network or credentials; its host makes these calls.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as fused from "../mod.ts";
import { startServer } from "../server/mod.ts";

const root = await Deno.makeTempDir({ prefix: "udf_sdk_test_" });
let hits = 0;
const files = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
  hits++;
  await new Promise((r) => setTimeout(r, 200)); // slow enough for concurrent callers to meet
  return new Response(`data for ${new URL(req.url).pathname}`);
});
const dataUrl = `http://127.0.0.1:${files.addr.port}/data.txt`;
const engine = new fused.LocalEngine({ dataDir: join(root, "engine"), maxWorkers: 4 });
const server = await startServer({
  port: 0,
  dataDir: join(root, "server"),
  engine,
  quiet: true,
  runTimeoutMs: 60_000,
  // The test's file server is on 127.0.0.1: this operator lets UDFs' downloads reach it.
  udfPolicy: { privateNetwork: "always" },
});
fused.options.update({
  dataDirectory: join(root, "data"),
  cacheDirectory: join(root, "cache"),
  baseUrl: server.baseUrl,
  verboseUdfRuns: false,
});
Deno.env.set("FUSED_AUTH_TOKEN", server.adminToken);
const api = (path: string, init: RequestInit = {}) =>
  fetch(`${server.baseUrl}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${server.adminToken}`, ...init.headers },
  });

const CACHED = `import * as fused from "fused";
const load = fused.cache(async (x: number) => {
  console.log("computing", x);
  return x * 2;
});
export default async function udf({ x = 1 }) {
  return await load(x);
}`;

const DOWNLOAD = `import * as fused from "fused";
export default async function udf({ url = "" }) {
  const path = await fused.download(url);
  return await Deno.readTextFile(path);
}`;

const FILE_PATH = `import * as fused from "fused";
export default async function udf({ text = "" }) {
  const path = fused.filePath("notes/out.txt");
  await Deno.writeTextFile(path, text);
  return path;
}`;

const NESTED = `import * as fused from "fused";
const inner = fused.udf("export default function udf({ n = 1 }) { return n * 3 }", { name: "inner" });
export default async function udf({ n = 1 }) {
  return await fused.run(inner, { n, cache: false });
}`;

const RECURSE = `import * as fused from "fused";
export default async function udf() {
  const self = fused.udf(Deno.readTextFileSync(new URL(import.meta.url)), { name: "recurse" });
  return await fused.run(self, { cache: false });
}`;

const FILES = `import * as fused from "fused";
export default async function udf({ path = "fd://sdk/hello.txt", text = "hi" }) {
  await fused.api.upload(new TextEncoder().encode(text), path);
  const back = new TextDecoder().decode(await fused.api.get(path));
  const listed = await fused.api.list(path.slice(0, path.lastIndexOf("/") + 1));
  return { back, listed };
}`;

function local(code: string, name: string): fused.Udf {
  return fused.udf(code, { name });
}

Deno.test({
  name: "the SDK works from inside a UDF",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    await t.step(
      "fused.cache at module level: the second call is a hit, also from another process",
      async () => {
        const u = local(CACHED, "cached_double");
        const first = await engine.run({ udf: u, parameters: { x: 21 } });
        assert.equal(first.value, 42);
        assert.match(first.logs.stdout, /computing 21/);
        const other = new fused.LocalEngine({ dataDir: join(root, "engine2") });
        try {
          const second = await other.run({ udf: u, parameters: { x: 21 } });
          assert.equal(second.value, 42);
          assert.doesNotMatch(second.logs.stdout, /computing/);
        } finally {
          await other.close();
        }
      },
    );

    await t.step(
      "fused.download of a 127.0.0.1 URL: fetched once by the host under concurrency",
      async () => {
        hits = 0;
        const u = local(DOWNLOAD, "downloader");
        const runs = await Promise.all(
          [1, 2, 3, 4].map((i) =>
            engine.run({
              udf: i % 2 ? u : local(DOWNLOAD + "\n", "downloader2"),
              parameters: { url: dataUrl },
              allowNet: [`127.0.0.1:${files.addr.port}`],
            })
          ),
        );
        for (const r of runs) assert.equal(r.value, "data for /data.txt");
        assert.equal(hits, 1);
      },
    );

    await t.step("fused.filePath is the caller's data folder, writable by the UDF", async () => {
      const { value } = await engine.run({
        udf: local(FILE_PATH, "writer"),
        parameters: { text: "from the sandbox" },
      });
      assert.equal(value, join(root, "data", "notes", "out.txt"));
      assert.equal(await Deno.readTextFile(value as string), "from the sandbox");
    });

    await t.step("a nested fused.run runs on the host and its result comes back", async () => {
      const { value } = await engine.run({ udf: local(NESTED, "outer"), parameters: { n: 5 } });
      assert.equal(value, 15);
    });

    await t.step("nested runs stop at options.maxRecursionFactor", async () => {
      await assert.rejects(
        engine.run({ udf: local(RECURSE, "recurse"), timeoutMs: 120_000 }),
        /levels deep, over the limit of 5 \(options\.maxRecursionFactor\)/,
      );
    });

    await t.step(
      "fused.api.upload then get of fd:// go through the service as the caller",
      async () => {
        const { value } = await engine.run({
          udf: local(FILES, "files_user"),
          parameters: { path: "fd://sdk/local.txt", text: "local run" },
        });
        assert.deepEqual(value, { back: "local run", listed: ["fd://sdk/local.txt"] });
        const listed = await (await api("/files/list?path=fd://sdk/")).json();
        assert.deepEqual(listed, ["fd://sdk/local.txt"]);
      },
    );

    await t.step("through the service a UDF's SDK calls act as the requesting user", async () => {
      const code = `import * as fused from "fused";
const twice = fused.cache(async (s: string) => s + s);
export default async function udf({ text = "x" }) {
  const path = fused.filePath("mine.txt");
  await Deno.writeTextFile(path, text);
  await fused.api.upload(new TextEncoder().encode(text), "fd://svc/" + text + ".txt");
  const inner = fused.udf("export default function udf({ s = '' }) { return s.length }", { name: "len" });
  const downloaded = await fused.download(${JSON.stringify(dataUrl)});
  return { path, doubled: await twice(text), len: await fused.run(inner, { s: text }), downloaded: await Deno.readTextFile(downloaded) };
}`;
      const saved = await api("/udf/new", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          slug: "svc_sdk",
          udf_body: JSON.stringify({ name: "svc_sdk", code, entrypoint: "default" }),
        }),
      });
      assert.ok(saved.ok, await saved.clone().text());
      const token = await (await api("/udf-access-token/new", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ udf_slug: "svc_sdk" }),
      })).json();
      const me = await (await api("/user/self")).json();
      const res = await fetch(`${server.url}/${token.token}.json?text=abc&cache_max_age=0`);
      const body = await res.text();
      assert.equal(res.status, 200, body);
      const value = JSON.parse(body);
      assert.equal(value.doubled, "abcabc");
      assert.equal(value.len, 3);
      assert.equal(value.downloaded, "data for /data.txt");
      // The owner's own data folder on the service, not this process's or another user's.
      assert.equal(value.path, join(root, "server", "udf", "users", me.id, "data", "mine.txt"));
      const listed = await (await api("/files/list?path=fd://svc/")).json();
      assert.deepEqual(listed, ["fd://svc/abc.txt"]);
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
