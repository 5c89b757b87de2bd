/**
 * A service on a throw-away PostgreSQL database with one `fused worker` beside it, both on a
 * folder store: what a test needs to run a batch job on a worker. Both stop when `fn` ends.
 */
import { join } from "node:path";
import type { LocalEngineLike } from "../client/engine_types.ts";
import { type RunningServer, startServer } from "../server/mod.ts";
import { startWorker } from "../server/worker.ts";
import { createDatabase } from "./_postgres.ts";

/** Runs `fn` with a service whose batch jobs go to a worker; `dir` holds their folders. */
export async function withServiceAndWorker(
  name: string,
  dir: string,
  engine: LocalEngineLike,
  fn: (server: RunningServer) => Promise<void>,
): Promise<void> {
  const databaseUrl = await createDatabase(name);
  const storageUrl = join(dir, "store");
  const server = await startServer({
    port: 0,
    dataDir: dir,
    engine,
    quiet: true,
    databaseUrl,
    storageUrl,
  });
  try {
    const worker = await startWorker({
      databaseUrl,
      storageUrl,
      dataDir: join(dir, "worker"),
      concurrency: 1,
      quiet: true,
    });
    try {
      await fn(server);
    } finally {
      await worker.close();
    }
  } finally {
    await server.close();
  }
}
