/**
 * The UDF executor: runs TypeScript UDFs in a pool of warm, sandboxed Deno processes, and Python
 * UDFs in warm Python processes of the same pool, inside the same OS wall only (engine/python).
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
 * Here: the engine's API, checking a request, preparing its UDF's module (engine/_deps.ts),
 * making it a job and decoding the answer. The scheduling of the processes is engine/_pool.ts,
 * one process as the host sees it engine/_pool_child.ts, and a UDF's failure becomes the error
 * its caller gets in engine/_run_errors.ts.
 *
 * @module
 */
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { FusedError, UdfCancelledError, ValidationError } from "../client/errors.ts";
import type { UdfLogs } from "../client/errors.ts";
import { decodePythonResult } from "./_py_result.ts";
import type { UdfResult } from "../client/formats/types.ts";
import { options as fusedOptions } from "../client/options.ts";
import { tileBounds } from "../client/tiles.ts";
import type { Udf } from "../client/udf.ts";
import { type CallerContext, LOCAL_POLICY } from "../client/engine_types.ts";
import type { ChildMessage, DescribeMessage, RunMessage } from "./_protocol.ts";
import { localCaller } from "./_local_host.ts";
import { type UdfModule, UdfModules } from "./_deps.ts";
import { udfModuleFiles } from "./_module_files.ts";
import { Pool } from "./_pool.ts";
import { unrunnableReason } from "./_run_errors.ts";
import {
  fileCap,
  type FileQuota,
  type Job,
  joinLogs,
  type Permissions,
  PROJECT_ROOT,
} from "./_pool_child.ts";
import { sdkReadRoots } from "./_roots.ts";
import { type InjectedArguments, tileArguments, type UdfSignature } from "./params.ts";

/** One run of a UDF on the local engine. */
export interface LocalRunRequest {
  /** The UDF to run. */
  udf: Udf;
  /** Raw parameter values; strings are coerced to the parameter's type (see engine/params.ts). */
  parameters?: Record<string, unknown>;
  /**
   * Run as a tile: the UDF receives whichever it declares of `bounds` `[w, s, e, n]`, `tile`
   * `{ x, y, z }` and `x`, `y`, `z`.
   */
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
  /**
   * The Python interpreter of Python UDFs (default `options.pythonPath`, `/usr/bin/python3`):
   * each runs in a process of it, only inside the OS wall (engine/_sandbox.ts).
   */
  python?: string;
  /**
   * Keep a spare Python process per caller, UDF name, interpreter, permissions and memory limit,
   * with numpy, pandas, shapely and geopandas already imported, that a new Python UDF version's
   * first run takes over (default true): it then skips starting a process and those imports. Each
   * spare is a whole process in its own wall and holds its memory while it waits (the idle
   * timeout stops it).
   */
  pythonSpares?: boolean;
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
  /** Spare Python processes done importing their libraries, waiting for a UDF (engine/_pool.ts). */
  spares: number;
  /** `deno install` processes started to install UDFs' npm packages (engine/_deps.ts). */
  npmInstalls: number;
}

/** What {@linkcode LocalEngine}'s processes are made with for a run, their key and cache folder. */
interface ProcessShape {
  permissions: Permissions;
  image: string;
  key: string;
  /** The UDF's cache folder, `<caller's cache folder>/udf/<name>`. */
  cacheDir: string;
}

/** The shape of an engine's last plain run, with what it was made of. */
interface LastShape {
  udf: Udf;
  udfName: string;
  folder: string | undefined;
  callerId: string;
  dataDir: string;
  cacheDir: string;
  memoryLimitMb: number;
  python: string | undefined;
  cap: number | undefined;
  shape: ProcessShape;
}

/** Process shapes kept by one engine: a service's callers make many; the map restarts past it. */
const MAX_SHAPES = 1024;

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
  #memoryLimitMb: number;
  #maxResultBytes: number | undefined;
  #pool: Pool;
  #modules: UdfModules;
  #nextId = 1;
  #python: string | undefined;
  #shapes = new Map<string, ProcessShape>();
  #lastShape?: LastShape;
  /** UDF objects known to be code (not a JSON node of Fused's catalog). */
  #runnable = new WeakSet<Udf>();
  #local?: { dataDirectory: string; cacheDirectory: string | null; caller: CallerContext };

  /** Creates an engine; no process starts until the first run. */
  constructor(options: LocalEngineOptions = {}) {
    const max = options.maxWorkers ?? navigator.hardwareConcurrency ?? 4;
    if (!Number.isInteger(max) || max < 1) {
      throw new ValidationError(`maxWorkers must be a positive integer, got ${max}`);
    }
    const dataDir = options.dataDir ?? join(tmpdir(), "fused-ts");
    this.#memoryLimitMb = options.memoryLimitMb ?? 2048;
    this.#maxResultBytes = options.maxResultBytes;
    this.#python = options.python;
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
    this.#modules = new UdfModules({ dataDir, maxBytes: npmMaxMb * 2 ** 20 });
    this.#pool = new Pool({
      maxWorkers: max,
      idleTimeoutMs: options.idleTimeoutMs ?? 60_000,
      maxTasks: options.maxTasks ?? 64,
      wall: options.wall,
      pythonSpares: options.pythonSpares ?? true,
      resultLimit: () => this.#resultLimit(),
      describe: (udf, caller) => this.describe(udf, caller),
    });
  }

  /** Counts of processes and waiting runs. */
  get stats(): LocalEngineStats {
    return { ...this.#pool.stats(), npmInstalls: this.#modules.installs };
  }

  /**
   * Runs a UDF and returns its result, logs and time. (Not an async function: a warm run is the
   * one promise its answer settles; a bad request rejects it all the same.)
   */
  run(request: LocalRunRequest): Promise<LocalRunResult> {
    try {
      const { udf } = request;
      let injected: InjectedArguments | undefined;
      if (request.tile) {
        const { x, y, z } = request.tile;
        injected = tileArguments({ x, y, z }, tileBounds(x, y, z));
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
      return ready instanceof Promise
        ? ready.then((module) => this.#run(request, memoryLimitMb, given, injected, module))
        : this.#run(request, memoryLimitMb, given, injected, ready);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #run(
    request: LocalRunRequest,
    memoryLimitMb: number,
    given: Record<string, unknown>,
    injected: InjectedArguments | undefined,
    module: UdfModule,
  ): Promise<LocalRunResult> {
    const { udf } = request;
    const message: RunMessage = {
      type: "run",
      id: this.#nextId++,
      url: module.url,
      entrypoint: udf.entrypoint,
      given,
      defaults: jsonParameters(udf.name, udf.parameters),
      injected,
      env: request.env ?? {},
      streamOutput: request.onOutput !== undefined,
      maxResultBytes: this.#resultLimit(),
    };
    return this.#submit(udf, request, memoryLimitMb, module, message, (answer) => {
      const { message, logs, timeMs } = answer;
      if (message.type !== "result") throw new FusedError("Unexpected answer from a UDF process");
      const result = message.result;
      // A small JSON value or string came parsed with the header (engine/_protocol.ts).
      if (result.kind === "value") return { value: result.value as UdfResult, logs, timeMs };
      const undecodable = (err: unknown) =>
        new FusedError(
          `The result of UDF "${udf.name}" could not be decoded: ${(err as Error).message}`,
        );
      try {
        return decodePythonResult(result, answer.body).then(
          (value) => ({ value, logs, timeMs }),
          (err) => Promise.reject(undecodable(err)),
        );
      } catch (err) {
        throw undecodable(err);
      }
    });
  }

  /** The parameters of a UDF: names, defaults, types, from its zod schema or default values. */
  async describe(udf: Udf, caller?: CallerContext): Promise<UdfSignature> {
    const ready = this.#module(udf, caller);
    const module = ready instanceof Promise ? await ready : ready;
    const message: DescribeMessage = {
      type: "describe",
      id: this.#nextId++,
      url: module.url,
      entrypoint: udf.entrypoint,
    };
    return await this.#submit(udf, { udf, caller }, this.#memoryLimitMb, module, message, (a) => {
      if (a.message.type !== "signature") {
        throw new FusedError("Unexpected answer from a UDF process");
      }
      return a.message.signature;
    });
  }

  /** Stops every process; runs still waiting or running reject with UdfCancelledError. */
  close(): Promise<void> {
    this.#pool.close();
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
    this.#open();
    // Asked once per UDF object: what it looks at (the code) is readonly.
    if (!this.#runnable.has(udf)) {
      const unrunnable = unrunnableReason(udf);
      if (unrunnable) throw unrunnable;
      this.#runnable.add(udf);
    }
    if (signal?.aborted) throw new UdfCancelledError(udf.name, signal.reason);
    const ready = this.#modules.prepare(udf, (caller?.policy ?? LOCAL_POLICY).npm);
    if (!(ready instanceof Promise)) return ready;
    // A first run that waits for an install can still be cancelled (the install goes on for the
    // next run), and the engine may be closed meanwhile.
    return (signal ? abortable(ready, signal, udf.name) : ready).then((module) => {
      this.#open();
      return module;
    });
  }

  /** Throws when the engine is closed. */
  #open(): void {
    if (this.#pool.closed) {
      throw new FusedError("The local engine is closed: create a new LocalEngine to run UDFs");
    }
  }

  #permissions(
    folder: string | undefined,
    request: Partial<LocalRunRequest>,
    caller: CallerContext,
    cacheDir: string,
  ): Permissions {
    const own = [caller.dataDir, cacheDir];
    const read = [
      ...(folder ? [folder] : []),
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

  /**
   * The run's process image (permissions, caller, memory, interpreter, file cap), its key (the
   * image and the UDF version) and the UDF's cache folder. A run without its own paths or
   * network, the usual warm run (a service's too, under its caller's quota), gets them from a map
   * by what they are made of: building, sorting and serialising them was a third of the host's
   * JavaScript time of a warm run (measured with --cpu-prof).
   */
  #processShape(
    udf: Udf,
    folder: string | undefined,
    request: Partial<LocalRunRequest>,
    caller: CallerContext,
    memoryLimitMb: number,
    python: string | undefined,
    fileQuota: FileQuota | undefined,
  ): ProcessShape {
    const plain = request.allowRead === undefined && request.allowWrite === undefined &&
      request.allowNet === undefined;
    // Under a quota the shape depends on the file cap only (the quota, or 0 when over it): the
    // service's runs, which all have a quota, are made from the map too.
    const cap = fileQuota && fileCap(fileQuota);
    // The last shape, when this run is made of the same (a warm run of the same UDF object for
    // the same caller): compared field by field instead of building the map's key.
    const last = this.#lastShape;
    if (
      plain && last?.udf === udf && last.udfName === udf.name && last.folder === folder &&
      last.callerId === caller.id && last.dataDir === caller.dataDir &&
      last.cacheDir === caller.cacheDir && last.memoryLimitMb === memoryLimitMb &&
      last.python === python && last.cap === cap
    ) return last.shape;
    const name = plain
      ? `${udf.codeVersion}\0${folder}\0${caller.id}\0${caller.dataDir}\0${caller.cacheDir}\0${memoryLimitMb}\0${python}\0${udf.name}\0${cap}`
      : undefined;
    const known = name === undefined ? undefined : this.#shapes.get(name);
    if (known) {
      this.#rememberShape(udf, folder, caller, memoryLimitMb, python, cap, known);
      return known;
    }
    const cacheDir = join(caller.cacheDir, "udf", udf.name);
    // A Python process gets its UDF's files and cache folder in its messages, with the caller's
    // folder of all UDF cache folders mounted (they are all the caller's): the same process
    // image (a spare, engine/_pool.ts) can then serve any UDF of its caller, a new one too.
    const permissions = this.#permissions(
      folder,
      request,
      caller,
      python ? dirname(cacheDir) : cacheDir,
    );
    // What a process is made with: a spare made so serves any UDF of this caller and image.
    const image = JSON.stringify([
      permissions,
      caller.id,
      memoryLimitMb,
      python,
      cap,
    ]);
    const shape = {
      permissions,
      image,
      // A Python image serves any UDF of the caller: the name keeps each UDF's processes apart.
      key: JSON.stringify([udf.codeVersion, image, ...(python ? [udf.name] : [])]),
      cacheDir,
    };
    if (name !== undefined) {
      if (this.#shapes.size >= MAX_SHAPES) this.#shapes.clear();
      this.#shapes.set(name, shape);
      this.#rememberShape(udf, folder, caller, memoryLimitMb, python, cap, shape);
    }
    return shape;
  }

  #rememberShape(
    udf: Udf,
    folder: string | undefined,
    caller: CallerContext,
    memoryLimitMb: number,
    python: string | undefined,
    cap: number | undefined,
    shape: ProcessShape,
  ): void {
    this.#lastShape = {
      udf,
      udfName: udf.name,
      folder,
      callerId: caller.id,
      dataDir: caller.dataDir,
      cacheDir: caller.cacheDir,
      memoryLimitMb,
      python,
      cap,
      shape,
    };
  }

  /** This process's user as the caller, made again only when `fused.options`' folders change. */
  #localCaller(): CallerContext {
    const made = this.#local;
    if (
      made?.dataDirectory === fusedOptions.dataDirectory &&
      made.cacheDirectory === fusedOptions.cacheDirectory
    ) return made.caller;
    const caller = localCaller(this);
    this.#local = {
      dataDirectory: fusedOptions.dataDirectory,
      cacheDirectory: fusedOptions.cacheDirectory,
      caller,
    };
    return caller;
  }

  #resultLimit(): number {
    return this.#maxResultBytes ?? fusedOptions.maxResultBytes;
  }

  /**
   * Runs `message` (its id already the job's) in a process and settles with what `finish` makes
   * of the answer; measures the caller's quota first, if it has one.
   */
  #submit<T>(
    udf: Udf,
    request: Partial<LocalRunRequest>,
    memoryLimitMb: number,
    module: UdfModule,
    message: Job["message"],
    finish: (answer: Answer) => T | Promise<T>,
  ): Promise<T> {
    const caller = request.caller ?? this.#localCaller();
    // Under a disk quota the process's files are capped: at the quota, or at nothing while the
    // caller is over it (it may still read and delete). Measured only for callers with a quota,
    // so other runs are still queued at once, in call order.
    if (!caller.quota) {
      return this.#enqueue(udf, request, memoryLimitMb, module, message, caller, finish);
    }
    const { limitBytes } = caller.quota;
    return caller.quota.usage().then((usage) =>
      this.#enqueue(udf, request, memoryLimitMb, module, message, caller, finish, {
        limitBytes,
        usage,
      })
    );
  }

  #enqueue<T>(
    udf: Udf,
    request: Partial<LocalRunRequest>,
    memoryLimitMb: number,
    module: UdfModule,
    message: Job["message"],
    caller: CallerContext,
    finish: (answer: Answer) => T | Promise<T>,
    fileQuota?: FileQuota,
  ): Promise<T> {
    const python = udf.language === "python" ? this.#python ?? fusedOptions.pythonPath : undefined;
    const { permissions, image, key, cacheDir } = this.#processShape(
      udf,
      python ? undefined : module.folder,
      request,
      caller,
      memoryLimitMb,
      python,
      fileQuota,
    );
    if (python) {
      message.files = udfModuleFiles(udf);
      message.cacheDir = cacheDir;
    }
    return new Promise((resolve, reject) => {
      const job: Job = {
        id: message.id,
        udf,
        python,
        key,
        image: python && image,
        fileQuota,
        permissions,
        hostNet: request.allowNet !== undefined
          ? hostList(request.allowNet)
          : (caller.policy ?? LOCAL_POLICY).net,
        caller,
        cacheDir,
        memoryLimitMb,
        message,
        signal: request.signal,
        timeoutMs: request.timeoutMs,
        onOutput: request.onOutput,
        written: module.written,
        raw: { stdout: "", stderr: "" },
        resolve: (answer, body, now) => {
          const logs = "logs" in answer && answer.logs ? joinLogs(answer.logs, job.raw) : job.raw;
          try {
            resolve(finish({ message: answer, body, logs, timeMs: now - job.startedAt! }));
          } catch (err) {
            reject(err as Error);
          }
        },
        reject,
      };
      if (request.signal) {
        if (request.signal.aborted) {
          reject(new UdfCancelledError(udf.name, request.signal.reason));
          return;
        }
        job.onAbort = () => this.#pool.abort(job);
        request.signal.addEventListener("abort", job.onAbort, { once: true });
      }
      this.#pool.enqueue(job);
    });
  }
}

/** A process's answer to a job, with its logs and time. */
interface Answer {
  message: ChildMessage;
  body: Uint8Array;
  logs: UdfLogs;
  timeMs: number;
}

/** The promise's value, or a UdfCancelledError as soon as `signal` aborts. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal, udfName: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(new UdfCancelledError(udfName, signal.reason));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
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
