/**
 * The HTTP application: every route of the service, shaped like the Fused service under `/v1`,
 * plus share-token runs at the root. Public routes come first; everything after the auth
 * middleware needs `Authorization: Bearer <token>`. Every error is JSON `{detail}`.
 *
 * @module
 */
import { Hono } from "hono";
import type { ResponseMemo } from "./_response_memo.ts";
import { bodyLimit } from "hono/body-limit";
import { QuotaExceededError, ValidationError } from "../client/errors.ts";
import { type AppEnv, describeThrown, errorResponse, HttpError } from "./_http.ts";
import { requireAuth } from "./auth.ts";
import { Readiness } from "./readiness.ts";
import type { CacheClear } from "./cache_clears.ts";
import { corsMiddleware, PUBLIC_CORS_HEADERS } from "./cors.ts";
import type { Registry } from "./registry/mod.ts";
import { RunService, type UdfRunner } from "./runs.ts";
import { FileNotFoundError, type Storage, TooLargeError } from "./storage.ts";
import { UserQuotas } from "./quota.ts";
import type { RouteDeps } from "./routes/_common.ts";
import type { ObjectCache } from "./object_cache.ts";
import { cacheRoutes } from "./routes/cache.ts";
import { fileRoutes, signedFileRoutes } from "./routes/files.ts";
import type { JobService } from "./jobs/runner.ts";
import { jobRoutes, signedJobResultRoutes } from "./routes/jobs.ts";
import { instanceRoutes } from "./routes/instances.ts";
import { pageRoutes, publicPageRoutes } from "./routes/pages.ts";
import { runRoutes } from "./routes/run.ts";
import { matchTokenRun, runToken, sharedRoutes } from "./routes/shared.ts";
import { tokenRoutes } from "./routes/tokens.ts";
import { udfRoutes } from "./routes/udfs.ts";
import { healthRoutes, userRoutes } from "./routes/user.ts";

/** What the app is built from. */
/** Largest file upload (and `fused.cache` "object" entry) a service takes, by default: 2 GiB. */
export const DEFAULT_MAX_UPLOAD_BYTES = 2 * 1024 * 1024 * 1024;

export interface AppOptions {
  /** Users, UDFs, tokens, jobs. */
  registry: Registry;
  /** `fd://` files. */
  storage: Storage;
  /** Runs UDFs (`localRunner` of runner.ts); or give `runs`. */
  runner?: UdfRunner;
  /** A run service to share (built from `runner` when absent). */
  runs?: RunService;
  /** Key of signed file URLs (hex). */
  signingSecret: string;
  /** Longest run, in milliseconds (default 130 s, as Fused). */
  runTimeoutMs?: number;
  /** How long `/run/udf/start` waits before answering 202 (ms, default 3000). */
  startWaitMs?: number;
  /** Largest JSON body, in bytes (default 16 MiB). */
  maxBodyBytes?: number;
  /** Largest file upload, in bytes (default 2 GiB). */
  maxUploadBytes?: number;
  /** Users' disk quotas (default: 10 GiB each, counting their `fd://` files only). */
  quotas?: UserQuotas;
  /** Public API base for signed URLs (`https://host/v1`); default from each request. */
  publicUrl?: string;
  /** Users' `fused.cache` entries with cacheStorage "object" (`/cache/objects/...`). */
  objectCache?: ObjectCache;
  /** Runs batch jobs; without it the job routes are absent (404). */
  jobs?: JobService;
  /** Whole answers to token GETs; the server consults it before routing (see serve.ts). */
  memo?: ResponseMemo;
  /** Origins allowed to call authenticated routes from a browser (public routes allow any). */
  corsOrigins?: string[];
  /** Largest published page, in bytes of HTML (default 64 MiB). */
  maxPageBytes?: number;
  /** The backends `/v1/health` probes (default none: ready whenever it answers). */
  readiness?: Readiness;
  /** Tells the platform's other services that a UDF's cache was cleared (scale-out). */
  announceCacheClear?: (clear: CacheClear) => Promise<void>;
}

/** The app and the handler `Deno.serve` calls. */
export interface Service {
  /** Every route. */
  app: Hono<AppEnv>;
  /**
   * Answers a request: a GET token run (`/{token}/run`, `/{token}.parquet`, ...) without Hono's
   * router (routes/shared.ts says why), as its route would, errors included; anything else
   * through `app`.
   */
  fetch(request: Request, info?: Deno.ServeHandlerInfo<Deno.NetAddr>): Response | Promise<Response>;
}

/** Builds the Hono app of the service. */
export function createApp(options: AppOptions): Hono<AppEnv> {
  return createService(options).app;
}

/** Builds the app of the service and its request handler. */
export function createService(options: AppOptions): Service {
  const runs = options.runs ?? (options.runner
    ? new RunService(options.runner, {
      runTimeoutMs: options.runTimeoutMs ?? 130_000,
      startWaitMs: options.startWaitMs,
    })
    : undefined);
  if (!runs) throw new ValidationError("createApp needs a runner (or a run service)");
  const deps: RouteDeps & { publicUrl?: string } = {
    registry: options.registry,
    storage: options.storage,
    runs,
    signingSecret: options.signingSecret,
    maxBodyBytes: options.maxBodyBytes ?? 16 * 1024 * 1024,
    maxUploadBytes: options.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES,
    quotas: options.quotas ??
      new UserQuotas({ registry: options.registry, storage: options.storage }),
    publicUrl: options.publicUrl,
    memo: options.memo,
    announceCacheClear: options.announceCacheClear,
    objectCache: options.objectCache,
  };

  const app = new Hono<AppEnv>();
  app.onError((err) => toErrorResponse(err));
  app.notFound((c) =>
    errorResponse(
      404,
      `No route ${c.req.method} ${new URL(c.req.url).pathname}: the API lives under /v1`,
    )
  );

  app.use("*", corsMiddleware({ origins: options.corsOrigins }));
  // Uploads stream to disk and pages are HTML, each with its own limit; other bodies are capped here.
  const limitBodies = bodyLimit({
    maxSize: deps.maxBodyBytes,
    onError: () =>
      errorResponse(413, `The request body is larger than the limit of ${deps.maxBodyBytes} bytes`),
  });
  app.use("*", async (c, next) => {
    const method = c.req.method;
    const path = c.req.path;
    if (
      method === "GET" || method === "HEAD" || path.endsWith("/files/upload") ||
      (method === "PUT" && path.startsWith("/v1/pages/"))
    ) {
      return await next();
    }
    return await limitBodies(c, next);
  });

  const v1 = new Hono<AppEnv>();
  // Public routes: registered before the auth middleware, so they answer without it.
  v1.route("/", healthRoutes(deps, options.readiness ?? new Readiness([])));
  v1.route("/", instanceRoutes());
  v1.route("/", signedFileRoutes(deps));
  v1.route("/realtime-shared", sharedRoutes(deps));
  if (options.jobs) v1.route("/", signedJobResultRoutes(deps));
  v1.use("*", requireAuth(options.registry));
  v1.route("/", userRoutes(deps));
  v1.route("/", udfRoutes(deps));
  v1.route("/", runRoutes(deps));
  v1.route("/", tokenRoutes(deps));
  v1.route("/", fileRoutes(deps));
  v1.route("/", cacheRoutes(deps));
  v1.route("/", pageRoutes({ ...deps, maxPageBytes: options.maxPageBytes }));
  if (options.jobs) v1.route("/", jobRoutes({ ...deps, jobs: options.jobs }));

  app.route("/v1", v1);
  app.route("/", publicPageRoutes(deps));
  // udf.ai style token URLs at the root: /{token}/run/file, /{token}.parquet.
  app.route("/", sharedRoutes(deps));
  return {
    app,
    fetch(request, info) {
      const run = request.method === "GET" ? matchTokenRun(request.url) : undefined;
      if (!run) return app.fetch(request, info);
      // As through the app: onError's answer, with the CORS headers of a public route.
      return runToken(deps, request, run).catch((err) => {
        const response = toErrorResponse(err);
        for (const [name, value] of Object.entries(PUBLIC_CORS_HEADERS)) {
          response.headers.set(name, value);
        }
        return response;
      });
    },
  };
}

/** Maps any error to `{detail}` with the right status; unknown errors are 500 and logged. */
export function toErrorResponse(err: unknown): Response {
  if (err instanceof HttpError) return errorResponse(err.status, err.message, err.headers);
  if (err instanceof FileNotFoundError) return errorResponse(404, err.message);
  if (err instanceof TooLargeError) return errorResponse(413, err.message);
  if (err instanceof QuotaExceededError) return errorResponse(507, err.message);
  if (err instanceof ValidationError) return errorResponse(400, err.message);
  // Hono's own HTTPException (e.g. from middleware) carries a status.
  const status = (err as { status?: unknown })?.status;
  if (typeof status === "number" && status >= 400 && status < 600) {
    const message = (err as { message?: unknown }).message;
    return errorResponse(
      status,
      typeof message === "string" && message ? message : "Request failed",
    );
  }
  console.error("fused serve: unexpected error:", err);
  return errorResponse(
    500,
    `Internal error: ${describeThrown(err)}; the service logged the details`,
  );
}
