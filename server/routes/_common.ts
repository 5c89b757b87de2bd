/**
 * What the route groups share: their dependencies, UDF access rules, and the parsing of run
 * requests (parameters, tiles, formats, cache age) and the sending of run answers.
 *
 * @module
 */
import type { ObjectCache } from "../object_cache.ts";
import type { Context } from "hono";
import { z } from "zod";
import type { ResponseMemo } from "../_response_memo.ts";
import { parseCacheMaxAge } from "../../client/cache_max_age.ts";
import { DEFAULT_UDF_CACHE_MAX_AGE } from "../../client/cache_max_age.ts";
import { ValidationError } from "../../client/errors.ts";
import { type Udf, udfNameProblem } from "../../client/udf.ts";
import type { Tile } from "../../client/engine_types.ts";
import { MAX_ZOOM } from "../../client/tiles.ts";
import { type AppEnv, HttpError } from "../_http.ts";
import type { Registry } from "../registry/mod.ts";
import {
  DEFAULT_FORMAT,
  normalizeFormat,
  RESERVED_KEYS,
  type RunAnswer,
  type RunService,
  type RunSpec,
} from "../runs.ts";
import { type Signature, verifySignature } from "../signing.ts";
import type { Storage } from "../storage.ts";
import type { CacheClear } from "../cache_clears.ts";
import type { UserQuotas } from "../quota.ts";
import { PUBLIC_CORS_HEADERS } from "../cors.ts";

// The access rules live with the rest of the saved-UDF rules, which UDFs inside runs use too.
export { canRead, canWrite, udfFromRecord } from "../saved_udfs.ts";

/** Everything a route group needs. */
export interface RouteDeps {
  /** Users, UDFs, tokens, jobs. */
  registry: Registry;
  /** `fd://` files. */
  storage: Storage;
  /** UDF execution. */
  runs: RunService;
  /** Key of signed file URLs (hex). */
  signingSecret: string;
  /** Largest JSON body, in bytes. */
  maxBodyBytes: number;
  /** Largest file upload, in bytes. */
  maxUploadBytes: number;
  /** Users' disk quotas: every `fd://` write and delete of a route goes through them. */
  quotas: UserQuotas;
  /** Whole answers to token GETs, served before routing (see _response_memo.ts). */
  memo?: ResponseMemo;
  /** Tells the platform's other services that a UDF's cache was cleared (scale-out). */
  announceCacheClear?: (clear: CacheClear) => Promise<void>;
  /** Users' `fused.cache` entries with cacheStorage "object"; without it, those routes are 404. */
  objectCache?: ObjectCache;
}

/** The API base URL of a request (`http://host:port/v1`), for URLs the service hands out. */
export function apiBase(c: Context<AppEnv>, publicUrl: string | undefined): string {
  return publicUrl ?? `${new URL(c.req.url).origin}/v1`;
}

/** The one realtime instance this service offers. */
export const LOCAL_CLIENT_ID = "local";

/** Throws 404 unless the realtime instance id is ours. */
export function checkClientId(cid: string): void {
  if (cid !== LOCAL_CLIENT_ID) {
    throw new HttpError(
      404,
      `Unknown realtime instance "${cid}": this service has one, "${LOCAL_CLIENT_ID}" (see GET /v1/realtime-instance/available)`,
    );
  }
}

/** Returns a UDF name from a URL, or throws a 400 naming the slug rule it breaks. */
export function checkSlugParam(value: string): string {
  const problem = udfNameProblem(value);
  if (problem) {
    throw new HttpError(400, `Invalid UDF name ${JSON.stringify(value.slice(0, 200))}: ${problem}`);
  }
  return value;
}

/**
 * The tile of a `/tiles/{z}/{x}/{y}` route from its path parameters: each part in plain digits
 * (no sign, fraction, exponent or hex, so one tile has one URL), the zoom from 0 to `MAX_ZOOM`,
 * x and y inside it.
 */
export function parseTile(params: Record<string, string | undefined>): Tile {
  const raw = { z: params.z ?? "", x: params.x ?? "", y: params.y ?? "" };
  const tile = { z: Number(raw.z), x: Number(raw.x), y: Number(raw.y) };
  if (!/^\d{1,2}$/.test(raw.z) || tile.z > MAX_ZOOM) {
    throw new HttpError(
      400,
      `Invalid tile zoom "${raw.z.slice(0, 40)}": use an integer from 0 to ${MAX_ZOOM}, in digits`,
    );
  }
  const n = 2 ** tile.z;
  for (const axis of ["x", "y"] as const) {
    if (!/^\d{1,10}$/.test(raw[axis]) || tile[axis] >= n) {
      throw new HttpError(
        400,
        `Invalid tile ${raw.z}/${raw.x.slice(0, 40)}/${
          raw.y.slice(0, 40)
        }: ${axis} must be an integer from 0 to ${n - 1} at zoom ${tile.z}, in digits`,
      );
    }
  }
  return tile;
}

// The expiry stays text: it is checked as signed, so no other spelling of it passes.
const SignedQuery = z.object({
  path: z.string().min(1).max(4096),
  expires: z.string().max(32),
  signature: z.string().max(200),
});

/**
 * The path, expiry and signature of a public signed URL, checked against the service's secret;
 * a 403 naming what is wrong (with `fix`, the way to a new URL) otherwise.
 */
export function readSignedQuery(c: Context<AppEnv>, secret: string, fix: string): Signature {
  const parsed = SignedQuery.safeParse(c.req.query());
  if (!parsed.success) {
    throw new HttpError(403, `Malformed signed URL: it needs path, expires and signature; ${fix}`);
  }
  const reason = verifySignature(secret, parsed.data);
  if (reason) throw new HttpError(403, reason);
  return parsed.data;
}

/** UDF parameters of a request: every non-reserved key of the query and of a JSON body. */
export function runParameters(
  query: Record<string, string>,
  body: Record<string, unknown> = {},
): Record<string, string> {
  const out: Record<string, string> = {};
  // The query wins over the body; plain loops, as this runs on every run request.
  for (const source of [body, query]) {
    for (const key in source) {
      const value = source[key];
      if (!Object.hasOwn(source, key) || RESERVED_KEYS.has(key) || value == null) continue;
      // The engine coerces strings by the UDF's schema; structured values travel as JSON text.
      out[key] = typeof value === "string" ? value : JSON.stringify(value);
    }
  }
  return out;
}

/** The requested format list: `format`, else Fused's legacy dtype_out_* pair, else the default. */
export function requestFormat(query: Record<string, string>, bodyFormat?: unknown): string {
  const given = typeof bodyFormat === "string" && bodyFormat !== "" ? bodyFormat : query.format;
  if (given) return wrapValidation(() => normalizeFormat(given));
  if (query.dtype_out_raster || query.dtype_out_vector) {
    const legacy = [query.dtype_out_raster ?? "npy", query.dtype_out_vector ?? "parquet", "json"];
    return wrapValidation(() => normalizeFormat(legacy.join(",")));
  }
  return DEFAULT_FORMAT;
}

/**
 * The cache age of a run in seconds: `cache_max_age` (whole seconds or `"10m"`), else the UDF's,
 * else 90 days; 0 when the share token or the request disables caching.
 */
export function requestMaxAge(udf: Udf, given: string | undefined, cacheAllowed = true): number {
  if (!cacheAllowed) return 0;
  if (given !== undefined && given !== "") {
    return wrapValidation(() =>
      /^\d+$/.test(given.trim()) ? Number(given.trim()) : parseCacheMaxAge(given)
    );
  }
  return udf.cacheMaxAge ?? DEFAULT_UDF_CACHE_MAX_AGE;
}

function wrapValidation<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ValidationError) throw new HttpError(400, err.message);
    throw err;
  }
}

/**
 * Lets an uncached run follow its request, so a client that goes away cancels it (the signal is
 * read only if the run goes on long enough: see `CANCEL_AFTER_MS` in runs.ts). Cached runs are
 * shared by identical requests and go on regardless.
 */
export function withSignal(request: Request, spec: RunSpec): RunSpec {
  if (spec.cacheMaxAge === 0) spec.clientSignal = () => request.signal;
  return spec;
}

/** The response headers of an answer: HTTP caching for tiles and token results, else no-store. */
export function answerHeaders(
  answer: RunAnswer,
  options: { httpCache?: boolean; maxAge?: number } = {},
): Record<string, string> {
  // One plain record handed to Response once: building a Headers object and then changing it
  // validated every header twice (a third of a cached token answer, measured).
  const headers: Record<string, string> = { ...answer.headers };
  if (!options.httpCache || answer.status !== 200) {
    delete headers.etag;
    headers["cache-control"] = "no-store";
  } else {
    const maxAge = options.maxAge ?? 0;
    headers["cache-control"] = maxAge > 0 ? `max-age=${maxAge}` : "no-cache";
  }
  return headers;
}

/**
 * Sends a run answer. With `httpCache`, a success carries ETag and `Cache-Control: max-age` and
 * a matching `If-None-Match` gets 304 (tiles and token URLs, which browsers and map clients
 * re-request); with `publicCors`, the answer of a public route carries its CORS headers.
 */
export function sendAnswer(
  request: Request,
  answer: RunAnswer,
  options: { httpCache?: boolean; maxAge?: number; publicCors?: boolean } = {},
): Response {
  const headers = answerHeaders(answer, options);
  // In the answer from the start: the CORS middleware leaves an answer that has them as it is.
  if (options.publicCors) Object.assign(headers, PUBLIC_CORS_HEADERS);
  const etag = headers.etag;
  const ifNoneMatch = request.headers.get("if-none-match");
  if (
    etag && ifNoneMatch && ifNoneMatch.split(",").some((t) => t.trim() === etag || t.trim() === "*")
  ) {
    delete headers["content-type"];
    return new Response(null, { status: 304, headers });
  }
  return new Response(answer.body as BodyInit, { status: answer.status, headers });
}
