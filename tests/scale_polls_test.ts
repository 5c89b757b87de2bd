/**
 * A polled run is not pinned to the service that started it: with `baseUrl = [A, B]` the SDK's
 * polls go to any service, and when A stops mid-run they go on to B, which answers from the
 * shared store. Two in-process services on one throw-away PostgreSQL database and one folder store.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runCode } from "../client/api/realtime.ts";
import { withScope } from "../client/api/_test_util.ts";
import { Transport } from "../client/api/transport.ts";
import { udf } from "../client/udf.ts";
import { startServer } from "../server/mod.ts";
import { createDatabase } from "./_postgres.ts";

const SLEEPS = `export default async function udf({ ms = 0 }) {
  await new Promise((resolve) => setTimeout(resolve, ms));
  return "slept " + ms;
}
`;

/** Files under a folder, recursively (none when it does not exist yet). */
async function filesUnder(dir: string): Promise<number> {
  let n = 0;
  try {
    for await (const entry of Deno.readDir(dir)) {
      n += entry.isDirectory ? await filesUnder(join(dir, entry.name)) : 1;
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return n;
}

Deno.test("a polled run's polls fail over to another service when the one running it stops", async () => {
  const dir = await Deno.makeTempDir({ prefix: "scale_polls_" });
  const databaseUrl = await createDatabase("polls");
  const storageUrl = join(dir, "store");
  const start = (name: string) =>
    startServer({
      port: 0,
      dataDir: join(dir, name),
      quiet: true,
      databaseUrl,
      storageUrl,
      startWaitMs: 20,
    });
  const a = await start("a");
  const b = await start("b");
  let aClosed: Promise<void> | undefined;
  try {
    await withScope(
      { requestRetryBaseDelay: 0.01, cacheDirectory: join(dir, "cache") },
      async () => {
        // A fresh transport sends its first request (the start) to A, the first of its list.
        const transport = new Transport({ baseUrl: [a.baseUrl, b.baseUrl], token: a.adminToken });
        const run = runCode(udf(SLEEPS, { name: "sleeps" }), {
          transport,
          clientId: "local",
          parameters: { ms: 2500 },
          cacheMaxAge: 0,
        });
        // A records the run in the shared store once it started it; then A goes away (it lets the
        // run finish and store its answer, but answers no request any more).
        const runs = `${storageUrl}.runs`;
        for (let i = 0; i < 200 && await filesUnder(runs) === 0; i++) {
          await new Promise((r) => setTimeout(r, 25));
        }
        assert.ok(await filesUnder(runs) > 0, "A recorded the run in the shared store");
        aClosed = a.close();
        const answer = await run;
        assert.equal(answer.data, "slept 2500");
      },
    );
  } finally {
    await (aClosed ?? a.close());
    await b.close();
    await Deno.remove(dir, { recursive: true });
  }
});
