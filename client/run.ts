/**
 * `fused.run`: runs a UDF on the local engine (sandboxed Workers) or on a service, with Fused's
 * caching, retry and logging rules. The engines plug in here (`setLocalEngine`,
 * `setRemoteRunner`), so this module depends on neither `engine/` nor the HTTP client.
 *
 * @module
 */
import { DEFAULT_UDF_CACHE_MAX_AGE, parseCacheMaxAge } from "./cache_max_age.ts";
import { cacheKey, readCache, withCacheLock, writeCache } from "./cache.ts";
import {
  FusedError,
  UdfCancelledError,
  type UdfLogs,
  UdfRuntimeError,
  ValidationError,
} from "./errors.ts";
import type { UdfResult } from "./formats/mod.ts";
import { load } from "./load.ts";
import { options as fusedOptions } from "./options.ts";
import { canonicalJson, type Udf, udfCacheFolder } from "./udf.ts";

/** A tile of the XYZ (Google, y down) scheme. */
export interface Tile {
  /** Column. */
  x: number;
  /** Row. */
  y: number;
  /** Zoom. */
  z: number;
}

/** What an engine is asked to run. */
export interface EngineRunRequest {
  /** The UDF. */
  udf: Udf;
  /** Parameters; strings are coerced by the UDF's schema or defaults. */
  parameters: Record<string, unknown>;
  /** A tile run: the UDF receives `bounds`. */
  tile?: Tile;
  /** Cancels the run. */
  signal?: AbortSignal;
  /** Stops a run that takes longer (milliseconds). */
  timeoutMs?: number;
  /** Network access for the UDF: false (default), true, or a list of hosts. */
  allowNet?: boolean | string[];
}

/** What an engine returns. */
export interface EngineRunResult {
  /** The UDF's return value, decoded. */
  value: UdfResult;
  /** Output the UDF wrote. */
  logs: UdfLogs;
  /** Time the run took in the engine, in milliseconds. */
  timeMs: number;
}

/** A UDF's parameters as the engine reads them from its code. */
export interface UdfSignatureLike {
  /** Parameters in declaration order. */
  parameters: { name: string; default?: unknown; type?: string; description?: string }[];
}

/** The local engine as `run` needs it (implemented by `engine/`'s `LocalEngine`). */
export interface LocalEngineLike {
  /** Runs a UDF once. */
  run(request: EngineRunRequest): Promise<EngineRunResult>;
  /** Reads the UDF's parameters from its code. */
  describe(udf: Udf): Promise<UdfSignatureLike>;
}

/** Runs a UDF (or a saved UDF name or token) on a service; installed by the API client. */
export type RemoteRunner = (
  udf: Udf | string,
  request: Omit<EngineRunRequest, "udf"> & {
    cacheMaxAge?: number;
    instanceType?: string;
  },
) => Promise<RunResponse>;

/** Runs a UDF as a batch job on a service and waits for its result; installed by the API client. */
export type BatchRunner = (
  udf: Udf | string,
  request: { instanceType: string; parameters: Record<string, unknown>; signal?: AbortSignal },
) => Promise<RunResponse>;

let localEngine: LocalEngineLike | undefined;
let remoteRunner: RemoteRunner | undefined;
let batchRunner: BatchRunner | undefined;

/** Installs the batch runner (the API client does this). */
export function setBatchRunner(runner: BatchRunner | undefined): void {
  batchRunner = runner;
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

/** Installs the local engine (`fused` does this with `engine/`'s default engine). */
export function setLocalEngine(engine: LocalEngineLike | undefined): void {
  localEngine = engine;
}

/** Installs the remote runner (the API client does this). */
export function setRemoteRunner(runner: RemoteRunner | undefined): void {
  remoteRunner = runner;
}

/** Options of `run`. Any other key is a UDF parameter (`run(udf, { n: 3 })`). */
export interface RunOptions {
  /** "local" (sandboxed Workers here) or "remote" (the service); default `options.defaultUdfRunEngine`. */
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
}

/** The full answer of a run, as Fused's `_return_response=True`. */
export interface RunResponse {
  /** The result. */
  data: UdfResult;
  /** The UDF that ran; null for a run by share token, whose code the caller cannot see. */
  udf: Udf | null;
  /** Output the UDF wrote. */
  logs: UdfLogs;
  /** Whether the result came from the cache. */
  cached: boolean;
  /** Wall time of the run, in milliseconds. */
  timeTakenMs: number;
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
]);

function splitOptions(all: RunOptions & Record<string, unknown>): {
  opts: RunOptions;
  parameters: Record<string, unknown>;
} {
  const opts: Record<string, unknown> = {};
  const parameters: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(all)) {
    if (RUN_OPTION_KEYS.has(key)) opts[key] = value;
    else if (value !== undefined) parameters[key] = value;
  }
  return { opts: opts as RunOptions, parameters: { ...parameters, ...(all.parameters ?? {}) } };
}

function tileOf(opts: RunOptions): Tile | undefined {
  const given = [opts.x, opts.y, opts.z].filter((v) => v !== undefined).length;
  if (given === 0) return undefined;
  if (given !== 3) {
    throw new ValidationError("A tile run needs all of x, y and z (or none of them)");
  }
  return { x: opts.x!, y: opts.y!, z: opts.z! };
}

/** The cache age of a run in seconds: 0 disables caching. */
function effectiveMaxAge(udf: Udf, opts: RunOptions): number {
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

function printLogs(logs: UdfLogs): void {
  if (logs.stdout) console.log(logs.stdout.replace(/\n$/, ""));
  if (logs.stderr) console.error(logs.stderr.replace(/\n$/, ""));
}

function isRetryable(err: unknown): boolean {
  return !(err instanceof UdfRuntimeError || err instanceof ValidationError ||
    err instanceof UdfCancelledError);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}

/** The UDF's parameters, read from its code by the local engine. */
export async function describeUdf(udf: Udf): Promise<UdfSignatureLike> {
  if (!localEngine) {
    throw new FusedError(
      'Reading a UDF\'s parameters needs the local engine: import "fused" (mod.ts) first',
    );
  }
  return await localEngine.describe(udf);
}

async function runLocal(
  udf: Udf,
  parameters: Record<string, unknown>,
  opts: RunOptions,
): Promise<RunResponse> {
  if (!localEngine) {
    throw new FusedError(
      'No local engine is installed: import "fused" (mod.ts), or call setLocalEngine(defaultEngine()) from engine/mod.ts',
    );
  }
  const engine = localEngine;
  const tile = tileOf(opts);
  const maxAge = effectiveMaxAge(udf, opts);
  const started = performance.now();
  const request: EngineRunRequest = {
    udf,
    parameters,
    tile,
    signal: opts.signal,
    timeoutMs: opts.runTimeout ?? fusedOptions.runTimeout * 1000,
    allowNet: opts.allowNet,
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
    opts.allowNet ?? false,
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

/**
 * Runs a UDF and returns the full response: data, logs, whether it was cached, and timing.
 * Same options as `run`.
 */
export async function runDetailed(
  udf: Udf | string,
  options: RunOptions & Record<string, unknown> = {},
): Promise<RunResponse> {
  const { opts, parameters } = splitOptions(options);
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
  if (engine === "local" && typeof udf === "string") target = await load(udf);
  for (let attempt = 0;; attempt++) {
    try {
      opts.signal?.throwIfAborted();
      let response: RunResponse;
      const batch = opts.engine === "local" ? undefined : batchType(target, opts, engine);
      if (batch) {
        if (!batchRunner) {
          throw new FusedError(
            'Batch runs need the API client: import "fused" (mod.ts) so it is installed',
          );
        }
        response = await batchRunner(target, {
          instanceType: batch,
          parameters,
          signal: opts.signal,
        });
      } else if (engine === "remote") {
        if (!remoteRunner) {
          throw new FusedError(
            'The remote engine needs the API client: import "fused" (mod.ts) so it is installed',
          );
        }
        const maxAge = typeof target === "string" ? undefined : effectiveMaxAge(target, opts);
        response = await remoteRunner(target, {
          parameters,
          tile: tileOf(opts),
          signal: opts.signal,
          timeoutMs: opts.runTimeout ?? fusedOptions.runTimeout * 1000,
          cacheMaxAge: maxAge,
          instanceType: opts.instanceType,
        });
      } else {
        if (opts.instanceType && opts.instanceType !== "realtime") {
          throw new ValidationError(
            `instanceType "${opts.instanceType}" runs as a batch job on the service: use engine: "remote"`,
          );
        }
        response = await runLocal(target as Udf, parameters, opts);
      }
      if (verbose) {
        if (response.cached) console.error("Cached UDF result returned.");
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
  udf: Udf | string,
  options: RunOptions & Record<string, unknown> = {},
): Promise<UdfResult> {
  return (await runDetailed(udf, options)).data;
}
