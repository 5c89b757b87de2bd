import assert from "node:assert/strict";
import { ObjectCache } from "./object_cache.ts";
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
