/** What the PostgreSQL registry says when the server is unreachable or refuses, and recovery. */
import assert from "node:assert/strict";
import {
  createDatabase,
  freePort,
  PG_PASSWORD,
  startPostgres,
  stopPostgres,
} from "../../tests/_postgres.ts";
import { BackendUnavailableError } from "../backend_errors.ts";
import { ConflictError, openRegistry } from "./mod.ts";
import { PostgresRegistry, type SqlExecutor, withQueuedJob } from "./postgres.ts";

function clear(pattern: RegExp) {
  return (e: Error) => {
    assert.ok(e instanceof BackendUnavailableError, `${e.name}: ${e.message}`);
    assert.match(e.message, pattern);
    assert.doesNotMatch(e.message, /\n|\.$/);
    assert.equal(e.status, 503);
    return true;
  };
}

Deno.test("a registry on a port where nothing listens fails with a message naming the server", async () => {
  const port = freePort();
  await assert.rejects(
    PostgresRegistry.open(`postgres://fused:x@127.0.0.1:${port}/db`),
    clear(
      new RegExp(`^Cannot reach PostgreSQL at 127\\.0\\.0\\.1:${port}/db .*check that it runs`),
    ),
  );
});

Deno.test("a registry with a wrong password fails with a message about the credentials", async () => {
  const url = await createDatabase("creds");
  await assert.rejects(
    PostgresRegistry.open(url.replace(PG_PASSWORD, "wrong")),
    clear(/refused the credentials .*fix the user and password/),
  );
});

Deno.test("a --database URL of another kind is refused with the form to use", async () => {
  await assert.rejects(
    openRegistry({ databaseUrl: "mysql://u:secret@h/db", sqlitePath: ":memory:" }),
    (e: Error) => {
      assert.match(e.message, /Unsupported database URL "mysql:\/\/u:\*\*\*@h\/db": use postgres:/);
      return true;
    },
  );
});

Deno.test("while PostgreSQL is down calls fail clearly, and they work again once it is back", async () => {
  const registry = await PostgresRegistry.open(await createDatabase("restart"));
  try {
    const user = await registry.createUser({ email: "a@x.org" });
    await stopPostgres();
    try {
      await assert.rejects(registry.getUser(user.id), clear(/^Cannot reach PostgreSQL at /));
      await assert.rejects(
        registry.createQueuedJob(
          user.id,
          { config: {}, fields: {}, firstLines: ["Job queued"] },
          (db) => db.executeSql("SELECT 1"),
        ),
        clear(/^Cannot reach PostgreSQL at /),
      );
    } finally {
      await startPostgres();
    }
    assert.equal((await registry.getUser(user.id))?.email, "a@x.org");
  } finally {
    await registry.close();
  }
});

Deno.test("a queued job, its first lines and its queue entry are written together or not at all", async () => {
  // One connection: a transaction left open on it would show its job to the reads below.
  const registry = await PostgresRegistry.open(await createDatabase("queued"), { max: 1 });
  try {
    const user = await registry.createUser({ email: "q@x.org" });
    // The queue entry here is a settings row, written through the executor pg-boss would get.
    const enqueued = (id: string) => registry.getOrCreateSetting(`queued ${id}`, () => "no");
    const ids: string[] = [];
    const enqueue = async (db: SqlExecutor, id: string) => {
      ids.push(id);
      return await db.executeSql("INSERT INTO settings (key, value) VALUES ($1, 'yes')", [
        `queued ${id}`,
      ]);
    };
    const job = (key: string, firstLines = ["Job queued", "No worker declares it"]) => ({
      config: { steps: [1] },
      fields: { name: "j", instanceType: "large", idempotencyKey: key },
      firstLines,
    });
    const first = await registry.createQueuedJob(user.id, job("k1"), enqueue);
    assert.deepEqual(first, await registry.getJob(first.id), "it answers the stored row");
    assert.equal(first.status, "pending");
    assert.equal(first.instanceType, "large");
    const logs = await registry.getJobLogs(first.id);
    assert.deepEqual(logs.map((l) => l.message), ["Job queued", "No worker declares it"]);
    assert.ok(logs[0].timestamp < logs[1].timestamp, "times strictly increase");
    assert.equal(await enqueued(first.id), "yes");

    // The same key again: a conflict, and the second job's queue entry is rolled back.
    await assert.rejects(registry.createQueuedJob(user.id, job("k1"), enqueue), ConflictError);
    assert.equal(await registry.getJob(ids[1]), null);
    assert.equal(await enqueued(ids[1]), "no");
    assert.equal((await registry.findJobByIdempotencyKey(user.id, "k1"))?.id, first.id);

    // A failing enqueue leaves neither the job nor its lines.
    await assert.rejects(
      registry.createQueuedJob(user.id, job("k2", ["one line"]), async (db, id) => {
        ids.push(id);
        await db.executeSql("SELECT 1 / 0");
      }),
      /division by zero/,
    );
    assert.equal(await registry.getJob(ids[2]), null);
    assert.deepEqual(await registry.getJobLogs(ids[2]), []);
    assert.equal(await registry.findJobByIdempotencyKey(user.id, "k2"), null);

    // An enqueue that fails before its insert (pg-boss without the queue) leaves nothing either.
    await assert.rejects(
      registry.createQueuedJob(user.id, job("k3"), (_db, id) => {
        ids.push(id);
        return Promise.reject(new Error("Queue fused-jobs does not exist"));
      }),
      /Queue fused-jobs does not exist/,
    );
    assert.equal(await registry.getJob(ids[3]), null);
    assert.deepEqual(await registry.getJobLogs(ids[3]), []);
    const after = await registry.createQueuedJob(user.id, job("k3"), enqueue);
    assert.equal((await registry.findJobByIdempotencyKey(user.id, "k3"))?.id, after.id);

    // An enqueue that never writes is refused: a job with no queue entry would never run.
    await assert.rejects(
      registry.createQueuedJob(user.id, job("k4"), (_db, id) => {
        ids.push(id);
        return Promise.resolve("not sent");
      }),
      /The job queue wrote no entry for job .*, so it was not recorded either/,
    );
    assert.equal(await registry.getJob(ids[5]), null);
    assert.deepEqual(await registry.getJobLogs(ids[5]), []);
  } finally {
    await registry.close();
  }
});

Deno.test("a queue entry written by a statement with its own WITH (as pg-boss's) joins the job's statement", async () => {
  const registry = await PostgresRegistry.open(await createDatabase("queuedwith"), { max: 1 });
  try {
    const user = await registry.createUser({ email: "w@x.org" });
    let answer: unknown[] = [];
    const queued = await registry.createQueuedJob(
      user.id,
      { config: { steps: [2] }, fields: { idempotencyKey: "w1" }, firstLines: ["Job queued"] },
      async (db, id) => {
        ({ rows: answer } = await db.executeSql(
          `WITH ins AS (INSERT INTO settings (key, value) VALUES ($1, $2) RETURNING key),
             seen AS (SELECT count(*) AS n FROM ins)
           SELECT key AS id FROM ins WHERE (SELECT n FROM seen) >= 0`,
          [`queued ${id}`, "yes"],
        ));
      },
    );
    assert.deepEqual(answer, [{ id: `queued ${queued.id}` }], "the enqueue gets its own answer");
    assert.deepEqual(queued, await registry.getJob(queued.id));
    assert.deepEqual((await registry.getJobLogs(queued.id)).map((l) => l.message), ["Job queued"]);
    assert.equal(await registry.getOrCreateSetting(`queued ${queued.id}`, () => "no"), "yes");
  } finally {
    await registry.close();
  }
});

Deno.test("the job's inserts join a WITH RECURSIVE list, and go before a statement without WITH", () => {
  const joined = withQueuedJob(
    "\n  with recursive r(n) AS (SELECT 1) SELECT n FROM r WHERE n = $1",
    1,
  );
  assert.match(joined, /^WITH RECURSIVE fused_queued_job AS \(INSERT INTO jobs /);
  assert.match(joined, /VALUES \(\$2, \$3, 'pending', \$4, \$5,\s+\$5, \$6, \$7, \$8\)/);
  assert.match(joined, /unnest\(\$9::bigint\[\], \$10::text\[\]\)/);
  assert.match(
    joined,
    /ORDER BY line\.n\),\nr\(n\) AS \(SELECT 1\) SELECT n FROM r WHERE n = \$1$/,
  );
  assert.match(
    withQueuedJob("SELECT 1", 0),
    /^WITH fused_queued_job AS [^]*ORDER BY line\.n\)\nSELECT 1$/,
  );
});
