/**
 * `fused serve` and `fused worker` as real processes, as a user starts them, for the scale-out
 * end-to-end tests: start one, wait until it is ready, stop it with a signal.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { Transport } from "../client/api/transport.ts";
import { createDatabase, freePort } from "./_postgres.ts";
import { createBucket, s3Env } from "./_s3.ts";

const CLI = fileURLToPath(new URL("../cli.ts", import.meta.url));
const CONFIG = fileURLToPath(new URL("../deno.json", import.meta.url));

/** A started process. */
export interface Proc {
  child: Deno.ChildProcess;
  pid: number;
  /** What it printed to stderr so far. */
  output: () => string;
}

/** Starts `cli.ts` with these arguments and environment, collecting what it prints. */
export function spawn(args: string[], env: Record<string, string>): Proc {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-worker-options", `--config=${CONFIG}`, CLI, ...args],
    env: { ...env, NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const decoder = new TextDecoder();
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) text += decoder.decode(chunk);
  };
  drain(child.stdout);
  drain(child.stderr);
  return { child, pid: child.pid, output: () => text };
}

/** Calls `check` every 100 ms until it gives a value, for at most `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 120_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Sends a signal to a process and waits for it to end. */
export async function stop(proc: Proc, signal: Deno.Signal = "SIGTERM"): Promise<void> {
  try {
    proc.child.kill(signal);
  } catch {
    // Already gone.
  }
  await proc.child.status;
}

/** A started service and a transport logged in as its admin. */
export interface Service {
  proc: Proc;
  baseUrl: string;
  url: string;
  transport: Transport;
}

/** Starts `fused serve` on a free port and waits until `/v1/health` answers 200. */
export async function startService(env: Record<string, string>, args: string[]): Promise<Service> {
  const port = freePort();
  const dataDir = await Deno.makeTempDir({ prefix: "fused-e2e-service-" });
  const proc = spawn(["serve", "--port", String(port), "--data-dir", dataDir, ...args], env);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`the service on port ${port} (${proc.output()})`, async () => {
    if (proc.output().includes("Error") || proc.output().includes("fused serve:")) {
      throw new Error(`The service did not start: ${proc.output()}`);
    }
    try {
      const res = await fetch(`${url}/v1/health`);
      await res.body?.cancel();
      return res.ok ? true : undefined;
    } catch {
      return undefined;
    }
  });
  const credentials = JSON.parse(await Deno.readTextFile(`${dataDir}/admin-credentials.json`));
  return {
    proc,
    url,
    baseUrl: `${url}/v1`,
    transport: new Transport({ baseUrl: `${url}/v1`, token: credentials.access_token }),
  };
}

/** Starts `fused worker --concurrency 2` and waits until it takes jobs. */
export async function startWorker(env: Record<string, string>, args: string[]): Promise<Proc> {
  const proc = spawn(["worker", "--concurrency", "2", ...args], env);
  await waitFor(`a worker (${proc.output()})`, () => {
    if (proc.output().includes("fused worker:")) {
      throw new Error(`The worker did not start: ${proc.output()}`);
    }
    return proc.output().includes("taking jobs") ? true : undefined;
  });
  return proc;
}

/** Two services on a fresh database and bucket, with what a worker needs to join them. */
export interface Platform {
  /** The environment every process gets (S3 keys and endpoint, FUSED_DATABASE_URL). */
  env: Record<string, string>;
  /** The `--storage` arguments every process gets. */
  storage: string[];
  /** Service A. */
  a: Service;
  /** Service B. */
  b: Service;
}

/** Starts two services on a new database and bucket whose names start with `prefix`. */
export async function startPlatform(
  prefix: string,
  extra: { a?: string[]; b?: string[] } = {},
): Promise<Platform> {
  const database = await createDatabase(prefix);
  const bucket = await createBucket(prefix);
  const env = { ...await s3Env(), FUSED_DATABASE_URL: database };
  const storage = ["--storage", `s3://${bucket}/fused`];
  return {
    env,
    storage,
    a: await startService(env, [...storage, ...extra.a ?? []]),
    b: await startService(env, [...storage, ...extra.b ?? []]),
  };
}
