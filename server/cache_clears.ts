/**
 * Clearing a saved UDF's cached results on every service of a platform: the service that takes
 * the request clears its own caches (encoded answers, the response memo, the engine's run cache
 * on disk) and announces it by PostgreSQL NOTIFY; every other service clears its own when it
 * hears it, so none answers a stale result after the clear was answered (the memo's one second
 * included).
 *
 * @module
 */
import { deleteCache } from "../client/cache.ts";
import type { ResponseMemo } from "./_response_memo.ts";
import type { ObjectCache, ObjectFolderClear } from "./object_cache.ts";
import type { PostgresRegistry } from "./registry/postgres.ts";
import type { RunService } from "./runs.ts";

/** The NOTIFY channel of cache clears (payload: a `CacheClear` as JSON). */
export const CACHE_CLEAR_CHANNEL = "fused_cache_clear";

/** A cleared cache: the saved UDF, and its folder of the engine's run cache when known. */
export interface CacheClear {
  /** Registry id of the saved UDF. */
  udfId: string;
  /** Its folder in the engine's run cache (`udfCacheFolder(name)`), or null. */
  folder: string | null;
}

/** The NOTIFY channel of clears of one folder of a user's object cache (an `ObjectFolderClear`). */
export const OBJECT_CLEAR_CHANNEL = "fused_object_cache_clear";

/** What one service caches. */
export interface ServiceCaches {
  /** Encoded answers. */
  runs: RunService;
  /** Whole answers to token GETs. */
  memo?: ResponseMemo;
  /** Users' "object" entries, whose near copies on this machine go with a folder's clear. */
  objectCache?: ObjectCache;
}

/**
 * Clears this service's caches of a UDF; returns how many entries went.
 *
 * @example
 * ```ts ignore
 * import { clearLocalCaches } from "./cache_clears.ts";
 * const removed = await clearLocalCaches({ runs }, { udfId: record.id, folder: "hello" });
 * ```
 */
export async function clearLocalCaches(
  caches: ServiceCaches,
  clear: CacheClear,
): Promise<number> {
  const removed = caches.runs.clearUdfCache(clear.udfId);
  caches.memo?.clear();
  if (clear.folder === null) return removed;
  return removed + await deleteCache({ folder: clear.folder });
}

/** Tells every service of the platform (this one too) that a UDF's cache was cleared. */
export async function announceCacheClear(
  registry: PostgresRegistry,
  clear: CacheClear,
): Promise<void> {
  await registry.notify(CACHE_CLEAR_CHANNEL, JSON.stringify(clear));
}

/** Tells every service of the platform (this one too) that a user cleared one object folder. */
export async function announceObjectClear(
  registry: PostgresRegistry,
  clear: ObjectFolderClear,
): Promise<void> {
  await registry.notify(OBJECT_CLEAR_CHANNEL, JSON.stringify(clear));
}

/** Clears this service's caches whenever any service announces a clear; resolves to a stop. */
export async function followCacheClears(
  registry: PostgresRegistry,
  caches: ServiceCaches,
): Promise<() => Promise<void>> {
  const failed = (err: unknown) =>
    console.error(`fused serve: cannot clear a cache another service cleared: ${err}`);
  const stopUdfs = await registry.listen(CACHE_CLEAR_CHANNEL, (payload) => {
    clearLocalCaches(caches, JSON.parse(payload) as CacheClear).catch(failed);
  });
  if (!caches.objectCache) return stopUdfs;
  const stopObjects = await followObjectClears(registry, caches.objectCache, failed);
  return async () => {
    await stopObjects();
    await stopUdfs();
  };
}

/**
 * Deletes this machine's near copies of a folder of "object" entries whenever any service
 * announces its clear (services and `fused worker`); resolves to a stop.
 */
export async function followObjectClears(
  registry: PostgresRegistry,
  objectCache: ObjectCache,
  failed: (err: unknown) => void,
): Promise<() => Promise<void>> {
  return await registry.listen(OBJECT_CLEAR_CHANNEL, (payload) => {
    const clear = JSON.parse(payload) as ObjectFolderClear;
    objectCache.clearNear(clear.userId, clear.folder).catch(failed);
  });
}
