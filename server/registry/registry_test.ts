import assert from "node:assert/strict";
import { ConflictError } from "./mod.ts";
import { SqliteRegistry } from "./sqlite.ts";

function fields(slug: string, extra: Partial<{ allowPublicList: boolean }> = {}) {
  return {
    slug,
    udfBody: JSON.stringify({ name: slug, code: "export default () => 1" }),
    udfType: "auto",
    allowPublicRead: false,
    allowPublicList: extra.allowPublicList ?? false,
  };
}

Deno.test("a new registry applies every migration and records the schema version", async () => {
  const registry = new SqliteRegistry(":memory:");
  assert.equal(registry.schemaVersion, 2);
  await registry.close();
});

Deno.test("a registry file reopens with its data and without re-running migrations", async () => {
  const dir = await Deno.makeTempDir();
  const first = new SqliteRegistry(`${dir}/r.db`);
  const user = await first.createUser({ email: "a@x.org" });
  await first.close();
  const second = new SqliteRegistry(`${dir}/r.db`);
  assert.equal((await second.getUser(user.id))?.email, "a@x.org");
  await second.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("users get a handle from their e-mail and a duplicate e-mail is a conflict", async () => {
  const registry = new SqliteRegistry(":memory:");
  const user = await registry.createUser({ email: "ann@x.org", team: "geo" });
  assert.equal(user.handle, "ann");
  assert.equal(user.team, "geo");
  await assert.rejects(registry.createUser({ email: "ann@x.org", handle: "other" }), ConflictError);
  await registry.close();
});

Deno.test("an API token authenticates its user and any altered token does not", async () => {
  const registry = new SqliteRegistry(":memory:");
  const user = await registry.createUser({ email: "a@x.org" });
  const { token } = await registry.createApiToken(user.id);
  assert.equal((await registry.authenticate(token))?.id, user.id);
  const altered = token.slice(0, -1) + (token.endsWith("0") ? "1" : "0");
  assert.equal(await registry.authenticate(altered), null);
  assert.equal(await registry.authenticate("not a token"), null);
  await registry.close();
});

Deno.test("saving a second UDF with the same name for one owner is a conflict", async () => {
  const registry = new SqliteRegistry(":memory:");
  const user = await registry.createUser({ email: "a@x.org" });
  await registry.createUdf(user.id, fields("roads"));
  await assert.rejects(registry.createUdf(user.id, fields("roads")), ConflictError);
  const other = await registry.createUser({ email: "b@x.org" });
  assert.equal((await registry.createUdf(other.id, fields("roads"))).slug, "roads");
  await registry.close();
});

Deno.test("UDF lists page and sort by name, and team lists include teammates' UDFs", async () => {
  const registry = new SqliteRegistry(":memory:");
  const a = await registry.createUser({ email: "a@x.org", team: "t" });
  const b = await registry.createUser({ email: "b@x.org", team: "t" });
  for (const name of ["c", "a", "b"]) await registry.createUdf(a.id, fields(name));
  await registry.createUdf(b.id, fields("d", { allowPublicList: true }));
  const page = await registry.listUdfs({ kind: "owner", ownerId: a.id }, { skip: 1, limit: 1 });
  assert.deepEqual(page.map((u) => u.slug), ["b"]);
  const desc = await registry.listUdfs({ kind: "owner", ownerId: a.id }, { sort: "-name" });
  assert.deepEqual(desc.map((u) => u.slug), ["c", "b", "a"]);
  const team = await registry.listUdfs({ kind: "team", team: "t" });
  assert.deepEqual(team.map((u) => u.slug), ["a", "b", "c", "d"]);
  assert.deepEqual((await registry.listUdfs({ kind: "public" })).map((u) => u.slug), ["d"]);
  assert.equal((await registry.findTeamUdf("t", "d"))?.ownerId, b.id);
  await registry.close();
});

Deno.test("share tokens are scoped to one UDF, updatable, and deleted with their UDF", async () => {
  const registry = new SqliteRegistry(":memory:");
  const user = await registry.createUser({ email: "a@x.org" });
  const udf = await registry.createUdf(user.id, fields("roads"));
  const token = await registry.createShareToken(udf.id, user.id, { cache: false });
  assert.match(token.token, /^fsh_[0-9a-f]{40}$/);
  assert.equal(token.cache, false);
  const updated = await registry.updateShareToken(token.token, {
    enabled: false,
    metadataJson: { a: 1 },
  });
  assert.equal(updated?.enabled, false);
  assert.deepEqual(updated?.metadataJson, { a: 1 });
  assert.equal(updated?.cache, false);
  await registry.deleteUdf(udf.id);
  assert.equal(await registry.getShareToken(token.token), null);
  await registry.close();
});

Deno.test("jobs move through statuses with start and finish times and collect logs", async () => {
  const registry = new SqliteRegistry(":memory:");
  const user = await registry.createUser({ email: "a@x.org" });
  const job = await registry.createJob(user.id, { udf: "x" });
  assert.equal(job.status, "pending");
  const running = await registry.setJobStatus(job.id, "running");
  assert.ok(running?.startedAt);
  await registry.appendJobLogs(job.id, "line 1\n");
  await registry.appendJobLogs(job.id, "line 2\n");
  const done = await registry.setJobStatus(job.id, "failed", "boom");
  assert.equal(done?.logs, "line 1\nline 2\n");
  assert.equal(done?.error, "boom");
  assert.ok(done?.finishedAt);
  assert.deepEqual((await registry.listJobs(user.id)).map((j) => j.id), [job.id]);
  assert.deepEqual(done?.config, { udf: "x" });
  await registry.close();
});

Deno.test("a setting is created once and then read back unchanged", async () => {
  const registry = new SqliteRegistry(":memory:");
  const first = await registry.getOrCreateSetting("k", () => "one");
  const second = await registry.getOrCreateSetting("k", () => "two");
  assert.equal(first, "one");
  assert.equal(second, "one");
  await registry.close();
});
