import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { ObjectCache, type ObjectFolderClear } from "./object_cache.ts";
import { LocalStorage } from "./storage.ts";

const FOLDER = "0123456789abcdef".repeat(4);
const KEY = `${FOLDER}/${"a".repeat(64)}`;

async function withCache(fn: (cache: ObjectCache, root: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "fused_object_cache_" });
  try {
    await fn(new ObjectCache(new LocalStorage(root)), root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("an entry is its user's only, under fused.cache/<user>/<folder digest>/<key digest>", () =>
  withCache(async (cache, root) => {
    await cache.put("u1", KEY, new Uint8Array([7, 8]));
    const found = await cache.get("u1", KEY, 60);
    assert.deepEqual(found?.bytes, new Uint8Array([7, 8]));
    assert.ok(found.ageMs >= 0 && found.ageMs < 60_000);
    assert.equal(await cache.get("u2", KEY, 60), null, "another user's key names nothing");
    assert.ok(Deno.statSync(`${root}/fused.cache/u1/${KEY}`).isFile);
  }));

Deno.test("an entry older than the max age is a miss", () =>
  withCache(async (cache, root) => {
    await cache.put("u1", KEY, new Uint8Array([1]));
    const hourAgo = new Date(Date.now() - 3600_000);
    await Deno.utime(`${root}/fused.cache/u1/${KEY}`, hourAgo, hourAgo);
    assert.equal(await cache.get("u1", KEY, 60), null);
    assert.ok((await cache.get("u1", KEY, 7200))!.ageMs >= 3600_000);
  }));

Deno.test("keys and user ids that could name another path are refused", () =>
  withCache(async (cache) => {
    await assert.rejects(() => cache.get("u1", "../x", 60), /two SHA-256 hex digests/);
    await assert.rejects(() => cache.get("u1", FOLDER, 60), /two SHA-256 hex digests/);
    await assert.rejects(() => cache.get("u1", `${FOLDER}/../${FOLDER}`, 60), /two SHA-256/);
    await assert.rejects(() => cache.clear("u1", "../u2"), /64 characters 0-9a-f/);
    await assert.rejects(() => cache.clear("u1", `${FOLDER}/x`), /64 characters 0-9a-f/);
    await assert.rejects(() => cache.put("../u2", KEY, new Uint8Array()), /cannot name/);
    await assert.rejects(() => cache.put("u1", KEY.toUpperCase(), new Uint8Array()), /SHA-256/);
  }));

Deno.test("clearing deletes every entry of its user and none of another's", () =>
  withCache(async (cache) => {
    const other = `${"f".repeat(64)}/${"a".repeat(64)}`;
    await cache.put("u1", KEY, new Uint8Array([1]));
    await cache.put("u1", other, new Uint8Array([2]));
    await cache.put("u2", KEY, new Uint8Array([3]));
    assert.equal(await cache.clear("u1"), true);
    assert.equal(await cache.get("u1", KEY, 60), null);
    assert.equal(await cache.get("u1", other, 60), null);
    assert.deepEqual((await cache.get("u2", KEY, 60))?.bytes, new Uint8Array([3]));
    assert.equal(await cache.clear("u1"), false, "nothing left to clear");
    await assert.rejects(() => cache.clear("../u2"), /cannot name/);
  }));

Deno.test("clearing one folder deletes that folder's entries of its user only", () =>
  withCache(async (cache, root) => {
    const sameFolder = `${FOLDER}/${"b".repeat(64)}`;
    const otherFolder = `${"f".repeat(64)}/${"a".repeat(64)}`;
    await cache.put("u1", KEY, new Uint8Array([1]));
    await cache.put("u1", sameFolder, new Uint8Array([2]));
    await cache.put("u1", otherFolder, new Uint8Array([3]));
    await cache.put("u2", KEY, new Uint8Array([4]));
    assert.equal(await cache.clear("u1", FOLDER), true);
    assert.equal(await cache.get("u1", KEY, 60), null);
    assert.equal(await cache.get("u1", sameFolder, 60), null);
    assert.deepEqual((await cache.get("u1", otherFolder, 60))?.bytes, new Uint8Array([3]));
    assert.deepEqual((await cache.get("u2", KEY, 60))?.bytes, new Uint8Array([4]));
    assert.equal(await cache.clear("u1", FOLDER), false, "nothing left in it");
    // An entry of the earlier layout (one digest of folder and key) is never read, and the
    // user's full clear deletes it.
    const legacy = `${root}/fused.cache/u1/${"c".repeat(64)}`;
    await Deno.writeFile(legacy, new Uint8Array([9]));
    assert.equal(await cache.clear("u1"), true);
    await assert.rejects(() => Deno.stat(legacy), Deno.errors.NotFound);
  }));

Deno.test("a folder's clear deletes this machine's near copies of it and tells the others", async () => {
  const root = await Deno.makeTempDir({ prefix: "fused_object_near_" });
  try {
    const near = (user: string) => join(root, "near", user);
    const told: ObjectFolderClear[] = [];
    const cache = new ObjectCache(new LocalStorage(join(root, "store")), {
      nearCache: near,
      announce: (clear) => Promise.resolve(void told.push(clear)),
    });
    // Near copies as the SDK lays them out: <base>/<folder>/data_<key>/value.bin.
    const copy = (user: string, folder: string, key: string) => {
      const dir = join(near(user), folder, `data_${key}`);
      Deno.mkdirSync(dir, { recursive: true });
      Deno.writeFileSync(join(dir, "value.bin"), new Uint8Array([1]));
      return dir;
    };
    const digest = (name: string) => createHash("sha256").update(name).digest("hex");
    const mine = [
      copy("u1", "udf/pick", "k1"),
      copy("u1", "udf/pick", "k2"),
      copy("u1", "udf/other/udf/pick", "k0"), // a UDF's process keeps its own under udf/<name>
    ];
    const kept = [
      copy("u1", "udf", "k3"), // the parent folder is another folder
      copy("u1", "udf/pick/inner", "k4"), // and so is a folder inside it
      copy("u1", "tmp", "k5"),
      copy("u2", "udf/pick", "k6"), // another user's
    ];
    await cache.put("u1", `${digest("udf/pick")}/${"a".repeat(64)}`, new Uint8Array([1]));
    assert.equal(await cache.clear("u1", digest("udf/pick")), true);
    for (const dir of mine) await assert.rejects(() => Deno.stat(dir), Deno.errors.NotFound);
    for (const dir of kept) assert.ok(Deno.statSync(dir).isDirectory, dir);
    assert.deepEqual(told, [{ userId: "u1", folder: digest("udf/pick") }]);
    // Another machine, told: its near copies only (the store's entry is gone already).
    assert.equal(await cache.clearNear("u2", digest("udf/pick")), 1);
    await assert.rejects(() => Deno.stat(kept[3]), Deno.errors.NotFound);
    await assert.rejects(() => cache.clearNear("../u1", digest("tmp")), /cannot name/);
    await assert.rejects(() => cache.clearNear("u1", "tmp"), /64 characters 0-9a-f/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
