/**
 * The batch job runner of the service. Each job runs in its own `deno run` process (see
 * _job_child.ts) with restricted permissions and the limits of its instance type
 * (instance_types.ts), outside the request path. The runner queues jobs per instance type,
 * copies each job's output into the registry's log lines as it is written, enforces the
 * wall-clock limit, cancels (SIGTERM, then SIGKILL after a grace period) and records the outcome.
 * It also answers the job's questions for the saved UDFs its UDFs load or run by name, as the
 * job's owner (_saved_calls.ts): the job's process holds no credential.
 *
 * Jobs outlive the service: a job's process is detached and writes to files, so closing the
 * service leaves it running. On start, a job the registry says is running is re-attached when its
 * process still runs (same pid and same start time in /proc), its output read on from where the
 * last service stopped; a job whose process ended meanwhile gets the outcome it wrote
 * (`exit.json`), or is failed with a log line saying the process ended without one. Pending jobs
 * are started again in their order.
 *
 * @module
 */
import type { CallerPolicy } from "../../client/engine_types.ts";
import { join, resolve } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";
import { QuotaExceededError, ValidationError } from "../../client/errors.ts";
import type { UserQuotas } from "../quota.ts";
import type { Storage } from "../storage.ts";
import type { JobLogLine, JobRecord, JobStatus, Registry } from "../registry/mod.ts";
import type { ChildExit, ChildSpec, ChildStep } from "./_protocol.ts";
import { parseLogLine } from "./_protocol.ts";
import type { ObjectCacheStore } from "../object_cache.ts";
import {
  answerSavedCalls,
  type CacheAnswers,
  findForJob,
  jobActor,
  type QuestionWatch,
  watchQuestions,
} from "./_saved_calls.ts";
import { envOrUndefined, processAlive, processStartTime, TIMED_OUT, within } from "./_process.ts";
import {
  DEFAULT_INSTANCE_TYPE,
  DEFAULT_INSTANCE_TYPES,
  formatDuration,
  type InstanceLimits,
  instanceLimits,
} from "./instance_types.ts";

/** Options of the job runner. */
export interface JobRunnerOptions {
  /** Instance types and their limits (default `DEFAULT_INSTANCE_TYPES`). */
  instanceTypes?: Readonly<Record<string, InstanceLimits>>;
  /** How often a job's output file is read, in milliseconds (default 100). */
  pollMs?: number;
  /** Time between SIGTERM and SIGKILL when a job is stopped, in milliseconds (default 3000). */
  killGraceMs?: number;
  /** What the operator lets users' UDFs reach, as for the service's own runs. */
  udfPolicy?: Partial<CallerPolicy>;
  /**
   * Users' disk quotas: a job of a user at their quota does not start, its UDFs' `fd://` uploads
   * are counted (and refused past the quota) as the service's own, and its results count against
   * its owner's quota once it ends.
   */
  quotas?: UserQuotas;
  /**
   * The service's `fused.cache` entries with cacheStorage "object": a job's UDFs read and write
   * their caller's entries there, through the runner (_saved_calls.ts); without it, refused.
   */
  objectCache?: ObjectCacheStore;
  /** Largest such entry a job may write, in bytes (the service's `maxUploadBytes`). */
  maxObjectBytes?: number;
  /**
   * The store the service serves `fd://` from when it is not `filesDir` (a bucket, `--storage`):
   * a job's process holds no credential, so it writes its results under `filesDir` and the
   * runner moves them here when the job ends, where the service reads them; its UDFs' `fd://`
   * calls are asked of the runner, which answers them on this store (_saved_calls.ts).
   */
  resultStore?: Storage;
}

/** What a job is asked to do: UDF steps and the environment of its UDFs. */
export interface JobSubmission {
  /** Owner of the job. */
  ownerId: string;
  /** The job's configuration as sent (`{name, steps, metadata}`), stored with the job. */
  config: unknown;
  /** The UDF steps parsed from it. */
  steps: ChildStep[];
  /** Job name. */
  name: string | null;
  /** Instance type; `small` when absent. */
  instanceType?: string | null;
  /** Environment values the UDFs see (`KEY=value` entries of `additional_env`). */
  env?: Record<string, string>;
  /** The client's `Idempotency-Key`: a repeat is refused with a `ConflictError`. */
  idempotencyKey?: string | null;
}

interface ActiveJob {
  id: string;
  /** Whom the job's UDFs act as: its questions for saved UDFs are answered as this user. */
  ownerId: string;
  instanceType: string;
  limits: InstanceLimits;
  pid?: number;
  child?: Deno.ChildProcess;
  /** Why the runner stopped it, when it did. */
  stop?: "cancel" | "timeout";
  /** Resolves once the process is gone. */
  exited?: Promise<number | null>;
  /** Resolves once the outcome is recorded (or the runner closed). */
  done: Promise<void>;
  /** Resolves `done`. */
  settle: () => void;
  timer?: ReturnType<typeof setTimeout>;
  /** The process ended while no service watched it (found so at a restart). */
  endedUnwatched?: boolean;
}

const CHILD_PATH = fromFileUrl(new URL("./_job_child.ts", import.meta.url));
const CONFIG_PATH = fromFileUrl(new URL("../../deno.json", import.meta.url));
const READ_CHUNK = 1 << 20;
const TERMINAL: JobStatus[] = ["succeeded", "failed", "cancelled"];

export { processAlive, processStartTime } from "./_process.ts";

/** Whether a job status is final. */
export function isTerminalStatus(status: JobStatus): boolean {
  return TERMINAL.includes(status);
}

function newActive(job: JobRecord, instanceType: string, limits: InstanceLimits): ActiveJob {
  const { promise, resolve } = Promise.withResolvers<void>();
  const { id, ownerId } = job;
  return { id, ownerId, instanceType, limits, done: promise, settle: () => resolve() };
}

/**
 * What the service's job routes need: the in-process `JobRunner` of the embedded default, or the
 * `JobQueue` (queue.ts) that hands jobs to `fused worker` processes through PostgreSQL.
 */
export interface JobService {
  /** Instance types offered. */
  readonly instanceTypes: Readonly<Record<string, InstanceLimits>>;
  /** The instance type of a request, checked; throws a ValidationError for an unknown one. */
  checkInstanceType(name: string | null | undefined): string;
  /** Records a job as pending and gets it started. */
  submit(job: JobSubmission): Promise<JobRecord>;
  /** Cancels a job; resolves with it once it has stopped (null when there is none). */
  cancel(id: string): Promise<JobRecord | null>;
  /** Why a pending job cannot start yet, when nothing will start it as things are; else null. */
  waitingReason(job: JobRecord): Promise<string | null>;
  /** Starts the service's side of job handling. */
  start(): Promise<void>;
  /** Stops it. */
  close(): Promise<void>;
}

/** The batch job runner; `start()` it once, `close()` it with the service. */
export class JobRunner implements JobService {
  /** Instance types offered. */
  readonly instanceTypes: Readonly<Record<string, InstanceLimits>>;
  readonly #registry: Registry;
  readonly #runRoot: string;
  readonly #filesDir: string;
  readonly #callersDir: string;
  readonly #pollMs: number;
  readonly #killGraceMs: number;
  readonly #udfPolicy: Partial<CallerPolicy> | undefined;
  readonly #quotas: UserQuotas | undefined;
  readonly #objectCache: Omit<CacheAnswers, "actor"> | undefined;
  readonly #resultStore: Storage | undefined;
  readonly #active = new Map<string, ActiveJob>();
  readonly #lastTimestamp = new Map<string, number>();
  #scheduling: Promise<void> = Promise.resolve();
  #closed = false;
  readonly #closing = Promise.withResolvers<void>();

  /**
   * Creates a runner: job run folders go under `<dataDir>/jobs/<id>`, results under
   * `<filesDir>/jobs/<id>` (`fd://jobs/<id>/`), the folders of the jobs' users under
   * `<callersDir>/users/<id>` (the service's, shared with their realtime runs).
   */
  constructor(
    registry: Registry,
    folders: { dataDir: string; filesDir: string; callersDir: string },
    options: JobRunnerOptions = {},
  ) {
    this.#registry = registry;
    this.#runRoot = resolve(folders.dataDir, "jobs");
    this.#filesDir = resolve(folders.filesDir);
    this.#callersDir = resolve(folders.callersDir);
    this.instanceTypes = options.instanceTypes ?? DEFAULT_INSTANCE_TYPES;
    this.#pollMs = options.pollMs ?? 100;
    this.#killGraceMs = options.killGraceMs ?? 3000;
    this.#udfPolicy = options.udfPolicy;
    this.#quotas = options.quotas;
    this.#resultStore = options.resultStore;
    if (options.objectCache) {
      if (!(Number.isSafeInteger(options.maxObjectBytes) && options.maxObjectBytes! >= 0)) {
        throw new ValidationError(
          "A job runner with an object cache needs maxObjectBytes: the service's maxUploadBytes",
        );
      }
      this.#objectCache = { store: options.objectCache, maxBytes: options.maxObjectBytes! };
    }
  }

  /** Picks up jobs left running or pending by an earlier service, then starts queued jobs. */
  async start(): Promise<void> {
    for (const job of await this.#registry.listJobsWithStatus(["running"])) {
      await this.#recover(job);
    }
    this.#schedule();
    await this.#scheduling;
  }

  /** The instance type of a request, checked; throws a ValidationError for an unknown one. */
  checkInstanceType(name: string | null | undefined): string {
    const type = name ?? DEFAULT_INSTANCE_TYPE;
    instanceLimits(type, this.instanceTypes);
    return type;
  }

  /** Records a job as pending and starts it when its instance type has a free slot. */
  async submit(job: JobSubmission): Promise<JobRecord> {
    if (this.#closed) {
      throw new ValidationError("The job runner is closed: start the service again");
    }
    const instanceType = this.checkInstanceType(job.instanceType);
    if (job.steps.length === 0) {
      throw new ValidationError("A job needs at least one UDF step");
    }
    // The steps and environment travel in the stored config, so a restarted service can run it.
    const record = await this.#registry.createJob(job.ownerId, {
      request: job.config,
      steps: job.steps,
      env: job.env ?? {},
    }, { name: job.name, instanceType, idempotencyKey: job.idempotencyKey });
    await this.#log(record.id, [
      `Job queued on instance type ${instanceType} (${this.#describe(instanceType)})`,
    ]);
    this.#schedule();
    await this.#scheduling;
    return (await this.#registry.getJob(record.id))!;
  }

  /**
   * Cancels a job: a pending one at once, a running one by stopping its process (SIGTERM, then
   * SIGKILL after the grace period). Resolves with the job once its process is gone; a finished
   * job is returned unchanged. Null when there is no such job.
   */
  async cancel(id: string): Promise<JobRecord | null> {
    const pending = await this.#registry.setJobStatus(id, "cancelled", null, {
      from: ["pending"],
    });
    if (pending) {
      await this.#log(id, ["Job cancelled before it started"]);
      return pending;
    }
    const active = this.#active.get(id);
    if (active) {
      active.stop ??= "cancel";
      await this.#terminate(active);
      await active.done;
    }
    return await this.#registry.getJob(id);
  }

  /** Null: the runner itself starts every pending job once a slot of its type is free. */
  waitingReason(_job: JobRecord): Promise<string | null> {
    return Promise.resolve(null);
  }

  /** Stops following jobs; their processes go on, and the next service re-attaches them. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing.resolve();
    for (const active of this.#active.values()) {
      clearTimeout(active.timer);
      // Without this the service's process would wait for the job to end before exiting.
      active.child?.unref();
    }
    await this.#scheduling.catch(() => {});
    await Promise.all([...this.#active.values()].map((a) => a.done));
  }

  #describe(instanceType: string): string {
    const limits = this.instanceTypes[instanceType];
    return `V8 heap ${limits.heapMb} MB, wall-clock limit ${
      formatDuration(limits.wallClockMs)
    }, ${limits.slots} at once`;
  }

  #schedule(): void {
    this.#scheduling = this.#scheduling.then(() => this.#startPending()).catch((err) => {
      console.error("fused serve: the job runner could not start a job:", err);
    });
  }

  async #startPending(): Promise<void> {
    if (this.#closed) return;
    for (const job of await this.#registry.listJobsWithStatus(["pending"])) {
      if (this.#closed) return;
      const type = job.instanceType ?? DEFAULT_INSTANCE_TYPE;
      const limits = this.instanceTypes[type];
      if (!limits) {
        // The table changed between two runs of the service.
        await this.#finish(job.id, "failed", `Unknown instance type "${type}" on this service`);
        continue;
      }
      let busy = 0;
      for (const a of this.#active.values()) if (a.instanceType === type) busy++;
      if (busy >= limits.slots) continue;
      await this.#launch(job, type, limits);
    }
  }

  #runDir(id: string): string {
    return join(this.#runRoot, id);
  }

  /** Removes the run folder of a job that ended (retention); nothing when there is none. */
  async removeRunFolder(id: string): Promise<void> {
    if (this.#active.has(id)) throw new Error(`Job ${id} is still running: its folder stays`);
    await Deno.remove(this.#runDir(id), { recursive: true }).catch((err) => {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    });
  }

  async #launch(job: JobRecord, instanceType: string, limits: InstanceLimits): Promise<void> {
    const running = await this.#registry.setJobStatus(job.id, "running", null, {
      from: ["pending"],
    });
    if (!running) return; // cancelled meanwhile
    try {
      await this.#quotas?.check(job.ownerId, `Batch job ${job.id}`);
    } catch (err) {
      if (!(err instanceof QuotaExceededError)) throw err;
      await this.#finish(job.id, "failed", err.message, true);
      return;
    }
    const active = newActive(job, instanceType, limits);
    this.#active.set(job.id, active);
    const runDir = this.#runDir(job.id);
    const resultDir = join(this.#filesDir, "jobs", job.id);
    const config = job.config as { steps: ChildStep[]; env: Record<string, string> };
    const spec: ChildSpec = {
      jobId: job.id,
      instanceType,
      limits,
      steps: config.steps,
      env: config.env ?? {},
      engineDir: join(runDir, "engine"),
      resultPrefix: `jobs/${job.id}`,
      filesDir: this.#filesDir,
      ...(this.#resultStore && { filesViaRunner: true }),
      exitPath: join(runDir, "exit.json"),
      ownerId: job.ownerId,
      callersDir: this.#callersDir,
      callsDir: join(runDir, "calls"),
      policy: this.#udfPolicy,
      ...(this.#quotas && {
        quota: {
          limitBytes: this.#quotas.limitBytes,
          ownerStoredBytes: await this.#registry.storedBytes(job.ownerId),
        },
      }),
    };
    try {
      await Deno.mkdir(spec.engineDir, { recursive: true, mode: 0o700 });
      await Deno.mkdir(resultDir, { recursive: true });
      await Deno.writeTextFile(join(runDir, "spec.json"), JSON.stringify(spec));
      const output = join(runDir, "output.log");
      await Deno.writeTextFile(output, "");
      const child = this.#spawn(spec, runDir, output);
      active.child = child;
      active.pid = child.pid;
      active.exited = child.status.then((s) => s.code);
      await this.#registry.setJobProcess(job.id, {
        pid: child.pid,
        startTime: processStartTime(child.pid) ?? "",
      });
    } catch (err) {
      this.#active.delete(job.id);
      await this.#finish(
        job.id,
        "failed",
        `The job's process could not be started: ${(err as Error).message}`,
        true,
      );
      active.settle();
      return;
    }
    this.#armTimer(active, Date.now());
    this.#follow(active, 0).finally(active.settle);
    if (active.stop) await this.#terminate(active);
  }

  #spawn(spec: ChildSpec, runDir: string, output: string): Deno.ChildProcess {
    // The job's process runs only our code (_job_child.ts): it hosts the engine, which starts
    // each UDF in a sandboxed process with its own walls (read/write/net permissions, memory
    // cgroup or rlimit). The host must spawn those, make their temp folders and cgroups, so it
    // has all permissions; the service's secrets stay out because its environment is cleared.
    const denoArgs = [
      "run",
      "--quiet",
      "--no-prompt",
      `--config=${CONFIG_PATH}`,
      "--unstable-worker-options",
      `--v8-flags=--max-old-space-size=${spec.limits.heapMb}`,
      "--allow-all",
      CHILD_PATH,
      join(runDir, "spec.json"),
    ];
    // NO_COLOR: Deno's own messages (a crash, a permission error) go to the logs as plain text.
    const env: Record<string, string> = { FUSED_JOB_OUTPUT: output, NO_COLOR: "1" };
    // Only what Deno itself needs: the service's own environment (tokens, secrets) stays out.
    for (const name of ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME", "TMPDIR", "LANG"]) {
      const value = envOrUndefined(name);
      if (value !== undefined) env[name] = value;
    }
    // The shell only redirects: stdout and stderr go to a file, so the job does not depend on the
    // service being alive to read a pipe; `exec` keeps the pid (the job's process is Deno).
    return new Deno.Command("/bin/sh", {
      args: ["-c", 'exec "$0" "$@" >>"$FUSED_JOB_OUTPUT" 2>&1', Deno.execPath(), ...denoArgs],
      cwd: runDir,
      env,
      clearEnv: true,
      stdin: "null",
      stdout: "null",
      stderr: "null",
      // Its own process group: a Ctrl-C meant for the service does not stop its jobs.
      detached: true,
    }).spawn();
  }

  #armTimer(active: ActiveJob, startedAt: number): void {
    // The job stops its UDF at the limit itself; this is the backstop if it does not.
    const left = active.limits.wallClockMs + this.#killGraceMs - (Date.now() - startedAt);
    active.timer = setTimeout(() => {
      active.stop ??= "timeout";
      this.#terminate(active).catch(() => {});
    }, Math.max(0, left));
  }

  /** SIGTERM, then SIGKILL once the grace period passes; resolves when the process is gone. */
  async #terminate(active: ActiveJob): Promise<void> {
    if (active.pid === undefined || !active.exited) return; // not spawned yet: launch stops it
    const gone = active.exited.then(() => true);
    const signal = (name: Deno.Signal): void => {
      try {
        Deno.kill(active.pid!, name);
      } catch {
        // Already gone.
      }
    };
    signal("SIGTERM");
    if (await within(gone, this.#killGraceMs) !== TIMED_OUT) return;
    signal("SIGKILL");
    await within(gone, 10_000);
  }

  /** Re-attaches a job left running by an earlier service, or records how it ended. */
  async #recover(job: JobRecord): Promise<void> {
    const type = job.instanceType ?? DEFAULT_INSTANCE_TYPE;
    const limits = this.instanceTypes[type] ?? DEFAULT_INSTANCE_TYPES[DEFAULT_INSTANCE_TYPE];
    const proc = job.process;
    const active = newActive(job, type, limits);
    let offset = job.logOffset;
    if (proc && processAlive(proc.pid, proc.startTime)) {
      active.pid = proc.pid;
      active.exited = this.#watchPid(proc.pid, proc.startTime);
      this.#active.set(job.id, active);
      // What the job wrote while the service was down comes first, then the restart's line.
      const output = join(this.#runDir(job.id), "output.log");
      offset = await this.#copyOutput(job.id, output, offset, false);
      await this.#log(job.id, [
        `Service restarted: re-attached to the job's process (pid ${proc.pid})`,
      ]);
      this.#armTimer(active, Date.parse(job.startedAt ?? job.createdAt));
    } else {
      this.#active.set(job.id, active);
      active.exited = Promise.resolve(null);
      active.endedUnwatched = true; // #follow copies its output, then says so
    }
    this.#follow(active, offset).finally(active.settle);
    // A job that ended while the service was down is recorded before the service answers.
    if (!active.pid) await active.done;
  }

  /** Resolves when a process that is not our child ends (polled: we cannot wait for it). */
  async #watchPid(pid: number, startTime: string): Promise<null> {
    while (processAlive(pid, startTime)) {
      if (await within(this.#closing.promise, this.#pollMs) !== TIMED_OUT) {
        return await new Promise<null>(() => {}); // never: the runner stopped watching
      }
    }
    return null;
  }

  /** Copies the job's output into its log lines until the process ends, then records the end. */
  async #follow(active: ActiveJob, offset: number): Promise<void> {
    const output = join(this.#runDir(active.id), "output.log");
    const questions = await watchQuestions(join(this.#runDir(active.id), "calls"));
    try {
      return await this.#followWatching(active, offset, output, questions);
    } finally {
      questions.close();
    }
  }

  async #followWatching(
    active: ActiveJob,
    offset: number,
    output: string,
    questions: QuestionWatch,
  ): Promise<void> {
    let position = offset;
    let exitCode: number | null = null;
    for (;;) {
      // A question wakes the runner at once (each fd:// call of the job waits for an answer).
      const tick = await within(
        Promise.race([
          active.exited!.then((code) => ({ kind: "exited" as const, code })),
          this.#closing.promise.then(() => ({ kind: "closed" as const, code: null })),
          questions.next().then(() => ({ kind: "question" as const, code: null })),
        ]),
        this.#pollMs,
      );
      position = await this.#copyOutput(active.id, output, position, false);
      // The job's questions for saved UDFs, answered as its owner, its records of the fd://
      // files it writes, its object cache entries and its fd:// files (see _saved_calls.ts).
      await answerSavedCalls(
        join(this.#runDir(active.id), "calls"),
        (call) => findForJob(this.#registry, active.ownerId, call),
        this.#quotas && this.#registry,
        this.#objectCache && {
          ...this.#objectCache,
          actor: (via) => jobActor(this.#registry, active.ownerId, via),
        },
        this.#resultStore,
      ).catch((err) =>
        this.#log(active.id, [`The service could not answer the job: ${(err as Error).message}`])
      );
      if (tick === TIMED_OUT || tick.kind === "question") continue;
      if (tick.kind === "closed") return;
      exitCode = tick.code;
      break;
    }
    await this.#copyOutput(active.id, output, position, true);
    if (active.endedUnwatched) {
      await this.#log(active.id, [
        "Service restarted: the job's process ended while the service was down",
      ]);
    }
    clearTimeout(active.timer);
    await this.#conclude(active, exitCode);
    this.#active.delete(active.id);
    this.#schedule();
  }

  /** Reads complete lines after `position` into the registry; returns the new position. */
  async #copyOutput(id: string, path: string, position: number, final: boolean): Promise<number> {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true });
    } catch {
      return position; // nothing written yet
    }
    try {
      await file.seek(position, Deno.SeekMode.Start);
      const buffer = new Uint8Array(READ_CHUNK);
      for (;;) {
        const n = await file.read(buffer);
        if (n === null || n === 0) break;
        const bytes = buffer.subarray(0, n);
        let end = bytes.lastIndexOf(10) + 1;
        // At the end a last line may lack its newline; a full chunk without one is cut as a line.
        if (final || (end === 0 && n === READ_CHUNK)) end = n;
        if (end === 0) break;
        const text = new TextDecoder().decode(bytes.subarray(0, end));
        const lines = text.split("\n");
        if (lines.at(-1) === "") lines.pop();
        position += end;
        await this.#store(id, lines.map((l) => parseLogLine(l.replace(/\r$/, ""))), position);
        if (end < n && !final) break;
      }
    } finally {
      file.close();
    }
    return position;
  }

  async #lastTimestampOf(id: string): Promise<number> {
    let last = this.#lastTimestamp.get(id);
    if (last === undefined) {
      last = (await this.#registry.getJobLogs(id)).at(-1)?.timestamp ?? 0;
      this.#lastTimestamp.set(id, last);
    }
    return last;
  }

  /**
   * Stores lines with strictly increasing times, so a reader asking for lines after the time of
   * the last one it saw (`since_ms`) never misses one written in the same millisecond.
   */
  async #store(
    id: string,
    lines: { timestamp?: number; message: string }[],
    offset?: number,
  ): Promise<void> {
    let last = await this.#lastTimestampOf(id);
    const records: JobLogLine[] = lines.map((line) => {
      last = Math.max(line.timestamp ?? Date.now(), last + 1);
      return { timestamp: last, message: line.message };
    });
    this.#lastTimestamp.set(id, last);
    await this.#registry.appendJobLogLines(id, records, offset);
  }

  async #log(id: string, messages: string[]): Promise<void> {
    await this.#store(id, messages.map((message) => ({ message })));
  }

  /** Moves a job's results from `filesDir` to the store the service reads, if that is another. */
  async #moveResults(id: string, results: { key: string }[]): Promise<void> {
    if (!this.#resultStore) return;
    for (const { key } of results) {
      // The key comes from the job's process: it must name a file of this job's results.
      const path = resolve(this.#filesDir, key);
      if (!path.startsWith(join(this.#filesDir, "jobs", id) + "/")) {
        throw new ValidationError(`A job result outside fd://jobs/: ${JSON.stringify(key)}`);
      }
      const file = await Deno.open(path);
      await this.#resultStore.write(key, file.readable);
      await Deno.remove(path);
    }
  }

  async #conclude(active: ActiveJob, exitCode: number | null): Promise<void> {
    const { id, limits, instanceType } = active;
    let exit: ChildExit | null = null;
    try {
      exit = JSON.parse(await Deno.readTextFile(join(this.#runDir(id), "exit.json")));
    } catch {
      exit = null;
    }
    if (exit) {
      await this.#moveResults(id, exit.results ?? []);
      await this.#registry.setJobResults(id, exit.results ?? []);
      // The job's process wrote its results to the store itself: they are its owner's bytes.
      for (const result of exit.results ?? []) {
        await this.#quotas?.record(active.ownerId, result.key);
      }
    }
    // A job that ended while no service watched it ended when it last wrote, not now: its
    // exec_time must not include the service's downtime.
    const at = active.endedUnwatched ? await this.#endTime(id) : undefined;
    if (active.stop === "cancel") {
      await this.#log(id, ["Job cancelled"]);
      await this.#finish(id, "cancelled", null);
    } else if (active.stop === "timeout") {
      await this.#finish(
        id,
        "failed",
        `The job ran longer than the wall-clock limit of ${
          formatDuration(limits.wallClockMs)
        } of instance type ${instanceType}: use an instance type with a longer limit`,
        true,
      );
    } else if (exit) {
      await this.#finish(id, exit.status, exit.error, false, at);
    } else {
      await this.#finish(
        id,
        "failed",
        `The job's process ended without reporting a result${
          exitCode === null ? "" : ` (exit code ${exitCode})`
        }: it may have run out of memory (V8 heap ${limits.heapMb} MB of instance type ${instanceType}) or been killed; see the log lines before this one`,
        true,
        at,
      );
    }
    this.#lastTimestamp.delete(id);
  }

  /** When a job's process last wrote its outcome (or, without one, its output), ISO. */
  async #endTime(id: string): Promise<string | undefined> {
    for (const name of ["exit.json", "output.log"]) {
      try {
        const mtime = (await Deno.stat(join(this.#runDir(id), name))).mtime;
        if (mtime) return mtime.toISOString();
      } catch {
        // Not written: try the next one.
      }
    }
    return undefined;
  }

  async #finish(
    id: string,
    status: JobStatus,
    error: string | null,
    logError = false,
    at?: string,
  ): Promise<void> {
    if (logError && error) await this.#log(id, [`ERROR: ${error}`]);
    await this.#registry.setJobStatus(id, status, error, { from: ["pending", "running"], at });
  }
}
