/**
 * `fused worker`: takes batch jobs from the shared PostgreSQL queue (jobs/queue.ts) and runs
 * them with the local engine, any number of workers on any number of machines.
 *
 * ```sh
 * fused worker --database postgres://fused:secret@db:5432/fused --storage s3://bucket/fused
 * ```
 *
 * Each job's log lines go to the registry as they are written (batched every 50 ms), its result
 * files to the shared store (`fd://jobs/<id>/<step>.<ext>`), and its outcome to the registry,
 * all fenced by the attempt number the worker claimed (see queue.ts for the retry policy).
 * pg-boss sends the heartbeats; a cancel arrives by NOTIFY and aborts the UDF (the flags of the
 * running jobs are read again only after the connection that listens was lost).
 *
 * A worker takes the jobs of the instance types it declares (`--instance-types`, one pg-boss
 * queue each). On SIGTERM it drains: it takes no new job, lets running ones finish for up to
 * `--drain-timeout`, then hands the rest back to the queue; such an attempt is not counted among
 * the job's tries.
 *
 * A job's UDFs run as its owner, in that user's folders of this worker (`<dataDir>/udf/users/…`):
 * their `fd://` files are the shared store's, their nested runs stay on this worker, and the saved
 * UDFs they load or run by name are found in the shared registry by the rules of the service's
 * HTTP API, as the owner (../saved_udfs.ts).
 *
 * @module
 */
import type { CallerPolicy } from "../client/engine_types.ts";
import {
  quotaBytes,
  UDF_POLICY_HELP,
  UDF_POLICY_OPTIONS,
  udfPolicy as parsePolicy,
} from "./udf_policy_flags.ts";
import { hostname } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { Job, PgBoss } from "pg-boss";
import { cachingLocalEngine } from "../client/run.ts";
import { Udf } from "../client/udf.ts";
import { LocalEngine } from "../engine/mod.ts";
import { BackendUnavailableError, shortMessage } from "./backend_errors.ts";
import {
  CANCEL_CHANNEL,
  DEAD_JOB_QUEUE,
  HEARTBEAT_SECONDS,
  JOB_END_CHANNEL,
  queueDepths,
  type QueuedJob,
  queueFor,
  RETRY_LIMIT,
  startBoss,
} from "./jobs/queue.ts";
import type { ChildStep } from "./jobs/_protocol.ts";
import {
  DEFAULT_INSTANCE_TYPE,
  DEFAULT_INSTANCE_TYPES,
  formatDuration,
  instanceLimits,
} from "./jobs/instance_types.ts";
import type { JobLogLine, JobResultFile, JobStatus } from "./registry/mod.ts";
import { PostgresRegistry } from "./registry/postgres.ts";
import { serviceCallers } from "./runner.ts";
import { DEFAULT_FORMAT, encodeForFormats } from "./runs.ts";
import { registryFinder } from "./saved_udfs.ts";
import { openStorage, siblingStoreUrl } from "./s3_storage.ts";
import { callerCacheDir, ObjectCache } from "./object_cache.ts";
import { followObjectClears } from "./cache_clears.ts";
import {
  DEFAULT_POOLS,
  durationFlag,
  OPS_OPTIONS,
  type OpsFlags,
  opsFlags,
  opsHelp,
} from "./ops_flags.ts";
import { type ListenAddress, Metrics, type MetricsServer, serveMetrics } from "./metrics.ts";
import { startRetention } from "./jobs/retention.ts";
import type { Storage } from "./storage.ts";
import { UserQuotas } from "./quota.ts";

/** Options of `startWorker`. */
export interface WorkerOptions {
  /** The shared database (`postgres://…`). */
  databaseUrl: string;
  /** The shared store (`s3://BUCKET/PREFIX`, or a folder path); default `<dataDir>/files`. */
  storageUrl?: string | null;
  /** This worker's own folder (engine modules and cache). */
  dataDir: string;
  /** Jobs of each declared instance type run at once (default 2). */
  concurrency?: number;
  /** The instance types whose jobs this worker takes (default `["small"]`). */
  instanceTypes?: string[];
  /** How long a stopping worker lets its running jobs finish, in ms (default 60 s). */
  drainTimeoutMs?: number;
  /** Most connections of the registry's pool (default 1; one more listens for cancels). */
  dbPoolSize?: number;
  /** Most connections of pg-boss's pool (default 1; one more listens for new jobs). */
  queuePoolSize?: number;
  /** Delete jobs (logs, results) that finished longer ago than this, in ms (default: keep all). */
  retentionMs?: number;
  /** Serve Prometheus metrics on this address of their own (metrics.ts); off by default. */
  metricsListen?: ListenAddress;
  /** Print nothing. */
  quiet?: boolean;
  /** What the operator lets users' UDFs reach (the same flags as `fused serve`'s). */
  udfPolicy?: Partial<CallerPolicy>;
  /** Bytes each user may hold (`--quota-mb`; default 10 GiB): give every process the same. */
  quotaBytes?: number;
}

/** A running worker. */
export interface RunningWorker {
  /** `host:pid`, as the job logs name it. */
  name: string;
  /** `http://HOST:PORT/metrics` when `metricsListen` was given. */
  metricsUrl?: string;
  /**
   * Drains and stops: takes no new job, lets running ones finish for the drain timeout, then
   * hands the rest back to the queue (not counted as tries). Called again, it stops draining.
   */
  close(): Promise<void>;
}

/** Why a running job's UDF was aborted. */
type StopReason = "cancel" | "lost" | "shutdown";

interface ActiveAttempt {
  abort: AbortController;
  attempt: number;
  /** Resolves once the job's handler is done. */
  done: Promise<void>;
}

/** Default of `WorkerOptions.drainTimeoutMs`. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 60_000;

/** Buffers a job's log lines and writes them in order, fenced by the attempt. */
class LogWriter {
  readonly #registry: PostgresRegistry;
  readonly #id: string;
  readonly #attempt: number;
  #pending: JobLogLine[] = [];
  #chain: Promise<void> = Promise.resolve();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #last = 0;

  constructor(registry: PostgresRegistry, id: string, attempt: number) {
    this.#registry = registry;
    this.#id = id;
    this.#attempt = attempt;
  }

  add(text: string): void {
    for (const message of text.replace(/\n$/, "").split("\n")) {
      this.#last = Math.max(Date.now(), this.#last + 1);
      this.#pending.push({ timestamp: this.#last, message });
    }
    this.#timer ??= setTimeout(() => this.flush(), 50);
  }

  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const lines = this.#pending.splice(0);
    if (lines.length > 0) {
      this.#chain = this.#chain.then(() =>
        this.#registry.appendJobLogLines(this.#id, lines, undefined, this.#attempt)
      ).catch((err) => {
        console.error(
          `fused worker: could not store log lines of job ${this.#id}: ${shortMessage(err)}`,
        );
      });
    }
    return this.#chain;
  }
}

/** Starts a worker and resolves once it takes jobs. */
export async function startWorker(options: WorkerOptions): Promise<RunningWorker> {
  const name = `${hostname()}:${Deno.pid}`;
  const log = options.quiet ? () => {} : (msg: string) => console.error(msg);
  const concurrency = options.concurrency ?? 2;
  const types = options.instanceTypes ?? [DEFAULT_INSTANCE_TYPE];
  const limitsOf = Object.fromEntries(
    types.map((type) => [type, instanceLimits(type, DEFAULT_INSTANCE_TYPES)]),
  );
  const drainTimeoutMs = options.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
  await Deno.mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  const pools = {
    registry: options.dbPoolSize ?? DEFAULT_POOLS.worker.registry,
    queue: options.queuePoolSize ?? DEFAULT_POOLS.worker.queue,
  };
  const registry = await PostgresRegistry.open(options.databaseUrl, { max: pools.registry });
  let storage: Storage;
  let cacheStore: Storage;
  let boss: PgBoss;
  try {
    storage = await openStorage(options.storageUrl ?? null, join(options.dataDir, "files"));
    // fused.cache's cacheStorage "object": the same cache area the services use.
    cacheStore = await openStorage(
      options.storageUrl ? siblingStoreUrl(options.storageUrl, "cache") : null,
      join(options.dataDir, "object_cache"),
    );
    boss = await startBoss(
      options.databaseUrl,
      { kind: "worker", instanceTypes: types },
      limitsOf,
      {
        max: pools.queue,
        onError: (err) => log(`fused worker: job queue: ${shortMessage(err)}`),
      },
    );
  } catch (err) {
    await registry.close();
    throw err;
  }
  const engine = new LocalEngine({
    dataDir: join(options.dataDir, "engine"),
    maxWorkers: concurrency * types.length,
  });
  const usersRoot = join(options.dataDir, "udf");
  const quotas = new UserQuotas({
    registry,
    storage,
    limitBytes: options.quotaBytes,
    usersRoot,
  });
  // A folder of "object" entries cleared through a service: its near copies here go too.
  const objectCache = new ObjectCache(cacheStore, {
    nearCache: (userId) => callerCacheDir(usersRoot, userId),
  });
  const callerOf = serviceCallers({
    engine: cachingLocalEngine(engine),
    dataDir: usersRoot,
    storage,
    find: registryFinder(registry),
    policy: options.udfPolicy,
    quotas,
    objectCache,
  });
  const metrics = new Metrics("worker", {
    jobsByState: () => registry.countJobsByStatus(),
    queueDepths: () => queueDepths(boss, types),
    poolSizes: pools,
  });
  let metricsServer: MetricsServer | undefined;
  try {
    if (options.metricsListen) metricsServer = await serveMetrics(options.metricsListen, metrics);
  } catch (err) {
    await boss.stop({ graceful: false, timeout: 1000 }).catch(() => {});
    await registry.close();
    throw err;
  }
  const active = new Map<string, ActiveAttempt>();
  // Set once the drain timeout passed: a job fetched even then goes back at once.
  let handingBack = false;
  const stop = (id: string, reason: StopReason) => active.get(id)?.abort.abort(reason);
  // A cancel told while the listening connection was lost is not told again: read the flags.
  const recheck = async () => {
    for (const [id, { attempt }] of active) {
      const now = await registry.jobAttempt(id).catch(() => null);
      if (now?.cancelRequested) stop(id, "cancel");
      else if (now && now.attempt !== attempt) stop(id, "lost");
    }
  };
  const unlisten = await registry.listen(CANCEL_CHANNEL, (id) => stop(id, "cancel"), () => {
    recheck();
  });
  const unlistenClears = await followObjectClears(
    registry,
    objectCache,
    (err) => log(`fused worker: cannot clear a cache a service cleared: ${shortMessage(err)}`),
  );

  async function run(queued: Job<QueuedJob>): Promise<void> {
    const id = queued.data.jobId;
    const claim = await registry.claimJob(id, name);
    if (!claim) return; // cancelled or finished meanwhile: nothing to do
    const { job, attempt, counted } = claim;
    const logs = new LogWriter(registry, id, attempt);
    const type = job.instanceType ?? DEFAULT_INSTANCE_TYPE;
    const limits = limitsOf[type] ?? DEFAULT_INSTANCE_TYPES[DEFAULT_INSTANCE_TYPE];
    if (counted > 1) {
      logs.add(
        `Attempt ${counted} of ${RETRY_LIMIT + 1}: the worker of attempt ${counted - 1} (${
          claim.previousWorker ?? "unknown"
        }) stopped before the job ended (no heartbeat for ${HEARTBEAT_SECONDS} s, or shut down); running the job again`,
      );
    }
    logs.add(
      `Job started on worker ${name} (attempt ${counted}, instance type ${type}, wall-clock limit ${
        formatDuration(limits.wallClockMs)
      })`,
    );
    const abort = new AbortController();
    const { promise: done, resolve: settle } = Promise.withResolvers<void>();
    active.set(id, { abort, attempt, done });
    if (handingBack) abort.abort("shutdown");
    // pg-boss aborts this when the claim is gone (the job was handed to another worker).
    queued.signal.addEventListener("abort", () => abort.abort("lost"), { once: true });
    const finish = async (status: JobStatus, error: string | null, results: JobResultFile[]) => {
      await logs.flush();
      await registry.finishJobAttempt(id, attempt, {
        status,
        error,
        results,
        channel: JOB_END_CHANNEL,
      });
    };
    const config = job.config as { steps: ChildStep[]; env?: Record<string, string> };
    const results: JobResultFile[] = [];
    const started = Date.now();
    const running = metrics.startJob();
    let outcome = "retried";
    try {
      if ((await registry.jobAttempt(id))?.cancelRequested) abort.abort("cancel");
      for (const [index, step] of config.steps.entries()) {
        abort.signal.throwIfAborted();
        const udf = Udf.fromJSON(step.udf);
        logs.add(`Running UDF "${udf.name}" (step ${index + 1} of ${config.steps.length})`);
        const output = await engine.run({
          udf,
          parameters: step.parameters,
          timeoutMs: Math.max(1, limits.wallClockMs - (Date.now() - started)),
          env: config.env ?? {},
          signal: abort.signal,
          caller: callerOf(job.ownerId),
          onOutput: ({ stdout, stderr }) => {
            if (stdout) logs.add(stdout);
            if (stderr) logs.add(stderr);
          },
        });
        const encoded = await encodeForFormats(output.value, DEFAULT_FORMAT);
        const file = `${index}.${encoded.extension}`;
        const key = `jobs/${id}/${file}`;
        await quotas.write(job.ownerId, key, ReadableStream.from([encoded.bytes]), {
          length: encoded.bytes.byteLength,
          what: `Writing the result fd://${key}`,
        });
        results.push({
          name: file,
          key,
          contentType: encoded.contentType,
          ...(encoded.metadata ? { metadata: { ...encoded.metadata } } : {}),
        });
        logs.add(
          `UDF "${udf.name}" finished in ${
            Math.round(output.timeMs)
          } ms; result written to fd://${key} (${encoded.bytes.byteLength} bytes)`,
        );
      }
      logs.add("Job succeeded");
      outcome = "succeeded";
      await finish("succeeded", null, results);
    } catch (err) {
      const reason = abort.signal.aborted ? abort.signal.reason as StopReason : null;
      outcome = reason === "cancel"
        ? "cancelled"
        : reason === "shutdown"
        ? "handed_back"
        : reason ?? (err instanceof BackendUnavailableError ? "retried" : "failed");
      if (reason === "cancel") {
        logs.add("Job cancelled");
        await finish("cancelled", null, results);
      } else if (reason === "shutdown") {
        await handBack(id, type, attempt, logs);
      } else if (reason === "lost") {
        // Another attempt owns the job now: leave the outcome to it.
        logs.add(`Worker ${name} lost the job (its claim expired): another attempt runs it`);
        await logs.flush();
      } else if (err instanceof BackendUnavailableError) {
        // Not the UDF's fault: let the queue retry it.
        logs.add(`ERROR: ${err.message}; the job goes back to the queue`);
        await logs.flush();
        throw err;
      } else {
        const message = (err as Error)?.message ?? String(err);
        logs.add(`ERROR: ${message}`);
        await finish("failed", message, results);
      }
    } finally {
      running();
      metrics.observeJob(type, outcome, (Date.now() - started) / 1000);
      active.delete(id);
      settle();
    }
  }

  /**
   * Puts a job this worker stopped past its drain timeout back on its queue as a new pg-boss job
   * with the tries it had left, so the attempt does not count (pg-boss would count a failure).
   */
  async function handBack(id: string, type: string, attempt: number, logs: LogWriter) {
    logs.add(
      `Worker ${name} stopped past its drain timeout of ${
        formatDuration(drainTimeoutMs)
      }: the job goes back to the queue (this attempt does not count)`,
    );
    await logs.flush();
    const used = await registry.releaseJobAttempt(id, attempt);
    if (used === null) return; // no longer this attempt's job
    await boss.send(queueFor(type), { jobId: id } satisfies QueuedJob, {
      retryLimit: RETRY_LIMIT - used,
    });
  }

  for (const type of types) {
    await boss.work<QueuedJob>(queueFor(type), {
      batchSize: 1,
      localConcurrency: concurrency,
      pollingIntervalSeconds: 1,
      notifyPollingIntervalSeconds: 1,
      heartbeatRefreshSeconds: 2,
    }, async ([queued]) => await run(queued));
  }
  // A job whose attempts are used up fails with the reason; any worker may record it.
  await boss.work<QueuedJob>(DEAD_JOB_QUEUE, { pollingIntervalSeconds: 2 }, async ([dead]) => {
    const id = dead.data.jobId;
    const reason = `The job was given up after ${
      RETRY_LIMIT + 1
    } attempts: each time its worker stopped before the job ended (killed, out of memory, shut down or cut off from the database); see the log lines before this one`;
    const failed = await registry.setJobStatus(id, "failed", reason, {
      from: ["pending", "running"],
    });
    if (failed) {
      await registry.appendJobLogLines(id, [{
        timestamp: Date.now(),
        message: `ERROR: ${reason}`,
      }]);
      // As the end of any attempt: a cancel waiting on this job hears it now, not at its timeout.
      await registry.notify(JOB_END_CHANNEL, id);
    }
  });
  log(
    `Fused worker ${name} taking jobs of instance type ${types.join(", ")} (${concurrency} at once${
      types.length > 1 ? " of each" : ""
    })`,
  );
  const stopRetention = options.retentionMs === undefined
    ? async () => {}
    : startRetention(registry, { storage, maxAgeMs: options.retentionMs, onError: log });
  const { promise: hurried, resolve: hurry } = Promise.withResolvers<void>();
  let closed: Promise<void> | undefined;
  return {
    name,
    metricsUrl: metricsServer?.url,
    close(): Promise<void> {
      if (closed) {
        hurry();
        return closed;
      }
      const drained = async () => {
        while (active.size > 0) await Promise.all([...active.values()].map((a) => a.done));
      };
      closed = (async () => {
        for (const queue of [...types.map(queueFor), DEAD_JOB_QUEUE]) {
          await boss.offWork(queue, { wait: false }).catch(() => {});
        }
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          drained(),
          new Promise((r) => timer = setTimeout(r, drainTimeoutMs)),
          hurried,
        ]);
        clearTimeout(timer);
        handingBack = true;
        for (const id of active.keys()) stop(id, "shutdown");
        await drained();
        await stopRetention();
        await boss.stop({ graceful: true, timeout: 5000 }).catch(() => {});
        await unlisten().catch(() => {});
        await unlistenClears().catch(() => {});
        await metricsServer?.close();
        await engine.close();
        for (const store of [storage, cacheStore]) {
          if ("close" in store && typeof store.close === "function") store.close();
        }
        await registry.close();
      })();
      return closed;
    },
  };
}

const HELP = `fused worker: takes batch jobs from the shared queue and runs them

Options:
  --database URL      the shared PostgreSQL (default $FUSED_DATABASE_URL), postgres://USER:PASSWORD@HOST:PORT/DB
  --storage URL       the services' store (default $FUSED_STORAGE_URL): s3://BUCKET/PREFIX, or a folder
                      (AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY for S3)
  --concurrency N     jobs of each instance type run at once (default 2)
  --instance-types T  instance types whose jobs this worker takes, comma-separated (default small;
                      ${Object.keys(DEFAULT_INSTANCE_TYPES).join(", ")})
  --drain-timeout D   on SIGTERM, how long running jobs may finish before they go back to the
                      queue, not counted as a try (default 60s; s, m, h or d)
${opsHelp("worker")}
  --data-dir PATH     this worker's own folder (default a new temp folder)
${UDF_POLICY_HELP}
  -h, --help          this help`;

/** `fused worker`: parses the command line and works until SIGINT or SIGTERM. */
export async function main(args: string[]): Promise<number> {
  let values;
  try {
    values = parseArgs({
      args,
      options: {
        database: { type: "string" },
        storage: { type: "string" },
        concurrency: { type: "string" },
        "instance-types": { type: "string" },
        "drain-timeout": { type: "string" },
        ...OPS_OPTIONS,
        "data-dir": { type: "string" },
        ...UDF_POLICY_OPTIONS,
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }).values;
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const databaseUrl = values.database ?? Deno.env.get("FUSED_DATABASE_URL");
  if (!databaseUrl) {
    console.error(
      "fused worker needs the shared database: pass --database postgres://USER:PASSWORD@HOST:PORT/DB or set FUSED_DATABASE_URL",
    );
    return 2;
  }
  const storageUrl = values.storage ?? Deno.env.get("FUSED_STORAGE_URL");
  if (!storageUrl) {
    console.error(
      "fused worker needs the store the services use: pass --storage s3://BUCKET/PREFIX (or their files folder) or set FUSED_STORAGE_URL",
    );
    return 2;
  }
  const concurrency = values.concurrency === undefined ? 2 : Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
    console.error(`Invalid --concurrency "${values.concurrency}": use a whole number from 1 to 64`);
    return 2;
  }
  const instanceTypes = (values["instance-types"] ?? DEFAULT_INSTANCE_TYPE).split(",")
    .map((t) => t.trim());
  const unknown = instanceTypes.find((t) => !Object.hasOwn(DEFAULT_INSTANCE_TYPES, t));
  const drainTimeoutMs = durationFlag(
    "--drain-timeout",
    values["drain-timeout"],
    DEFAULT_DRAIN_TIMEOUT_MS,
  );
  const udfPolicy = parsePolicy(values);
  const ops = opsFlags(values, "worker");
  for (const problem of [drainTimeoutMs, udfPolicy, ops]) {
    if (typeof problem === "string") {
      console.error(problem);
      return 2;
    }
  }
  if (unknown !== undefined) {
    console.error(
      `Invalid --instance-types "${values["instance-types"]}": "${unknown}" is not one; use ${
        Object.keys(DEFAULT_INSTANCE_TYPES).join(", ")
      }, comma-separated`,
    );
    return 2;
  }
  const quota = quotaBytes(values);
  if (typeof quota === "string") {
    console.error(quota);
    return 2;
  }
  const dataDir = values["data-dir"] ?? await Deno.makeTempDir({ prefix: "fused-worker-" });
  let worker: RunningWorker;
  try {
    worker = await startWorker({
      databaseUrl,
      storageUrl,
      dataDir,
      concurrency,
      instanceTypes,
      drainTimeoutMs: drainTimeoutMs as number,
      ...ops as OpsFlags,
      udfPolicy: udfPolicy as Partial<CallerPolicy>,
      quotaBytes: quota,
    });
  } catch (err) {
    console.error(`fused worker: ${(err as Error).message}`);
    return 1;
  }
  const { promise: stopped, resolve } = Promise.withResolvers<string>();
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => resolve(signal));
  }
  const signal = await stopped;
  console.error(
    `Received ${signal}: taking no new jobs, letting running ones finish for up to ${
      formatDuration(drainTimeoutMs as number)
    } (send it again to hand them back to the queue now)`,
  );
  for (const again of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(again, () => worker.close());
  }
  await worker.close();
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
