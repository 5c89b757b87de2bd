/**
 * `DELETE /realtime-shared/{cid}/udf-cache/by-id/{udf_id}/delete`: forgets cached results of a
 * saved UDF, so the next run computes afresh. `GET|PUT /cache/objects/{folder}/{key}` (two
 * SHA-256 digests): the caller's own `fused.cache` entries with cacheStorage "object" (see
 * object_cache.ts), for the SDK logged in to this service; `DELETE /cache/objects?folder={digest}`
 * deletes those of one folder, `DELETE /cache/objects` all of them.
 *
 * @module
 */
import { type Context, Hono } from "hono";
import { type AppEnv, HttpError } from "../_http.ts";
import { clearLocalCaches } from "../cache_clears.ts";
import { checkObjectCacheFolder, type ObjectCache } from "../object_cache.ts";
import { udfCacheFolder } from "../../client/udf.ts";
import { canWrite, checkClientId, type RouteDeps, udfFromRecord } from "./_common.ts";

/** The cache route (authenticated). */
export function cacheRoutes(deps: RouteDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.delete("/realtime-shared/:cid/udf-cache/by-id/:udfId/delete", async (c) => {
    checkClientId(c.req.param("cid"));
    const udfId = c.req.param("udfId");
    const record = await deps.registry.getUdf(udfId);
    if (!record) throw new HttpError(404, `No UDF with id ${udfId}`);
    if (!canWrite(c.get("user"), record)) {
      throw new HttpError(403, `Only the owner of UDF "${record.slug}" can clear its cache`);
    }
    // Every layer: encoded answers and the memo in memory, the engine's run cache on disk; and
    // the same on every other service of the platform.
    const clear = { udfId, folder: udfCacheFolder(udfFromRecord(record).name) };
    const removed = await clearLocalCaches(deps, clear);
    await deps.runs.clearSharedCache(udfId);
    await deps.announceCacheClear?.(clear);
    return c.json({ udf_id: udfId, removed });
  });
  app.get("/cache/objects/:folder/:key", async (c) => {
    const maxAge = Number(c.req.query("max_age"));
    if (c.req.query("max_age") === undefined || !(maxAge >= 0)) {
      throw new HttpError(
        400,
        "max_age is required: the entry's largest age in seconds (0 or more)",
      );
    }
    const found = await objectCacheOf(deps).get(c.get("user").id, entryOf(c), maxAge);
    if (!found) throw new HttpError(404, "No cache entry of yours under this key, young enough");
    return new Response(found.bytes as Uint8Array<ArrayBuffer>, {
      headers: {
        "content-type": "application/octet-stream",
        "x-fused-cache-age-ms": String(Math.round(found.ageMs)),
      },
    });
  });
  app.delete("/cache/objects", async (c) => {
    const folder = c.req.query("folder");
    if (folder !== undefined) checkObjectCacheFolder(folder);
    const removed = await objectCacheOf(deps).clear(c.get("user").id, folder);
    return c.json({ removed });
  });
  app.put("/cache/objects/:folder/:key", async (c) => {
    const length = Number(c.req.header("content-length") ?? NaN);
    if (!(length >= 0)) throw new HttpError(411, "A cache entry needs its Content-Length");
    if (length > deps.maxUploadBytes) {
      throw new HttpError(
        413,
        `The cache entry (${length} bytes) is larger than the limit of ${deps.maxUploadBytes} bytes`,
      );
    }
    const bytes = new Uint8Array(await c.req.arrayBuffer());
    await objectCacheOf(deps).put(c.get("user").id, entryOf(c), bytes);
    return c.body(null, 204);
  });
  return app;
}

/** The entry a `/cache/objects/{folder}/{key}` request names (checked by the cache). */
function entryOf(c: Context<AppEnv>): string {
  return `${c.req.param("folder")}/${c.req.param("key")}`;
}

function objectCacheOf(deps: RouteDeps): ObjectCache {
  if (!deps.objectCache) {
    throw new HttpError(404, 'This service keeps no cacheStorage "object" entries');
  }
  return deps.objectCache;
}
