/**
 * Public runs by share token, mounted both at the server root (udf.ai style:
 * `/{token}/run/file`, `/{token}.parquet`) and under `/v1/realtime-shared`. Anyone holding the
 * token may run its one UDF; the query string holds the parameters.
 *
 * @module
 */
import { type Context, Hono } from "hono";
import { type AppEnv, HttpError } from "../_http.ts";
import type { RunSpec } from "../runs.ts";
import type { UdfRecord } from "../registry/mod.ts";
import {
  answerHeaders,
  parseTile,
  requestFormat,
  requestMaxAge,
  type RouteDeps,
  runParameters,
  sendAnswer,
  udfFromRecord,
  withSignal,
} from "./_common.ts";
import { mvtAnswer } from "../mvt.ts";
import { PUBLIC_CORS_HEADERS } from "../cors.ts";

/** Share tokens (`fsh_` + hex) and public-UDF names (`UDF_<name>`). */
const TOKEN = "{(?:fsh_[0-9a-f]{16,128}|UDF_[A-Za-z0-9_-]{1,128})}";

/** The token-run routes (no authentication). */
export function sharedRoutes(deps: RouteDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const { registry } = deps;

  /** The UDF a token runs and whether its results may be cached: one registry read. */
  async function resolve(value: string): Promise<{ record: UdfRecord; cache: boolean }> {
    if (value.startsWith("UDF_")) {
      const record = await registry.findPublicUdf(value.slice(4));
      if (!record) throw new HttpError(404, `No public UDF "${value.slice(4)}"`);
      return { record, cache: true };
    }
    const found = await registry.getShareTokenUdf(value);
    if (!found) {
      throw new HttpError(404, `Unknown share token ${value}: it was deleted or never existed`);
    }
    if (!found.token.enabled) {
      throw new HttpError(403, `Share token ${value} is disabled: its owner can enable it again`);
    }
    if (!found.udf) throw new HttpError(404, `The UDF of share token ${value} was deleted`);
    return { record: found.udf, cache: found.token.cache };
  }

  async function runToken(
    c: Context<AppEnv>,
    value: string,
    options: { tiled: boolean; format?: string },
  ): Promise<Response> {
    const { record, cache } = await resolve(value);
    const udf = udfFromRecord(record);
    const query = c.req.query();
    const format = options.format
      ? requestFormat({ format: options.format })
      : requestFormat(query);
    const spec: RunSpec = withSignal(c, {
      udf,
      udfId: record.id,
      callerId: record.ownerId,
      parameters: runParameters(query),
      tile: options.tiled ? parseTile(c) : undefined,
      format,
      cacheMaxAge: requestMaxAge(udf, query.cache_max_age, cache),
    });
    const answer = format === "mvt"
      ? await mvtAnswer(deps.runs, spec)
      : await deps.runs.execute(spec);
    const http = { httpCache: true, maxAge: spec.cacheMaxAge };
    if (answer.status === 200 && spec.cacheMaxAge > 0 && deps.memo) {
      // The next identical GET within a second is answered before routing, as a cache hit.
      const headers = {
        ...answerHeaders(answer, http),
        // The memo answers before routing, so it must carry what the CORS middleware adds.
        ...PUBLIC_CORS_HEADERS,
        "x-fused-cached": "true",
        "x-cache": "hit",
      };
      deps.memo.remember(c.req.url, answer.body, headers, spec.cacheMaxAge * 1000);
    }
    return sendAnswer(c, answer, { ...http, publicCors: true });
  }

  app.get(`/:token${TOKEN}/run/file`, (c) => runToken(c, c.req.param("token"), { tiled: false }));
  app.get(`/:token${TOKEN}/run`, (c) => runToken(c, c.req.param("token"), { tiled: false }));
  app.get(
    `/:token${TOKEN}/run/tiles/:z/:x/:y`,
    (c) => runToken(c, c.req.param("token"), { tiled: true }),
  );
  app.get("/:file{(?:fsh_[0-9a-f]{16,128}|UDF_[A-Za-z0-9_-]{1,128})\\.[A-Za-z]{2,8}}", (c) => {
    const file = c.req.param("file");
    const dot = file.lastIndexOf(".");
    return runToken(c, file.slice(0, dot), { tiled: false, format: file.slice(dot + 1) });
  });
  return app;
}
