/**
 * A throw-away S3-compatible server for the tests: `s3rver` (npm, pinned in deno.json) under
 * Node with `--openssl-legacy-provider` (it encrypts ListObjectsV2 continuation tokens with DES,
 * which Deno's node:crypto lacks, so pagination only works under Node), on 127.0.0.1 on a free
 * port, its objects in a temp folder. It starts once per `deno test` process, on first use; a
 * watchdog shell stops it and removes the folder once the test process is gone.
 *
 * What s3rver fakes (see the reference facts): it does not check signatures, and a suffix range
 * (`bytes=-N`) is answered wrongly. Production would use AWS S3, MinIO or Cloudflare R2.
 *
 * @module
 */
import { join } from "node:path";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { freePort, shared } from "./_postgres.ts";

/** s3rver's fixed access key (it accepts any secret). */
export const S3_ACCESS_KEY = "S3RVER";
/** s3rver's secret. */
export const S3_SECRET_KEY = "S3RVER";

/** A running S3 server. */
export interface S3Server {
  /** `http://127.0.0.1:PORT`. */
  endpoint: string;
  /** Port on 127.0.0.1. */
  port: number;
  /** The temp folder. */
  dir: string;
}

const S3RVER = fileURLToPath(new URL("../node_modules/s3rver/bin/s3rver.js", import.meta.url));

let server: Promise<S3Server> | undefined;
const STATE = join(tmpdir(), `fused-test-s3-${Deno.pid}.json`);

function sh(script: string): string {
  const out = new Deno.Command("sh", {
    args: ["-c", script],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) {
    throw new Error(`${script.slice(0, 80)} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}

async function waitUntilUp(endpoint: string, dir: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const res = await fetch(endpoint);
      await res.body?.cancel();
      return;
    } catch {
      if (Date.now() > deadline) {
        let log = "";
        try {
          log = await Deno.readTextFile(join(dir, "server.log"));
        } catch {
          // No log yet.
        }
        throw new Error(`s3rver did not start within 60 s: ${log.trim()}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function launch(s: S3Server): void {
  sh(
    `NODE_OPTIONS=--openssl-legacy-provider setsid node ${S3RVER} -d ${s.dir}/data -a 127.0.0.1 ` +
      `-p ${s.port} -s >>${s.dir}/server.log 2>&1 < /dev/null & echo $! > ${s.dir}/pid`,
  );
}

async function startServer(): Promise<S3Server> {
  try {
    Deno.statSync(S3RVER);
  } catch {
    throw new Error(
      `s3rver is not installed (${S3RVER} is missing): run deno install (deno.json pins npm:s3rver)`,
    );
  }
  try {
    sh("command -v node");
  } catch {
    throw new Error("Node.js is needed to run s3rver for the S3 tests: apt-get install nodejs");
  }
  const dir = await Deno.makeTempDir({ prefix: "fused-s3-" });
  await Deno.mkdir(join(dir, "data"));
  const port = freePort();
  const s: S3Server = { endpoint: `http://127.0.0.1:${port}`, port, dir };
  launch(s);
  const watchdog = `while kill -0 ${Deno.pid} 2>/dev/null; do sleep 1; done
    kill $(cat ${dir}/pid) 2>/dev/null; sleep 1; rm -rf ${dir} ${STATE} ${STATE}.lock`;
  sh(`setsid sh -c '${watchdog}' >/dev/null 2>&1 < /dev/null &`);
  await waitUntilUp(s.endpoint, dir);
  return s;
}

/** The shared S3 server, started on first use (once per process: see `shared`). */
export function s3Server(): Promise<S3Server> {
  server ??= shared(STATE, startServer);
  return server;
}

/**
 * The environment an S3 client (the product's, or `fused serve` as a child process) needs to
 * reach the test server: `AWS_ENDPOINT_URL`, `AWS_REGION` and the keys.
 */
export async function s3Env(): Promise<Record<string, string>> {
  const s = await s3Server();
  return {
    AWS_ENDPOINT_URL: s.endpoint,
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: S3_ACCESS_KEY,
    AWS_SECRET_ACCESS_KEY: S3_SECRET_KEY,
  };
}

/** Sets {@linkcode s3Env} in this process's environment, for services started in the test. */
export async function useS3Env(): Promise<void> {
  for (const [k, v] of Object.entries(await s3Env())) Deno.env.set(k, v);
}

/** Creates an empty bucket (with a plain HTTP PUT, as S3 defines it) and returns its name. */
export async function createBucket(prefix = "t"): Promise<string> {
  const s = await s3Server();
  const name = `${prefix.toLowerCase().replace(/[^a-z0-9-]/g, "-")}-${
    crypto.randomUUID().slice(0, 8)
  }`;
  const res = await fetch(`${s.endpoint}/${name}`, { method: "PUT" });
  const text = await res.text();
  if (!res.ok) throw new Error(`Creating bucket ${name} failed: ${res.status} ${text}`);
  return name;
}

/** Stops the S3 server (to test a client while it is down). */
export async function stopS3(): Promise<void> {
  const s = await s3Server();
  sh(
    `kill $(cat ${s.dir}/pid); while kill -0 $(cat ${s.dir}/pid) 2>/dev/null; do sleep 0.1; done`,
  );
}

/** Starts the S3 server again after `stopS3`, on the same port and folder. */
export async function startS3(): Promise<void> {
  const s = await s3Server();
  launch(s);
  await waitUntilUp(s.endpoint, s.dir);
}
