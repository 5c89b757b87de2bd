/**
 * Every registry behaviour, against both stores: the embedded SQLite file and PostgreSQL (a
 * throw-away cluster from tests/_postgres.ts).
 */
import assert from "node:assert/strict";
import { createDatabase } from "../../tests/_postgres.ts";
import { ConflictError, type Registry } from "./mod.ts";
import { PostgresRegistry } from "./postgres.ts";
import { SqliteRegistry } from "./sqlite.ts";
import { testTempDir } from "../../tests/_helpers.ts";

interface Backend {
  name: string;
  /** A fresh, empty registry. */
  open(): Promise<Registry>;
  /** A place that can be opened twice (a file, a database). */
  place(): Promise<string>;
  /** Opens the registry at a place. */
  reopen(place: string): Promise<Registry>;
  /** Its schema version. */
  version(registry: Registry): Promise<number>;
}

const BACKENDS: Backend[] = [
  {
    name: "SQLite",
    open: () => Promise.resolve(new SqliteRegistry(":memory:")),
    place: async () => `${await testTempDir()}/r.db`,
    reopen: (path) => Promise.resolve(new SqliteRegistry(path)),
    version: (r) => Promise.resolve((r as SqliteRegistry).schemaVersion),
  },
  {
    name: "PostgreSQL",
    open: async () => await PostgresRegistry.open(await createDatabase("registry")),
    place: () => createDatabase("registry"),
    reopen: (url) => PostgresRegistry.open(url),
    version: (r) => (r as PostgresRegistry).schemaVersion(),
  },
];

function fields(slug: string, extra: Partial<{ allowPublicList: boolean }> = {}) {
  return {
    slug,
    udfBody: JSON.stringify({ name: slug, code: "export default () => 1" }),
    udfType: "auto",
    allowPublicRead: false,
    allowPublicList: extra.allowPublicList ?? false,
  };
}

for (const backend of BACKENDS) {
  const test = (name: string, fn: (registry: Registry) => Promise<void>) =>
    Deno.test(`${backend.name}: ${name}`, async () => {
      const registry = await backend.open();
      try {
        await fn(registry);
      } finally {
        await registry.close();
      }
    });

  test("a new registry applies every migration and records the schema version", async (r) => {
    assert.ok(await backend.version(r) >= 1);
  });

  Deno.test(`${backend.name}: a registry reopens with its data and without re-running migrations`, async () => {
    const place = await backend.place();
    const first = await backend.reopen(place);
    const user = await first.createUser({ email: "a@x.org" });
    const version = await backend.version(first);
    await first.close();
    const second = await backend.reopen(place);
    assert.equal((await second.getUser(user.id))?.email, "a@x.org");
    assert.equal(await backend.version(second), version);
    await second.close();
  });

  test("users get a handle from their e-mail and a duplicate e-mail is a conflict", async (r) => {
    const user = await r.createUser({ email: "ann@x.org", team: "geo" });
    assert.equal(user.handle, "ann");
    assert.equal(user.team, "geo");
    await assert.rejects(r.createUser({ email: "ann@x.org", handle: "other" }), ConflictError);
    assert.equal((await r.createUser({ email: "bob@x.org", team: "geo" })).team, "geo");
  });

  test("an API token authenticates its user and any altered token does not", async (r) => {
    const user = await r.createUser({ email: "a@x.org" });
    const { token } = await r.createApiToken(user.id);
    assert.equal((await r.authenticate(token))?.id, user.id);
    const altered = token.slice(0, -1) + (token.endsWith("0") ? "1" : "0");
    assert.equal(await r.authenticate(altered), null);
    assert.equal(await r.authenticate("not a token"), null);
  });

  test("saving a second UDF with the same name for one owner is a conflict", async (r) => {
    const user = await r.createUser({ email: "a@x.org" });
    await r.createUdf(user.id, fields("roads"));
    await assert.rejects(r.createUdf(user.id, fields("roads")), ConflictError);
    const other = await r.createUser({ email: "b@x.org" });
    assert.equal((await r.createUdf(other.id, fields("roads"))).slug, "roads");
    const second = await r.createUdf(user.id, fields("rails"));
    await assert.rejects(r.updateUdf(second.id, fields("roads")), ConflictError);
  });

  test("of 20 parallel saves of one name exactly one wins and the rest conflict", async (r) => {
    const user = await r.createUser({ email: "a@x.org" });
    const outcomes = await Promise.allSettled(
      Array.from({ length: 20 }, () => r.createUdf(user.id, fields("race"))),
    );
    const won = outcomes.filter((o) => o.status === "fulfilled");
    const lost = outcomes.filter((o) => o.status === "rejected");
    assert.equal(won.length, 1);
    assert.equal(lost.length, 19);
    for (const o of lost) assert.ok((o as PromiseRejectedResult).reason instanceof ConflictError);
    assert.equal((await r.listUdfs({ kind: "owner", ownerId: user.id })).length, 1);
  });

  test("UDF lists page and sort by name, and team lists include teammates' UDFs", async (r) => {
    const a = await r.createUser({ email: "a@x.org", team: "t" });
    const b = await r.createUser({ email: "b@x.org", team: "t" });
    for (const name of ["c", "a", "B", "b"]) await r.createUdf(a.id, fields(name));
    await r.createUdf(b.id, fields("d", { allowPublicList: true }));
    const page = await r.listUdfs({ kind: "owner", ownerId: a.id }, { skip: 1, limit: 1 });
    assert.deepEqual(page.map((u) => u.slug), ["a"]);
    const desc = await r.listUdfs({ kind: "owner", ownerId: a.id }, { sort: "-name" });
    assert.deepEqual(desc.map((u) => u.slug), ["c", "b", "a", "B"]);
    const team = await r.listUdfs({ kind: "team", team: "t" });
    assert.deepEqual(team.map((u) => u.slug), ["B", "a", "b", "c", "d"]);
    assert.deepEqual((await r.listUdfs({ kind: "public" })).map((u) => u.slug), ["d"]);
    assert.equal((await r.findTeamUdf("t", "d"))?.ownerId, b.id);
    assert.equal((await r.findPublicUdf("d"))?.ownerId, b.id);
    assert.equal(await r.findPublicUdf("a"), null);
  });

  test("share tokens are scoped to one UDF, updatable, and deleted with their UDF", async (r) => {
    const user = await r.createUser({ email: "a@x.org" });
    const udf = await r.createUdf(user.id, fields("roads"));
    const token = await r.createShareToken(udf.id, user.id, { cache: false });
    assert.match(token.token, /^fsh_[0-9a-f]{40}$/);
    assert.equal(token.cache, false);
    const updated = await r.updateShareToken(token.token, {
      enabled: false,
      metadataJson: { a: 1 },
    });
    assert.equal(updated?.enabled, false);
    assert.deepEqual(updated?.metadataJson, { a: 1 });
    assert.equal(updated?.cache, false);
    assert.deepEqual((await r.listShareTokens(user.id)).map((t) => t.token), [token.token]);
    await r.deleteUdf(udf.id);
    assert.equal(await r.getShareToken(token.token), null);
  });

  test("a share token and its UDF are read together, as separately, until either goes", async (r) => {
    const user = await r.createUser({ email: "a@x.org" });
    const udf = await r.createUdf(user.id, fields("roads"));
    const token = await r.createShareToken(udf.id, user.id, { cache: false });
    assert.deepEqual(await r.getShareTokenUdf(token.token), {
      token: await r.getShareToken(token.token),
      udf: await r.getUdf(udf.id),
    });
    const edited = await r.updateUdf(udf.id, { ...fields("roads2"), allowPublicRead: true });
    await r.updateShareToken(token.token, { enabled: false });
    const both = await r.getShareTokenUdf(token.token);
    assert.equal(both?.token.enabled, false);
    assert.deepEqual(both?.udf, edited);
    assert.equal(await r.getShareTokenUdf("fsh_00000000000000000000"), null);
    await r.deleteUdf(udf.id);
    assert.equal(await r.getShareTokenUdf(token.token), null);
  });

  test("jobs move through statuses with start and finish times and collect logs", async (r) => {
    const user = await r.createUser({ email: "a@x.org" });
    const job = await r.createJob(user.id, { udf: "x" }, { name: "n", instanceType: "small" });
    assert.equal(job.status, "pending");
    assert.equal(job.instanceType, "small");
    const running = await r.setJobStatus(job.id, "running", null, { from: ["pending"] });
    assert.ok(running?.startedAt);
    assert.equal(await r.setJobStatus(job.id, "running", null, { from: ["pending"] }), null);
    await r.appendJobLogs(job.id, "line 1\n");
    await r.appendJobLogs(job.id, "line 2\n");
    const done = await r.setJobStatus(job.id, "failed", "boom");
    assert.equal(done?.logs, "line 1\nline 2\n");
    assert.equal(done?.error, "boom");
    assert.ok(done?.finishedAt);
    assert.deepEqual((await r.listJobs(user.id)).map((j) => j.id), [job.id]);
    assert.deepEqual((await r.listJobsWithStatus(["failed"])).map((j) => j.id), [job.id]);
    assert.deepEqual(done?.config, { udf: "x" });
  });

  test("job log lines keep their order, their offset and a since filter", async (r) => {
    const user = await r.createUser({ email: "a@x.org" });
    const job = await r.createJob(user.id, {});
    await r.appendJobLogLines(job.id, [{ timestamp: 10, message: "a" }, {
      timestamp: 20,
      message: "b",
    }], 7);
    await r.appendJobLogLines(job.id, [{ timestamp: 30, message: "c" }]);
    assert.deepEqual((await r.getJobLogs(job.id)).map((l) => l.message), ["a", "b", "c"]);
    assert.deepEqual((await r.getJobLogs(job.id, { sinceMs: 20 })).map((l) => l.message), ["c"]);
    assert.equal((await r.getJob(job.id))?.logOffset, 7);
    await r.setJobProcess(job.id, { pid: 42, startTime: "99" });
    await r.setJobResults(job.id, [{ name: "0.parquet", key: "jobs/x/0.parquet" }]);
    const after = await r.getJob(job.id);
    assert.deepEqual(after?.process, { pid: 42, startTime: "99" });
    assert.equal(after?.results[0].name, "0.parquet");
  });

  test("a setting is created once and then read back unchanged", async (r) => {
    const first = await r.getOrCreateSetting("k", () => "one");
    const second = await r.getOrCreateSetting("k", () => "two");
    assert.equal(first, "one");
    assert.equal(second, "one");
    await r.putSetting("k", "three");
    assert.equal(await r.getOrCreateSetting("k", () => "four"), "three");
  });

  test("an API token is refused once revoked or expired, and listed without its secret", async (r) => {
    const user = await r.createUser({ email: "t@x.org" });
    const lasting = await r.createApiToken(user.id, { name: "ci" });
    const expired = await r.createApiToken(user.id, {
      expiresAt: new Date(Date.now() - 1000).toISOString(),
    });
    const later = await r.createApiToken(user.id, {
      expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
    });
    assert.equal((await r.authenticate(lasting.token))?.id, user.id);
    assert.equal(await r.authenticate(expired.token), null);
    assert.equal((await r.authenticate(later.token))?.id, user.id);
    assert.equal(await r.revokeApiToken(lasting.id), true);
    assert.equal(await r.revokeApiToken(lasting.id), false, "revoked once");
    assert.equal(await r.authenticate(lasting.token), null);
    const listed = await r.listApiTokens(user.id);
    assert.deepEqual(listed.map((t) => t.id).sort(), [lasting.id, expired.id, later.id].sort());
    const ci = listed.find((t) => t.id === lasting.id)!;
    assert.equal(ci.name, "ci");
    assert.ok(ci.revokedAt);
    assert.equal(ci.expiresAt, null);
    assert.ok(!JSON.stringify(listed).includes(lasting.token.slice(-48)));
  });

  test("a job's idempotency key is its owner's: a repeat conflicts, another owner's does not", async (r) => {
    const [ann, bob] = [
      await r.createUser({ email: "ann@x.org" }),
      await r.createUser({ email: "bob@x.org" }),
    ];
    const job = await r.createJob(ann.id, {}, { idempotencyKey: "k" });
    await assert.rejects(r.createJob(ann.id, {}, { idempotencyKey: "k" }), ConflictError);
    const bobs = await r.createJob(bob.id, {}, { idempotencyKey: "k" });
    assert.equal((await r.findJobByIdempotencyKey(ann.id, "k"))?.id, job.id);
    assert.equal((await r.findJobByIdempotencyKey(bob.id, "k"))?.id, bobs.id);
    assert.equal(await r.findJobByIdempotencyKey(ann.id, "other"), null);
    // Jobs without a key never clash.
    await r.createJob(ann.id, {});
    await r.createJob(ann.id, {});
    await r.ping();
  });

  test("a page is published, replaced under its name, listed and removed", async (r) => {
    const user = await r.createUser({ email: "p@x.org" });
    const other = await r.createUser({ email: "q@x.org" });
    const html = new Uint8Array([1, 2, 3, 0, 255]);
    const layer = { token: "fsh_00", udfId: "u1", udfSlug: "tiles" };
    const first = await r.savePage(user.id, {
      name: "main",
      notebook: "main.ipynb",
      layers: [layer],
      sizeBytes: 10,
      htmlGzip: html,
    });
    assert.equal(first.previous, null);
    assert.deepEqual(first.page.layers, [layer]);
    const second = await r.savePage(user.id, {
      name: "main",
      notebook: "other.ipynb",
      layers: [],
      sizeBytes: 4,
      htmlGzip: new Uint8Array([9]),
    });
    assert.deepEqual(second.previous?.layers, [layer], "the replaced page comes back");
    assert.equal(second.page.createdAt, first.page.createdAt);
    const page = await r.getPage(user.id, "main");
    assert.deepEqual([...page!.htmlGzip], [9]);
    assert.equal(page!.notebook, "other.ipynb");
    assert.equal(await r.getPage(other.id, "main"), null, "pages are per owner");
    assert.deepEqual((await r.listPages(user.id)).map((p) => p.name), ["main"]);
    assert.deepEqual(await r.listPages(other.id), []);
    assert.equal((await r.deletePage(user.id, "main"))?.name, "main");
    assert.equal(await r.deletePage(user.id, "main"), null);
    assert.equal(await r.getPage(user.id, "main"), null);
  });

  test("fd:// files count for the user who wrote them last, and a delete frees a folder's files", async (r) => {
    await r.recordFile("a/1.bin", "u1", 100);
    await r.recordFile("a/2.bin", "u1", 50);
    await r.recordFile("a2.bin", "u1", 7);
    await r.recordFile("b.bin", "u2", 5);
    assert.equal(await r.storedBytes("u1"), 157);
    assert.equal(await r.storedBytes("u1", "a/1.bin"), 57);
    // An overwrite by another user moves the bytes to them.
    await r.recordFile("a/2.bin", "u2", 60);
    assert.equal(await r.storedBytes("u1"), 107);
    assert.equal(await r.storedBytes("u2"), 65);
    // Deleting the folder "a" frees a/*, not the file "a2.bin" beside it.
    await r.forgetFiles("a");
    assert.equal(await r.storedBytes("u1"), 7);
    assert.equal(await r.storedBytes("u2"), 5);
    await r.forgetFiles("b.bin");
    assert.equal(await r.storedBytes("u2"), 0);
    assert.equal(await r.storedBytes("nobody"), 0);
  });
}

Deno.test("PostgreSQL: lines written by two writers get strictly increasing times", async () => {
  const url = await createDatabase("registry");
  const [a, b] = [await PostgresRegistry.open(url), await PostgresRegistry.open(url)];
  try {
    const user = await a.createUser({ email: "a@x.org" });
    const job = await a.createJob(user.id, {});
    await Promise.all([
      a.appendJobLogLines(job.id, [{ timestamp: 5, message: "a1" }, {
        timestamp: 5,
        message: "a2",
      }]),
      b.appendJobLogLines(job.id, [{ timestamp: 5, message: "b1" }]),
    ]);
    const times = (await a.getJobLogs(job.id)).map((l) => l.timestamp);
    assert.equal(times.length, 3);
    for (let i = 1; i < times.length; i++) assert.ok(times[i] > times[i - 1]);
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("PostgreSQL: a job's later attempt fences off every write of the one before", async () => {
  const registry = await PostgresRegistry.open(await createDatabase("registry"));
  try {
    const user = await registry.createUser({ email: "a@x.org" });
    const job = await registry.createJob(user.id, {});
    const first = await registry.claimJob(job.id, "w1");
    assert.equal(first?.attempt, 1);
    assert.equal(first?.previousWorker, null);
    // w1 froze; its job was handed to w2.
    const second = await registry.claimJob(job.id, "w2");
    assert.equal(second?.attempt, 2);
    assert.equal(second?.previousWorker, "w1");
    await registry.appendJobLogLines(job.id, [{ timestamp: 1, message: "stale" }], undefined, 1);
    const end = { results: [], channel: "ends" };
    assert.equal(
      await registry.finishJobAttempt(job.id, 1, { ...end, status: "failed", error: "stale" }),
      null,
    );
    await registry.appendJobLogLines(job.id, [{ timestamp: 2, message: "live" }], undefined, 2);
    const ended: string[] = [];
    const unlisten = await registry.listen("ends", (id) => ended.push(id));
    const done = await registry.finishJobAttempt(job.id, 2, {
      ...end,
      status: "succeeded",
      error: null,
    });
    assert.equal(done?.status, "succeeded");
    for (let i = 0; i < 100 && ended.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(ended, [job.id], "the end of the live attempt is notified, once");
    await unlisten();
    assert.deepEqual((await registry.getJobLogs(job.id)).map((l) => l.message), ["live"]);
    assert.equal(await registry.claimJob(job.id, "w3"), null, "a finished job is not claimed");
  } finally {
    await registry.close();
  }
});

Deno.test("PostgreSQL: an attempt handed back by a draining worker is not counted", async () => {
  const registry = await PostgresRegistry.open(await createDatabase("registry"));
  try {
    const user = await registry.createUser({ email: "a@x.org" });
    const job = await registry.createJob(user.id, {});
    const first = await registry.claimJob(job.id, "w1");
    assert.equal(await registry.releaseJobAttempt(job.id, first!.attempt), 0);
    assert.equal((await registry.getJob(job.id))?.status, "pending");
    assert.equal(await registry.releaseJobAttempt(job.id, first!.attempt), null, "only once");
    const second = await registry.claimJob(job.id, "w2");
    assert.deepEqual([second?.attempt, second?.counted], [2, 1]);
  } finally {
    await registry.close();
  }
});

Deno.test("PostgreSQL: a cancel request of a running job is flagged and notified", async () => {
  const registry = await PostgresRegistry.open(await createDatabase("registry"));
  try {
    const user = await registry.createUser({ email: "a@x.org" });
    const job = await registry.createJob(user.id, {});
    const heard = Promise.withResolvers<string>();
    const unlisten = await registry.listen("test_cancel", (id) => heard.resolve(id));
    try {
      assert.equal(await registry.requestCancel(job.id, "test_cancel"), false, "not running yet");
      await registry.claimJob(job.id, "w1");
      assert.equal(await registry.requestCancel(job.id, "test_cancel"), true);
      assert.equal(await heard.promise, job.id);
      assert.equal((await registry.jobAttempt(job.id))?.cancelRequested, true);
    } finally {
      await unlisten();
    }
  } finally {
    await registry.close();
  }
});
