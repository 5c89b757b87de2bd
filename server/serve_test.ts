import assert from "node:assert/strict";
import { join } from "node:path";
import { makeVenv } from "../engine/_engine_test_util.ts";
import { startServer } from "./serve.ts";
import { runBody } from "./_testing.ts";
import type { UdfRunner } from "./runs.ts";
import { SqliteRegistry } from "./registry/sqlite.ts";

// These tests start no UDF run, so the runner is never called.
const NO_RUNS: UdfRunner = () => Promise.reject(new Error("no runs in this test"));

Deno.test("the first start writes the admin credentials with mode 0600 and later starts reuse the token", async () => {
  const dir = await Deno.makeTempDir();
  const first = await startServer({ port: 0, dataDir: dir, runner: NO_RUNS, quiet: true });
  const creds = JSON.parse(await Deno.readTextFile(`${dir}/admin-credentials.json`));
  assert.equal(creds.access_token, first.adminToken);
  assert.equal((await Deno.stat(`${dir}/admin-credentials.json`)).mode! & 0o777, 0o600);
  const fusedStyle = JSON.parse(await Deno.readTextFile(`${dir}/credentials`));
  assert.deepEqual(fusedStyle, { access_token: first.adminToken, auth_scheme: "Bearer" });
  assert.equal((await Deno.stat(`${dir}/credentials`)).mode! & 0o777, 0o600);
  await first.close();
  const second = await startServer({ port: 0, dataDir: dir, runner: NO_RUNS, quiet: true });
  assert.equal(second.adminToken, first.adminToken);
  const me = await fetch(`${second.baseUrl}/user/self`, {
    headers: { authorization: `Bearer ${second.adminToken}` },
  });
  assert.equal((await me.json()).email, "admin@localhost");
  await second.close();
  // The token is one per platform: a lost file gets the same token back, not another one.
  await Deno.remove(`${dir}/admin-credentials.json`);
  const third = await startServer({ port: 0, dataDir: dir, runner: NO_RUNS, quiet: true });
  assert.equal(third.adminToken, first.adminToken);
  await third.close();
  const registry = new SqliteRegistry(`${dir}/registry.db`);
  const admin = (await registry.findUserByEmail("admin@localhost"))!;
  const usable = (await registry.listApiTokens(admin.id)).filter((t) => !t.revokedAt);
  assert.equal(usable.length, 1);
  // Once revoked, the next start makes a new one and the old one is refused.
  assert.ok(await registry.revokeApiToken(usable[0].id));
  registry.close();
  const fourth = await startServer({ port: 0, dataDir: dir, runner: NO_RUNS, quiet: true });
  assert.notEqual(fourth.adminToken, first.adminToken);
  const old = await fetch(`${fourth.baseUrl}/user/self`, {
    headers: { authorization: `Bearer ${first.adminToken}` },
  });
  assert.equal(old.status, 401);
  await old.body?.cancel();
  await fourth.close();
  await Deno.remove(dir, { recursive: true });
});

/** The root URL a `fused serve` process says it listens on (read from its stderr), and its log. */
async function listening(
  reader: ReadableStreamDefaultReader<string>,
): Promise<{ url: string; log: string }> {
  let log = "";
  let url: string | undefined;
  for (let i = 0; i < 50 && !url; i++) {
    const { value, done } = await reader.read();
    if (done) break;
    log += value;
    url = /listening on (http:\/\/127\.0\.0\.1:\d+)\/v1/.exec(log)?.[1];
  }
  assert.ok(url, `no listening line in: ${log}`);
  return { url, log };
}

Deno.test("fused serve listens on 127.0.0.1, serves, and stops cleanly on SIGTERM", async () => {
  const dir = await Deno.makeTempDir();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--unstable-worker-options",
      new URL("./main.ts", import.meta.url).pathname,
      "--port",
      "0",
      "--data-dir",
      dir,
    ],
    stderr: "piped",
    stdout: "null",
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  const { url, log } = await listening(reader);
  assert.match(log, /admin-credentials\.json/);
  const health = await fetch(`${url}/v1/health`);
  assert.equal((await health.json()).status, "ok");
  child.kill("SIGTERM");
  const rest = await (async () => {
    let text = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return text;
      text += value;
    }
  })();
  const status = await child.status;
  assert.equal(status.code, 0);
  assert.match(rest, /Received SIGTERM/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a UDF spinning in a synchronous loop gets a 504 and the service answers the next run", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--unstable-worker-options",
      new URL("./_runaway_probe.ts", import.meta.url).pathname,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const result = JSON.parse(text.trim().split("\n").at(-1)!);
  assert.equal(result.spinStatus, 504);
  assert.match(result.spinDetail, /did not finish within 1000 ms/);
  assert.equal(result.afterStatus, 200);
  assert.equal(result.afterBody, 7);
});

Deno.test("a second service on the same data folder is refused, naming the first one's pid and port", async () => {
  const dir = await Deno.makeTempDir();
  const first = await startServer({ port: 0, dataDir: dir, runner: NO_RUNS, quiet: true });
  try {
    const lockBefore = await Deno.readTextFile(`${dir}/service.lock`);
    await assert.rejects(
      () => startServer({ port: 0, dataDir: dir, runner: NO_RUNS, quiet: true }),
      new RegExp(`in use by another Fused service \\(pid ${Deno.pid} on port ${first.port}\\)`),
    );
    assert.equal(await Deno.readTextFile(`${dir}/service.lock`), lockBefore);
  } finally {
    await first.close();
  }
  // Closed: the lock is gone and the folder can be served again.
  const again = await startServer({ port: 0, dataDir: dir, runner: NO_RUNS, quiet: true });
  await again.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a lock left by a dead process is taken over", async () => {
  const dir = await Deno.makeTempDir();
  const dead = new Deno.Command("true").spawn();
  await dead.status;
  await Deno.writeTextFile(
    `${dir}/service.lock`,
    JSON.stringify({ pid: dead.pid, host: (await import("node:os")).hostname(), port: 1 }),
  );
  const server = await startServer({ port: 0, dataDir: dir, runner: NO_RUNS, quiet: true });
  const lock = JSON.parse(await Deno.readTextFile(`${dir}/service.lock`));
  assert.equal(lock.pid, Deno.pid);
  assert.equal(lock.port, server.port);
  await server.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a port in use is a clear error, and the refused service leaves no state behind", async () => {
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const dir = await Deno.makeTempDir();
  try {
    const port = (busy.addr as Deno.NetAddr).port;
    await assert.rejects(
      () => startServer({ port, dataDir: dir, runner: NO_RUNS, quiet: true }),
      new RegExp(`Port ${port} on 127\\.0\\.0\\.1 is already in use by another program`),
    );
    // Bound before the registry or the job runner was opened: nothing was written.
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), []);
  } finally {
    busy.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a second fused serve process exits with a clear message on a busy data folder or port", async () => {
  const dir = await Deno.makeTempDir();
  const other = await Deno.makeTempDir();
  const serve = (dataDir: string, port: string) =>
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--unstable-worker-options",
        new URL("./main.ts", import.meta.url).pathname,
        "--port",
        port,
        "--data-dir",
        dataDir,
      ],
      stdout: "null",
      stderr: "piped",
    });
  const first = serve(dir, "0").spawn();
  const reader = first.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let log = "";
  let port: string | undefined;
  while (!port) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the first service stopped: ${log}`);
    log += value;
    port = /listening on http:\/\/127\.0\.0\.1:(\d+)\/v1/.exec(log)?.[1];
  }
  try {
    const sameFolder = await serve(dir, "0").output();
    const folderText = new TextDecoder().decode(sameFolder.stderr);
    assert.equal(sameFolder.code, 1);
    assert.match(folderText, new RegExp(`pid ${first.pid} on port ${port}\\)`));
    assert.doesNotMatch(folderText, /\n\s+at /);
    const samePort = await serve(other, port).output();
    const portText = new TextDecoder().decode(samePort.stderr);
    assert.equal(samePort.code, 1);
    assert.match(portText, new RegExp(`Port ${port} on 127\\.0\\.0\\.1 is already in use`));
    assert.doesNotMatch(portText, /AddrInUse|\n\s+at /);
  } finally {
    first.kill("SIGTERM");
    await first.status;
    await reader.cancel();
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(other, { recursive: true });
  }
});

Deno.test("fused serve --python runs Python UDFs with that interpreter, and refuses a bad path", async () => {
  const dir = await Deno.makeTempDir();
  const main = new URL("./main.ts", import.meta.url).pathname;
  const serve = (...flags: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--unstable-worker-options", main, "--port", "0", ...flags],
      stdout: "null",
      stderr: "piped",
    });
  const bad = await serve("--data-dir", dir, "--python", "python3").output();
  assert.equal(bad.code, 2);
  assert.match(
    new TextDecoder().decode(bad.stderr),
    /Invalid --python "python3": give the absolute/,
  );
  const python = await makeVenv(dir);
  const child = serve("--data-dir", join(dir, "data"), "--python", python).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  try {
    const { url } = await listening(reader);
    const { access_token } = JSON.parse(
      await Deno.readTextFile(join(dir, "data", "admin-credentials.json")),
    );
    const udf = {
      name: "where",
      type: "geopandas_v2",
      entrypoint: "udf",
      code:
        "import sys, venv_marker\n\n@fused.udf\ndef udf():\n    return [venv_marker.WHERE, sys.prefix]\n",
    };
    const res = await fetch(`${url}/v1/realtime/local/api/v1/run/udf`, {
      method: "POST",
      headers: { authorization: `Bearer ${access_token}`, "content-type": "application/json" },
      body: JSON.stringify(runBody(udf)),
    });
    assert.deepEqual(await res.json(), ["the venv", join(dir, "venv")]);
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await reader.cancel();
    await Deno.remove(dir, { recursive: true });
  }
});
