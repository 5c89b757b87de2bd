/**
 * For the tests of a single service's batch jobs (no worker): a real `fused serve` on a random
 * port, with a store (`storageUrl`: a bucket or a folder; null: its data folder), and two users.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { options } from "../../client/options.ts";
import { LocalEngine } from "../../engine/mod.ts";
import { type RunningServer, startServer } from "../serve.ts";

/** A running service and its users. */
export interface Service {
  /** The service. */
  server: RunningServer;
  /** Its data folder. */
  dataDir: string;
  /** The user whose jobs the tests run. */
  owner: { id: string; token: string };
  /** The API token of another user. */
  other: string;
}

/** POSTs JSON as the admin; the answer's JSON (asserted ok). */
export async function post(
  server: RunningServer,
  path: string,
  body: unknown,
): Promise<Record<string, string>> {
  const res = await fetch(`${server.baseUrl}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${server.adminToken}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  assert.ok(res.ok, await res.clone().text());
  return await res.json();
}

/** A single service (with `storageUrl` and `quotaBytes`, if given) and two users of it, for `fn`. */
export async function withService(
  config: { storageUrl: string | null; quotaBytes?: number },
  fn: (service: Service) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "fused-job-service-" });
  options.update({ cacheDirectory: `${dir}/cache` });
  const engine = new LocalEngine({ dataDir: `${dir}/engine`, maxWorkers: 2 });
  const dataDir = `${dir}/server`;
  const server = await startServer({
    port: 0,
    dataDir,
    engine,
    quiet: true,
    storageUrl: config.storageUrl,
    ...(config.quotaBytes !== undefined && { quotaBytes: config.quotaBytes }),
    jobs: { pollMs: 50, killGraceMs: 1000 },
  });
  try {
    const owner = await post(server, "/admin/users", { email: "ann@x.org" });
    const other = await post(server, "/admin/users", { email: "bea@x.org" });
    await fn({
      server,
      dataDir,
      owner: {
        id: owner.id,
        token: (await post(server, "/admin/tokens", { user_id: owner.id })).access_token,
      },
      other: (await post(server, "/admin/tokens", { user_id: other.id })).access_token,
    });
  } finally {
    await server.close();
    await engine.close();
    options.reset();
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Puts a question beside a running job's own (as a hostile job's process could) and waits for
 * the runner's answer (at most 10 s).
 */
export async function askRunner(
  service: Service,
  jobId: string,
  question: unknown,
  bytes: string,
): Promise<{ ok: boolean; error?: { name: string; message: string } }> {
  const calls = join(service.dataDir, "jobs", jobId, "calls");
  const id = crypto.randomUUID();
  await Deno.mkdir(calls, { recursive: true });
  await Deno.writeTextFile(join(calls, `${id}.bytes`), bytes);
  await Deno.writeTextFile(join(calls, `${id}.json`), JSON.stringify(question));
  let answer: string | undefined;
  for (let i = 0; i < 400 && answer === undefined; i++) {
    answer = await Deno.readTextFile(join(calls, `${id}.answer`)).catch(() => undefined);
    if (answer === undefined) await new Promise((r) => setTimeout(r, 25));
  }
  assert.ok(answer, "the runner answered");
  return JSON.parse(answer);
}
