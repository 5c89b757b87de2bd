/**
 * Batch jobs on a PostgreSQL job queue, for services and workers that share one database: the
 * service records a job in the registry and enqueues it with pg-boss; any `fused worker` process
 * (worker.ts) takes it, runs it and writes its logs, results and outcome to the registry.
 *
 * Why pg-boss rather than graphile-worker (measured under Deno here, see the README's design
 * notes): pg-boss has database-side heartbeats, so a job whose worker was killed is handed to
 * another worker about 12 s later, while graphile-worker keeps it locked for 4 hours; and its
 * per-job abort signal stops a worker that was only frozen and then resumed. graphile-worker
 * starts a job a few milliseconds sooner, which matters less than never losing one.
 *
 * The policy, in one place:
 * - a worker that stops sending heartbeats (killed, frozen, cut off) for `HEARTBEAT_SECONDS`
 *   loses the job; pg-boss gives it to another worker, up to `RETRY_LIMIT` more times; the log
 *   says which attempt runs and why. After the last one the job fails with that reason (the
 *   dead-letter queue, handled by every worker);
 * - every attempt has a number in the registry; writes of any other attempt (a worker that
 *   resumes after being frozen) are dropped, so no two attempts ever both count;
 * - a UDF's own error fails the job at once (it would fail again);
 * - cancel: pending jobs end at once; a running one gets a flag and a NOTIFY, and its worker
 *   aborts the UDF within milliseconds (after a lost connection to the database it reads the
 *   flags of its jobs once again); the end of every attempt is NOTIFYed, so a cancel waits for
 *   that instead of polling;
 * - a job goes to the queue of its instance type, worked only by workers that declare the type;
 * - a worker told to stop (SIGTERM) drains: it takes no new job, lets running ones finish for its
 *   drain timeout, then hands the rest back to the queue without counting the attempt.
 *
 * @module
 */
import { PgBoss } from "pg-boss";
import { ValidationError } from "../../client/errors.ts";
import type { JobRecord } from "../registry/mod.ts";
import type { PostgresRegistry } from "../registry/postgres.ts";
import { BackendUnavailableError, shortMessage } from "../backend_errors.ts";
import {
  DEFAULT_INSTANCE_TYPE,
  DEFAULT_INSTANCE_TYPES,
  formatDuration,
  type InstanceLimits,
  instanceLimits,
} from "./instance_types.ts";
import type { JobService, JobSubmission } from "./runner.ts";

/** The pg-boss queue of batch jobs of the default instance type (`queueFor`). */
export const JOB_QUEUE = "fused-jobs";
/** Where pg-boss puts a job whose attempts are used up. */
export const DEAD_JOB_QUEUE = "fused-jobs-dead";
/** The NOTIFY channel of cancel requests (payload: job id). */
export const CANCEL_CHANNEL = "fused_job_cancel";
/** The NOTIFY channel of attempts that ended (payload: job id), for a cancel waiting on one. */
export const JOB_END_CHANNEL = "fused_job_end";
/** A worker silent for this long has lost its job (pg-boss's minimum is 10). */
export const HEARTBEAT_SECONDS = 10;
/** How many more attempts a job gets after its worker was lost. */
export const RETRY_LIMIT = 2;
/** How often a pg-boss instance refreshes its row in pg-boss's instance registry. */
const INSTANCE_HEARTBEAT_SECONDS = 10;
/** How long a service trusts what it read of the live workers' instance types. */
const DECLARED_TTL_MS = 2000;
/** The start of a worker's instance name; the instance types it declares follow. */
const WORKER_INSTANCE = "fused-worker ";

/** What a queued job carries (the rest is in the registry). */
export interface QueuedJob {
  /** The registry's job id. */
  jobId: string;
}

/**
 * The pg-boss queue of an instance type: one per type, so a job reaches only the workers that
 * declare its type (`fused worker --instance-types`). The default type keeps the first queue's
 * name, so jobs queued before an upgrade still run.
 */
export function queueFor(instanceType: string): string {
  return instanceType === DEFAULT_INSTANCE_TYPE ? JOB_QUEUE : `${JOB_QUEUE}-${instanceType}`;
}

/** Who runs a pg-boss instance: a service (sends), or a worker of some instance types. */
export type BossRole = { kind: "service" } | { kind: "worker"; instanceTypes: string[] };

/** Options of `startBoss`. */
export interface BossOptions {
  /** Most connections of pg-boss's pool. */
  max: number;
  /** Told of pg-boss's errors (its pool's lost connections among them). */
  onError: (err: unknown) => void;
}

/** pg-boss settings shared by services and workers. */
export function bossOptions(url: string, role: BossRole, max: number) {
  const worker = role.kind === "worker";
  return {
    connectionString: url,
    max,
    // NOTIFY wakes an idle worker at once instead of at its next poll. Only workers listen: a
    // service works no queue, yet its listener got (and decoded) every job's NOTIFY, its own and
    // every other service's, so each service's CPU per submit grew with the number of services
    // (measured: an idle service used 0.09 ms per submit of another). Sending is not affected:
    // a queue's `notify` makes every insert NOTIFY, whoever listens.
    useListenNotify: worker,
    // The measured default (60 s) is what made a lost job wait a minute: check every 2 s.
    superviseIntervalSeconds: 2,
    monitorIntervalSeconds: 2,
    supervise: worker,
    schedule: false,
    // A service tells from these rows whether any live worker declares a job's instance type.
    instanceName: worker ? WORKER_INSTANCE + role.instanceTypes.join(",") : "fused-service",
    instanceHeartbeatSeconds: INSTANCE_HEARTBEAT_SECONDS,
    openTelemetry: { enabled: false },
  };
}

/**
 * Starts pg-boss (installing its schema on first use) and makes sure the dead-letter queue and
 * the queues of `instanceTypes` exist.
 */
export async function startBoss(
  url: string,
  role: BossRole,
  instanceTypes: Readonly<Record<string, InstanceLimits>>,
  options: BossOptions,
): Promise<PgBoss> {
  const boss = new PgBoss(bossOptions(url, role, options.max));
  // pg's pool crashes the process on an idle-connection error without a listener.
  boss.on("error", options.onError);
  try {
    await boss.start();
    if (!(await boss.getQueue(DEAD_JOB_QUEUE))) await boss.createQueue(DEAD_JOB_QUEUE, {});
    for (const [type, limits] of Object.entries(instanceTypes)) {
      if (await boss.getQueue(queueFor(type))) continue;
      await boss.createQueue(queueFor(type), {
        retryLimit: RETRY_LIMIT,
        retryDelay: 0,
        heartbeatSeconds: HEARTBEAT_SECONDS,
        // A backstop only: heartbeats notice a lost worker long before.
        expireInSeconds: Math.ceil(limits.wallClockMs / 1000) + 60,
        notify: true,
        deadLetter: DEAD_JOB_QUEUE,
      });
    }
  } catch (err) {
    await boss.stop({ graceful: false, timeout: 1000 }).catch(() => {});
    throw new BackendUnavailableError(
      `Cannot start the job queue on PostgreSQL (${
        shortMessage(err)
      }): check that the database runs and that --database is right`,
    );
  }
  return boss;
}

/** The instance types that live workers declare (from pg-boss's instance registry). */
export async function declaredInstanceTypes(boss: PgBoss): Promise<Set<string>> {
  const types = new Set<string>();
  for (const instance of await boss.getInstances({ limit: 100_000 })) {
    if (!instance.live || !instance.name?.startsWith(WORKER_INSTANCE)) continue;
    for (const type of instance.name.slice(WORKER_INSTANCE.length).split(",")) types.add(type);
  }
  return types;
}

/** Jobs waiting (`queued`) and taken (`active`) on the queue of each of `instanceTypes`. */
export async function queueDepths(
  boss: PgBoss,
  instanceTypes: string[],
): Promise<Record<string, { queued: number; active: number }>> {
  const depths: Record<string, { queued: number; active: number }> = {};
  for (const type of instanceTypes) {
    const queue = await boss.getQueue(queueFor(type));
    depths[type] = { queued: queue?.queuedCount ?? 0, active: queue?.activeCount ?? 0 };
  }
  return depths;
}

/** Options of `JobQueue`. */
export interface JobQueueOptions {
  /** Instance types and their limits (default `DEFAULT_INSTANCE_TYPES`). */
  instanceTypes?: Readonly<Record<string, InstanceLimits>>;
  /** Longest wait of `cancel()` for the worker to stop the job (ms, default 10 s). */
  cancelWaitMs?: number;
  /** Most connections of pg-boss's pool (default 1; one more listens). */
  poolSize?: number;
}

/** The service's side of the shared job queue (see the module notes). */
export class JobQueue implements JobService {
  /** Instance types offered. */
  readonly instanceTypes: Readonly<Record<string, InstanceLimits>>;
  readonly #registry: PostgresRegistry;
  readonly #url: string;
  readonly #cancelWaitMs: number;
  readonly #poolSize: number;
  /** Who waits for the end of which job's attempt (a cancel), told by NOTIFY. */
  readonly #endWaiters = new Map<string, Set<() => void>>();
  #unlisten: (() => Promise<void>) | undefined;
  #boss: PgBoss | undefined;
  /** The types live workers declare, read at most every `DECLARED_TTL_MS` (not per submit). */
  #declared: { at: number; types: Promise<Set<string>> } | undefined;

  /** A queue on the registry's database (`url`). */
  constructor(registry: PostgresRegistry, url: string, options: JobQueueOptions = {}) {
    this.#registry = registry;
    this.#url = url;
    this.instanceTypes = options.instanceTypes ?? DEFAULT_INSTANCE_TYPES;
    this.#cancelWaitMs = options.cancelWaitMs ?? 10_000;
    this.#poolSize = options.poolSize ?? 1;
  }

  /** Starts pg-boss for sending, and listens for the ends of attempts. */
  async start(): Promise<void> {
    this.#unlisten = await this.#registry.listen(JOB_END_CHANNEL, (id) => {
      for (const wake of this.#endWaiters.get(id) ?? []) wake();
    });
    this.#boss = await startBoss(this.#url, { kind: "service" }, this.instanceTypes, {
      max: this.#poolSize,
      onError: (err) => console.error(`fused serve: job queue: ${shortMessage(err)}`),
    });
  }

  /** Jobs waiting and taken on the queue of each instance type (for the metrics). */
  async queueDepths(): Promise<Record<string, { queued: number; active: number }>> {
    if (!this.#boss) throw new ValidationError("The job queue is closed: start the service again");
    return await queueDepths(this.#boss, Object.keys(this.instanceTypes));
  }

  /** Resolves when pg-boss answers a query on its own connections (readiness). */
  async check(): Promise<void> {
    if (!this.#boss) throw new Error("The job queue is not started");
    try {
      await this.#boss.getQueue(JOB_QUEUE);
    } catch (err) {
      throw new BackendUnavailableError(
        `The job queue cannot use PostgreSQL (${shortMessage(err)})`,
      );
    }
  }

  /** {@inheritDoc JobService.checkInstanceType} */
  checkInstanceType(name: string | null | undefined): string {
    const type = name ?? DEFAULT_INSTANCE_TYPE;
    instanceLimits(type, this.instanceTypes);
    return type;
  }

  /**
   * Records the job and enqueues it on its instance type's queue (its registry id is its queue
   * id); its log says so when no live worker declares that type, and the job waits for one.
   */
  async submit(job: JobSubmission): Promise<JobRecord> {
    if (!this.#boss) throw new ValidationError("The job queue is closed: start the service again");
    const instanceType = this.checkInstanceType(job.instanceType);
    if (job.steps.length === 0) throw new ValidationError("A job needs at least one UDF step");
    const boss = this.#boss;
    const limits = this.instanceTypes[instanceType];
    const firstLines = [
      `Job queued on instance type ${instanceType} (wall-clock limit ${
        formatDuration(limits.wallClockMs)
      }); a fused worker will take it`,
    ];
    // Asked before the insert (and cached): the job, all its first lines and its queue
    // entry are then written in one go, and an outage found here leaves nothing either.
    let waiting: string | null;
    try {
      waiting = await this.#waitingFor(instanceType);
    } catch (err) {
      throw new BackendUnavailableError(
        `The job queue cannot use PostgreSQL (${shortMessage(err)})`,
      );
    }
    if (waiting) firstLines.push(waiting);
    // One statement: a database outage at any point leaves no job that would run later.
    return await this.#registry.createQueuedJob(
      job.ownerId,
      {
        config: { request: job.config, steps: job.steps, env: job.env ?? {} },
        fields: { name: job.name, instanceType, idempotencyKey: job.idempotencyKey },
        firstLines,
      },
      (db, id) => boss.send(queueFor(instanceType), { jobId: id } satisfies QueuedJob, { id, db }),
    );
  }

  /** Says so when no live worker declares a pending job's instance type. */
  async waitingReason(job: JobRecord): Promise<string | null> {
    if (job.status !== "pending") return null;
    return await this.#waitingFor(job.instanceType ?? DEFAULT_INSTANCE_TYPE);
  }

  /** Why a job of instance type `type` waits: no live worker declares it (null when one does). */
  async #waitingFor(type: string): Promise<string | null> {
    if (!this.#boss) return null;
    if (!this.#declared || Date.now() - this.#declared.at > DECLARED_TTL_MS) {
      const types = declaredInstanceTypes(this.#boss);
      this.#declared = { at: Date.now(), types };
      types.catch(() => this.#declared = undefined);
    }
    if ((await this.#declared.types).has(type)) return null;
    return `No running fused worker declares instance type ${type}: the job waits until one starts (fused worker --instance-types ${type})`;
  }

  /**
   * Cancels a job: a pending one at once; a running one by asking its worker, then waiting (up
   * to `cancelWaitMs`) for the NOTIFY that it recorded the end. A finished job is returned
   * unchanged.
   */
  async cancel(id: string): Promise<JobRecord | null> {
    const pending = await this.#registry.setJobStatus(id, "cancelled", null, {
      from: ["pending"],
    });
    if (pending) {
      await this.#registry.appendJobLogLines(id, [{
        timestamp: Date.now(),
        message: "Job cancelled before it started",
      }]);
      const type = pending.instanceType ?? DEFAULT_INSTANCE_TYPE;
      await this.#boss?.cancel(queueFor(type), id).catch(() => {});
      return pending;
    }
    // Waiting from before the request: the end may be told before requestCancel returns.
    const { promise: ended, resolve } = Promise.withResolvers<void>();
    const waiters = this.#endWaiters.get(id) ?? new Set();
    this.#endWaiters.set(id, waiters.add(resolve));
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      if (await this.#registry.requestCancel(id, CANCEL_CHANNEL)) {
        await Promise.race([ended, new Promise((r) => timer = setTimeout(r, this.#cancelWaitMs))]);
      }
    } finally {
      clearTimeout(timer);
      waiters.delete(resolve);
      if (waiters.size === 0) this.#endWaiters.delete(id);
    }
    return await this.#registry.getJob(id);
  }

  /** Stops sending (workers keep running their jobs). */
  async close(): Promise<void> {
    const boss = this.#boss;
    this.#boss = undefined;
    await this.#unlisten?.().catch(() => {});
    await boss?.stop({ graceful: false, timeout: 2000 });
  }
}
