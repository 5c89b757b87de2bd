/**
 * The rules by which a user's UDF finds saved UDFs (server/saved_udfs.ts), against the embedded
 * registry: what the HTTP API lets the user read, and nothing it does not.
 */
import assert from "node:assert/strict";
import type { Registry, User } from "./registry/mod.ts";
import { SqliteRegistry } from "./registry/sqlite.ts";
import { findSavedUdf } from "./saved_udfs.ts";

const CODE = "export default () => 1";

async function save(registry: Registry, owner: User, slug: string, allowPublicRead = false) {
  return await registry.createUdf(owner.id, {
    slug,
    udfBody: JSON.stringify({ name: slug, code: CODE, entrypoint: "default" }),
    udfType: "auto",
    allowPublicRead,
    allowPublicList: allowPublicRead,
  });
}

async function world() {
  const registry = new SqliteRegistry(":memory:");
  const alice = await registry.createUser({ email: "alice@example.com", handle: "alice" });
  const bob = await registry.createUser({ email: "bob@example.com", handle: "bob" });
  const carol = await registry.createUser({ email: "carol@example.com", team: "geo" });
  const dave = await registry.createUser({ email: "dave@example.com", team: "geo" });
  const roads = await save(registry, alice, "roads");
  const secret = await save(registry, bob, "secret");
  await save(registry, bob, "open", true);
  await save(registry, carol, "tiles");
  return { registry, alice, bob, carol, dave, roads, secret };
}

Deno.test("a user finds their own UDFs by name, OWNER/NAME (handle or e-mail) and id", async () => {
  const { registry, alice, roads } = await world();
  for (const ref of ["roads", "alice/roads", "alice@example.com/roads", roads.id]) {
    const found = await findSavedUdf(registry, alice.id, ref, "load");
    assert.equal(found.udf.name, "roads", ref);
    assert.equal(found.udf.metadata?.["fused:id"], roads.id);
    assert.equal(found.actAs, alice.id);
  }
  await registry.close();
});

Deno.test("another user's UDF is found when it allows public read or is a teammate's", async () => {
  const { registry, alice, dave } = await world();
  assert.equal((await findSavedUdf(registry, alice.id, "bob/open", "run")).udf.name, "open");
  assert.equal((await findSavedUdf(registry, dave.id, "carol/tiles", "load")).udf.name, "tiles");
  assert.equal((await findSavedUdf(registry, dave.id, "team/tiles", "load")).udf.name, "tiles");
  await registry.close();
});

Deno.test("a private UDF of another user is refused in the words of a missing one", async () => {
  const { registry, alice, secret } = await world();
  const refusal = async (ref: string, purpose: "load" | "run") => {
    try {
      await findSavedUdf(registry, alice.id, ref, purpose);
    } catch (error) {
      return (error as Error).message;
    }
    assert.fail(`${ref} was found`);
  };
  for (const purpose of ["load", "run"] as const) {
    const hidden = await refusal("bob/secret", purpose);
    assert.match(hidden, /No UDF "secret" of bob that the caller may read/);
    assert.equal(hidden.replace("secret", "gone"), await refusal("bob/gone", purpose));
    assert.equal(
      (await refusal(secret.id, purpose)).replace(secret.id, "X"),
      (await refusal(crypto.randomUUID(), purpose)).replace(/[0-9a-f-]{36}/, "X"),
    );
  }
  assert.match(await refusal("secret", "load"), /The caller has no saved UDF "secret"/);
  assert.match(await refusal("a/b/c", "load"), /use NAME, OWNER\/NAME, team\/NAME/);
  assert.match(await refusal("bob/.hidden", "load"), /a UDF name is up to 128/);
  await registry.close();
});

Deno.test("a share token runs as its UDF's owner; its code is only for the owner", async () => {
  const { registry, alice, bob, secret } = await world();
  const token = await registry.createShareToken(secret.id, bob.id, { cache: false });
  const run = await findSavedUdf(registry, alice.id, token.token, "run");
  assert.deepEqual([run.udf.name, run.actAs, run.cache, run.token], [
    "secret",
    bob.id,
    false,
    token.token,
  ]);
  await assert.rejects(
    findSavedUdf(registry, alice.id, token.token, "load"),
    /only its owner can read its code; run it with fused\.run/,
  );
  assert.equal((await findSavedUdf(registry, bob.id, token.token, "load")).udf.name, "secret");
  await registry.updateShareToken(token.token, { enabled: false });
  await assert.rejects(findSavedUdf(registry, alice.id, token.token, "run"), /is disabled/);
  await assert.rejects(
    findSavedUdf(registry, alice.id, `fsh_${"0".repeat(32)}`, "run"),
    /Unknown share token/,
  );
  const open = await findSavedUdf(registry, alice.id, "UDF_open", "run");
  assert.deepEqual([open.udf.name, open.actAs], ["open", bob.id]);
  await registry.close();
});
