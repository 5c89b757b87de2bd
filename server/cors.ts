/**
 * Cross-origin access (CORS) for the service, so a map in a notebook page, an exported HTML file
 * or any web app can load tiles and files from it: a browser refuses WebGL textures and fetches
 * from another origin unless the answer names it (`Access-Control-Allow-Origin`).
 *
 * - Public routes (share-token runs and tiles at the root and under `/v1/realtime-shared`,
 *   signed file and job-result URLs) answer any origin with `*`: the token or signature in the
 *   URL is the whole credential, so the origin adds nothing to check.
 * - Every other route (authenticated `/v1`) answers only the origins named in the options, and
 *   no origin by default, so a page elsewhere cannot drive the API with a token it got hold of.
 *
 * Preflight requests (`OPTIONS` with `Access-Control-Request-Method`) are answered here, before
 * authentication and body limits.
 *
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import { ValidationError } from "../client/errors.ts";

/** Options of {@linkcode corsMiddleware}. */
export interface CorsOptions {
  /**
   * Origins (`scheme://host[:port]`) allowed on authenticated routes, e.g.
   * `["http://127.0.0.1:8888"]`; `["*"]` allows any. None by default.
   */
  origins?: string[];
}

// Headers a page may read besides the CORS-safelisted ones (Retry-After of a 429 among them).
const EXPOSED = ["etag", "x-fused-cached", "x-cache", "content-disposition", "retry-after"];

/**
 * Headers a public answer carries, for answers built outside the middleware (run answers, the
 * response memo, the rate limiter's 429).
 */
export const PUBLIC_CORS_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "access-control-allow-origin": "*",
  "access-control-expose-headers": EXPOSED.join(", "),
});

/** True for a path served without authentication (share tokens, signed URLs). */
export function isPublicPath(path: string): boolean {
  if (!path.startsWith("/v1/")) return path !== "/" && !path.startsWith("/v1");
  return path.startsWith("/v1/realtime-shared/") || path === "/v1/files/signed" ||
    path === "/v1/job-results/signed";
}

function checkOrigin(origin: string): string {
  if (origin === "*") return origin;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    throw new ValidationError(
      `CORS origin "${origin}" is not a URL: give scheme, host and port, e.g. http://127.0.0.1:8888`,
    );
  }
  if (url.origin !== origin) {
    throw new ValidationError(
      `CORS origin "${origin}" has a path or trailing slash: give only scheme, host and port (${url.origin})`,
    );
  }
  return origin;
}

/**
 * The CORS middleware of the whole app: `*` on public paths, the listed origins elsewhere.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { corsMiddleware } from "./cors.ts";
 * const app = new Hono();
 * app.use("*", corsMiddleware({ origins: ["http://127.0.0.1:8888"] }));
 * app.get("/fsh_0123456789abcdef/run", (c) => c.text("ok"));
 * const r = await app.request("/fsh_0123456789abcdef/run", { headers: { origin: "http://x.test" } });
 * if (r.headers.get("access-control-allow-origin") !== "*") throw new Error("unexpected");
 * ```
 */
export function corsMiddleware(options: CorsOptions = {}): MiddlewareHandler {
  const origins = (options.origins ?? []).map(checkOrigin);
  const anyOrigin = origins.includes("*");
  const open = cors({
    origin: "*",
    allowMethods: ["GET", "HEAD", "OPTIONS"],
    exposeHeaders: EXPOSED,
    maxAge: 600,
  });
  const listed = cors({
    origin: (origin) => anyOrigin ? "*" : origins.includes(origin) ? origin : null,
    allowMethods: ["GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"],
    allowHeaders: ["authorization", "content-type"],
    exposeHeaders: EXPOSED,
    maxAge: 600,
  });
  // Hono's cors() sets its headers on the context's response before routing, so the route's own
  // Response was rebuilt around its body as a stream (a copy of every header and a streamed
  // body, measured as a tenth of a routed token run). A public answer gets its two headers
  // after the route instead: errors and 404s included, as the route's answer is then settled.
  // A route that built them in (adding headers to a built answer makes Deno copy and validate
  // them again) keeps its answer as it is.
  const publicAnswer: MiddlewareHandler = async (c, next) => {
    if (c.req.method === "OPTIONS") return await open(c, next);
    await next();
    if (!c.res.headers.has("access-control-allow-origin")) addHeaders(c, PUBLIC_CORS_HEADERS);
  };
  return (c, next) => (isPublicPath(c.req.path) ? publicAnswer : listed)(c, next);
}

/** Adds headers to the settled answer of a request (rebuilt only if its headers are frozen). */
function addHeaders(c: Context, extra: Readonly<Record<string, string>>): void {
  try {
    for (const [name, value] of Object.entries(extra)) c.res.headers.set(name, value);
  } catch (err) {
    // A Response.redirect() or a fetched one has immutable headers.
    if (!(err instanceof TypeError)) throw err;
    const res = c.res;
    const headers = new Headers(res.headers);
    for (const [name, value] of Object.entries(extra)) headers.set(name, value);
    c.res = undefined;
    c.res = new Response(res.body, { status: res.status, statusText: res.statusText, headers });
  }
}
