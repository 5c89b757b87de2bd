/**
 * The UDF executor: runs TypeScript UDFs in a pool of warm, sandboxed Deno processes.
 *
 * A process is bound to one UDF version, one permission set and one caller (Deno fixes a
 * process's permissions when it starts, and two callers never share a process), keeps that module
 * loaded, and serves every later run of it. When the pool is full, the least recently used idle
 * process is stopped to make room; when every process is busy, runs wait in FIFO order (nested
 * runs first: their parents hold slots while they wait). A run that times out or is cancelled
 * gets its process SIGKILLed; a process that dies (out of memory, `Deno.exit`, a crash) fails its
 * run at once with the cause, and its slot is free for the next run.
 *
 * Why processes and not Workers (measured on Deno 2.9.6, executor-facts §1–5): V8's
 * out-of-memory in any Worker ends the whole host; `worker.terminate()` cannot stop a spinning
 * `eval` or regex; ArrayBuffers escape a Worker's heap limit; a Worker reads whatever its process
 * may. A process gets real walls (engine/_sandbox.ts) and results cross as bytes.
 *
 * @module
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  FusedError,
  NotSupportedError,
  UdfCancelledError,
  UdfProcessError,
  UdfRuntimeError,
  UdfTimeoutError,
  ValidationError,
} from "../client/errors.ts";
import type { UdfLogs } from "../client/errors.ts";
import { unpackResult } from "../client/formats/packed.ts";
import { fromTransferable } from "../client/formats/transfer.ts";
import type { UdfResult } from "../client/formats/types.ts";
import { options as fusedOptions } from "../client/options.ts";
import { tileBounds } from "../client/tiles.ts";
import type { Udf } from "../client/udf.ts";
import { type CallerContext, LOCAL_POLICY } from "../client/engine_types.ts";
import type { ChildConfig, ChildMessage, FailureMessage, HostMessage } from "./_protocol.ts";
import { encodeFrame, FrameError, readFrames, writeAll } from "./_frames.ts";
import { answerHostCall } from "./_host_calls.ts";
import { localCaller } from "./_local_host.ts";
import { type UdfModule, UdfModules } from "./_deps.ts";
import { type SandboxProcess, spawnSandbox } from "./_sandbox.ts";
import { denoDir, sdkReadRoots } from "./_roots.ts";
import type { InjectedArguments, UdfSignature } from "./params.ts";

/** One run of a UDF on the local engine. */
export interface LocalRunRequest {
  /** The UDF to run. */
  udf: Udf;
  /** Raw parameter values; strings are coerced to the parameter's type (see engine/params.ts). */
  parameters?: Record<string, unknown>;
  /** Run as a tile: the UDF receives `bounds` `[w, s, e, n]` and `tile` `{ x, y, z }`. */
  tile?: { x: number; y: number; z: number };
  /** Cancels the run: it rejects with UdfCancelledError and its process is killed. */
  signal?: AbortSignal;
  /** Kills a run that takes longer (UdfTimeoutError). No limit when absent. */
  timeoutMs?: number;
  /** Network access: true for any host, or a list of `host[:port]`. Default none. */
  allowNet?: boolean | string[];
  /** Extra paths the UDF may read, beyond its module folder and the caller's folders. */
  allowRead?: string[];
  /** Extra paths the UDF may write, beyond the caller's data and cache folders. */
  allowWrite?: string[];
  /** Environment values the UDF reads with `Deno.env.get`. Default none. */
  env?: Record<string, string>;
  /** Memory the UDF's process may use, in MB (default the engine's `memoryLimitMb`). */
  memoryLimitMb?: number;
  /**
   * Receives the UDF's output while it runs (at most every 50 ms), for live logs. The result's
   * `logs` still hold all of it.
   */
  onOutput?: (output: UdfLogs) => void;
  /** Who the run acts as; default this process's user (`options.dataDirectory`, depth 0). */
  caller?: CallerContext;
}

/** The outcome of a local run. */
export interface LocalRunResult {
  /** What the UDF returned. */
  value: UdfResult;
  /** What it printed. */
  logs: UdfLogs;
  /** Time from handing the run to a process to its answer, in milliseconds. */
  timeMs: number;
}

/** Options of {@linkcode LocalEngine}. */
export interface LocalEngineOptions {
  /** Most UDF processes alive at once (default `navigator.hardwareConcurrency`). */
  maxWorkers?: number;
  /** An idle process is stopped after this long (default 60 s). */
  idleTimeoutMs?: number;
  /** Folder of UDF module files (`udfs/<version>/`); each process reads only its own. */
  dataDir?: string;
  /**
   * Largest unpacked size of the npm packages of one UDF, dependencies included, in MB (default
   * 200; `@turf/turf` with its dependencies is 34): a UDF over it is refused before it runs.
   */
  npmMaxMb?: number;
  /**
   * Memory a UDF's process may use, in MB (default 2048): V8's heap gets half, and the OS limit
   * (a cgroup, else RLIMIT_DATA) counts everything, ArrayBuffers and wasm included.
   */
  memoryLimitMb?: number;
  /** Largest result a UDF may return, in bytes (default `options.maxResultBytes`, 256 MiB). */
  maxResultBytes?: number;
  /** Most threads a UDF's process may have, where a pids cgroup enforces it (default 64). */
  maxTasks?: number;
  /**
   * `"os"`: each UDF process in its own namespaces (bubblewrap) where they can be made, else
   * behind Deno's flags alone with one notice; `"deno"`: Deno's flags alone. Default: the
   * `FUSED_UDF_WALL` environment variable, else `"os"`.
   */
  wall?: "os" | "deno";
}

/** Counts describing the pool now. */
export interface LocalEngineStats {
  /** UDF processes alive. */
  workers: number;
  /** Processes running something. */
  busy: number;
  /** Runs waiting for a process (also those already queued inside a busy one). */
  queued: number;
  /** Processes started since the engine was created. */
  started: number;
  /** `deno install` processes started to install UDFs' npm packages (engine/_deps.ts). */
  npmInstalls: number;
}

interface Permissions {
  read: string[];
  write: string[];
  net: boolean | string[];
}

interface Job {
  id: number;
  udf: Udf;
  key: string;
  permissions: Permissions;
  /** What the run's host calls may reach: its allowNet, else its caller's policy's. */
  hostNet: boolean | string[];
  caller: CallerContext;
  cacheDir: string;
  memoryLimitMb: number;
  message: Exclude<HostMessage, { type: "reply" | "skip" }>;
  signal?: AbortSignal;
  timeoutMs?: number;
  resolve: (answer: { message: ChildMessage; body: Uint8Array }) => void;
  reject: (err: Error) => void;
  child?: Child;
  startedAt?: number;
  timer?: ReturnType<typeof setTimeout>;
  onAbort?: () => void;
  onOutput?: (output: UdfLogs) => void;
  /** Made at the run's first SDK call; aborted when the run ends, stopping those calls. */
  calls?: AbortController;
  /** The writing of the UDF's module files. */
  written: Promise<string>;
  /** Output the UDF wrote straight to fd 1 or 2, around `console`. */
  raw: { stdout: string; stderr: string };
}

interface Child {
  proc: SandboxProcess;
  key: string;
  conn?: Deno.Conn;
  ready: Promise<void>;
  job?: Job;
  lastUsed: number;
  /** Set once it is being stopped or has died: no new work. */
  dead: boolean;
  /** Why the host stopped it, if it did (the exit is then expected). */
  stopped?: string;
  /** Last bytes of its raw stderr: Deno's fatal messages land there. */
  stderrTail: string;
  /** Nested runs it waits for: each lends its slot to the runs it waits for. */
  waiting: number;
  folder: string;
  memoryLimitMb: number;
  /** Open until the process connects; closed when it ends first. */
  listener?: Deno.Listener;
  /**
   * A run already sent, waiting in the process behind `job` (pipelining: the process never
   * sleeps between runs while others wait). It starts, timer and all, when `job` answers.
   */
  next?: Job;
  /** Frames go out in order: each write waits for the one before it. */
  writes: Promise<void>;
  /** Moving average of its runs' times, ms: only processes of short runs get a queued run. */
  averageMs?: number;
}

const CHILD_SCRIPT = new URL("./_child.ts", import.meta.url).pathname;
const PROJECT_ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
/** Raw fd output kept per run and stream: the UDF's `console` output is capped in the child. */
const RAW_CAP = 256 * 1024;
/** A process must connect within this long, or it is taken as failed to start. */
const CONNECT_TIMEOUT_MS = 60_000;
/**
 * A run is queued inside a busy process only behind runs this short (average and so far), so a
 * run never waits behind a long one while another process frees up.
 */
const PIPELINE_MAX_MS = 10;

function hostList(value: boolean | string[] | undefined): boolean | string[] {
  if (value === undefined) return false;
  return Array.isArray(value) ? [...value].sort() : value;
}

/**
 * Runs UDFs locally in a pool of sandboxed processes.
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
  #memoryLimitMb: number;
  #maxResultBytes: number | undefined;
  #maxTasks: number;
  #wall: "os" | "deno" | undefined;
  #children = new Set<Child>();
  #queue: Job[] = [];
  #modules: UdfModules;
  #nextId = 1;
  #started = 0;
  #closed = false;
  #sweeper?: ReturnType<typeof setInterval>;

  /** Creates an engine; no process starts until the first run. */
  constructor(options: LocalEngineOptions = {}) {
    const max = options.maxWorkers ?? navigator.hardwareConcurrency ?? 4;
    if (!Number.isInteger(max) || max < 1) {
      throw new ValidationError(`maxWorkers must be a positive integer, got ${max}`);
    }
    this.#maxWorkers = max;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
    this.#dataDir = options.dataDir ?? join(tmpdir(), "fused-ts");
    this.#memoryLimitMb = options.memoryLimitMb ?? 2048;
    this.#maxResultBytes = options.maxResultBytes;
    this.#maxTasks = options.maxTasks ?? 64;
    this.#wall = options.wall;
    for (const [name, value] of Object.entries({ memoryLimitMb: this.#memoryLimitMb })) {
      if (!(value >= 128)) {
        throw new ValidationError(`${name} must be at least 128 (MB), got ${value}`);
      }
    }
    if (this.#maxResultBytes !== undefined && !(this.#maxResultBytes > 0)) {
      throw new ValidationError(
        `maxResultBytes must be a positive number of bytes, got ${this.#maxResultBytes}`,
      );
    }
    const npmMaxMb = options.npmMaxMb ?? 200;
    if (!(npmMaxMb > 0)) throw new ValidationError(`npmMaxMb must be above 0, got ${npmMaxMb}`);
    this.#modules = new UdfModules({ dataDir: this.#dataDir, maxBytes: npmMaxMb * 2 ** 20 });
  }

  /** Counts of processes and waiting runs. */
  get stats(): LocalEngineStats {
    let busy = 0;
    let sent = 0;
    for (const c of this.#children) {
      if (c.job) busy++;
      if (c.next) sent++;
    }
    return {
      workers: this.#children.size,
      busy,
      queued: this.#queue.length + sent,
      started: this.#started,
      npmInstalls: this.#modules.installs,
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
    if (!(memoryLimitMb >= 128)) {
      throw new ValidationError(`memoryLimitMb must be at least 128 (MB), got ${memoryLimitMb}`);
    }
    const given = jsonParameters(udf.name, request.parameters ?? {});
    const ready = this.#module(udf, request.caller, request.signal);
    // Known (every run after a version's first): the run is queued at once, in call order.
    const module = ready instanceof Promise ? await ready : ready;
    const answer = await this.#submit(udf, request, memoryLimitMb, module, {
      type: "run",
      id: 0,
      url: module.url,
      entrypoint: udf.entrypoint,
      given,
      defaults: jsonParameters(udf.name, udf.parameters),
      injected,
      env: request.env ?? {},
      streamOutput: request.onOutput !== undefined,
      maxResultBytes: this.#resultLimit(),
    });
    const message = answer.message;
    if (message.type !== "result") throw new FusedError("Unexpected answer from a UDF process");
    let value: UdfResult;
    try {
      value = await fromTransferable(unpackResult(message.result, answer.body));
    } catch (err) {
      throw new FusedError(
        `The result of UDF "${udf.name}" could not be decoded: ${(err as Error).message}`,
      );
    }
    return { value, logs: answer.logs, timeMs: answer.timeMs };
  }

  /** The parameters of a UDF: names, defaults, types, from its zod schema or default values. */
  async describe(udf: Udf, caller?: CallerContext): Promise<UdfSignature> {
    const ready = this.#module(udf, caller);
    const module = ready instanceof Promise ? await ready : ready;
    const answer = await this.#submit(udf, { udf, caller }, this.#memoryLimitMb, module, {
      type: "describe",
      id: 0,
      url: module.url,
      entrypoint: udf.entrypoint,
    });
    if (answer.message.type !== "signature") {
      throw new FusedError("Unexpected answer from a UDF process");
    }
    return answer.message.signature;
  }

  /** Stops every process; runs still waiting or running reject with UdfCancelledError. */
  close(): Promise<void> {
    this.#closed = true;
    for (const job of this.#queue.splice(0)) {
      this.#finish(job);
      job.reject(new UdfCancelledError(job.udf.name, "the local engine was closed"));
    }
    for (const c of [...this.#children]) {
      const jobs = [c.job, c.next];
      this.#stop(c, "the engine was closed");
      for (const job of jobs) {
        if (!job) continue;
        this.#finish(job);
        job.reject(new UdfCancelledError(job.udf.name, "the local engine was closed"));
      }
    }
    return Promise.resolve();
  }

  /**
   * Installs the npm packages a UDF imports, as its first run would, checked against the
   * caller's policy, and pins their versions in its metadata (`fused:npm`): call it before saving
   * a UDF that has not run yet, so that every host runs the same versions.
   */
  async pin(udf: Udf, caller?: CallerContext): Promise<void> {
    await this.#module(udf, caller);
  }

  /**
   * The UDF's module folder, once its npm packages are installed (once per version, policy and
   * pins: engine/_deps.ts). The process may start while the files are written: it needs them
   * only when the run is sent.
   */
  #module(udf: Udf, caller?: CallerContext, signal?: AbortSignal): UdfModule | Promise<UdfModule> {
    const open = (): void => {
      if (this.#closed) {
        throw new FusedError("The local engine is closed: create a new LocalEngine to run UDFs");
      }
    };
    open();
    if (udf.language === "python") {
      throw new NotSupportedError(
        `UDF "${udf.name}" is Python code, which the local engine cannot run (it runs TypeScript UDFs): run it on the Fused Python runtime (the fused Python package) or with engine "remote" against Fused's service`,
      );
    }
    if (signal?.aborted) throw new UdfCancelledError(udf.name, signal.reason);
    const ready = this.#modules.prepare(udf, (caller?.policy ?? LOCAL_POLICY).npm);
    if (!(ready instanceof Promise)) return ready;
    // A first run that waits for an install can still be cancelled (the install goes on for the
    // next run), and the engine may be closed meanwhile.
    return (signal ? abortable(ready, signal, udf.name) : ready).then((module) => {
      open();
      return module;
    });
  }

  #permissions(
    folder: string,
    request: Partial<LocalRunRequest>,
    caller: CallerContext,
    cacheDir: string,
  ): Permissions {
    const own = [caller.dataDir, cacheDir];
    const read = [
      folder,
      ...sdkReadRoots(PROJECT_ROOT),
      ...own,
      ...(request.allowRead ?? []),
    ];
    return {
      read: [...new Set(read)].sort(),
      write: [...new Set([...own, ...(request.allowWrite ?? [])])].sort(),
      net: hostList(request.allowNet),
    };
  }

  #submit(
    udf: Udf,
    request: Partial<LocalRunRequest>,
    memoryLimitMb: number,
    module: UdfModule,
    message: Job["message"],
  ): Promise<{ message: ChildMessage; body: Uint8Array; logs: UdfLogs; timeMs: number }> {
    const caller = request.caller ?? localCaller(this);
    const cacheDir = join(caller.cacheDir, "udf", udf.name);
    const permissions = this.#permissions(module.folder, request, caller, cacheDir);
    return new Promise((resolve, reject) => {
      const id = this.#nextId++;
      const job: Job = {
        id,
        udf,
        key: JSON.stringify([udf.codeVersion, permissions, caller.id, memoryLimitMb]),
        permissions,
        hostNet: request.allowNet !== undefined
          ? hostList(request.allowNet)
          : (caller.policy ?? LOCAL_POLICY).net,
        caller,
        cacheDir,
        memoryLimitMb,
        message: { ...message, id },
        signal: request.signal,
        timeoutMs: request.timeoutMs,
        onOutput: request.onOutput,
        written: module.written,
        raw: { stdout: "", stderr: "" },
        resolve: ({ message: answer, body }) => {
          const logs = "logs" in answer ? joinLogs(answer.logs, job.raw) : job.raw;
          resolve({ message: answer, body, logs, timeMs: performance.now() - job.startedAt! });
        },
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
      // Nested runs go first: their parents hold slots while they wait for them.
      if (caller.depth > 0) this.#queue.unshift(job);
      else this.#queue.push(job);
      this.#pump();
    });
  }

  /** Slots: the pool size, plus one for each process waiting on nested runs. */
  #capacity(): number {
    let lent = 0;
    for (const c of this.#children) if (c.waiting > 0) lent++;
    return this.#maxWorkers + lent;
  }

  /** Hands waiting runs to processes, in order, while there is room. */
  #pump(): void {
    while (this.#queue.length > 0 && !this.#closed) {
      const job = this.#queue[0];
      let target: Child | undefined;
      let lru: Child | undefined;
      for (const c of this.#children) {
        if (c.job || c.dead) continue;
        if (c.key === job.key && (!target || c.lastUsed > target.lastUsed)) target = c;
        if (!lru || c.lastUsed < lru.lastUsed) lru = c;
      }
      if (!target) {
        if (this.#children.size >= this.#capacity()) {
          if (!lru) {
            // Every process is busy: queue the run in one of its own that has room, else wait.
            const busy = this.#pipelineTarget(job);
            if (!busy) return;
            this.#queue.shift();
            busy.next = job;
            job.child = busy;
            this.#send(busy, job);
            continue;
          }
          this.#stop(lru, "its slot went to another UDF");
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

  /**
   * A busy process of the job's key with no run queued behind it. Never for nested runs or
   * behind a run that waits on nested runs: a run queued behind its own parent would wait
   * forever.
   */
  #pipelineTarget(job: Job): Child | undefined {
    if (job.caller.depth > 0) return undefined;
    const now = performance.now();
    for (const c of this.#children) {
      if (c.dead || c.next || !c.job || c.key !== job.key) continue;
      if (c.waiting > 0 || c.job.caller.depth > 0) continue;
      if (!(c.averageMs! <= PIPELINE_MAX_MS) || now - c.job.startedAt! > PIPELINE_MAX_MS) continue;
      return c;
    }
    return undefined;
  }

  #spawn(job: Job): Child {
    const folder = Deno.makeTempDirSync({ prefix: "fused-udf-" });
    const socket = join(folder, "s");
    const tempDir = join(folder, "tmp");
    Deno.mkdirSync(tempDir);
    for (const dir of job.permissions.write) Deno.mkdirSync(dir, { recursive: true });
    const listener = Deno.listen({ transport: "unix", path: socket });
    const net = job.permissions.net === true
      ? true
      : [`unix:${socket}`, ...(job.permissions.net || [])];
    const config: ChildConfig = {
      socket,
      dataDir: job.caller.dataDir,
      cacheDir: job.cacheDir,
      tempDir,
    };
    let proc: SandboxProcess;
    try {
      proc = spawnSandbox({
        script: CHILD_SCRIPT,
        args: [JSON.stringify(config)],
        cwd: PROJECT_ROOT,
        denoDir: denoDir(),
        permissions: {
          read: [...job.permissions.read, folder],
          write: [...job.permissions.write, tempDir, socket],
          net,
        },
        limits: { memoryMb: job.memoryLimitMb, maxTasks: this.#maxTasks },
        wall: this.#wall,
        filesReady: job.written,
      });
    } catch (err) {
      listener.close();
      Deno.removeSync(folder, { recursive: true });
      throw new FusedError(`Cannot start a UDF process: ${(err as Error).message}`);
    }
    this.#started++;
    const child: Child = {
      proc,
      key: job.key,
      ready: Promise.resolve(),
      lastUsed: performance.now(),
      dead: false,
      stderrTail: "",
      waiting: 0,
      folder,
      memoryLimitMb: job.memoryLimitMb,
      listener,
      writes: Promise.resolve(),
    };
    child.ready = this.#connect(child, listener);
    child.ready.catch(() => {}); // a failed start is reported through the exit
    this.#drain(child, proc.child.stdout, "stdout");
    this.#drain(child, proc.child.stderr, "stderr");
    proc.status.then((status) => this.#exited(child, status));
    this.#children.add(child);
    return child;
  }

  /** Accepts the process's one connection, then reads its frames until it closes. */
  async #connect(child: Child, listener: Deno.Listener): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const conn = await Promise.race([
        listener.accept() as Promise<Deno.Conn>,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error("the process did not connect")),
            CONNECT_TIMEOUT_MS,
          );
        }),
      ]);
      child.conn = conn as Deno.Conn;
    } finally {
      clearTimeout(timer);
      // One connection only: nothing else in the process (the UDF) can connect after it.
      closeListener(child);
    }
    if (!child.job) child.conn.unref();
    void this.#read(child, child.conn);
  }

  #resultLimit(): number {
    return this.#maxResultBytes ?? fusedOptions.maxResultBytes;
  }

  async #read(child: Child, conn: Deno.Conn): Promise<void> {
    const limit = (): number => this.#resultLimit();
    // The body cap is read per frame: options.maxResultBytes may change while a process lives.
    const limits = {
      maxHeaderBytes: 64 * 2 ** 20,
      get maxBodyBytes(): number {
        return limit() + 2 ** 20;
      },
    };
    try {
      for await (const frame of readFrames(conn, limits)) {
        this.#answer(child, frame.header as unknown as ChildMessage, frame.body);
      }
    } catch (err) {
      // A frame over the caps or malformed: the process is not trusted any longer.
      const why = err instanceof FrameError ? err.message : (err as Error).message;
      this.#fail(child, `sent a malformed message (${why})`, "ProcessExit");
    }
  }

  /** Keeps what the UDF wrote around `console` (to its job) and the tail of stderr. */
  async #drain(
    child: Child,
    stream: ReadableStream<Uint8Array>,
    which: "stdout" | "stderr",
  ): Promise<void> {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of stream) {
        const text = decoder.decode(chunk, { stream: true });
        if (which === "stderr") child.stderrTail = (child.stderrTail + text).slice(-4096);
        const job = child.job;
        if (job && job.raw[which].length < RAW_CAP) {
          job.raw[which] += text.slice(0, RAW_CAP - job.raw[which].length);
        }
      }
    } catch {
      // the pipe closed with the process
    }
  }

  #assign(child: Child, job: Job): void {
    this.#start(child, job);
    this.#send(child, job);
  }

  /** Makes `job` the process's running run: its time and timeout start now. */
  #start(child: Child, job: Job): void {
    child.job = job;
    job.child = child;
    child.proc.child.ref();
    child.conn?.ref();
    job.startedAt = performance.now();
    if (job.timeoutMs !== undefined) {
      job.timer = setTimeout(() => {
        this.#stop(child, "timeout");
        this.#finish(job);
        job.reject(new UdfTimeoutError(job.udf.name, job.timeoutMs!));
        this.#pump();
      }, job.timeoutMs);
    }
  }

  /** Sends a run to its process once the module files are written and the process is ready. */
  #send(child: Child, job: Job): void {
    const frame = encodeFrame(job.message);
    const mine = () => child.job === job || child.next === job;
    job.written.then(
      () =>
        child.ready.then(() => {
          if (mine()) return this.#write(child, frame);
        }).catch(() => this.#fail(child, "could not be reached", "ProcessExit")),
      (err) => {
        // The module files could not be written (a bad name, a full disk): the process is fine.
        if (child.next === job) child.next = undefined;
        else if (child.job === job) this.#done(child);
        else return;
        this.#finish(job);
        job.reject(err);
        this.#pump();
      },
    );
  }

  /** Writes a frame after the ones before it (run frames and host-call replies interleave). */
  #write(child: Child, frame: Uint8Array): Promise<void> {
    const conn = child.conn!;
    child.writes = child.writes.then(() => writeAll(conn, frame));
    return child.writes;
  }

  /** The running run answered: start the one queued behind it, or mark the process idle. */
  #done(child: Child): void {
    const took = performance.now() - child.job!.startedAt!;
    child.averageMs = child.averageMs === undefined ? took : 0.8 * child.averageMs + 0.2 * took;
    child.job = undefined;
    const next = child.next;
    child.next = undefined;
    if (next) this.#start(child, next);
    else this.#release(child);
  }

  #answer(child: Child, message: ChildMessage, body: Uint8Array): void {
    if (message.type === "ready") return;
    if (message.type === "crash") {
      // An error the UDF did not await (a rejected promise, a throw in a timer): the process's
      // state is unknown, so it is stopped; the run it was doing, if any, fails with that error.
      const running = child.job;
      this.#stop(child, "an error nobody awaited");
      if (running) {
        this.#finish(running);
        running.reject(this.#error(running, message.failure, message.logs));
      }
      this.#pump();
      return;
    }
    const job = child.job;
    if (!job || job.id !== message.id) return; // an answer to a run that was abandoned
    if (message.type === "call") {
      void this.#hostCall(child, job, message, body);
      return;
    }
    if (message.type === "output") {
      job.onOutput?.({ stdout: String(message.stdout), stderr: String(message.stderr) });
      return;
    }
    this.#finish(job);
    this.#done(child);
    if (message.type === "failure") {
      job.reject(this.#error(job, message.failure, joinLogs(message.logs, job.raw)));
    } else job.resolve({ message, body });
    this.#pump();
  }

  /** Carries out an SDK call of a running UDF, as its caller, and answers it. */
  async #hostCall(
    child: Child,
    job: Job,
    message: Extract<ChildMessage, { type: "call" }>,
    body: Uint8Array,
  ): Promise<void> {
    const nested = message.method === "run" || message.method === "describe";
    if (nested) {
      child.waiting++;
      this.#pump(); // its slot is lent to the runs it waits for
    }
    let reply: Uint8Array;
    try {
      const answer = await answerHostCall(message.method, message.args, body, {
        caller: job.caller,
        net: job.hostNet,
        signal: (job.calls ??= new AbortController()).signal,
        describe: (udf) => this.describe(udf, { ...job.caller, depth: job.caller.depth + 1 }),
      });
      reply = encodeFrame(
        { type: "reply", call: message.call, ok: true, value: answer.value },
        answer.parts,
      );
    } catch (err) {
      const error = err instanceof Error
        ? { name: err.name, message: err.message }
        : { name: "Error", message: String(err) };
      reply = encodeFrame({ type: "reply", call: message.call, ok: false, error });
    } finally {
      if (nested) child.waiting--;
    }
    if (child.job !== job || !child.conn) return; // the run ended meanwhile
    try {
      await this.#write(child, reply);
    } catch {
      this.#fail(child, "could not be reached", "ProcessExit");
    }
  }

  #error(job: Job, failure: FailureMessage, logs: UdfLogs): Error {
    if (failure.kind === "validation") return new ValidationError(failure.message);
    let message = failure.message;
    if (failure.exceptionClass === "NotCapable" || failure.exceptionClass === "PermissionDenied") {
      message +=
        " (a UDF runs in a sandbox: no network, environment, or files outside its own folders unless the run allows them: allowNet, env, allowRead, allowWrite; fused.filePath() is its data folder)";
    }
    if (/Could not find a matching package|not a dependency|Relative import path/.test(message)) {
      // Deno's own advice (deno add, deno install, deno.json) is for projects, not UDFs.
      message = message.replace(/ Ensure you have all your JSR and npm [^]*?deno\.json file\./, "")
        .replace(/\n\s*hint: If you want to use the npm package[^\n]*/, "");
      message +=
        ` (a UDF imports its headers and the SDK's packages by name, and any other npm package by an npm: specifier written in its code, such as "npm:h3-js@4", which its host installs before the run; a computed import() is not seen)`;
    }
    const udf = job.udf;
    const line = failure.lineno ? udf.code.split("\n")[failure.lineno - 1] : undefined;
    const err = new UdfRuntimeError(udf.name, {
      message,
      exceptionClass: String(failure.exceptionClass),
      lineno: failure.lineno,
      line,
      logs,
    });
    // The UDF's frames (file names relative to its folder) under this error's own message.
    const frames = String(failure.stack ?? "").split("\n").filter((l) => /^\s+at /.test(l));
    if (frames.length) err.stack = `${err.name}: ${err.message}\n${frames.join("\n")}`;
    return err;
  }

  #abort(job: Job): void {
    const queued = this.#queue.indexOf(job);
    if (queued >= 0) this.#queue.splice(queued, 1);
    else if (job.child && job.child.job === job) this.#stop(job.child, "cancelled");
    else if (job.child && job.child.next === job) {
      // Sent but not started: the process skips it when it comes to it.
      job.child.next = undefined;
      if (job.child.conn) {
        void this.#write(job.child, encodeFrame({ type: "skip", id: job.message.id }))
          .catch(() => {});
      }
    } else return; // already answered
    this.#finish(job);
    job.reject(new UdfCancelledError(job.udf.name, job.signal?.reason));
    this.#pump();
  }

  /** Clears a job's timer and abort listener, and stops the SDK calls it made. */
  #finish(job: Job): void {
    clearTimeout(job.timer);
    if (job.onAbort) job.signal?.removeEventListener("abort", job.onAbort);
    // A string reason: an AbortController's default DOMException costs a stack trace each run.
    job.calls?.abort("the run ended");
  }

  /** Marks a process idle and unref'd; the sweep stops it once idle for `idleTimeoutMs`. */
  #release(child: Child): void {
    child.lastUsed = performance.now();
    child.proc.child.unref();
    child.conn?.unref();
    this.#sweeper ??= this.#startSweep();
  }

  // One sweep for the pool, not a timer per run: a timer each run was ~5% of a busy service's
  // CPU (measured with the inspector's profiler under wrk).
  #startSweep(): ReturnType<typeof setInterval> {
    const every = Math.max(50, Math.min(10_000, this.#idleTimeoutMs / 4));
    const timer = setInterval(() => {
      const now = performance.now();
      for (const child of [...this.#children]) {
        if (!child.job && now - child.lastUsed >= this.#idleTimeoutMs) this.#stop(child, "idle");
      }
      if (this.#children.size === 0) {
        clearInterval(timer);
        this.#sweeper = undefined;
      }
    }, every);
    Deno.unrefTimer(timer as unknown as number);
    return timer;
  }

  /** Kills a process on purpose: its exit is then no failure of its own. */
  #stop(child: Child, why: string): void {
    if (child.dead) return;
    child.dead = true;
    child.stopped = why;
    child.job = undefined;
    this.#requeue(child);
    this.#children.delete(child);
    closeListener(child);
    child.conn?.close();
    child.proc.kill();
  }

  /** A run queued in a process that ends never started: it goes back to the front of the queue. */
  #requeue(child: Child): void {
    const next = child.next;
    child.next = undefined;
    if (next && !this.#closed) {
      next.child = undefined;
      this.#queue.unshift(next);
    }
  }

  /** The process misbehaved or died: fail its run with `cause`, kill it, free its slot. */
  #fail(child: Child, cause: string, exceptionClass: string): void {
    const job = child.job;
    if (!child.dead) this.#stop(child, cause);
    if (job) {
      this.#finish(job);
      job.reject(
        new UdfProcessError(job.udf.name, exceptionClass, `its process ${cause}`, job.raw),
      );
    }
    this.#pump();
  }

  #exited(child: Child, status: Deno.CommandStatus): void {
    closeListener(child);
    const oom = child.proc.oomKilled();
    child.proc.cleanup();
    try {
      Deno.removeSync(child.folder, { recursive: true });
    } catch {
      // already removed
    }
    if (child.stopped) return; // killed on purpose; its run was answered already
    const job = child.job;
    child.dead = true;
    child.job = undefined;
    this.#requeue(child);
    this.#children.delete(child);
    if (job) {
      this.#finish(job);
      const heapOom = /out of memory|heap limit|allocation failed/i.test(child.stderrTail);
      const cause = oom || heapOom
        ? `its process ran out of memory (limit ${child.memoryLimitMb} MB)`
        : status.signal
        ? `its process was killed by ${status.signal}`
        : `its process exited with code ${status.code}`;
      const hint = oom || heapOom
        ? ": process the data in smaller pieces, or raise memoryLimitMb"
        : status.code === 0 && !status.signal
        ? " (a UDF must return, not end its process: remove Deno.exit or self.close)"
        : "";
      job.reject(
        new UdfProcessError(
          job.udf.name,
          oom || heapOom ? "MemoryLimitError" : "ProcessExit",
          `${cause}${hint}`,
          job.raw,
        ),
      );
    }
    this.#pump();
  }
}

function closeListener(child: Child): void {
  try {
    child.listener?.close();
  } catch {
    // closed already
  }
  child.listener = undefined;
}

/** The promise's value, or a UdfCancelledError as soon as `signal` aborts. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal, udfName: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(new UdfCancelledError(udfName, signal.reason));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

function joinLogs(logs: UdfLogs, raw: { stdout: string; stderr: string }): UdfLogs {
  return {
    stdout: String(logs.stdout ?? "") + raw.stdout,
    stderr: String(logs.stderr ?? "") + raw.stderr,
  };
}

/**
 * Parameters as JSON values: they travel to the UDF's process as JSON. BigInts (from Arrow
 * int64 columns) become numbers when exact, else strings; typed arrays become arrays.
 */
function jsonParameters(
  udfName: string,
  parameters: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(parameters)) {
    try {
      out[name] = toJson(value, 0);
    } catch (err) {
      throw new ValidationError(
        `Cannot pass parameter "${name}" to UDF "${udfName}": ${
          (err as Error).message
        }; use JSON values (numbers, strings, booleans, null, arrays, plain objects)`,
      );
    }
  }
  return out;
}

function toJson(value: unknown, depth: number): unknown {
  if (depth > 64) throw new TypeError("it is nested more than 64 levels deep");
  if (value === null || value === undefined) return value ?? null;
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      return value;
    case "bigint":
      return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
    case "object": {
      if (Array.isArray(value)) return value.map((v) => toJson(v, depth + 1));
      if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
        return Array.from(value as unknown as ArrayLike<number | bigint>, (v) => toJson(v, depth));
      }
      if (value instanceof Date) return value.toISOString();
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        throw new TypeError(`it is a ${proto?.constructor?.name ?? "class"} instance`);
      }
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = toJson(v, depth + 1);
      return out;
    }
    default:
      throw new TypeError(`it is a ${typeof value}`);
  }
}
