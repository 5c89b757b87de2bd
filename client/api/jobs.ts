/**
 * Batch jobs (fused-wire §7): start, history, status, logs (get, print, tail), wait, cancel,
 * execution time and result files; the `BatchJob` of a job with the same operations as
 * methods; `UdfJob` (what `udf.job(parameters)` returns) with `runBatch`; and the batch path of
 * `fused.run(udf, { instanceType: "small" })`.
 *
 * @module
 */
import {
  FusedError,
  HttpError,
  NotSupportedError,
  TimeoutError,
  UdfCancelledError,
  UdfRuntimeError,
  ValidationError,
} from "../errors.ts";
import type { RunResponse as RunResult } from "../engine_types.ts";
import { decodeResult } from "../formats/result.ts";
import type { UdfResult } from "../formats/types.ts";
import { Udf, type UdfJobHandle } from "../udf.ts";
import { stepConfig } from "./realtime.ts";
import { loadSavedUdf } from "./udfs.ts";
import {
  type JobLog,
  JobLogListSchema,
  JobResultListSchema,
  type JobStatus,
  JobStatusSchema,
  type JobSummary,
  JobSummaryListSchema,
} from "./schemas.ts";
import {
  type ApiCallOptions,
  globalTransport,
  type RequestOptions,
  type Transport,
} from "./transport.ts";
import type { z } from "zod";
import { sleep } from "../sleep.ts";

/** A job: its id, or a status object that carries `job_id`. */
export type JobRef = string | { job_id: string };

/** A job configuration: Fused's `JobConfig` (`{name, steps, metadata}`). */
export interface JobConfig {
  /** Name of the job: a letter, then letters, digits, `_ . : -`. */
  name?: string | null;
  /** The steps; each `{type: "udf", udf: {...Udf JSON}, ...}`. */
  steps: Record<string, unknown>[];
  /** Free-form metadata. */
  metadata?: Record<string, unknown> | null;
}

const JOB_NAME = /^[a-zA-Z][a-zA-Z0-9_.:\-]*$/;

function jobId(job: JobRef): string {
  const id = typeof job === "string" ? job : job?.job_id;
  if (typeof id !== "string" || id === "") {
    throw new ValidationError("A job is its id or a job status with job_id");
  }
  return id;
}

/** Sends a job request; a 404 for the route itself means this service has no batch jobs. */
async function jobJson<T extends z.ZodType>(
  schema: T,
  path: string,
  opts: RequestOptions & ApiCallOptions,
): Promise<z.infer<T>> {
  const transport = opts.transport ?? globalTransport();
  try {
    return await transport.json(schema, path, opts);
  } catch (err) {
    if (err instanceof HttpError && err.status === 404 && /No route/i.test(err.message)) {
      throw new NotSupportedError(
        `The service at ${transport.baseUrl} has no batch job routes (${path}): run the UDF with fused.run instead, or update the service`,
      );
    }
    throw err;
  }
}

/**
 * A batch job: its status (fused-py's `RunResponse` of a batch job) and its operations as
 * methods. `runBatch`, `jobGetStatus`, `jobCancel`, `jobWaitForJob` and the `FusedAPI` job
 * methods return one; `jobGetLogs` returns the logs and `jobGetExecTime` the seconds, as in
 * fused-py.
 *
 * @example
 * ```ts ignore
 * import * as fused from "fused";
 * const job = await myUdf.job({ n: 3 }).runBatch({ instanceType: "small" });
 * await job.tailLogs();
 * console.log(await job.getResult(), await job.getExecTime());
 * ```
 */
export class BatchJob {
  /** The job's id. */
  job_id: string;
  /** The job's name. */
  job_name?: string | null;
  /** The instance it runs on. */
  instance_id?: string | null;
  /** Its instance type. */
  instance_type?: string | null;
  /** Instance status (`pending`, `running`, `terminated`). */
  status?: string | null;
  /** Whether the instance has terminated. */
  terminal_status?: boolean | null;
  /** Job status: `Pending`, `Running`, `Done`, `Failed`, `Canceled`. */
  job_status?: string | null;
  /** When the job status last changed (ISO time). */
  job_status_date?: string | null;
  /** Whether the job has finished. */
  finished_job_status?: boolean | null;
  /** Steps in the job. */
  total_tasks?: number | null;
  /** Steps finished. */
  finished_tasks?: number | null;
  /** Error of a failed job. */
  error?: string | null;
  /** Other fields the service sent (`state`, `creation_date`, `exec_time_seconds`, ...). */
  [field: string]: unknown;
  readonly #opts: ApiCallOptions;

  /** Wraps a status answer; `opts.transport` is used by the methods. */
  constructor(status: JobStatus, opts: ApiCallOptions = {}) {
    this.job_id = status.job_id;
    Object.assign(this, status);
    this.#opts = { transport: opts.transport };
  }

  /** A placeholder for a job known by its id only (status unknown until `getStatus()`). */
  static fromJobId(id: string, opts: ApiCallOptions = {}): BatchJob {
    return new BatchJob({ job_id: id, status: "null" }, opts);
  }

  /** Whether the job has finished (done, failed or cancelled). */
  get finished(): boolean {
    return isTerminal(this);
  }

  /** The job's current status. */
  getStatus(): Promise<BatchJob> {
    return getStatus(this, this.#opts);
  }

  /** The job's log records. */
  getLogs(opts: GetLogsOptions = {}): Promise<JobLog[]> {
    return getLogs(this, { ...this.#opts, ...opts });
  }

  /** Prints the job's logs. */
  printLogs(opts: GetLogsOptions & { write?: LineWriter } = {}): Promise<void> {
    return printLogs(this, { ...this.#opts, ...opts });
  }

  /** Prints the job's logs as they arrive (only the newest of each batch by default, as Fused). */
  tailLogs(opts: TailLogsOptions = {}): Promise<void> {
    return tailLogs(this, { sampleLogs: true, ...this.#opts, ...opts });
  }

  /** How long the job ran, in seconds as fused-py (from its first to its last log record). */
  getExecTime(): Promise<number> {
    return getExecTime(this, this.#opts);
  }

  /** Cancels the job; returns its new status. */
  cancel(): Promise<BatchJob> {
    return cancelJob(this, this.#opts);
  }

  /** Waits until the job has finished; returns its final status. */
  waitForJob(opts: WaitForJobOptions = {}): Promise<BatchJob> {
    return waitForJob(this, { ...this.#opts, ...opts });
  }

  /** The decoded results of the finished job, one per step. */
  getResults(): Promise<UdfResult[]> {
    return getJobResults(this, this.#opts);
  }

  /** The result of the finished job's first step, or null when it has none. */
  async getResult(): Promise<UdfResult> {
    return (await this.getResults())[0] ?? null;
  }

  /** The status fields, without methods. */
  toJSON(): JobStatus {
    return { ...this } as JobStatus;
  }
}

/** Options of `startJob`. */
export interface StartJobOptions extends ApiCallOptions {
  /** Batch instance type ("small", "m5.large", ...). */
  instanceType?: string;
  /** Region to run in. */
  region?: string;
  /** Disk size in GB. */
  diskSizeGb?: number;
  /** Extra environment variables, each `KEY=value`. */
  additionalEnv?: string[];
  /** Custom image. */
  imageName?: string;
  /** E-mail the status when done (default false here: a local service sends no mail). */
  sendStatusEmail?: boolean;
  /** Cache age in seconds. */
  cacheMaxAge?: number;
  /** Parameters given to the UDF of every step. */
  parameters?: Record<string, unknown>;
  /** Job name (default the UDF's name). */
  name?: string;
}

function toJobConfig(config: Udf | JobConfig, opts: StartJobOptions): JobConfig {
  if (config instanceof Udf) {
    return {
      name: opts.name ?? config.name,
      steps: [stepConfig(config, opts.parameters ?? {})],
      metadata: null,
    };
  }
  if (!config || !Array.isArray(config.steps) || config.steps.length === 0) {
    throw new ValidationError("startJob takes a Udf or a job config { name, steps: [...] }");
  }
  return { ...config, name: opts.name ?? config.name ?? null };
}

/**
 * Starts a batch job running a UDF (or a job config) and returns its status.
 *
 * @example
 * ```ts ignore
 * import * as fused from "fused";
 * const job = await fused.api.startJob(myUdf, { instanceType: "small" });
 * await fused.api.jobTailLogs(job);
 * ```
 */
export async function startJob(
  config: Udf | JobConfig,
  opts: StartJobOptions = {},
): Promise<BatchJob> {
  const job = toJobConfig(config, opts);
  if (job.name && !JOB_NAME.test(job.name)) {
    throw new ValidationError(
      `Invalid job name "${job.name}": start with a letter, then use letters, digits, "_", ".", ":" or "-"`,
    );
  }
  const body: Record<string, unknown> = {
    config: job,
    send_status_email: opts.sendStatusEmail ?? false,
  };
  if (opts.additionalEnv) body.additional_env = opts.additionalEnv;
  if (opts.imageName) body.image_name = opts.imageName;
  if (opts.cacheMaxAge !== undefined) body.cache_max_age = opts.cacheMaxAge;
  const status = await jobJson(JobStatusSchema, "/run", {
    method: "POST",
    query: {
      instance_type: opts.instanceType,
      region: opts.region,
      disk_size_gb: opts.diskSizeGb,
    },
    json: body,
    // The key makes a retry of this submit (its answer lost) answer the same job, never a second.
    headers: { "Fused-Recursion": "2", "Idempotency-Key": crypto.randomUUID() },
    transport: opts.transport,
    signal: opts.signal,
  });
  return new BatchJob(status, opts);
}

/** Options of `getJobs`. */
export interface GetJobsOptions extends ApiCallOptions {
  /** Most jobs to return (default 5). */
  n?: number;
  /** Jobs to skip (0 = the most recent). */
  skip?: number;
  /** Jobs per request (default 25). */
  perRequest?: number;
  /** Most requests (default 1; `null` for as many as needed). */
  maxRequests?: number | null;
}

/** The job history, most recent first. */
export async function getJobs(opts: GetJobsOptions = {}): Promise<JobSummary[]> {
  const n = opts.n ?? 5;
  const perRequest = opts.perRequest ?? 25;
  const maxRequests = opts.maxRequests === null ? Infinity : opts.maxRequests ?? 1;
  const out: JobSummary[] = [];
  let skip = opts.skip ?? 0;
  for (let requests = 0; requests < maxRequests && out.length < n; requests++) {
    const limit = Math.min(perRequest, n - out.length);
    const page = await jobJson(JobSummaryListSchema, "/job/self", {
      query: { skip, limit },
      transport: opts.transport,
      signal: opts.signal,
    });
    out.push(...page);
    if (page.length < limit) break;
    skip += page.length;
  }
  return out;
}

/** The status of a job. */
export async function getStatus(job: JobRef, opts: ApiCallOptions = {}): Promise<BatchJob> {
  const status = await jobJson(
    JobStatusSchema,
    `/run/by-id/${encodeURIComponent(jobId(job))}`,
    opts,
  );
  return new BatchJob(status, opts);
}

/**
 * Cancels a job; returns its new status. The service stops the job's process (SIGTERM, then
 * SIGKILL after a grace period) before it answers.
 */
export async function cancelJob(job: JobRef, opts: ApiCallOptions = {}): Promise<BatchJob> {
  const status = await jobJson(
    JobStatusSchema,
    `/run/by-id/${encodeURIComponent(jobId(job))}/cancel`,
    { ...opts, method: "POST" },
  );
  return new BatchJob(status, opts);
}

/** Options of `getLogs`. */
export interface GetLogsOptions extends ApiCallOptions {
  /** Only records after this time (milliseconds since the epoch). */
  sinceMs?: number;
}

/** The log records of a job (`{message, timestamp}`), oldest first. */
export async function getLogs(job: JobRef, opts: GetLogsOptions = {}): Promise<JobLog[]> {
  return await jobJson(JobLogListSchema, `/logs/${encodeURIComponent(jobId(job))}`, {
    query: { since_ms: opts.sinceMs },
    transport: opts.transport,
    signal: opts.signal,
  });
}

/** Where printed logs go: a function taking one line; `console.log` unless given. */
export type LineWriter = (line: string) => void;

/** Prints the logs of a job. */
export async function printLogs(
  job: JobRef,
  opts: GetLogsOptions & { write?: LineWriter } = {},
): Promise<void> {
  const write = opts.write ?? ((line: string) => console.log(line));
  for (const record of await getLogs(job, opts)) write(record.message);
}

function isTerminal(status: Pick<JobStatus, "finished_job_status" | "terminal_status">): boolean {
  if (status.finished_job_status !== null && status.finished_job_status !== undefined) {
    return status.finished_job_status;
  }
  return status.terminal_status === true;
}

function isRunning(status: Pick<JobStatus, "job_status" | "status">): boolean {
  const s = (status.job_status ?? status.status ?? "").toLowerCase();
  return s === "running" || s === "pending";
}

/** Options of `waitForJob`. */
export interface WaitForJobOptions extends ApiCallOptions {
  /** Seconds between status polls (default 5). */
  pollIntervalSeconds?: number;
  /** Seconds to wait at most; forever unless given. */
  timeout?: number;
}

/**
 * Waits until a job has finished; returns its final status. Throws `TimeoutError` when `timeout`
 * passes, as fused-py.
 */
export async function waitForJob(
  job: JobRef,
  opts: WaitForJobOptions = {},
): Promise<BatchJob> {
  const interval = (opts.pollIntervalSeconds ?? 5) * 1000;
  const deadline = opts.timeout === undefined ? Infinity : Date.now() + opts.timeout * 1000;
  for (;;) {
    const status = await getStatus(job, opts);
    if (isTerminal(status)) return status;
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new TimeoutError(
        `Job ${jobId(job)} did not finish within ${opts.timeout} s (status ${
          status.job_status ?? status.status
        }): wait longer or check its logs`,
      );
    }
    await sleep(Math.min(interval, left), opts.signal);
  }
}

/** Options of `tailLogs`. */
export interface TailLogsOptions extends ApiCallOptions {
  /** Seconds between checks for new logs (default 1). */
  refreshSeconds?: number;
  /** Print only the newest line of each batch. */
  sampleLogs?: boolean;
  /** Seconds to tail at most; until the job stops unless given. */
  timeout?: number;
  /** Where lines go (`console.log` unless given). */
  write?: LineWriter;
}

/** Prints a job's logs as they arrive until it stops running (or `timeout` passes). */
export async function tailLogs(job: JobRef, opts: TailLogsOptions = {}): Promise<void> {
  const write = opts.write ?? ((line: string) => console.log(line));
  const id = jobId(job);
  const deadline = opts.timeout === undefined ? Infinity : Date.now() + opts.timeout * 1000;
  write(`Logs for: ${id}`);
  let status = await getStatus(id, opts);
  let logs = await getLogs(id, opts);
  if (!isRunning(status)) {
    write(`Job is not running (${status.job_status ?? status.status})`);
    for (const record of logs) write(record.message);
    return;
  }
  if (logs.length === 0) write("Configuring packages and waiting for logs...");
  else for (const record of opts.sampleLogs ? logs.slice(-1) : logs) write(record.message);
  let since = logs.at(-1)?.timestamp;
  while (Date.now() < deadline) {
    await sleep((opts.refreshSeconds ?? 1) * 1000, opts.signal);
    logs = await getLogs(id, { ...opts, sinceMs: since });
    const fresh = since === undefined ? logs : logs.filter((r) => r.timestamp > since!);
    for (const record of opts.sampleLogs ? fresh.slice(-1) : fresh) write(record.message);
    since = fresh.at(-1)?.timestamp ?? since;
    if (fresh.at(-1)?.message.includes("ERROR")) return;
    status = await getStatus(id, opts);
    if (!isRunning(status)) return;
  }
}

/**
 * How long a job ran, in seconds as fused-py: from its first to its last log record (so a
 * running job gives the time so far).
 */
export async function getExecTime(job: JobRef, opts: ApiCallOptions = {}): Promise<number> {
  const logs = await getLogs(job, opts);
  if (logs.length === 0) {
    throw new FusedError(`Job ${jobId(job)} has no logs yet, so its execution time is unknown`);
  }
  return (logs.at(-1)!.timestamp - logs[0].timestamp) / 1000;
}

/** The results of a finished job, decoded, in the order of their names. */
export async function getJobResults(job: JobRef, opts: ApiCallOptions = {}): Promise<UdfResult[]> {
  const transport = opts.transport ?? globalTransport();
  const files = await jobJson(
    JobResultListSchema,
    `/run/by-id/${encodeURIComponent(jobId(job))}/results`,
    opts,
  );
  const sorted = [...files].sort((a, b) =>
    (parseInt(a.name, 10) || 0) - (parseInt(b.name, 10) || 0)
  );
  const out: UdfResult[] = [];
  for (const file of sorted) {
    // Result URLs are signed: they need no token.
    const response = await transport.fetch(file.url, { auth: "none", signal: opts.signal });
    const bytes = new Uint8Array(await response.arrayBuffer());
    // Raster bounds travel beside the file, as in a realtime run.
    const header = response.headers.get("x-fused-metadata");
    const metadata = header ? JSON.parse(header) : undefined;
    out.push(await decodeResult(bytes, response.headers.get("content-type"), { metadata }));
  }
  return out;
}

/** Options of `UdfJob.runBatch`: those of `startJob` except the parameters, which the job holds. */
export type RunBatchOptions = Omit<StartJobOptions, "parameters">;

declare module "../udf.ts" {
  /** The methods `UdfJob` gives every `udf.job(params)`. */
  interface UdfJobHandle {
    /** The job configuration sent to the service (`{name, steps, metadata}`). */
    toJobConfig(name?: string): JobConfig;
    /** Starts the job as a batch job (instance type `small` unless given). */
    runBatch(opts?: RunBatchOptions): Promise<BatchJob>;
    /** Old name of `runBatch`, kept as Fused keeps `run_remote`. */
    runRemote(opts?: RunBatchOptions): Promise<BatchJob>;
  }
}

/**
 * A UDF with the parameters of one batch run (Python's `job = udf(arg=...)`); `runBatch` starts
 * it on the service. Made by `udf.job(parameters)`.
 *
 * @example
 * ```ts ignore
 * import * as fused from "fused";
 * const job = await myUdf.job({ path: "fd://in.csv" }).runBatch({ instanceType: "large" });
 * console.log((await job.waitForJob({ pollIntervalSeconds: 1 })).job_status);
 * ```
 */
export class UdfJob implements UdfJobHandle {
  /** The UDF. */
  readonly udf: Udf;
  /** Parameters of the run. */
  readonly parameters: Record<string, unknown>;

  /** Binds parameters to a UDF. */
  constructor(udf: Udf, parameters: Record<string, unknown> = {}) {
    this.udf = udf;
    this.parameters = { ...parameters };
  }

  /** The job configuration sent to the service (`{name, steps, metadata}`). */
  toJobConfig(name?: string): JobConfig {
    return { name: name ?? this.udf.name, steps: [stepConfig(this.udf, this.parameters)] };
  }

  /** Starts the job as a batch job (instance type `small` unless given). */
  runBatch(opts: RunBatchOptions = {}): Promise<BatchJob> {
    return startJob(this.udf, {
      ...opts,
      instanceType: opts.instanceType ?? this.udf.instanceType ?? undefined,
      parameters: this.parameters,
    });
  }

  /** Old name of `runBatch`, kept as Fused keeps `run_remote`. */
  runRemote(opts: RunBatchOptions = {}): Promise<BatchJob> {
    return this.runBatch(opts);
  }
}

/** What `fused.run` passes to the batch path. */
export interface BatchRunRequest {
  /** The batch instance type. */
  instanceType: string;
  /** UDF parameters. */
  parameters: Record<string, unknown>;
  /** Cancels the wait and the job. */
  signal?: AbortSignal;
  /** Seconds between status polls (default 0.5). */
  pollIntervalSeconds?: number;
  /** The service to use. */
  transport?: Transport;
}

/**
 * `fused.run(udf, { instanceType })` for a batch type: starts the job, waits for it, and returns
 * its first result, its logs as stdout and its execution time. A failed job throws a
 * UdfRuntimeError carrying the job's logs; a cancelled one a UdfCancelledError; aborting the
 * signal cancels the job.
 */
export async function runBatch(udf: Udf | string, request: BatchRunRequest): Promise<RunResult> {
  const opts = { transport: request.transport };
  const target = typeof udf === "string" ? await loadSavedUdf(udf, opts) : udf;
  const started = await startJob(target, {
    ...opts,
    instanceType: request.instanceType,
    parameters: request.parameters,
    signal: request.signal,
  });
  console.error(`Batch job started with ID: ${started.job_id}`);
  const cancel = (): void => void cancelJob(started, opts).catch(() => {});
  request.signal?.addEventListener("abort", cancel, { once: true });
  let final: BatchJob;
  try {
    final = await waitForJob(started, {
      ...opts,
      pollIntervalSeconds: request.pollIntervalSeconds ?? 0.5,
      signal: request.signal,
    });
  } finally {
    request.signal?.removeEventListener("abort", cancel);
  }
  const logs = await getLogs(final, opts);
  const stdout = logs.map((r) => `${r.message}\n`).join("");
  const timeTakenMs = logs.length > 1 ? logs.at(-1)!.timestamp - logs[0].timestamp : 0;
  const state = (final.job_status ?? "").toLowerCase();
  if (state === "canceled" || state === "cancelled") {
    throw new UdfCancelledError(target.name, `batch job ${final.job_id} was cancelled`);
  }
  if (state !== "done") {
    throw new UdfRuntimeError(target.name, {
      message: `Batch job ${final.job_id} failed: ${final.error ?? "see its logs"}`,
      exceptionClass: "BatchJobFailed",
      logs: { stdout, stderr: "" },
    });
  }
  const results = await getJobResults(final, opts);
  return {
    data: results[0] ?? null,
    udf: target,
    logs: { stdout, stderr: "" },
    cached: false,
    timeTakenMs,
  };
}
