/**
 * `DELETE /realtime-shared/{cid}/udf-cache/by-id/{udf_id}/delete`: forgets cached results of a
 * saved UDF, so the next run computes afresh.
 *
 * @module
 */
import { Hono } from "hono";
import { type AppEnv, HttpError } from "../_http.ts";
import { clearLocalCaches } from "../cache_clears.ts";
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
  return app;
}
