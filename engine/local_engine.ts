/**
 * The local engine: runs TypeScript UDFs in a pool of permission-restricted Deno Workers.
 *
 * A Worker is bound to one UDF version and one permission set (Deno fixes a Worker's permissions
 * when it starts), keeps that module loaded, and serves every later run of it (~40 µs a message
 * instead of ~13 ms to start a Worker plus the module's load time; display-perf §5.3). When the
 * pool is full, the least recently used idle Worker is stopped to make room; when every Worker is
 * busy, runs wait in FIFO order. A run that times out or is aborted stops its Worker; the pool
 * starts another when one is needed.
 *
 * @module
 */
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";
import {
  FusedError,
  NotSupportedError,
  UdfCancelledError,
  UdfRuntimeError,
  UdfTimeoutError,
  ValidationError,
} from "../client/errors.ts";
import type { UdfLogs } from "../client/errors.ts";
import { fromTransferable } from "../client/formats/transfer.ts";
import type { UdfResult } from "../client/formats/types.ts";
import { tileBounds } from "../client/tiles.ts";
import type { Udf } from "../client/udf.ts";
import type { FailureMessage, HostMessage, WorkerMessage } from "./_protocol.ts";
import { moduleFolderName, writeUdfModule } from "./_module_files.ts";
import type { InjectedArguments, UdfSignature } from "./params.ts";

/** One run of a UDF on the local engine. */
export interface LocalRunRequest {
  /** The UDF to run. */
  udf: Udf;
  /** Raw parameter values; strings are coerced to the parameter's type (see engine/params.ts). */
  parameters?: Record<string, unknown>;
  /** Run as a tile: the UDF receives `bounds` `[w, s, e, n]` and `tile` `{ x, y, z }`. */
  tile?: { x: number; y: number; z: number };
  /** Cancels the run: it rejects with UdfCancelledError and its Worker is stopped. */
  signal?: AbortSignal;
  /** Stops a run that takes longer (UdfTimeoutError). No limit when absent. */
  timeoutMs?: number;
  /** Network access: true for any host, or a list of `host[:port]`. Default none. */
  allowNet?: boolean | string[];
  /** Extra paths the UDF may read, beyond its module folder, the data and cache folders. */
  allowRead?: string[];
  /** Paths the UDF may write. Default none. */
  allowWrite?: string[];
  /** Environment values the UDF reads with `Deno.env.get`. Default none. */
  env?: Record<string, string>;
  /** Heap the UDF may use, in MB (default the engine's `memoryLimitMb`). */
  memoryLimitMb?: number;
  /**
   * Receives the UDF's output while it runs (at most every 50 ms), for live logs. The result's
   * `logs` still hold all of it.
   */
  onOutput?: (output: UdfLogs) => void;
}

/** The outcome of a local run. */
export interface LocalRunResult {
  /** What the UDF returned. */
  value: UdfResult;
  /** What it printed. */
  logs: UdfLogs;
  /** Time from handing the run to a Worker to its answer, in milliseconds. */
  timeMs: number;
}

/** Options of {@linkcode LocalEngine}. */
export interface LocalEngineOptions {
  /** Most Workers alive at once (default `navigator.hardwareConcurrency`). */
  maxWorkers?: number;
  /** An idle Worker is stopped after this long (default 60 s). */
  idleTimeoutMs?: number;
  /** Folder of UDF module files (`udfs/<version>/`) and local data; readable by UDFs. */
  dataDir?: string;
  /** Cache folder; readable by UDFs. Default `<dataDir>/cache`. */
  cacheDir?: string;
  /**
   * Heap a run may use, in MB (default 2048). Checked by the UDF's interrupt checks, so a loop
   * that allocates without end fails with a clear error instead of V8's fatal out-of-memory,
   * which would end the whole process (Workers share it; Deno's Workers take no heap limit).
   */
  memoryLimitMb?: number;
}

/** Counts describing the pool now. */
export interface LocalEngineStats {
  /** Workers alive. */
  workers: number;
  /** Workers running something. */
  busy: number;
  /** Runs waiting for a Worker. */
  queued: number;
  /** Workers started since the engine was created. */
  started: number;
}

type WorkerPermissions = {
  read: string[];
  write: string[] | false;
  net: string[] | boolean;
  import: string[] | boolean;
  env: false;
  run: false;
  ffi: false;
  sys: false;
};

interface Job {
  id: number;
  udf: Udf;
  key: string;
  permissions: WorkerPermissions;
  message: HostMessage;
  signal?: AbortSignal;
  timeoutMs?: number;
  resolve: (message: WorkerMessage) => void;
  reject: (err: Error) => void;
  worker?: PooledWorker;
  startedAt?: number;
  timer?: ReturnType<typeof setTimeout>;
  onAbort?: () => void;
  onOutput?: (output: UdfLogs) => void;
}

interface PooledWorker {
  worker: Worker;
  /** Int32 flag read by the UDF's interrupt checks; set before the Worker is terminated. */
  interrupt: Int32Array;
  key: string;
  job?: Job;
  lastUsed: number;
  idleTimer?: ReturnType<typeof setTimeout>;
  /** Whether the Worker keeps the process alive (a new Worker does). */
  ref: boolean;
}

const WORKER_URL = new URL("./_worker.ts", import.meta.url);

// Deno keeps the process alive while a Worker exists. Its Worker class has a private ref/unref
// method (what node:worker_threads' `unref()` calls) under an unnamed symbol; idle Workers are
// unref'd through it so that a script using the engine exits when its work is done. When the
// method is missing (another Deno version), Workers stay ref'd and the idle timeout ends them.
const REF_SYMBOL = Object.getOwnPropertySymbols(Worker.prototype).find((s) =>
  s.description === undefined &&
  typeof (Worker.prototype as unknown as Record<symbol, unknown>)[s] === "function"
);

function setRef(pooled: PooledWorker, ref: boolean): void {
  // The private method counts refs, so calls must alternate.
  if (pooled.ref === ref) return;
  pooled.ref = ref;
  if (REF_SYMBOL) {
    (pooled.worker as unknown as Record<symbol, (ref: boolean) => void>)[REF_SYMBOL](ref);
  }
}

function envOrUndefined(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // the host may run without --allow-env
  }
}

/** Where Deno keeps npm packages: some (parquet-wasm) read their .wasm files at load time. */
function moduleReadRoots(): string[] {
  const home = envOrUndefined("HOME") ?? envOrUndefined("USERPROFILE");
  const denoDir = envOrUndefined("DENO_DIR") ??
    (Deno.build.os === "darwin"
      ? home && join(home, "Library", "Caches", "deno")
      : Deno.build.os === "windows"
      ? envOrUndefined("LOCALAPPDATA") && join(envOrUndefined("LOCALAPPDATA")!, "deno")
      : join(envOrUndefined("XDG_CACHE_HOME") ?? (home ? join(home, ".cache") : "/tmp"), "deno"));
  const roots = denoDir ? [join(denoDir, "npm")] : [];
  // This project's own source, so a UDF can `import * as fused from "fused"` (Raster, nested
  // runs); it is the SDK's code, nothing of the user's.
  const projectRoot = new URL("..", import.meta.url).pathname;
  roots.push(projectRoot.replace(/\/$/, ""));
  for (const base of [Deno.cwd(), projectRoot]) {
    const nodeModules = join(base, "node_modules");
    try {
      if (Deno.statSync(nodeModules).isDirectory) roots.push(nodeModules);
    } catch {
      // no node_modules folder there
    }
  }
  return [...new Set(roots)];
}

let workerOptionsMissing: boolean | undefined;

/**
 * Whether this process surely runs without `--unstable-worker-options`. Deno does not throw when a
 * Worker asks for permissions without it: it ends the whole process. So the flag is looked for
 * beforehand in the command line (Linux) and in the `"unstable"` list of the deno.json files Deno
 * may have read; when that cannot be known (another OS, a compiled binary), it is assumed present.
 */
function lacksWorkerOptions(): boolean {
  if (workerOptionsMissing !== undefined) return workerOptionsMissing;
  let args: string[];
  try {
    args = Deno.readTextFileSync("/proc/self/cmdline").split("\0");
  } catch {
    return (workerOptionsMissing = false);
  }
  if (!/^deno(\.exe)?$/.test(basename(Deno.execPath()))) return (workerOptionsMissing = false);
  if (args.includes("--unstable-worker-options")) return (workerOptionsMissing = false);
  const configs: string[] = [];
  args.forEach((arg, i) => {
    if (arg === "--config" || arg === "-c") configs.push(args[i + 1]);
    else if (arg.startsWith("--config=")) configs.push(arg.slice("--config=".length));
  });
  const starts = [Deno.cwd()];
  if (Deno.mainModule.startsWith("file:")) starts.push(dirname(fromFileUrl(Deno.mainModule)));
  for (const start of starts) {
    for (let dir = start;; dir = dirname(dir)) {
      configs.push(join(dir, "deno.json"), join(dir, "deno.jsonc"));
      if (dirname(dir) === dir) break;
    }
  }
  const enabled = configs.some((path) => {
    try {
      return /"unstable"\s*:\s*\[[^\]]*"worker-options"/.test(Deno.readTextFileSync(path));
    } catch {
      return false;
    }
  });
  return (workerOptionsMissing = !enabled);
}

function hostList(value: boolean | string[] | undefined): boolean | string[] {
  if (value === undefined) return false;
  return Array.isArray(value) ? [...value].sort() : value;
}

/**
 * Runs UDFs locally in a pool of sandboxed Workers.
 *
 * @example
 * ```ts
 * import { udf } from "../client/udf.ts";
 * import { LocalEngine } from "./local_engine.ts";
 * const engine = new LocalEngine({ maxWorkers: 1 });
 * const double = udf(`export default function udf({ n = 2 }) { return n * 2 }`, { name: "double" });
 * const { value } = await engine.run({ udf: double, parameters: { n: "21" } });
 * await engine.close();
 * if (value !== 42) throw new Error("unexpected");
 * ```
 */
export class LocalEngine {
  #maxWorkers: number;
  #idleTimeoutMs: number;
  #dataDir: string;
  #cacheDir: string;
  #readRoots: string[] | undefined;
  #memoryLimitMb: number;
  #workers = new Set<PooledWorker>();
  #queue: Job[] = [];
  #modules = new Map<string, Promise<string>>();
  #nextId = 1;
  #started = 0;
  #closed = false;

  /** Creates an engine; no Worker starts until the first run. */
  constructor(options: LocalEngineOptions = {}) {
    const max = options.maxWorkers ?? navigator.hardwareConcurrency ?? 4;
    if (!Number.isInteger(max) || max < 1) {
      throw new ValidationError(`maxWorkers must be a positive integer, got ${max}`);
    }
    this.#maxWorkers = max;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
    this.#dataDir = options.dataDir ?? join(tmpdir(), "fused-ts");
    this.#cacheDir = options.cacheDir ?? join(this.#dataDir, "cache");
    this.#memoryLimitMb = options.memoryLimitMb ?? 2048;
  }

  /** Counts of Workers and waiting runs. */
  get stats(): LocalEngineStats {
    let busy = 0;
    for (const w of this.#workers) if (w.job) busy++;
    return {
      workers: this.#workers.size,
      busy,
      queued: this.#queue.length,
      started: this.#started,
    };
  }

  /** Runs a UDF and returns its result, logs and time. */
  async run(request: LocalRunRequest): Promise<LocalRunResult> {
    const { udf } = request;
    let injected: InjectedArguments | undefined;
    if (request.tile) {
      const { x, y, z } = request.tile;
      injected = { bounds: tileBounds(x, y, z), tile: { x, y, z } };
    }
    if (request.timeoutMs !== undefined && !(request.timeoutMs > 0)) {
      throw new ValidationError(`timeoutMs must be a positive number, got ${request.timeoutMs}`);
    }
    const memoryLimitMb = request.memoryLimitMb ?? this.#memoryLimitMb;
    if (!(memoryLimitMb > 0)) {
      throw new ValidationError(`memoryLimitMb must be a positive number, got ${memoryLimitMb}`);
    }
    const url = await this.#moduleUrl(udf, request.signal);
    const permissions = this.#permissions(udf, request);
    const answer = await this.#submit(udf, permissions, {
      type: "run",
      id: 0,
      url,
      entrypoint: udf.entrypoint,
      given: request.parameters ?? {},
      defaults: udf.parameters,
      injected,
      env: request.env ?? {},
      memoryLimitMb,
      streamOutput: request.onOutput !== undefined,
    }, request);
    if (answer.message.type !== "result") throw new FusedError("Unexpected answer from a Worker");
    return {
      value: await fromTransferable(answer.message.result),
      logs: answer.message.logs,
      timeMs: answer.timeMs,
    };
  }

  /** The parameters of a UDF: names, defaults, types, from its zod schema or default values. */
  async describe(udf: Udf): Promise<UdfSignature> {
    const url = await this.#moduleUrl(udf);
    const permissions = this.#permissions(udf, {});
    const answer = await this.#submit(udf, permissions, {
      type: "describe",
      id: 0,
      url,
      entrypoint: udf.entrypoint,
    }, {});
    if (answer.message.type !== "signature") {
      throw new FusedError("Unexpected answer from a Worker");
    }
    return answer.message.signature;
  }

  /** Stops every Worker; runs still waiting or running reject with UdfCancelledError. */
  close(): Promise<void> {
    this.#closed = true;
    for (const job of this.#queue.splice(0)) {
      this.#finish(job);
      job.reject(new UdfCancelledError(job.udf.name, "the local engine was closed"));
    }
    for (const w of [...this.#workers]) {
      const job = w.job;
      this.#stop(w);
      if (job) {
        this.#finish(job);
        job.reject(new UdfCancelledError(job.udf.name, "the local engine was closed"));
      }
    }
    return Promise.resolve();
  }

  async #moduleUrl(udf: Udf, signal?: AbortSignal): Promise<string> {
    if (this.#closed) {
      throw new FusedError("The local engine is closed: create a new LocalEngine to run UDFs");
    }
    if (udf.language === "python") {
      throw new NotSupportedError(
        `UDF "${udf.name}" is Python code, which the local engine cannot run (it runs TypeScript UDFs): run it on the Fused Python runtime (the fused Python package) or with engine "remote" against Fused's service`,
      );
    }
    if (signal?.aborted) throw new UdfCancelledError(udf.name, signal.reason);
    const version = udf.codeVersion;
    let path = this.#modules.get(`${version}/${udf.name}`);
    if (!path) {
      path = writeUdfModule(udf, this.#dataDir);
      path.catch(() => this.#modules.delete(`${version}/${udf.name}`));
      this.#modules.set(`${version}/${udf.name}`, path);
    }
    const file = await path;
    return new URL(`file://${file}`).href;
  }

  #permissions(udf: Udf, request: Partial<LocalRunRequest>): WorkerPermissions {
    this.#readRoots ??= moduleReadRoots();
    const read = [
      join(this.#dataDir, "udfs", moduleFolderName(udf)),
      this.#dataDir,
      this.#cacheDir,
      ...this.#readRoots,
      ...(request.allowRead ?? []),
    ];
    const net = hostList(request.allowNet);
    return {
      read: [...new Set(read)].sort(),
      write: request.allowWrite?.length ? [...request.allowWrite].sort() : false,
      net,
      import: net,
      env: false,
      run: false,
      ffi: false,
      sys: false,
    };
  }

  #submit(
    udf: Udf,
    permissions: WorkerPermissions,
    message: HostMessage,
    request: Partial<LocalRunRequest>,
  ): Promise<{ message: WorkerMessage; timeMs: number }> {
    return new Promise((resolve, reject) => {
      const id = this.#nextId++;
      const job: Job = {
        id,
        udf,
        key: `${udf.codeVersion}\n${JSON.stringify(permissions)}`,
        permissions,
        message: { ...message, id },
        signal: request.signal,
        timeoutMs: request.timeoutMs,
        onOutput: request.onOutput,
        resolve: (answer) =>
          resolve({ message: answer, timeMs: performance.now() - job.startedAt! }),
        reject,
      };
      if (request.signal) {
        if (request.signal.aborted) {
          reject(new UdfCancelledError(udf.name, request.signal.reason));
          return;
        }
        job.onAbort = () => this.#abort(job);
        request.signal.addEventListener("abort", job.onAbort, { once: true });
      }
      this.#queue.push(job);
      this.#pump();
    });
  }

  /** Hands waiting runs to Workers, in order, while there is room. */
  #pump(): void {
    while (this.#queue.length > 0 && !this.#closed) {
      const job = this.#queue[0];
      let target: PooledWorker | undefined;
      let lru: PooledWorker | undefined;
      for (const w of this.#workers) {
        if (w.job) continue;
        if (w.key === job.key && (!target || w.lastUsed > target.lastUsed)) target = w;
        if (!lru || w.lastUsed < lru.lastUsed) lru = w;
      }
      if (!target) {
        if (this.#workers.size >= this.#maxWorkers) {
          if (!lru) return; // every Worker is busy: wait for one
          this.#stop(lru);
        }
        try {
          target = this.#spawn(job);
        } catch (err) {
          this.#queue.shift();
          this.#finish(job);
          job.reject(err as Error);
          continue;
        }
      }
      this.#queue.shift();
      this.#assign(target, job);
    }
  }

  #spawn(job: Job): PooledWorker {
    if (lacksWorkerOptions()) {
      throw new NotSupportedError(
        'The local engine runs UDFs in permission-restricted Workers, which need the --unstable-worker-options flag: run deno with --unstable-worker-options (the deno.json tasks pass it) or add "unstable": ["worker-options"] to deno.json',
      );
    }
    const worker = new Worker(WORKER_URL, {
      type: "module",
      name: `udf ${job.udf.name}`,
      deno: { permissions: job.permissions },
    });
    this.#started++;
    const pooled: PooledWorker = {
      worker,
      interrupt: new Int32Array(new SharedArrayBuffer(4)),
      key: job.key,
      lastUsed: performance.now(),
      ref: true,
    };
    worker.onmessage = (event: MessageEvent<WorkerMessage>) => this.#answer(pooled, event.data);
    worker.onerror = (event: ErrorEvent) => {
      // The Worker reports the UDF's own uncaught errors as "crash" messages; this is for
      // failures of the Worker itself (it could not start).
      event.preventDefault();
      const running = pooled.job;
      this.#stop(pooled);
      if (running) {
        this.#finish(running);
        running.reject(new FusedError(`The UDF Worker failed: ${event.message}`));
      }
      this.#pump();
    };
    this.#workers.add(pooled);
    return pooled;
  }

  #assign(pooled: PooledWorker, job: Job): void {
    pooled.job = job;
    job.worker = pooled;
    clearTimeout(pooled.idleTimer);
    setRef(pooled, true);
    job.startedAt = performance.now();
    if (job.timeoutMs !== undefined) {
      job.timer = setTimeout(() => {
        this.#stop(pooled);
        this.#finish(job);
        job.reject(new UdfTimeoutError(job.udf.name, job.timeoutMs!));
        this.#pump();
      }, job.timeoutMs);
    }
    Atomics.store(pooled.interrupt, 0, 0);
    try {
      pooled.worker.postMessage({ ...job.message, interrupt: pooled.interrupt.buffer });
    } catch (err) {
      // Parameters that structured clone refuses (functions, class instances with private state).
      pooled.job = undefined;
      this.#release(pooled);
      this.#finish(job);
      job.reject(
        new ValidationError(
          `Cannot pass the parameters of UDF "${job.udf.name}" to its Worker: ${
            (err as Error).message
          }; use JSON values, typed arrays or strings`,
        ),
      );
    }
  }

  #answer(pooled: PooledWorker, message: WorkerMessage): void {
    if (message.type === "crash") {
      // An error the UDF did not await (a rejected promise, a throw in a timer): the Worker's
      // state is unknown, so it is stopped; the run it was doing, if any, fails with that error.
      const running = pooled.job;
      this.#stop(pooled);
      if (running) {
        this.#finish(running);
        running.reject(this.#error(running.udf, message.failure, message.logs));
      }
      this.#pump();
      return;
    }
    const job = pooled.job;
    if (!job || job.id !== message.id) return; // an answer to a run that was abandoned
    if (message.type === "output") {
      job.onOutput?.({ stdout: message.stdout, stderr: message.stderr });
      return;
    }
    pooled.job = undefined;
    this.#finish(job);
    // A Worker that hit its memory limit may still hold the garbage: start the next run afresh.
    if (message.type === "failure" && message.failure.exceptionClass === "MemoryLimitError") {
      this.#stop(pooled);
    } else {
      this.#release(pooled);
    }
    if (message.type === "failure") job.reject(this.#error(job.udf, message.failure, message.logs));
    else job.resolve(message);
    this.#pump();
  }

  #error(udf: Udf, failure: FailureMessage, logs: UdfLogs): Error {
    if (failure.kind === "validation") return new ValidationError(failure.message);
    let message = failure.message;
    if (failure.exceptionClass === "NotCapable" || failure.exceptionClass === "PermissionDenied") {
      message +=
        " (the local engine gives a UDF no network, environment, write or outside-file access unless the run allows it: allowNet, env, allowWrite, allowRead)";
    }
    const line = failure.lineno ? udf.code.split("\n")[failure.lineno - 1] : undefined;
    const err = new UdfRuntimeError(udf.name, {
      message,
      exceptionClass: failure.exceptionClass,
      lineno: failure.lineno,
      line,
      logs,
    });
    // The UDF's frames (file names relative to its folder) under this error's own message.
    const frames = (failure.stack ?? "").split("\n").filter((l) => /^\s+at /.test(l));
    if (frames.length) err.stack = `${err.name}: ${err.message}\n${frames.join("\n")}`;
    return err;
  }

  #abort(job: Job): void {
    const queued = this.#queue.indexOf(job);
    if (queued >= 0) this.#queue.splice(queued, 1);
    else if (job.worker && job.worker.job === job) this.#stop(job.worker);
    else return; // already answered
    this.#finish(job);
    job.reject(new UdfCancelledError(job.udf.name, job.signal?.reason));
    this.#pump();
  }

  /** Clears a job's timer and abort listener. */
  #finish(job: Job): void {
    clearTimeout(job.timer);
    if (job.onAbort) job.signal?.removeEventListener("abort", job.onAbort);
  }

  /** Marks a Worker idle, unref'd, with its idle timer running. */
  #release(pooled: PooledWorker): void {
    pooled.lastUsed = performance.now();
    setRef(pooled, false);
    const timer = setTimeout(() => {
      if (!pooled.job) this.#stop(pooled);
    }, this.#idleTimeoutMs);
    Deno.unrefTimer(timer as unknown as number);
    pooled.idleTimer = timer;
  }

  #stop(pooled: PooledWorker): void {
    clearTimeout(pooled.idleTimer);
    pooled.job = undefined;
    // A Worker spinning in synchronous code ignores terminate() (Deno 2.9.6): the flag makes
    // the UDF's next interrupt check throw, which unwinds the spin so termination completes.
    Atomics.store(pooled.interrupt, 0, 1);
    pooled.worker.terminate();
    this.#workers.delete(pooled);
  }
}
