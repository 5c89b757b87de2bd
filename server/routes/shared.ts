/**
 * Public runs by share token, mounted both at the server root (udf.ai style:
 * `/{token}/run/file`, `/{token}.parquet`) and under `/v1/realtime-shared`. Anyone holding the
 * token may run its one UDF; the query string holds the parameters.
 *
 * A GET of one of these URLs is also matched before Hono's router ({@linkcode matchTokenRun},
 * used by app.ts): routing it through the app's trie of pattern routes and its middleware was
 * about a fifth of the service's JavaScript time of an uncached token run (measured with
 * --cpu-prof). Both ways end in the same {@linkcode runToken}.
 *
 * @module
 */
import { type Context, Hono } from "hono";
import { getQueryParam } from "hono/utils/url";
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
const TOKEN_PATTERN = "fsh_[0-9a-f]{16,128}|UDF_[A-Za-z0-9_-]{1,128}";
const TOKEN = `{(?:${TOKEN_PATTERN})}`;

/**
 * The paths of the routes below, with the prefix they are mounted under: group 1 the token, then
 * either nothing more (`/run`, `/run/file`), a tile's z, x, y (groups 2-4) or a file name's
 * extension (group 5). Tile parts other than digits are left to the routes (a 400 there).
 */
const TOKEN_RUN_PATH = new RegExp(
  `^(?:/v1/realtime-shared)?/(${TOKEN_PATTERN})(?:/run(?:/file)?|/run/tiles/(\\d+)/(\\d+)/(\\d+)|\\.([A-Za-z]{2,8}))$`,
);

/** What a token-run URL asks for: its token, and a tile or the format of a file name. */
export interface TokenRun {
  /** The share token or `UDF_<name>`. */
  token: string;
  /** The tile's path parameters of `/run/tiles/{z}/{x}/{y}`. */
  tile?: Record<string, string>;
  /** The format a file name's extension names (`/{token}.parquet`). */
  format?: string;
}

/**
 * The token run a GET's URL asks for, read as the routes below read it, or undefined when the
 * path is not one (or is percent-encoded, which the routes decode): then the app routes it.
 */
export function matchTokenRun(url: string): TokenRun | undefined {
  const start = url.indexOf("/", url.indexOf(":") + 3);
  const query = url.indexOf("?", start);
  const path = query === -1 ? url.slice(start) : url.slice(start, query);
  const match = TOKEN_RUN_PATH.exec(path);
  if (!match) return undefined;
  const [, token, z, x, y, format] = match;
  if (z !== undefined) return { token, tile: { z, x, y } };
  return format === undefined ? { token } : { token, format };
}

/** The UDF a token runs and whether its results may be cached: one registry read. */
async function resolve(
  deps: RouteDeps,
  value: string,
): Promise<{ record: UdfRecord; cache: boolean }> {
  if (value.startsWith("UDF_")) {
    const record = await deps.registry.findPublicUdf(value.slice(4));
    if (!record) throw new HttpError(404, `No public UDF "${value.slice(4)}"`);
    return { record, cache: true };
  }
  const found = await deps.registry.getShareTokenUdf(value);
  if (!found) {
    throw new HttpError(404, `Unknown share token ${value}: it was deleted or never existed`);
  }
  if (!found.token.enabled) {
    throw new HttpError(403, `Share token ${value} is disabled: its owner can enable it again`);
  }
  if (!found.udf) throw new HttpError(404, `The UDF of share token ${value} was deleted`);
  return { record: found.udf, cache: found.token.cache };
}

/** Runs a token's UDF for a request (no authentication) and answers it with public CORS. */
export async function runToken(
  deps: RouteDeps,
  request: Request,
  run: TokenRun,
): Promise<Response> {
  const { record, cache } = await resolve(deps, run.token);
  const udf = udfFromRecord(record);
  const query = getQueryParam(request.url) as Record<string, string>;
  const format = run.format ? requestFormat({ format: run.format }) : requestFormat(query);
  const spec: RunSpec = withSignal(request, {
    udf,
    udfId: record.id,
    callerId: record.ownerId,
    parameters: runParameters(query),
    tile: run.tile ? parseTile(run.tile) : undefined,
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
    deps.memo.remember(request.url, answer.body, headers, spec.cacheMaxAge * 1000);
  }
  return sendAnswer(request, answer, { ...http, publicCors: true });
}

/** The token-run routes (no authentication). */
export function sharedRoutes(deps: RouteDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const token = (c: Context<AppEnv>) => c.req.param("token")!;
  app.get(`/:token${TOKEN}/run/file`, (c) => runToken(deps, c.req.raw, { token: token(c) }));
  app.get(`/:token${TOKEN}/run`, (c) => runToken(deps, c.req.raw, { token: token(c) }));
  app.get(
    `/:token${TOKEN}/run/tiles/:z/:x/:y`,
    (c) => runToken(deps, c.req.raw, { token: token(c), tile: c.req.param() }),
  );
  app.get(`/:file{(?:${TOKEN_PATTERN})\\.[A-Za-z]{2,8}}`, (c) => {
    const file = c.req.param("file");
    const dot = file.lastIndexOf(".");
    return runToken(deps, c.req.raw, { token: file.slice(0, dot), format: file.slice(dot + 1) });
  });
  return app;
}
