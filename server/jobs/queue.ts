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
 *   aborts the UDF within milliseconds (it checks the flag every second too).
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

/** The pg-boss queue of batch jobs. */
export const JOB_QUEUE = "fused-jobs";
/** Where pg-boss puts a job whose attempts are used up. */
export const DEAD_JOB_QUEUE = "fused-jobs-dead";
/** The NOTIFY channel of cancel requests (payload: job id). */
export const CANCEL_CHANNEL = "fused_job_cancel";
/** A worker silent for this long has lost its job (pg-boss's minimum is 10). */
export const HEARTBEAT_SECONDS = 10;
/** How many more attempts a job gets after its worker was lost. */
export const RETRY_LIMIT = 2;

/** What a queued job carries (the rest is in the registry). */
export interface QueuedJob {
  /** The registry's job id. */
  jobId: string;
}

/** pg-boss settings shared by services and workers. */
export function bossOptions(url: string, role: "service" | "worker") {
  return {
    connectionString: url,
    max: role === "worker" ? 4 : 3,
    // NOTIFY wakes an idle worker at once instead of at its next poll.
    useListenNotify: true,
    // The measured default (60 s) is what made a lost job wait a minute: check every 2 s.
    superviseIntervalSeconds: 2,
    monitorIntervalSeconds: 2,
    supervise: role === "worker",
    schedule: false,
    instanceName: role,
    openTelemetry: { enabled: false },
  };
}

/** Starts pg-boss (installing its schema on first use) and makes sure both queues exist. */
export async function startBoss(
  url: string,
  role: "service" | "worker",
  onError: (err: Error) => void,
): Promise<PgBoss> {
  const boss = new PgBoss(bossOptions(url, role));
  // pg's pool crashes the process on an idle-connection error without a listener.
  boss.on("error", onError);
  try {
    await boss.start();
    const longest = Math.max(...Object.values(DEFAULT_INSTANCE_TYPES).map((t) => t.wallClockMs));
    for (
      const [name, options] of [
        [DEAD_JOB_QUEUE, {}],
        [JOB_QUEUE, {
          retryLimit: RETRY_LIMIT,
          retryDelay: 0,
          heartbeatSeconds: HEARTBEAT_SECONDS,
          // A backstop only: heartbeats notice a lost worker long before.
          expireInSeconds: Math.ceil(longest / 1000) + 60,
          notify: true,
          deadLetter: DEAD_JOB_QUEUE,
        }],
      ] as const
    ) {
      if (!(await boss.getQueue(name))) await boss.createQueue(name, options);
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

/** Options of `JobQueue`. */
export interface JobQueueOptions {
  /** Instance types and their limits (default `DEFAULT_INSTANCE_TYPES`). */
  instanceTypes?: Readonly<Record<string, InstanceLimits>>;
  /** Longest wait of `cancel()` for the worker to stop the job (ms, default 10 s). */
  cancelWaitMs?: number;
}

/** The service's side of the shared job queue (see the module notes). */
export class JobQueue implements JobService {
  /** Instance types offered. */
  readonly instanceTypes: Readonly<Record<string, InstanceLimits>>;
  readonly #registry: PostgresRegistry;
  readonly #url: string;
  readonly #cancelWaitMs: number;
  #boss: PgBoss | undefined;

  /** A queue on the registry's database (`url`). */
  constructor(registry: PostgresRegistry, url: string, options: JobQueueOptions = {}) {
    this.#registry = registry;
    this.#url = url;
    this.instanceTypes = options.instanceTypes ?? DEFAULT_INSTANCE_TYPES;
    this.#cancelWaitMs = options.cancelWaitMs ?? 10_000;
  }

  /** Starts pg-boss for sending. */
  async start(): Promise<void> {
    this.#boss = await startBoss(this.#url, "service", (err) => {
      console.error(`fused serve: job queue: ${shortMessage(err)}`);
    });
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

  /** Records the job and enqueues it (its registry id is its queue id). */
  async submit(job: JobSubmission): Promise<JobRecord> {
    if (!this.#boss) throw new ValidationError("The job queue is closed: start the service again");
    const instanceType = this.checkInstanceType(job.instanceType);
    if (job.steps.length === 0) throw new ValidationError("A job needs at least one UDF step");
    const boss = this.#boss;
    const limits = this.instanceTypes[instanceType];
    // One transaction: a database outage at any step leaves no job that would run later.
    return await this.#registry.createQueuedJob(job.ownerId, {
      config: { request: job.config, steps: job.steps, env: job.env ?? {} },
      fields: { name: job.name, instanceType, idempotencyKey: job.idempotencyKey },
      firstLine: `Job queued on instance type ${instanceType} (wall-clock limit ${
        formatDuration(limits.wallClockMs)
      }); a fused worker will take it`,
    }, (db, id) => boss.send(JOB_QUEUE, { jobId: id } satisfies QueuedJob, { id, db }));
  }

  /**
   * Cancels a job: a pending one at once; a running one by asking its worker, then waiting (up
   * to `cancelWaitMs`) for it to record the end. A finished job is returned unchanged.
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
      await this.#boss?.cancel(JOB_QUEUE, id).catch(() => {});
      return pending;
    }
    if (await this.#registry.requestCancel(id, CANCEL_CHANNEL)) {
      const deadline = Date.now() + this.#cancelWaitMs;
      while (Date.now() < deadline) {
        const job = await this.#registry.getJob(id);
        if (!job || job.status !== "running") return job;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    return await this.#registry.getJob(id);
  }

  /** Stops sending (workers keep running their jobs). */
  async close(): Promise<void> {
    const boss = this.#boss;
    this.#boss = undefined;
    await boss?.stop({ graceful: false, timeout: 2000 });
  }
}
