import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { ValidationError } from "../client/errors.ts";
import { createDatabase } from "../tests/_postgres.ts";
import { expiryTime, runAdmin } from "./admin.ts";
import { PostgresRegistry } from "./registry/postgres.ts";
import { SqliteRegistry } from "./registry/sqlite.ts";
import type { Registry } from "./registry/mod.ts";

const CLI = fileURLToPath(new URL("../cli.ts", import.meta.url));

async function commands(registry: Registry): Promise<void> {
  const user = await runAdmin(registry, ["user", "create", "ana@x.org", "--team", "geo"]);
  assert.match(user, /\tana@x\.org\tana$/);
  const token = await runAdmin(registry, [
    "token",
    "create",
    "ana@x.org",
    "--name",
    "ci",
    "--expires",
    "2d",
  ]);
  assert.equal((await registry.authenticate(token))?.email, "ana@x.org");
  const [line] = (await runAdmin(registry, ["token", "list", "ana@x.org"])).split("\n");
  const [id, name, , expires, revoked] = line.split("\t");
  assert.equal(name, "ci");
  const days = (Date.parse(expires) - Date.now()) / 86_400_000;
  assert.ok(days > 1.99 && days <= 2, expires);
  assert.equal(revoked, "-");
  assert.equal(await runAdmin(registry, ["token", "revoke", id]), `Revoked ${id}`);
  assert.equal(await registry.authenticate(token), null);
  await assert.rejects(runAdmin(registry, ["token", "revoke", id]), /No usable token/);
  await assert.rejects(
    runAdmin(registry, ["token", "create", "bob@x.org"]),
    /No user bob@x\.org: create it first with fused admin user create bob@x\.org/,
  );
}

Deno.test("fused admin creates users and expiring tokens and revokes them, on SQLite", async () => {
  const registry = new SqliteRegistry(":memory:");
  try {
    await commands(registry);
  } finally {
    await registry.close();
  }
});

Deno.test("fused admin does the same on the platform's PostgreSQL", async () => {
  const registry = await PostgresRegistry.open(await createDatabase("admin"));
  try {
    await commands(registry);
  } finally {
    await registry.close();
  }
});

Deno.test("an expiry is hours or days, and anything else is refused naming the form", () => {
  assert.equal(expiryTime("12h", 0), new Date(12 * 3_600_000).toISOString());
  assert.equal(expiryTime("30d", 0), new Date(30 * 86_400_000).toISOString());
  for (const bad of ["0d", "10", "1w", "-1d"]) {
    assert.throws(() => expiryTime(bad), ValidationError);
    assert.throws(() => expiryTime(bad), /use a whole number of hours or days, e\.g\. 12h or 30d/);
  }
});

Deno.test("the fused admin command prints a token on stdout and errors as one line", async () => {
  const dir = await Deno.makeTempDir();
  const run = async (...args: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", CLI, "admin", ...args, "--data-dir", dir],
      env: { FUSED_DATABASE_URL: "" },
    }).output();
    const text = (b: Uint8Array) => new TextDecoder().decode(b).trim();
    return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
  };
  try {
    assert.equal((await run("user", "create", "ana@x.org")).code, 0);
    const made = await run("token", "create", "ana@x.org");
    assert.equal(made.code, 0, made.stderr);
    assert.match(made.stdout, /^fused_[0-9a-f]{16}_[0-9a-f]{48}$/);
    const dup = await run("user", "create", "ana@x.org");
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /^fused admin: A user with e-mail "ana@x\.org"/);
    const unknown = await run("token", "frobnicate");
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /Unknown admin command "token frobnicate"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
