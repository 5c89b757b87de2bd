/**
 * `fused.submit`: one UDF over many arguments, as a live `JobPool` or collected into one table.
 *
 * @module
 */
import type * as arrow from "apache-arrow";
import { parseCacheMaxAge } from "./cache_max_age.ts";
import { cacheKey, readCache, writeCache } from "./cache.ts";
import { ValidationError } from "./errors.ts";
import { isTable, type UdfResult } from "./formats/mod.ts";
import { JobPool } from "./job_pool.ts";
import { load } from "./load.ts";
import { options as fusedOptions } from "./options.ts";
import { describeUdf, runDetailed, type RunOptions, type RunTarget, unwrapTarget } from "./run.ts";
import { canonicalJson, Udf, udf as makeUdf } from "./udf.ts";

/** Default age of collected submit results: 12 hours, as Fused. */
const DEFAULT_SUBMIT_CACHE_MAX_AGE = 12 * 3600;

/** Options of `submit`; any other key is a constant UDF parameter for every run. */
export interface SubmitOptions {
  /** "local" or "remote"; default `options.defaultUdfRunEngine`. */
  engine?: "local" | "remote";
  /** Runs at once (default 32 remote, the CPU count local). */
  maxWorkers?: number;
  /** Retries per run after failures that are not the UDF's own error (default 2). */
  maxRetry?: number;
  /** Runs only the first argument, straight through `run`, and returns its result. */
  debugMode?: boolean;
  /** Wait and return one table (default true), or return the live JobPool. */
  collect?: boolean;
  /** Cache age of each run and of the collected table (`"12h"` default for the table). */
  cacheMaxAge?: string | number;
  /** `false` disables caching. */
  cache?: boolean;
  /** Collect the successful runs and drop the failed ones instead of throwing. */
  ignoreExceptions?: boolean;
  /** Concatenate table results (default true); false gives one row per run. */
  flatten?: boolean;
  /** Cancels every run. */
  signal?: AbortSignal;
  /** Network access for local runs. */
  allowNet?: boolean | string[];
  /** Instance type of each run: "realtime", or a batch type to run each as a batch job. */
  instanceType?: string;
  /**
   * fused-py's `execution_type`, "thread_pool" or "async_loop": both are the one pool of async
   * runs here (runs wait on their engine, not on a thread), so either gives the same pool.
   */
  executionType?: "thread_pool" | "async_loop";
}

const SUBMIT_KEYS = new Set([
  "engine",
  "maxWorkers",
  "maxRetry",
  "debugMode",
  "collect",
  "cacheMaxAge",
  "cache",
  "ignoreExceptions",
  "flatten",
  "signal",
  "allowNet",
  "instanceType",
  "executionType",
]);

/** What `submit` runs over: a list, any other iterable (a generator, a Set), or an Arrow table. */
export type SubmitArgs = Iterable<unknown> | arrow.Table;

async function toArgList(
  target: Udf,
  given: SubmitArgs,
): Promise<Record<string, unknown>[]> {
  if (isTable(given)) {
    const table = given as arrow.Table;
    return table.toArray().map((row) => ({ ...row.toJSON() }));
  }
  const iterable = given !== null && typeof given === "object" &&
    typeof (given as Iterable<unknown>)[Symbol.iterator] === "function";
  if (!iterable) {
    throw new ValidationError(
      "submit needs arguments: a list or other iterable of values for the first parameter or of objects, or an Arrow table",
    );
  }
  const argList = Array.from(given as Iterable<unknown>);
  if (argList.length === 0) throw new ValidationError("submit needs at least one argument");
  if (argList.every((a) => a !== null && typeof a === "object" && !Array.isArray(a))) {
    return argList as Record<string, unknown>[];
  }
  const signature = await describeUdf(target);
  const first = signature?.parameters[0]?.name;
  if (!first) {
    throw new ValidationError(
      `Cannot tell which parameter the values are for: UDF "${target.name}" has no named parameters; pass objects such as [{ n: 1 }]`,
    );
  }
  return argList.map((value) => ({ [first]: value }));
}

/**
 * Runs a UDF (a Udf, a function, a name, a share token or its object, `udf.job(params)`) once
 * per argument of a list or any iterable. Returns one table (`collect`, the default) or the live
 * `JobPool` (`collect: false`).
 *
 * @example
 * ```ts ignore
 * import * as fused from "fused";
 * const square = fused.udf(`export default ({ n = 0 }) => ({ n, square: n * n })`);
 * const table = await fused.submit(square, [1, 2, 3]);
 * ```
 */
export async function submit(
  udf: RunTarget | ((...args: never[]) => unknown),
  argList: SubmitArgs,
  options: SubmitOptions & { collect: false } & Record<string, unknown>,
): Promise<JobPool>;
/** With `collect` (the default): waits and returns one table (or, with `debugMode`, one result). */
export async function submit(
  udf: RunTarget | ((...args: never[]) => unknown),
  argList: SubmitArgs,
  options?: SubmitOptions & Record<string, unknown>,
): Promise<arrow.Table | UdfResult>;
export async function submit(
  udf: RunTarget | ((...args: never[]) => unknown),
  argList: SubmitArgs,
  options: SubmitOptions & Record<string, unknown> = {},
): Promise<JobPool | arrow.Table | UdfResult> {
  const { udf: given, parameters: jobParameters } = typeof udf === "function"
    ? { udf: makeUdf(udf), parameters: {} }
    : unwrapTarget(udf);
  const target = given instanceof Udf ? given : await load(given);
  // A job's parameters hold for every run, under the ones given here.
  const constants: Record<string, unknown> = { ...jobParameters };
  const opts: SubmitOptions = {};
  for (const [key, value] of Object.entries(options)) {
    if (SUBMIT_KEYS.has(key)) (opts as Record<string, unknown>)[key] = value;
    else constants[key] = value;
  }
  const engine = opts.engine ?? fusedOptions.defaultUdfRunEngine;
  if (
    opts.executionType !== undefined && !["thread_pool", "async_loop"].includes(opts.executionType)
  ) {
    throw new ValidationError(
      `Unknown executionType "${opts.executionType}": use "thread_pool" or "async_loop"`,
    );
  }
  const args = await toArgList(target, argList);
  const runOptions: RunOptions = {
    engine,
    cacheMaxAge: opts.cacheMaxAge,
    cache: opts.cache,
    allowNet: opts.allowNet,
    instanceType: opts.instanceType,
    verbose: false,
  };
  if (opts.debugMode) {
    return (await runDetailed(target, { ...runOptions, ...constants, ...args[0], verbose: true }))
      .data;
  }
  const maxWorkers = opts.maxWorkers ??
    (engine === "remote" ? 32 : navigator.hardwareConcurrency);
  const startPool = () =>
    new JobPool(
      (taskArgs, signal) =>
        runDetailed(target, { ...runOptions, ...constants, ...taskArgs, signal, maxRetry: 0 }),
      args,
      {
        maxWorkers,
        maxRetry: opts.maxRetry ?? 2,
        retryBaseDelayMs: fusedOptions.requestRetryBaseDelay * 1000,
      },
    );
  if (opts.collect === false) {
    const pool = startPool();
    opts.signal?.addEventListener("abort", () => pool.cancel(), { once: true });
    return pool;
  }
  const maxAge = opts.cache === false
    ? 0
    : opts.cacheMaxAge !== undefined
    ? parseCacheMaxAge(opts.cacheMaxAge)
    : target.cacheMaxAge ?? DEFAULT_SUBMIT_CACHE_MAX_AGE;
  const folder = `submit-${target.name}`;
  const key = cacheKey([
    target.version,
    canonicalJson(args),
    canonicalJson(constants),
    opts.ignoreExceptions ?? false,
    opts.flatten ?? true,
  ]);
  if (maxAge > 0) {
    const hit = await readCache(key, { folder, maxAgeSeconds: maxAge });
    if (hit.hit) return hit.value as arrow.Table;
  }
  const pool = startPool();
  opts.signal?.addEventListener("abort", () => pool.cancel(), { once: true });
  const table = await pool.collect({
    ignoreExceptions: opts.ignoreExceptions,
    flatten: opts.flatten,
  });
  if (maxAge > 0 && pool.allSucceeded()) await writeCache(key, table, { folder });
  return table;
}
