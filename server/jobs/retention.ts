/**
 * Retention of batch jobs: a job that finished longer ago than the age the operator sets
 * (`fused worker --retention 30d`, `fused serve --retention 30d`) is deleted with its log lines
 * (the registry: PostgreSQL, or the single service's SQLite), its result files (`fd://jobs/<id>/`
 * in the store) and, on a single service, its run folder. Pending and running jobs are never
 * deleted, however old.
 *
 * Every process with the flag sweeps; two sweeps at once only delete the same things twice. The
 * files go first, then the row: a sweep cut off in between leaves the row, and the next one
 * finishes the job's deletion.
 *
 * @module
 */
import type { Registry } from "../registry/mod.ts";
import type { Storage } from "../storage.ts";
import { shortMessage } from "../backend_errors.ts";

/** Jobs deleted per round of a sweep. */
const BATCH = 100;
/** Longest time between two sweeps. */
const MAX_INTERVAL_MS = 3_600_000;

/** What a sweep deletes, and where. */
export interface RetentionOptions {
  /** The store of the jobs' result files (`jobs/<id>/`). */
  storage: Storage;
  /** Jobs that finished longer ago than this are deleted (ms). */
  maxAgeMs: number;
  /** Removes a job's run folder (a single service's job runner keeps one per job). */
  removeRunFolder?: (id: string) => Promise<void>;
}

/**
 * Deletes the jobs that finished more than `maxAgeMs` ago, their logs and result files; resolves
 * with how many jobs were deleted.
 *
 * @example
 * ```ts ignore
 * import { sweepJobs } from "./retention.ts";
 * const deleted = await sweepJobs(registry, { storage, maxAgeMs: 30 * 86_400_000 });
 * ```
 */
export async function sweepJobs(
  registry: Registry,
  options: RetentionOptions,
): Promise<number> {
  const before = new Date(Date.now() - options.maxAgeMs).toISOString();
  let deleted = 0;
  for (;;) {
    const jobs = await registry.listJobsFinishedBefore(before, BATCH);
    for (const job of jobs) {
      await options.storage.delete(`jobs/${job.id}`, { maxDepth: null });
      await options.removeRunFolder?.(job.id);
      if (await registry.deleteJob(job.id)) deleted++;
    }
    if (jobs.length < BATCH) return deleted;
  }
}

/**
 * Sweeps now and then every tenth of `maxAgeMs` (at most hourly) until the result is called;
 * `onError` hears of a sweep that failed (the next one tries again).
 */
export function startRetention(
  registry: Registry,
  options: RetentionOptions & { onError: (message: string) => void },
): () => Promise<void> {
  const interval = Math.max(1000, Math.min(MAX_INTERVAL_MS, options.maxAgeMs / 10));
  let sweeping = Promise.resolve();
  const sweep = () => {
    sweeping = sweeping.then(() => sweepJobs(registry, options)).then(() => {}, (err) => {
      options.onError(`Cannot delete old jobs: ${shortMessage(err)}; trying again later`);
    });
  };
  sweep();
  const timer = setInterval(sweep, interval);
  return async () => {
    clearInterval(timer);
    await sweeping;
  };
}
