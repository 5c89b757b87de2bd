/**
 * Starting and stopping the service: `startServer` opens the registry and storage in the data
 * folder, makes sure an admin and its token exist, and serves the app with `Deno.serve`.
 * Used by `fused serve` (main.ts), by tests, and by the kernel to embed a service.
 *
 * @module
 */
import type { LocalEngineLike } from "../client/engine_types.ts";
import type { CallerPolicy } from "../client/engine_types.ts";
import { join } from "node:path";
import { homedir } from "node:os";
import { createService, DEFAULT_MAX_UPLOAD_BYTES } from "./app.ts";
import { ResponseMemo } from "./_response_memo.ts";
import { JobRunner, type JobRunnerOptions, type JobService } from "./jobs/runner.ts";
import { JobQueue } from "./jobs/queue.ts";
import { startRetention } from "./jobs/retention.ts";
import { bootstrapAdmin } from "./auth.ts";
import { openRegistry } from "./registry/mod.ts";
import { PostgresRegistry } from "./registry/postgres.ts";
import { openStorage, siblingStoreUrl } from "./s3_storage.ts";
import { RunService, type UdfRunner } from "./runs.ts";
import { SharedPolledRuns } from "./polled_runs.ts";
import { SharedRunCache } from "./shared_run_cache.ts";
import { callerCacheDir, ObjectCache } from "./object_cache.ts";
import { generateSecret } from "./signing.ts";
import { removeStaleUploads } from "./storage.ts";
import { UserQuotas } from "./quota.ts";
import { acquireDataLock } from "./_data_lock.ts";
import { Readiness, type ReadinessProbe } from "./readiness.ts";
import { announceCacheClear, announceObjectClear, followCacheClears } from "./cache_clears.ts";
import { addServerPath, errorResponse } from "./_http.ts";
import { type Limiter, RateLimiter, rateLimitKey, SharedRateLimiter } from "./rate_limit.ts";
import { removeStaleTemps } from "../client/atomic_write.ts";
import { cleanCache } from "../client/cache.ts";
import { FusedError, ValidationError } from "../client/errors.ts";
import { DEFAULT_POOLS } from "./ops_flags.ts";
import { type ListenAddress, Metrics, type MetricsServer, serveMetrics } from "./metrics.ts";

/** Default port, as Fused's `dev` environment (`http://localhost:8783/v1`). */
export const DEFAULT_PORT = 8783;

/** Options of `startServer`. */
export interface ServeOptions {
  /** Port; 0 picks a free one. Default 8783. */
  port?: number;
  /** Interface to listen on. Default 127.0.0.1 (this machine only). */
  hostname?: string;
  /** State folder (registry, files, credentials). Default $FUSED_SERVER_DIR, else ~/.fused/server. */
  dataDir?: string;
  /**
   * What users' runs may reach through the default runner (downloads, private addresses, npm
   * packages): overrides of runner.ts's `SERVICE_POLICY`.
   */
  udfPolicy?: Partial<CallerPolicy>;
  /** Runs UDFs; default the local engine (`localRunner()` from runner.ts). */
  runner?: UdfRunner;
  /** The UDF executor of the default runner (default: the process-wide engine). */
  engine?: LocalEngineLike;
  /** Longest run in milliseconds (default 130 s). */
  runTimeoutMs?: number;
  /** How long `/run/udf/start` waits before answering 202 (ms). */
  startWaitMs?: number;
  /** Largest JSON body in bytes. */
  maxBodyBytes?: number;
  /** Largest upload in bytes. */
  maxUploadBytes?: number;
  /**
   * Bytes each user may hold: their `fd://` files, data and cache folders (default 10 GiB,
   * `DEFAULT_QUOTA_BYTES` of quota.ts).
   */
  quotaBytes?: number;
  /** Public API base for signed URLs, when behind a proxy. */
  publicUrl?: string;
  /** Origins allowed to call authenticated routes from a browser (public routes allow any). */
  corsOrigins?: string[];
  /** Largest published page in bytes of HTML (default 64 MiB). */
  maxPageBytes?: number;
  /** Print nothing (tests). */
  quiet?: boolean;
  /** Batch job runner options (instance types, polling, kill grace period). */
  jobs?: JobRunnerOptions;
  /**
   * Most requests a minute per share token (or signed URL) on the public routes; beyond it a
   * 429 with `Retry-After`. Off (no limit) by default.
   */
  rateLimitPerMinute?: number;
  /**
   * The shared registry, `postgres://USER:PASSWORD@HOST:PORT/DB` (default $FUSED_DATABASE_URL):
   * then any number of services share it, and batch jobs go to `fused worker` processes through
   * its queue. Without it, the embedded SQLite registry and in-process job runner.
   */
  databaseUrl?: string | null;
  /**
   * The `fd://` store, `s3://BUCKET/PREFIX` or a folder (default $FUSED_STORAGE_URL, else
   * `<dataDir>/files`).
   */
  storageUrl?: string | null;
  /** Most registry connections to PostgreSQL (default 5; one more listens for NOTIFY). */
  dbPoolSize?: number;
  /** Most job queue (pg-boss) connections to PostgreSQL (default 1; one more listens). */
  queuePoolSize?: number;
  /** Serve Prometheus metrics on this address of their own (metrics.ts); off by default. */
  metricsListen?: ListenAddress;
  /**
   * Delete jobs that finished longer ago than this (ms), with their logs, results and run
   * folders (jobs/retention.ts); off (keep everything) by default.
   */
  retentionMs?: number;
}

/** A running service. */
export interface RunningServer {
  /** Root URL (`http://127.0.0.1:8783`): share-token URLs live here. */
  url: string;
  /** API base URL (`http://127.0.0.1:8783/v1`), Fused's `base_url`. */
  baseUrl: string;
  /** The port listened on. */
  port: number;
  /** The admin's API token. */
  adminToken: string;
  /** The state folder. */
  dataDir: string;
  /** `http://HOST:PORT/metrics` when `metricsListen` was given. */
  metricsUrl?: string;
  /** Stops accepting requests, lets running ones finish, closes the registry. */
  close(): Promise<void>;
}

/** The default state folder: $FUSED_SERVER_DIR, else ~/.fused/server. */
export function defaultDataDir(): string {
  return Deno.env.get("FUSED_SERVER_DIR") ?? join(homedir(), ".fused", "server");
}

function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "::1" || /^127\./.test(hostname);
}

/**
 * Starts the service and resolves once it listens.
 *
 * @example
 * ```ts ignore
 * import { startServer } from "./serve.ts";
 * const server = await startServer({ port: 0, dataDir: await Deno.makeTempDir() });
 * const me = await fetch(`${server.baseUrl}/user/self`, {
 *   headers: { authorization: `Bearer ${server.adminToken}` },
 * });
 * console.log(await me.json());
 * await server.close();
 * ```
 */
export async function startServer(options: ServeOptions = {}): Promise<RunningServer> {
  const dataDir = options.dataDir ?? defaultDataDir();
  const hostname = options.hostname ?? "127.0.0.1";
  const log = options.quiet ? () => {} : (msg: string) => console.error(msg);
  const databaseUrl = options.databaseUrl ?? Deno.env.get("FUSED_DATABASE_URL") ?? null;
  const storageUrl = options.storageUrl ?? Deno.env.get("FUSED_STORAGE_URL") ?? null;
  if (databaseUrl && !storageUrl) {
    // A shared registry with per-service files is a split brain: a file written through one
    // service would be missing on the next, and job results would be on no worker's store.
    throw new ValidationError(
      "--database without --storage would keep this service's files in its own data folder, where the other services and the workers cannot see them: give every service and worker the same --storage s3://BUCKET/PREFIX (or FUSED_STORAGE_URL)",
    );
  }
  await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
  addServerPath(dataDir);
  // One service per data folder, and the port bound, before anything reads or writes its state:
  // a second service must not re-attach the first one's jobs or write into their logs.
  const lock = await acquireDataLock(dataDir);
  // Until it can serve (registry, store, queue, admin token file), only liveness answers 200.
  let handler: Deno.ServeHandler<Deno.NetAddr> = (request) =>
    new URL(request.url).pathname === "/v1/health/live"
      ? Response.json({ status: "starting" })
      : errorResponse(503, "The service is starting: try again in a moment", {
        "retry-after": "1",
      });
  const { promise: listening, resolve } = Promise.withResolvers<Deno.NetAddr>();
  const port = options.port ?? DEFAULT_PORT;
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      port,
      hostname,
      onListen: (addr) => resolve(addr as Deno.NetAddr),
    }, (request, info) => handler(request, info));
  } catch (err) {
    await lock.release();
    if (err instanceof Deno.errors.AddrInUse) {
      throw new FusedError(
        `Port ${port} on ${hostname} is already in use by another program: stop it, or start with another --port (0 picks a free one)`,
      );
    }
    throw err;
  }
  const addr = await listening;
  const pools = {
    registry: options.dbPoolSize ?? DEFAULT_POOLS.service.registry,
    queue: options.queuePoolSize ?? DEFAULT_POOLS.service.queue,
  };
  const filesDir = join(dataDir, "files");
  // Users' data and cache folders (`users/<id>/…`), for their realtime runs and batch jobs alike.
  const callersDir = join(dataDir, "udf");
  let registry;
  try {
    registry = await openRegistry({
      databaseUrl,
      sqlitePath: join(dataDir, "registry.db"),
      poolSize: pools.registry,
    });
  } catch (err) {
    await server.shutdown();
    await lock.release();
    throw err;
  }
  let jobs: JobService | undefined;
  let metricsServer: MetricsServer | undefined;
  try {
    const storage = await openStorage(storageUrl, filesDir);
    const quotas = new UserQuotas({
      registry,
      storage,
      limitBytes: options.quotaBytes,
      usersRoot: callersDir,
    });
    await lock.setPort(addr.port);
    // What a killed service left: half-written uploads, temporaries, cache temp files and locks.
    await removeStaleUploads(filesDir);
    await removeStaleTemps(dataDir);
    await cleanCache();
    // The cache area beside the fd:// store (no fd:// path reaches it): the run cache in
    // scale-out, and fused.cache's cacheStorage "object" entries of every user.
    const cacheStore = await openStorage(
      storageUrl ? siblingStoreUrl(storageUrl, "cache") : null,
      join(dataDir, "object_cache"),
    );
    const announcer = registry instanceof PostgresRegistry ? registry : undefined;
    const objectCache = new ObjectCache(cacheStore, {
      // A clear of one folder deletes its near copies on this disk and, in scale-out, every
      // other service's (followCacheClears).
      nearCache: (userId) => callerCacheDir(callersDir, userId),
      announce: announcer && ((clear) => announceObjectClear(announcer, clear)),
    });
    // On a shared database, jobs go through its queue to `fused worker` processes.
    jobs = registry instanceof PostgresRegistry
      ? new JobQueue(registry, databaseUrl!, {
        instanceTypes: options.jobs?.instanceTypes,
        poolSize: pools.queue,
      })
      : new JobRunner(registry, { dataDir, filesDir, callersDir }, {
        udfPolicy: options.udfPolicy,
        quotas,
        // Its jobs' "object" entries are the service's own, capped as PUT /cache/objects caps.
        objectCache,
        maxObjectBytes: options.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES,
        // With a bucket, results go where the service reads fd:// from.
        ...(storageUrl && { resultStore: storage }),
        ...options.jobs,
      });
    const signingSecret = await registry.getOrCreateSetting("url_signing_secret", generateSecret);
    const admin = await bootstrapAdmin(registry, dataDir);
    let runner = options.runner;
    if (!runner) {
      runner = (await import("./runner.ts")).localRunner({
        engine: options.engine,
        storage,
        dataDir: callersDir,
        policy: options.udfPolicy,
        registry,
        quotas,
        objectCache,
      });
    }
    const runs = new RunService(runner, {
      runTimeoutMs: options.runTimeoutMs ?? 130_000,
      startWaitMs: options.startWaitMs,
      // In scale-out, a run started here is polled through any service.
      shared: databaseUrl
        ? new SharedPolledRuns(await openStorage(siblingStoreUrl(storageUrl!, "runs"), filesDir))
        : undefined,
      // ... and a result cached through any service is a hit through this one.
      sharedCache: databaseUrl ? new SharedRunCache(cacheStore) : undefined,
    });
    // Re-attaches jobs an earlier service left running, and starts pending ones.
    await jobs.start();
    const memo = new ResponseMemo();
    const probes: ReadinessProbe[] = [
      { name: "database", check: () => registry.ping() },
      { name: "store", check: () => storage.check() },
    ];
    const queue = jobs;
    if (queue instanceof JobQueue) probes.push({ name: "queue", check: () => queue.check() });
    // In scale-out, a cache cleared through any service is cleared on every one.
    const stopFollowing = registry instanceof PostgresRegistry
      ? await followCacheClears(registry, { runs, memo, objectCache })
      : undefined;
    const shared = registry instanceof PostgresRegistry ? registry : undefined;
    const service = createService({
      readiness: new Readiness(probes),
      announceCacheClear: shared && ((clear) => announceCacheClear(shared, clear)),
      memo,
      registry,
      jobs,
      storage,
      runs,
      objectCache,
      signingSecret,
      maxBodyBytes: options.maxBodyBytes,
      maxUploadBytes: options.maxUploadBytes,
      quotas,
      publicUrl: options.publicUrl,
      corsOrigins: options.corsOrigins,
      maxPageBytes: options.maxPageBytes,
    });
    // In scale-out the buckets are the platform's (PostgreSQL): N a minute for all services.
    const perMinute = options.rateLimitPerMinute;
    const limiter: Limiter | undefined = !perMinute
      ? undefined
      : shared
      ? new SharedRateLimiter(shared, { perMinute })
      : new RateLimiter({ perMinute });
    const serve: Deno.ServeHandler<Deno.NetAddr> = limiter
      ? async (request, info) =>
        (await limiter.refuse(rateLimitKey(request))) ?? memo.answer(request) ??
          service.fetch(request, info)
      : (request, info) => memo.answer(request) ?? service.fetch(request, info);
    handler = serve;
    if (options.metricsListen) {
      const queue = jobs instanceof JobQueue ? jobs : undefined;
      const metrics = new Metrics("service", {
        jobsByState: registry instanceof PostgresRegistry
          ? () => (registry as PostgresRegistry).countJobsByStatus()
          : undefined,
        queueDepths: queue && (() => queue.queueDepths()),
        poolSizes: registry instanceof PostgresRegistry ? pools : {},
      });
      metricsServer = await serveMetrics(options.metricsListen, metrics);
      handler = async (request, info) => {
        const started = performance.now();
        const response = await serve(request, info);
        const path = new URL(request.url).pathname;
        metrics.observeRequest(path, response, (performance.now() - started) / 1000);
        return response;
      };
    }
    if (!isLoopback(hostname)) {
      log(
        `Warning: listening on ${hostname}, so other machines can reach this service; every route except share-token runs still needs an API token`,
      );
    }
    const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
    const url = `http://${host}:${addr.port}`;
    if (admin.created) log(`Created the admin user; its API token is in ${admin.path}`);
    log(`Fused service listening on ${url}/v1 (data in ${dataDir})`);
    const jobRunner = jobs instanceof JobRunner ? jobs : undefined;
    const stopRetention = options.retentionMs === undefined
      ? async () => {}
      : startRetention(registry, {
        storage,
        maxAgeMs: options.retentionMs,
        removeRunFolder: jobRunner && ((id) => jobRunner.removeRunFolder(id)),
        onError: (message) => console.error(`fused serve: ${message}`),
      });
    let closed: Promise<void> | undefined;
    return {
      url,
      baseUrl: `${url}/v1`,
      port: addr.port,
      adminToken: admin.credentials.access_token,
      dataDir,
      metricsUrl: metricsServer?.url,
      close(): Promise<void> {
        closed ??= (async () => {
          await server.shutdown();
          await metricsServer?.close();
          // Polled runs have no connection waiting; give them a bounded time to finish.
          let timer: ReturnType<typeof setTimeout> | undefined;
          await Promise.race([
            runs.drain(),
            new Promise((r) => (timer = setTimeout(r, 10_000))),
          ]);
          clearTimeout(timer);
          await stopRetention();
          // Jobs keep running in their own processes; the next service re-attaches them.
          await jobs!.close();
          await stopFollowing?.();
          await registry.close();
          await lock.release();
        })();
        return closed;
      },
    };
  } catch (err) {
    await server.shutdown();
    await metricsServer?.close();
    await jobs?.close();
    await registry.close();
    await lock.release();
    throw err;
  }
}
