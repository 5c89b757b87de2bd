/**
 * `fused.run`: runs a UDF on the local engine (sandboxed processes) or on a service, with Fused's
 * caching, retry and logging rules. The engines are rows of one table (`installEngine`), filled in
 * by `fused` (mod.ts), the API client and, inside a UDF, the executor's bridge to its host; so this
 * module depends on neither `engine/` nor the HTTP client.
 *
 * @module
 */
import { DEFAULT_UDF_CACHE_MAX_AGE, parseCacheMaxAge } from "./cache_max_age.ts";
import { cacheKey, readCache, withCacheLock, writeCache } from "./cache.ts";
import {
  FusedError,
  NotSupportedError,
  UdfCancelledError,
  type UdfLogs,
  UdfRuntimeError,
  ValidationError,
} from "./errors.ts";
import type { UdfResult } from "./formats/mod.ts";
import { isSavedReference, isUdfCode, load } from "./load.ts";
import { options as fusedOptions } from "./options.ts";
import { canonicalJson, Udf, udfCacheFolder } from "./udf.ts";
import type {
  CallerContext,
  EngineCall,
  EngineName,
  EngineRunRequest,
  LocalEngineLike,
  RunResponse,
  Tile,
  UdfEngine,
  UdfSignatureLike,
} from "./engine_types.ts";
import { udfHost } from "./host_channel.ts";
import { hostEngine } from "./udf_host.ts";
import { sleep } from "./sleep.ts";

// Why installed rows, not imports: client/ must not import engine/ or the HTTP client (layers
// point down), so `fused` (mod.ts), the API client and the executor's child each fill in theirs.
const engines = new Map<EngineName, UdfEngine>();

const MISSING_ENGINE: Record<EngineName, string> = {
  local:
    'No local engine is installed: import "fused" (mod.ts), or installEngine("local", cachingLocalEngine(defaultEngine())) with engine/mod.ts',
  remote: 'The remote engine needs the API client: import "fused" (mod.ts) so it is installed',
  batch: 'Batch runs need the API client: import "fused" (mod.ts) so it is installed',
};

/** Puts an engine in the table (or takes it out with undefined). */
export function installEngine(name: EngineName, engine: UdfEngine | undefined): void {
  if (engine) engines.set(name, engine);
  else engines.delete(name);
}

/** The installed engine of a row, or a FusedError naming what installs it. */
export function engineFor(name: EngineName): UdfEngine {
  // Inside a UDF's process every row is its host: the UDF has no network or engine of its own.
  const host = udfHost();
  if (host) return hostEngine(host, name);
  const engine = engines.get(name);
  if (!engine) throw new FusedError(MISSING_ENGINE[name]);
  return engine;
}

/**
 * The batch instance type of a run, if it is one: the `instanceType` option, else (on the remote
 * engine) the UDF's own, as Fused; "realtime" is not a batch type.
 */
function batchType(target: Udf | string, opts: RunOptions, engine: string): string | undefined {
  const type = opts.instanceType ??
    (engine === "remote" && typeof target !== "string" ? target.instanceType : undefined);
  return type && type !== "realtime" ? type : undefined;
}

/** Options of `run`. Any other key is a UDF parameter (`run(udf, { n: 3 })`). */
export interface RunOptions {
  /** "local" (sandboxed processes here) or "remote" (the service); default `options.defaultUdfRunEngine`. */
  engine?: "local" | "remote";
  /** UDF parameters, merged over the keyword parameters. */
  parameters?: Record<string, unknown>;
  /** Tile column; with y and z, a tile run. */
  x?: number;
  /** Tile row. */
  y?: number;
  /** Tile zoom. */
  z?: number;
  /** How long a cached result stays valid (`"48h"`, seconds); default the UDF's, else 90 days. */
  cacheMaxAge?: string | number;
  /** `false` disables the cache for this run. */
  cache?: boolean;
  /** Retries after failures that are not the UDF's own error (default 0), with backoff. */
  maxRetry?: number;
  /** Prints the UDF's output (default `options.verboseUdfRuns`). */
  verbose?: boolean;
  /** Cancels the run. */
  signal?: AbortSignal;
  /** Stops a run after this many milliseconds (default `options.runTimeout` seconds). */
  runTimeout?: number;
  /** Network access for a local run: false (default), true, or a list of hosts. */
  allowNet?: boolean | string[];
  /**
   * Instance type: "realtime", or a batch type ("small", "medium", "large") to run the UDF as a
   * batch job on the service and wait for it (implies the remote engine; refused with
   * engine: "local").
   */
  instanceType?: string;
  /**
   * Who the run acts as, for hosts that run UDFs for others (the service passes the requesting
   * user; a UDF's nested runs pass their parent's, one level deeper). Default: this process's user.
   */
  caller?: CallerContext;
  /** fused-py's `type`: "tile" needs x, y and z; "file" refuses them. Default: x/y/z decide. */
  type?: "file" | "tile";
  /**
   * fused-py's `sync`. Every run here returns a Promise, which is what `sync=False` (a coroutine)
   * gives in Python: `false` and `true` (await it) are both that Promise.
   */
  sync?: boolean;
  /**
   * fused-py's `_ignore_unknown_arguments`: drop the parameters the UDF does not take instead of
   * failing the run.
   */
  ignoreUnknownArguments?: boolean;
}

/** A share token as the API returns it (`createAccessToken()`); runs as its `token`. */
export interface AccessTokenLike {
  /** The token (`fsh_...`). */
  token: string;
}

/** A UDF with the parameters of one job (`udf.job(params)`); runs as the UDF with them. */
export interface UdfJobLike {
  /** The UDF. */
  udf: Udf;
  /** Its parameters. */
  parameters: Record<string, unknown>;
}

/** What `run` takes as the UDF, as fused-py: a Udf, a name/path/URL/token, a token, a job. */
export type RunTarget = Udf | string | AccessTokenLike | UdfJobLike;

/**
 * The Udf or string a target runs, and the parameters it brings (a job's). `submit` takes the
 * same targets.
 */
export function unwrapTarget(
  target: RunTarget,
): { udf: Udf | string; parameters: Record<string, unknown> } {
  if (typeof target === "string" || target instanceof Udf) return { udf: target, parameters: {} };
  const t = target as unknown as Record<string, unknown>;
  if (t?.udf instanceof Udf && t.parameters !== null && typeof t.parameters === "object") {
    return { udf: t.udf, parameters: t.parameters as Record<string, unknown> };
  }
  if (typeof t?.token === "string") return { udf: t.token, parameters: {} };
  throw new ValidationError(
    `Cannot run ${
      t === null ? "null" : typeof t
    }: give a Udf, a name, path or URL, a share token (or its object), or udf.job(params)`,
  );
}

const RUN_OPTION_KEYS = new Set([
  "engine",
  "parameters",
  "x",
  "y",
  "z",
  "cacheMaxAge",
  "cache",
  "maxRetry",
  "verbose",
  "signal",
  "runTimeout",
  "allowNet",
  "instanceType",
  "caller",
  "type",
  "sync",
  "ignoreUnknownArguments",
]);

/**
 * fused-py's underscore run options: the TypeScript option each one is, or what to use instead.
 * They are never UDF parameters, as in fused-py.
 */
const UNDERSCORE_OPTIONS: Readonly<Record<string, { option: keyof RunOptions } | { use: string }>> =
  {
    _ignore_unknown_arguments: { option: "ignoreUnknownArguments" },
    _return_response: { use: "call fused.runDetailed(udf, options), which returns the response" },
    _dtype_out_vector: { use: "set fused.options.defaultDtypeOutVector" },
    _dtype_out_raster: { use: "set fused.options.defaultDtypeOutRaster" },
    _cancel_callback: { use: "pass signal: an AbortSignal (new AbortController().signal)" },
    _client_id: { use: "set fused.options.realtimeClientId" },
  };

/** A fused-py underscore option as its TypeScript option, or the error that names the spelling. */
function underscoreOption(key: string): keyof RunOptions {
  const row = UNDERSCORE_OPTIONS[key];
  if ("option" in row) return row.option;
  throw new NotSupportedError(`fused-py's ${key} is not a run option here: ${row.use}`);
}

function splitOptions(all: RunOptions & Record<string, unknown>): {
  opts: RunOptions;
  parameters: Record<string, unknown>;
} {
  const opts: Record<string, unknown> = {};
  const parameters: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(all)) {
    if (RUN_OPTION_KEYS.has(key)) opts[key] = value;
    else if (Object.hasOwn(UNDERSCORE_OPTIONS, key)) opts[underscoreOption(key)] ??= value;
    else if (value !== undefined) parameters[key] = value;
  }
  return { opts: opts as RunOptions, parameters: { ...parameters, ...(all.parameters ?? {}) } };
}

function tileOf(opts: RunOptions): Tile | undefined {
  const given = [opts.x, opts.y, opts.z].filter((v) => v !== undefined).length;
  if (opts.type !== undefined && opts.type !== "tile" && opts.type !== "file") {
    throw new ValidationError(`Unknown run type "${opts.type}": use "tile" or "file"`);
  }
  if (opts.type === "tile" && given === 0) {
    throw new ValidationError('A run of type "tile" needs x, y and z');
  }
  if (opts.type === "file" && given > 0) {
    throw new ValidationError('A run of type "file" takes no x, y or z: leave them out');
  }
  if (given === 0) return undefined;
  if (given !== 3) {
    throw new ValidationError("A tile run needs all of x, y and z (or none of them)");
  }
  return { x: opts.x!, y: opts.y!, z: opts.z! };
}

/**
 * The cache age of a run of `udf` in seconds (0 disables caching): `cache: false`, else
 * `cacheMaxAge`, else the UDF's own (90 days by default) when `options.localEngineCache` is on.
 * Hosts that run a saved UDF for a UDF's `fused.run("name")` use it too.
 *
 * @example
 * ```ts
 * import { effectiveMaxAge } from "./run.ts";
 * import { udf } from "./udf.ts";
 * const hello = udf("export default () => 1");
 * console.log(effectiveMaxAge(hello, { cacheMaxAge: "10m" })); // 600
 * ```
 */
export function effectiveMaxAge(udf: Udf, opts: Pick<RunOptions, "cache" | "cacheMaxAge">): number {
  if (opts.cache === false) {
    if (opts.cacheMaxAge !== undefined && parseCacheMaxAge(opts.cacheMaxAge) !== 0) {
      throw new ValidationError("Give either cache: false or cacheMaxAge, not both");
    }
    return 0;
  }
  if (opts.cacheMaxAge !== undefined) return parseCacheMaxAge(opts.cacheMaxAge);
  if (!fusedOptions.localEngineCache) return 0;
  return udf.cacheMaxAge ?? DEFAULT_UDF_CACHE_MAX_AGE;
}

/** The cache age the caller chose, if any: a saved name or token leaves the rest to its host. */
function chosenMaxAge(opts: RunOptions): number | undefined {
  if (opts.cache === false) return 0;
  return opts.cacheMaxAge === undefined ? undefined : parseCacheMaxAge(opts.cacheMaxAge);
}

function printLogs(logs: UdfLogs): void {
  if (logs.stdout) console.log(logs.stdout.replace(/\n$/, ""));
  if (logs.stderr) console.error(logs.stderr.replace(/\n$/, ""));
}

function isRetryable(err: unknown): boolean {
  return !(err instanceof UdfRuntimeError || err instanceof ValidationError ||
    err instanceof UdfCancelledError);
}

/** The UDF's parameters, read from its code by the local engine. */
export async function describeUdf(udf: Udf): Promise<UdfSignatureLike> {
  const engine = engineFor("local");
  if (!engine.describe) {
    throw new FusedError("The installed local engine cannot read a UDF's parameters");
  }
  return await engine.describe(udf);
}

/**
 * The local row: runs on `engine` (the sandboxed executor) behind Fused's run cache, keyed on the
 * UDF's version, the parameters, the tile and the network grant, with a cross-process lock so
 * that concurrent callers compute a result once.
 *
 * @example
 * ```ts ignore
 * import { defaultEngine } from "../engine/mod.ts";
 * installEngine("local", cachingLocalEngine(defaultEngine()));
 * ```
 */
export function cachingLocalEngine(engine: LocalEngineLike): UdfEngine {
  return {
    describe: (udf) => engine.describe(udf),
    run: (target, call) => {
      if (typeof target === "string") {
        throw new FusedError("The local engine runs Udf objects: load the UDF first");
      }
      return runCached(engine, target, call);
    },
  };
}

async function runCached(
  engine: LocalEngineLike,
  udf: Udf,
  call: EngineCall,
): Promise<RunResponse> {
  const { parameters, tile } = call;
  const maxAge = call.cacheMaxAge ?? 0;
  const started = performance.now();
  const request: EngineRunRequest = {
    udf,
    parameters,
    tile,
    signal: call.signal,
    timeoutMs: call.timeoutMs,
    allowNet: call.allowNet,
    caller: call.caller,
  };
  const respond = (entry: { value: UdfResult; logs: UdfLogs }, cached: boolean): RunResponse => ({
    data: entry.value,
    udf,
    logs: entry.logs,
    cached,
    timeTakenMs: performance.now() - started,
  });
  const compute = async () => {
    const { value, logs } = await engine.run(request);
    return { value, logs };
  };
  if (maxAge === 0) return respond(await compute(), false);
  const key = cacheKey([
    udf.version,
    canonicalJson(parameters),
    tile ?? null,
    call.allowNet ?? false,
    // Another caller (a user of the service) never gets this caller's results.
    ...(call.caller ? [call.caller.id] : []),
  ]);
  const folder = udfCacheFolder(udf.name);
  const read = async () => {
    const hit = await readCache(key, { folder, maxAgeSeconds: maxAge });
    return hit.hit ? hit.value as { value: UdfResult; logs: UdfLogs } : undefined;
  };
  const cached = await read();
  if (cached) return respond(cached, true);
  return await withCacheLock(
    key,
    { folder, timeoutMs: fusedOptions.runTimeout * 1000 },
    async () => {
      // Another process may have computed it while we waited for the lock.
      const again = await read();
      if (again) return respond(again, true);
      const entry = await compute();
      await writeCache(key, entry, { folder });
      return respond(entry, false);
    },
  );
}

/** Which row of the table a run goes to, and the call it gets. */
function route(
  target: Udf | string,
  opts: RunOptions,
  parameters: Record<string, unknown>,
  engine: "local" | "remote",
): { row: EngineName; call: EngineCall } {
  const timeoutMs = opts.runTimeout ?? fusedOptions.runTimeout * 1000;
  const tile = tileOf(opts);
  const batch = opts.engine === "local" ? undefined : batchType(target, opts, engine);
  if (batch) {
    return { row: "batch", call: { parameters, signal: opts.signal, instanceType: batch } };
  }
  if (engine === "local" && opts.instanceType && opts.instanceType !== "realtime") {
    throw new ValidationError(
      `instanceType "${opts.instanceType}" runs as a batch job on the service: use engine: "remote"`,
    );
  }
  const call: EngineCall = {
    parameters,
    tile,
    signal: opts.signal,
    timeoutMs,
    allowNet: opts.allowNet,
    instanceType: opts.instanceType,
    cacheMaxAge: typeof target === "string" ? chosenMaxAge(opts) : effectiveMaxAge(target, opts),
    caller: opts.caller,
  };
  return { row: engine, call };
}

/**
 * Runs a UDF and returns the full response: data, logs, whether it was cached, and timing.
 * Same options as `run`.
 */
export async function runDetailed(
  runTarget: RunTarget,
  options: RunOptions & Record<string, unknown> = {},
): Promise<RunResponse> {
  const { udf, parameters: jobParameters } = unwrapTarget(runTarget);
  const { opts, parameters: given } = splitOptions(options);
  if (opts.sync !== undefined && typeof opts.sync !== "boolean") {
    throw new ValidationError(`sync must be true or false, got ${JSON.stringify(opts.sync)}`);
  }
  let parameters = { ...jobParameters, ...given };
  const engine = opts.engine ?? fusedOptions.defaultUdfRunEngine;
  if (engine !== "local" && engine !== "remote") {
    throw new ValidationError(`Unknown engine "${engine}": use "local" or "remote"`);
  }
  const maxRetry = opts.maxRetry ?? 0;
  if (!Number.isInteger(maxRetry) || maxRetry < 0) {
    throw new ValidationError(`maxRetry must be a whole number 0 or more, got ${maxRetry}`);
  }
  const verbose = opts.verbose ?? fusedOptions.verboseUdfRuns;
  let target: Udf | string = udf;
  // Inside a UDF a saved name or token goes to the host as it is: the host finds it as the
  // caller may (a token's code is not the caller's to read, only to run).
  const byName = typeof udf === "string" && udfHost() !== undefined && isSavedReference(udf);
  // Code is code on every engine: a remote run must not look it up as a saved name.
  if (typeof udf === "string" && (isUdfCode(udf) || (engine === "local" && !byName))) {
    target = await load(udf);
  }
  if (opts.ignoreUnknownArguments) {
    const signature = await describeUdf(typeof target === "string" ? await load(target) : target);
    if (!(signature as { hasRest?: boolean }).hasRest) {
      const known = new Set(signature.parameters.map((p) => p.name));
      parameters = Object.fromEntries(Object.entries(parameters).filter(([k]) => known.has(k)));
    }
  }
  for (let attempt = 0;; attempt++) {
    try {
      opts.signal?.throwIfAborted();
      const { row, call } = route(target, opts, parameters, engine);
      const response = await engineFor(row).run(target, call);
      if (verbose) {
        // Information, not a warning: stdout, so notebooks do not show it in red.
        if (response.cached) console.log("Cached UDF result returned.");
        printLogs(response.logs);
      }
      return response;
    } catch (err) {
      if (err instanceof UdfRuntimeError && opts.verbose !== false) {
        // Fused prints the UDF's output on error unless told to be quiet.
        printLogs(err.logs);
      }
      if (attempt >= maxRetry || !isRetryable(err) || opts.signal?.aborted) throw err;
      const delay = fusedOptions.requestRetryBaseDelay * 1000 * 2 ** attempt;
      console.error(
        `UDF execution failed, retrying in ${delay / 1000} seconds (error: ${
          (err as Error).message
        })`,
      );
      await sleep(delay, opts.signal);
    }
  }
}

/**
 * Runs a UDF and returns its result: an Arrow table, a Raster, JSON, a string, or bytes.
 *
 * @example
 * ```ts ignore
 * import * as fused from "fused";
 * const hello = fused.udf(`export default function udf({ n = 1 }) { return n * 2 }`);
 * console.log(await fused.run(hello, { n: 21 })); // 42
 * ```
 */
export async function run(
  udf: RunTarget,
  options: RunOptions & Record<string, unknown> = {},
): Promise<UdfResult> {
  return (await runDetailed(udf, options)).data;
}
