/**
 * Retention of batch jobs on the shared database: a job that finished longer ago than the age
 * the operator sets (`fused worker --retention 30d`) is deleted with its log lines (PostgreSQL)
 * and its result files (`fd://jobs/<id>/` in the store). Pending and running jobs are never
 * deleted, however old.
 *
 * Every worker with the flag sweeps; two sweeps at once only delete the same things twice. The
 * result files go first, then the row: a sweep cut off in between leaves the row, and the next one
 * finishes the job's deletion.
 *
 * @module
 */
import type { PostgresRegistry } from "../registry/postgres.ts";
import type { Storage } from "../storage.ts";
import { shortMessage } from "../backend_errors.ts";

/** Jobs deleted per round of a sweep. */
const BATCH = 100;
/** Longest time between two sweeps. */
const MAX_INTERVAL_MS = 3_600_000;

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
  registry: PostgresRegistry,
  options: { storage: Storage; maxAgeMs: number },
): Promise<number> {
  const before = new Date(Date.now() - options.maxAgeMs).toISOString();
  let deleted = 0;
  for (;;) {
    const jobs = await registry.listJobsFinishedBefore(before, BATCH);
    for (const job of jobs) {
      await options.storage.delete(`jobs/${job.id}`, { maxDepth: null });
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
  registry: PostgresRegistry,
  options: { storage: Storage; maxAgeMs: number; onError: (message: string) => void },
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
