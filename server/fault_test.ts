/**
 * kill -9 at bad moments, in real child processes: a service during an upload and during UDF
 * saves, a writer during `toDirectory` and during a cache write. After a restart nothing is torn
 * or lost and no temporary file is left.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { cleanCache, readCache } from "../client/cache.ts";
import { load } from "../client/load.ts";
import { options } from "../client/options.ts";
import { udf } from "../client/udf.ts";

const MAIN = new URL("./main.ts", import.meta.url).pathname;
const CHILD = new URL("./_fault_child.ts", import.meta.url).pathname;

interface Service {
  child: Deno.ChildProcess;
  baseUrl: string;
  auth: Record<string, string>;
}

/** Starts `fused serve` in its own process on a free port and waits for its listening line. */
async function serve(dataDir: string): Promise<Service> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-worker-options", MAIN, "--port", "0", "--data-dir", dataDir],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let log = "";
  let url: string | undefined;
  while (!url) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`fused serve stopped before listening: ${log}`);
    log += value;
    url = /listening on (http:\/\/127\.0\.0\.1:\d+\/v1)/.exec(log)?.[1];
  }
  // Keep reading so the child never blocks on a full pipe.
  (async () => {
    while (!(await reader.read().catch(() => ({ done: true }))).done) { /* drain */ }
  })();
  const creds = JSON.parse(await Deno.readTextFile(join(dataDir, "admin-credentials.json")));
  return { child, baseUrl: url, auth: { authorization: `Bearer ${creds.access_token}` } };
}

async function kill9(child: Deno.ChildProcess): Promise<void> {
  child.kill("SIGKILL");
  await child.status;
}

async function stopCleanly(service: Service): Promise<void> {
  service.child.kill("SIGTERM");
  assert.equal((await service.child.status).code, 0);
}

/** Every path under `dir` whose name marks a temporary or a leftover lock. */
async function leftovers(dir: string): Promise<string[]> {
  const found: string[] = [];
  async function walk(d: string): Promise<void> {
    for await (const entry of Deno.readDir(d)) {
      const path = join(d, entry.name);
      if (/\.tmp-|\.tmp$|\.old-|^lock$/.test(entry.name)) found.push(path);
      if (entry.isDirectory) await walk(path);
    }
  }
  await walk(dir);
  return found;
}

async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`Timed out waiting for ${what}`);
}

Deno.test("a service killed during an upload restarts with the old files whole and no temp file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fused-fault-upload-" });
  const first = await serve(dir);
  const kept = await fetch(`${first.baseUrl}/files/upload?path=fd://kept/a.txt`, {
    method: "POST",
    headers: first.auth,
    body: "kept before the crash",
  });
  assert.equal(kept.status, 201);
  // An upload that sends a first chunk and then hangs: the service is killed mid-write.
  let push!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({ start: (c) => void (push = c) });
  push.enqueue(new Uint8Array(256 * 1024).fill(7));
  const upload = fetch(`${first.baseUrl}/files/upload?path=fd://kept/big.bin`, {
    method: "POST",
    headers: first.auth,
    body,
  }).catch((err) => err);
  const folder = join(dir, "files", "kept");
  await waitFor(
    async () =>
      (await Array.fromAsync(Deno.readDir(folder))).some((e) => e.name.includes(".tmp-upload-")),
    "the upload's temporary file",
  );
  await kill9(first.child);
  await upload; // fails: the connection was cut
  push.error(new Error("the service is gone"));

  const second = await serve(dir); // the dead service's lock is taken over
  try {
    assert.deepEqual(await leftovers(join(dir, "files")), []);
    const list = await (await fetch(`${second.baseUrl}/files/list?path=fd://kept/`, {
      headers: second.auth,
    })).json();
    assert.deepEqual(list, ["fd://kept/a.txt"]);
    const text = await (await fetch(`${second.baseUrl}/files/get?path=fd://kept/a.txt`, {
      headers: second.auth,
    })).text();
    assert.equal(text, "kept before the crash");
  } finally {
    await stopCleanly(second);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a service killed during UDF saves restarts with every saved UDF whole", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fused-fault-save-" });
  const first = await serve(dir);
  const headers = { ...first.auth, "content-type": "application/json" };
  const code = (n: number) =>
    `export default function udf() { return ${n} }\n// ${"x".repeat(50_000)}`;
  const answered: number[] = [];
  const saves = Array.from({ length: 40 }, async (_, n) => {
    const res = await fetch(`${first.baseUrl}/udf/new`, {
      method: "POST",
      headers,
      body: JSON.stringify({
        udf_body: JSON.stringify({ name: `u${n}`, type: "deno_v1", code: code(n) }),
      }),
    }).catch(() => null);
    if (res?.status === 201) answered.push(n);
    await res?.body?.cancel();
  });
  await waitFor(() => Promise.resolve(answered.length >= 5), "the first saves");
  await kill9(first.child);
  await Promise.all(saves);

  const second = await serve(dir);
  try {
    const list =
      await (await fetch(`${second.baseUrl}/udf/self?limit=1000`, { headers: second.auth }))
        .json() as { slug: string; udf_body: string }[];
    const slugs = new Set(list.map((r) => r.slug));
    for (const n of answered) assert.ok(slugs.has(`u${n}`), `u${n} was answered 201 but is lost`);
    for (const record of list) {
      const n = Number(record.slug.slice(1));
      assert.equal(JSON.parse(record.udf_body).code, code(n), `${record.slug} is torn`);
    }
    assert.deepEqual((await leftovers(dir)).filter((p) => !p.includes("registry.db")), []);
  } finally {
    await stopCleanly(second);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a service killed during a job restarts, and the job ends with its log whole and in order", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fused-fault-job-" });
  const first = await serve(dir);
  const code = `export default async function udf() {
  for (let i = 0; i < 6; i++) {
    console.log("tick " + i);
    await new Promise((r) => setTimeout(r, 300));
  }
  return 42;
}`;
  const started = await fetch(`${first.baseUrl}/run?instance_type=small`, {
    method: "POST",
    headers: { ...first.auth, "content-type": "application/json" },
    body: JSON.stringify({
      config: {
        steps: [{
          type: "udf",
          udf: { name: "ticks", type: "deno_v1", entrypoint: "default", code },
        }],
      },
    }),
  });
  assert.equal(started.status, 200, await started.clone().text());
  const id = (await started.json()).job_id;
  const logs = async (service: Service) =>
    ((await (await fetch(`${service.baseUrl}/logs/${id}`, { headers: service.auth })).json()) as {
      message: string;
    }[]).map((line) => line.message);
  await waitFor(async () => (await logs(first)).includes("tick 1"), "the job's second tick");
  await kill9(first.child);

  const second = await serve(dir);
  try {
    let status: { terminal_status: boolean; state: string } = { terminal_status: false, state: "" };
    await waitFor(async () => {
      status = await (await fetch(`${second.baseUrl}/run/by-id/${id}`, { headers: second.auth }))
        .json();
      return status.terminal_status;
    }, "the job to end");
    const messages = await logs(second);
    const ticks = messages.filter((m) => m.startsWith("tick "));
    // Each tick once and in order; all of them when the job went on to succeed.
    assert.deepEqual(ticks, ticks.map((_, i) => `tick ${i}`), messages.join("\n"));
    if (status.state === "succeeded") {
      assert.equal(ticks.length, 6, messages.join("\n"));
      const result = await fetch(`${second.baseUrl}/files/get?path=fd://jobs/${id}/0.json`, {
        headers: second.auth,
      });
      assert.equal(await result.text(), "42");
    } else assert.equal(status.state, "failed", messages.join("\n"));
    assert.deepEqual((await leftovers(dir)).filter((p) => !p.includes("registry.db")), []);
  } finally {
    await stopCleanly(second);
  }
  await Deno.remove(dir, { recursive: true });
});

/** Starts a fault child, waits until it writes, lets it run `ms`, then kills it with SIGKILL. */
async function killWriterAfter(mode: string, path: string, ms: number): Promise<void> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CHILD, mode, path],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!out.includes("writing")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the ${mode} writer stopped: ${out}`);
    out += value;
  }
  await new Promise((r) => setTimeout(r, ms));
  await kill9(child);
  await reader.cancel();
}

Deno.test("toDirectory killed at any moment leaves the old folder or the new one, and the next write cleans up", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fused-fault-dir-" });
  const target = join(dir, "faulty");
  // An old folder to replace from the first round on.
  await udf(`export default function udf() { return 1 }\n`, {
    name: "faulty",
    metadata: { "fused:description": "version 1" },
  }).toDirectory(target);
  for (let round = 0; round < 8; round++) {
    await killWriterAfter("directory", target, 20 + round * 37);
    const loaded = await load(target);
    const n = Number(/return (\d)/.exec(loaded.code)?.[1]);
    assert.ok(n === 1 || n === 2, `round ${round}: the folder holds neither version`);
    assert.equal(loaded.metadata?.["fused:description"], `version ${n}`, `round ${round}: torn`);
  }
  // The next write removes what the killed writers left beside the folder.
  await udf("export default function udf() { return 3 }", { name: "faulty" })
    .toDirectory(target, { overwrite: true });
  assert.deepEqual(await leftovers(dir), []);
  assert.match((await load(target)).code, /return 3/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a cache write killed midway leaves a whole value or none, and the sweep removes its temp file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fused-fault-cache-" });
  try {
    options.cacheDirectory = dir;
    for (let round = 0; round < 5; round++) {
      await killWriterAfter("cache", dir, 30 + round * 41);
      const found = await readCache("entry", { folder: "fault" });
      if (found.hit) {
        const bytes = found.value as Uint8Array;
        assert.equal(bytes.byteLength, 4 * 1024 * 1024);
        assert.ok(bytes.every((b) => b === bytes[0]), `round ${round}: a torn value was read`);
      }
    }
    await cleanCache();
    assert.deepEqual(await leftovers(dir), []);
  } finally {
    options.reset();
    await Deno.remove(dir, { recursive: true });
  }
});
