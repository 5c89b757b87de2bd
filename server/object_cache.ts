/**
 * `fused.cache` with `cacheStorage: "object"` on the platform's shared store: the entries of
 * each user live under `fused.cache/<user id>/<folder digest>/<key digest>` of the cache store
 * beside the `fd://` store (`<prefix>.cache`, see `siblingStoreUrl`; the run cache's folders there
 * are `code/` and `udf-*`), so no `fd://` path reaches them and one user's key never names
 * another's entry. Both digests are SHA-256 hex (the SDK hashes the cache folder and the key), so
 * a caller names no path of its own, yet one folder's entries can be deleted alone. An entry is
 * the SDK's cache envelope (client/formats/envelope.ts) as it was written; its age is the store's
 * modification time, so it is read only while younger than the caller's max age.
 *
 * Entries of the earlier layout (`fused.cache/<user id>/<one digest>`) are never read: a call
 * misses and computes again; the caller's full clear deletes them.
 *
 * @module
 */
import { join } from "node:path";
import { deleteNearFolder } from "../client/cache.ts";
import { ValidationError } from "../client/errors.ts";
import { readBytes, type Storage, writeBytes } from "./storage.ts";

/** The cache folder of a user's runs on this machine, under the runner's `dataDir` (runner.ts). */
export function callerCacheDir(dataDir: string, userId: string): string {
  return join(dataDir, "users", userId, "cache");
}

/** One folder of a user's entries, cleared (told to the platform's other machines). */
export interface ObjectFolderClear {
  /** The user. */
  userId: string;
  /** The folder's SHA-256 hex digest. */
  folder: string;
}

/** Where the near copies of entries are, besides the store. */
export interface ObjectCacheOptions {
  /** The folder of a user's near copies on this machine (its runs' cache folder). */
  nearCache?: (userId: string) => string;
  /** Tells every machine of the platform that a folder was cleared (scale-out). */
  announce?: (clear: ObjectFolderClear) => Promise<void>;
}

/** An entry found: its envelope and how old it is. */
export interface ObjectCacheEntry {
  /** Milliseconds since it was written. */
  ageMs: number;
  /** The cache envelope, as written. */
  bytes: Uint8Array;
}

/** What reads and writes a user's entries: an {@linkcode ObjectCache}, or a batch job's link to one. */
export type ObjectCacheStore = Pick<ObjectCache, "get" | "put">;

/**
 * `key`, when it is an entry's name: the SHA-256 hex digests (64 characters 0-9a-f each) of its
 * folder and of its key, joined by "/"; else a ValidationError.
 */
export function checkObjectCacheKey(key: unknown): string {
  if (typeof key !== "string" || !/^[0-9a-f]{64}\/[0-9a-f]{64}$/.test(key)) {
    throw new ValidationError(
      'An object cache key must be "<folder digest>/<key digest>": two SHA-256 hex digests (64 characters 0-9a-f each)',
    );
  }
  return key;
}

/** `folder`, when it is a cache folder's SHA-256 hex digest (64 characters 0-9a-f); else a ValidationError. */
export function checkObjectCacheFolder(folder: unknown): string {
  if (typeof folder !== "string" || !/^[0-9a-f]{64}$/.test(folder)) {
    throw new ValidationError(
      "An object cache folder must be the SHA-256 hex digest of its name (64 characters 0-9a-f)",
    );
  }
  return folder;
}

/**
 * The users' `fused.cache` entries on a store.
 *
 * @example
 * ```ts
 * import { ObjectCache } from "./object_cache.ts";
 * import { LocalStorage } from "./storage.ts";
 * const cache = new ObjectCache(new LocalStorage(await Deno.makeTempDir()));
 * const key = `${"a".repeat(64)}/${"b".repeat(64)}`; // folder and key digests
 * await cache.put("user-1", key, new Uint8Array([1, 2, 3]));
 * (await cache.get("user-1", key, 3600))?.bytes; // Uint8Array [1, 2, 3]
 * await cache.get("user-2", key, 3600); // null: another user's
 * ```
 */
export class ObjectCache {
  readonly #storage: Storage;
  readonly #near: ObjectCacheOptions;

  /** The cache on this store; `near` names this machine's near copies and the other machines'. */
  constructor(storage: Storage, near: ObjectCacheOptions = {}) {
    this.#storage = storage;
    this.#near = near;
  }

  #folder(userId: string): string {
    if (!/^[A-Za-z0-9_-]{1,128}$/.test(userId)) {
      throw new ValidationError(`User id "${userId}" cannot name a cache folder`);
    }
    return `fused.cache/${userId}`;
  }

  #at(userId: string, key: string): string {
    const folder = this.#folder(userId);
    return `${folder}/${checkObjectCacheKey(key)}`;
  }

  /** The user's entry under `key` when younger than `maxAgeSeconds`, else null. */
  async get(userId: string, key: string, maxAgeSeconds: number): Promise<ObjectCacheEntry | null> {
    const at = this.#at(userId, key);
    const info = await this.#storage.stat(at);
    if (!info || info.isDirectory) return null;
    const ageMs = Math.max(0, Date.now() - (info.lastModified?.getTime() ?? 0));
    if (ageMs > maxAgeSeconds * 1000) return null;
    const bytes = await readBytes(this.#storage, at);
    return bytes && { ageMs, bytes };
  }

  /**
   * Deletes the user's entries of one folder (its digest), or every entry of the user (also
   * those of the earlier layout) without one; false when there was none.
   */
  async clear(userId: string, folder?: string): Promise<boolean> {
    if (folder === undefined) {
      return await this.#storage.delete(this.#folder(userId), { maxDepth: null });
    }
    const at = `${this.#folder(userId)}/${checkObjectCacheFolder(folder)}`;
    const removed = await this.#storage.delete(at, { maxDepth: null });
    await this.clearNear(userId, folder);
    await this.#near.announce?.({ userId, folder });
    return removed;
  }

  /**
   * Deletes this machine's near copies of the user's entries of one folder (its digest): those
   * its runs keep on disk (`nearCache`: the caller's folder, where a UDF's process has its own,
   * `udf/<name>`, see engine/local_engine.ts); how many went.
   */
  async clearNear(userId: string, folder: string): Promise<number> {
    this.#folder(userId); // a user id that could name another folder is refused
    checkObjectCacheFolder(folder);
    const root = this.#near.nearCache?.(userId);
    if (!root) return 0;
    let count = await deleteNearFolder(root, folder);
    try {
      for await (const entry of Deno.readDir(join(root, "udf"))) {
        if (entry.isDirectory) {
          count += await deleteNearFolder(join(root, "udf", entry.name), folder);
        }
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    return count;
  }

  /** Stores the user's entry under `key` (whole or not at all, as every write of a store). */
  async put(userId: string, key: string, bytes: Uint8Array): Promise<void> {
    await writeBytes(this.#storage, this.#at(userId, key), bytes);
  }
}
