/**
 * Runs UDFs for the HTTP routes: calls the injected runner, encodes the result in the format the
 * caller asked for, puts logs and errors in `x-fused-metadata` (never in the body), keeps encoded
 * results in a bounded in-memory cache, and tracks polled runs (`/run/udf/start` → 202 →
 * `/run/udf/get/{run_id}`).
 *
 * @module
 */
import { createHash } from "node:crypto";
import {
  FusedError,
  NotSupportedError,
  QuotaExceededError,
  UdfCancelledError,
  UdfRuntimeError,
  UdfTimeoutError,
  ValidationError,
} from "../client/errors.ts";
import { canonicalJson, type Udf } from "../client/udf.ts";
import { describeThrown, redactPaths } from "./_http.ts";
import type { SharedPolledRuns } from "./polled_runs.ts";
import type { SharedRunCache } from "./shared_run_cache.ts";
import { type Deadline, Deadlines } from "../engine/_deadlines.ts";
import type { RunResponse, Tile } from "../client/engine_types.ts";
import { type EncodedResult, encodeResult, type ResultFormat } from "../client/formats/result.ts";
import { UnsupportedResultError } from "../client/formats/errors.ts";
import { isGeoJson, type UdfResult } from "../client/formats/types.ts";

/** Options the service passes to the runner (a subset of `runDetailed`'s, decided). */
export interface UdfRunnerOptions {
  /** Always "local": the service runs UDFs on this machine. */
  engine: "local";
  /** Parameters as raw strings; the engine coerces them. */
  parameters: Record<string, unknown>;
  /** Tile column. */
  x?: number;
  /** Tile row. */
  y?: number;
  /** Tile zoom. */
  z?: number;
  /** Cache age in seconds (0 disables). */
  cacheMaxAge?: number;
  /** False disables the cache. */
  cache?: boolean;
  /** Cancels the run. */
  signal?: AbortSignal;
  /** Stops the run after this many milliseconds. */
  runTimeout?: number;
  /** Never print the UDF's output on the server's console. */
  verbose?: boolean;
  /** The user the run acts as (its UDF's SDK calls are made as that user). */
  callerId?: string;
}

/**
 * What runs a UDF: the local engine row of client/run.ts (`localRunner`), or any function that
 * runs as `runDetailed` with these options would. `pin`, when the runner has it, installs and
 * pins the npm packages of a UDF about to be saved, as its user.
 */
export type UdfRunner = ((udf: Udf, options: UdfRunnerOptions) => Promise<RunResponse>) & {
  pin?(udf: Udf, callerId: string): Promise<void>;
};

/** One run to execute. */
export interface RunSpec {
  /** The UDF. */
  udf: Udf;
  /** Registry id of a saved UDF (for cache invalidation), else null. */
  udfId: string | null;
  /** Parameters as raw strings. */
  parameters: Record<string, string>;
  /** A tile run. */
  tile?: Tile;
  /** Requested formats, first applicable wins (`"npy,tiff,parquet,json"`), or one format. */
  format: string;
  /** Cache age in seconds; 0 disables both the result cache and the runner's cache. */
  cacheMaxAge: number;
  /**
   * The client's abort signal, asked for only if the run is still going `CANCEL_AFTER_MS` after
   * it started; from then on, the client going away cancels the run.
   */
  clientSignal?: () => AbortSignal;
  /** The user the run acts as: the requester, or a share token's owner. */
  callerId?: string;
}

/** An answer ready to send: status, body, headers. */
export interface RunAnswer {
  /** HTTP status. */
  status: number;
  /** Body bytes. */
  body: Uint8Array;
  /** Headers (content-type, x-fused-metadata, x-fused-cached, etag). */
  headers: Record<string, string>;
}

/** Options of the run service. */
export interface RunServiceOptions {
  /** Longest run in milliseconds; a longer one is stopped and answered with 504. */
  runTimeoutMs: number;
  /** How long `/start` waits for a result before answering 202 (ms). */
  startWaitMs?: number;
  /** How long a poll waits for the result before answering 202 again (ms). */
  pollWaitMs?: number;
  /** Memory for cached encoded results, in bytes. */
  cacheBytes?: number;
  /** Most polled runs kept at once (pending or finished, not yet collected). */
  maxPolledRuns?: number;
  /** Where polled runs are shared with the platform's other services (scale-out). */
  shared?: SharedPolledRuns;
  /** The platform's run cache on its bucket, behind the memory cache (scale-out). */
  sharedCache?: SharedRunCache;
}

/** Formats the service answers with when the caller names none (Fused's default order). */
export const DEFAULT_FORMAT = "npy,tiff,parquet,json";

/** Formats a caller may name (`tif` is read as `tiff`). */
export const KNOWN_FORMATS: readonly string[] = [
  "parquet",
  "arrow",
  "json",
  "geojson",
  "csv",
  "html",
  "png",
  "tiff",
  "npy",
  "zip",
  "mvt",
];

const KNOWN_FORMAT_SET: ReadonlySet<string> = new Set([...KNOWN_FORMATS, DEFAULT_FORMAT]);

/**
 * Normalizes a format list (`"npy,tiff,parquet,json"`, `"PNG"`, `"tif"`); throws a
 * ValidationError naming an unknown format.
 */
export function normalizeFormat(format: string): string {
  if (KNOWN_FORMAT_SET.has(format)) return format; // the common case: one format, as spelled here
  const names = format.split(",").map((f) => f.trim().toLowerCase()).filter((f) => f !== "")
    .map((f) => (f === "tif" ? "tiff" : f));
  if (names.length === 0) return DEFAULT_FORMAT;
  for (const name of names) {
    if (!KNOWN_FORMATS.includes(name)) {
      throw new ValidationError(
        `Unknown format "${name}": use one of ${
          KNOWN_FORMATS.join(", ")
        } (or a comma-separated list, first applicable wins)`,
      );
    }
  }
  return names.join(",");
}

/**
 * Encodes a result in the first format of the list that fits its kind (Fused's rule for
 * `format=npy,tiff,parquet,json`); a single format is used as is, so a mismatch is reported.
 */
export async function encodeForFormats(value: UdfResult, format: string): Promise<EncodedResult> {
  const names = format.split(",") as ResultFormat[];
  if (names.length === 1) return await encodeResult(value, { format: names[0] });
  // A string answers as text/html or text/plain (as Fused does for HTML), not as a JSON string.
  if (typeof value === "string") return await encodeResult(value);
  // A GeoJSON object keeps its own form (json or geojson) when the list offers one, so a default
  // run (npy,tiff,parquet,json) gives back the object the UDF returned, not a table of it.
  const ownForm = isGeoJson(value) && names.some((n) => n === "json" || n === "geojson");
  for (const name of names) {
    if (ownForm && name !== "json" && name !== "geojson") continue;
    try {
      return await encodeResult(value, { format: name });
    } catch (err) {
      // encodeResult refuses a format that does not fit the kind of value: try the next one.
      if (err instanceof ValidationError && /^Cannot encode a /.test(err.message)) continue;
      if (err instanceof NotSupportedError) continue;
      throw err;
    }
  }
  return await encodeResult(value);
}

/** Query keys that steer a run and are not UDF parameters. */
export const RESERVED_KEYS = new Set([
  "format",
  "cache_max_age",
  "profile",
  "dtype_out_vector",
  "dtype_out_raster",
  "_include_log",
  "client_id",
  "step_config",
]);

const LOG_HEADER_LIMIT = 32 * 1024;
const encoder = new TextEncoder();

/** Keeps the tail of a long log so the header stays within proxies' limits. */
function clip(text: string): string {
  if (text.length <= LOG_HEADER_LIMIT) return text;
  return `[... ${text.length - LOG_HEADER_LIMIT} characters cut]\n${text.slice(-LOG_HEADER_LIMIT)}`;
}

/** JSON for a header value: header values must be ASCII, so other characters become \uXXXX. */
export function headerJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u007f-\uffff]/g,
    (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** The `x-fused-metadata` header of a run. */
export function fusedMetadata(fields: {
  stdout: string;
  stderr: string;
  timeTakenMs: number;
  bounds?: readonly number[];
  error?: { exceptionClass: string; message: string; lineno?: number; errorType: string };
}): string {
  const error = fields.error;
  return headerJson({
    stdout: clip(fields.stdout),
    stderr: clip(fields.stderr),
    exception_class: error?.exceptionClass ?? null,
    has_exception: error !== undefined,
    lineno: error?.lineno ?? null,
    errormsg: error?.message ?? null,
    exception: error ? `${error.exceptionClass}: ${error.message}` : null,
    error_type: error?.errorType ?? null,
    time_taken_ms: Math.round(fields.timeTakenMs * 1000) / 1000,
    ...(fields.bounds ? { bounds: fields.bounds } : {}),
  });
}

/** A strong ETag of a body. */
export function etagOf(body: Uint8Array): string {
  return `"${createHash("sha256").update(body).digest("base64url").slice(0, 32)}"`;
}

function jsonAnswer(status: number, detail: string, headers: Record<string, string>): RunAnswer {
  return {
    status,
    body: encoder.encode(JSON.stringify({ detail: redactPaths(detail) })),
    headers: { "content-type": "application/json", ...headers },
  };
}

/**
 * Maps a run failure to its answer: 422 UDF error, 504 timeout, 400 bad input, 501, 500. Any
 * thrown value is described in words, and the service's own folders are hidden in the text.
 */
export function failureAnswer(err: unknown, udfName: string, timeTakenMs: number): RunAnswer {
  const meta = (
    errorType: string,
    exceptionClass: string,
    message: string,
    lineno?: number,
    logs?: {
      stdout: string;
      stderr: string;
    },
  ) => ({
    "x-fused-metadata": fusedMetadata({
      stdout: logs?.stdout ?? "",
      stderr: logs?.stderr ?? "",
      timeTakenMs,
      error: { exceptionClass, message: redactPaths(message), lineno, errorType },
    }),
  });
  if (err instanceof UdfRuntimeError) {
    // A UDF that let a refusal of its quota through ran out of disk, not into a bug of its own.
    return jsonAnswer(
      err.exceptionClass === "QuotaExceededError" ? 507 : 422,
      err.message,
      meta("runtime_error", err.exceptionClass, err.message, err.lineno, err.logs),
    );
  }
  if (err instanceof UnsupportedResultError) {
    return jsonAnswer(422, err.message, meta("serialization_error", err.name, err.message));
  }
  if (err instanceof UdfTimeoutError) {
    return jsonAnswer(504, err.message, meta("timeout_error", err.name, err.message));
  }
  if (err instanceof ValidationError) {
    return jsonAnswer(400, err.message, meta("validation_error", err.name, err.message));
  }
  if (err instanceof NotSupportedError) {
    return jsonAnswer(501, err.message, meta("not_supported", err.name, err.message));
  }
  if (err instanceof QuotaExceededError) {
    return jsonAnswer(507, err.message, meta("quota_exceeded", err.name, err.message));
  }
  if (err instanceof UdfCancelledError) {
    return jsonAnswer(503, err.message, meta("cancelled", err.name, err.message));
  }
  const message = redactPaths(err instanceof Error ? err.message : describeThrown(err));
  const name = err instanceof Error ? String(err.name || "Error") : "Error";
  return jsonAnswer(500, `UDF "${udfName}" could not run: ${message}`, {
    "x-fused-error": headerJson(message).slice(1, -1),
    ...meta("server_error", name, message),
  });
}

interface CacheEntry {
  answer: RunAnswer;
  storedAt: number;
  udfId: string | null;
  size: number;
}

interface PolledRun {
  ownerId: string;
  runId: string;
  promise: Promise<RunAnswer>;
  /** Its answer written to the shared store (scale-out). */
  stored?: Promise<void>;
  answer?: RunAnswer;
  finishedAt?: number;
}

/** How long past its timeout a run the engine did not stop is answered as timed out (ms). */
const GUARD_GRACE_MS = 5000;

/**
 * How long a run goes on before its client going away cancels it (ms); the client's signal is
 * not even read before (reading a request's signal costs Deno an async operation that lives as
 * long as the request: 5-6 µs of CPU a request, measured). Cancelling a running UDF kills its
 * process, so a short run whose client left keeps its warm process: a load generator that
 * stopped with 32 connections open killed every process of the UDF, and the next requests
 * waited for new ones (measured with wrk against `fused serve`).
 */
export const CANCEL_AFTER_MS = 250;

/** How long a finished polled run is kept for its caller to collect (ms). */
const POLLED_RUN_TTL_MS = 10 * 60 * 1000;

/** Waits for a promise at most `ms`; null when time ran out. The timer never outlives it. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Executes runs, caches encoded results, and tracks polled runs. */
export class RunService {
  readonly #runner: UdfRunner;
  readonly #options: Required<Omit<RunServiceOptions, "shared" | "sharedCache">>;
  readonly #shared: SharedPolledRuns | undefined;
  readonly #sharedCache: SharedRunCache | undefined;
  readonly #cache = new Map<string, CacheEntry>();
  #cacheSize = 0;
  readonly #inflight = new Map<string, Promise<RunAnswer>>();
  readonly #polled = new Map<string, PolledRun>();
  readonly #versions = new WeakMap<Udf, string>();
  /** Runs in flight: past its deadline a run is answered as timed out, engine or not. */
  readonly #deadlines = new Deadlines();

  /** Creates the service around a runner. */
  constructor(runner: UdfRunner, options: RunServiceOptions) {
    this.#runner = runner;
    this.#shared = options.shared;
    this.#sharedCache = options.sharedCache;
    const { shared: _, sharedCache: __, ...rest } = options;
    this.#options = {
      startWaitMs: 3000,
      pollWaitMs: 1000,
      cacheBytes: 128 * 1024 * 1024,
      maxPolledRuns: 1000,
      // An option given as undefined keeps its default.
      ...Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)),
    } as Required<Omit<RunServiceOptions, "shared" | "sharedCache">>;
  }

  /** The longest run, in milliseconds. */
  get runTimeoutMs(): number {
    return this.#options.runTimeoutMs;
  }

  #key(spec: RunSpec): string {
    let version = this.#versions.get(spec.udf);
    if (version === undefined) {
      version = spec.udf.version; // a sha256 of the code: computed once per Udf object
      this.#versions.set(spec.udf, version);
    }
    // A plain string key (no hash): the Map hashes it, and this runs on every cached answer. The
    // caller is part of it: the same code can read its caller's own folders, so one user's
    // answer is never another's (a share token's callers all act as its owner, and share).
    return canonicalJson([
      version,
      spec.callerId ?? null,
      spec.parameters,
      spec.tile ?? null,
      spec.format,
    ]);
  }

  #cached(key: string, maxAge: number): RunAnswer | undefined {
    const entry = this.#cache.get(key);
    if (!entry) return undefined;
    if (Date.now() - entry.storedAt > maxAge * 1000) return undefined;
    // Re-insert to keep the Map in least-recently-used order.
    this.#cache.delete(key);
    this.#cache.set(key, entry);
    return {
      status: entry.answer.status,
      body: entry.answer.body,
      headers: { ...entry.answer.headers, "x-fused-cached": "true", "x-cache": "hit" },
    };
  }

  #store(key: string, answer: RunAnswer, udfId: string | null): void {
    const size = answer.body.byteLength + 1024;
    // One entry may take at most a quarter of the budget, so a big result cannot flush the rest.
    if (size > this.#options.cacheBytes / 4) return;
    const old = this.#cache.get(key);
    if (old) {
      this.#cache.delete(key);
      this.#cacheSize -= old.size;
    }
    this.#cache.set(key, { answer, storedAt: Date.now(), udfId, size });
    this.#cacheSize += size;
    for (const [k, entry] of this.#cache) {
      if (this.#cacheSize <= this.#options.cacheBytes) break;
      this.#cache.delete(k);
      this.#cacheSize -= entry.size;
    }
  }

  /**
   * Pins the npm packages a UDF imports (their resolved versions go into its metadata), as
   * `callerId` may, so that every service and worker runs the saved UDF with the same versions.
   */
  async pin(udf: Udf, callerId: string): Promise<void> {
    await this.#runner.pin?.(udf, callerId);
  }

  /** Drops every cached result of a saved UDF; returns how many. */
  clearUdfCache(udfId: string): number {
    let removed = 0;
    for (const [key, entry] of this.#cache) {
      if (entry.udfId === udfId) {
        this.#cache.delete(key);
        this.#cacheSize -= entry.size;
        removed += 1;
      }
    }
    return removed;
  }

  /**
   * Runs a UDF and encodes the answer. Never throws for a UDF's failure: the answer carries the
   * status (422, 504, ...) and the metadata header. Identical concurrent runs share one execution.
   */
  execute(spec: RunSpec): Promise<RunAnswer> {
    if (spec.cacheMaxAge === 0) return this.#execute(spec);
    // A cached run is shared by identical requests and fills the cache even if its first caller
    // goes away, so it does not follow that caller's signal.
    spec = { ...spec, clientSignal: undefined };
    const key = this.#key(spec);
    const hit = this.#cached(key, spec.cacheMaxAge);
    if (hit) return Promise.resolve(hit);
    const pending = this.#inflight.get(key);
    if (pending) return pending;
    const promise = this.#executeShared(spec, key).then((answer) => {
      if (answer.status === 200) this.#store(key, answer, spec.udfId);
      return answer;
    }).finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, promise);
    return promise;
  }

  /**
   * A run through the platform's cache on the bucket: its answer when another service (or this
   * one) stored it, else computed here and stored there. The bucket failing only costs the hit.
   */
  async #executeShared(spec: RunSpec, key: string): Promise<RunAnswer> {
    const shared = this.#sharedCache;
    if (!shared) return await this.#execute(spec);
    const note = (err: unknown) =>
      console.error(`fused serve: the shared run cache failed: ${describeThrown(err)}`);
    const stored = await shared.get(spec.udfId, key, spec.cacheMaxAge).catch(note);
    if (stored) {
      return {
        ...stored,
        headers: { ...stored.headers, "x-fused-cached": "true", "x-cache": "hit" },
      };
    }
    const answer = await this.#execute(spec);
    if (answer.status === 200) await shared.put(spec.udfId, key, answer).catch(note);
    return answer;
  }

  /** Drops a saved UDF's entries of the platform's run cache on the bucket (scale-out). */
  async clearSharedCache(udfId: string): Promise<void> {
    await this.#sharedCache?.clear(udfId);
  }

  async #execute(spec: RunSpec): Promise<RunAnswer> {
    const started = performance.now();
    const timeoutMs = this.#options.runTimeoutMs;
    const controller = new AbortController();
    // Past CANCEL_AFTER_MS, the run follows its client (watched first: it is the earlier one).
    let client: AbortSignal | undefined;
    const onGone = () => controller.abort(client?.reason);
    const follow: Deadline | undefined = spec.clientSignal && {
      deadline: started + CANCEL_AFTER_MS,
      expire: () => {
        client = spec.clientSignal!();
        if (client.aborted) onGone();
        else client.addEventListener("abort", onGone);
      },
    };
    if (follow) this.#deadlines.watch(follow);
    // The engine enforces runTimeout; this guard answers even if the engine itself hangs.
    const { promise: guardPromise, reject } = Promise.withResolvers<never>();
    const watched: Deadline = {
      deadline: started + timeoutMs + GUARD_GRACE_MS,
      expire: () => {
        controller.abort();
        reject(new UdfTimeoutError(spec.udf.name, timeoutMs));
      },
    };
    this.#deadlines.watch(watched);
    try {
      const response = await Promise.race([
        this.#runner(spec.udf, {
          engine: "local",
          parameters: spec.parameters,
          ...(spec.tile ?? {}),
          cacheMaxAge: spec.cacheMaxAge,
          cache: spec.cacheMaxAge > 0,
          signal: controller.signal,
          runTimeout: timeoutMs,
          verbose: false,
          callerId: spec.callerId,
        }),
        guardPromise,
      ]);
      const encoded = await encodeForFormats(response.data as UdfResult, spec.format);
      const headers: Record<string, string> = {
        "content-type": encoded.contentType,
        "x-fused-metadata": fusedMetadata({
          stdout: response.logs.stdout,
          stderr: response.logs.stderr,
          timeTakenMs: response.timeTakenMs,
          bounds: encoded.metadata?.bounds,
        }),
        "etag": etagOf(encoded.bytes),
      };
      if (response.cached) headers["x-fused-cached"] = "true";
      return { status: 200, body: encoded.bytes, headers };
    } catch (err) {
      return failureAnswer(err, spec.udf.name, performance.now() - started);
    } finally {
      if (follow) this.#deadlines.unwatch(follow);
      this.#deadlines.unwatch(watched);
      client?.removeEventListener("abort", onGone);
    }
  }

  #sweep(): void {
    const now = Date.now();
    for (const [id, run] of this.#polled) {
      if (run.finishedAt !== undefined && now - run.finishedAt > POLLED_RUN_TTL_MS) {
        this.#polled.delete(id);
        this.#shared?.forget(run.ownerId, run.runId).catch((err) =>
          console.error(
            `fused serve: cannot delete shared run ${run.runId}: ${describeThrown(err)}`,
          )
        );
      }
    }
  }

  /**
   * Starts a run that the caller may poll: answers with the result when it is ready within the
   * start wait, else with null (the route answers 202 and the caller polls `runId`).
   */
  async start(spec: RunSpec, runId: string, ownerId: string): Promise<RunAnswer | null> {
    this.#sweep();
    const id = `${ownerId}:${runId}`;
    if (this.#polled.has(id)) {
      throw new ValidationError(`Run id ${runId} is already in use: send a new Fused-Run-Id`);
    }
    if (this.#polled.size >= this.#options.maxPolledRuns) {
      throw new FusedError(
        `Too many runs in progress (${this.#polled.size}): wait for some to finish and collect their results`,
      );
    }
    // The start request may go away (202); the run must go on, so it does not get its signal.
    const promise = this.execute({ ...spec, clientSignal: undefined });
    const run: PolledRun = { ownerId, runId, promise };
    promise.then((answer) => {
      run.answer = answer;
      run.finishedAt = Date.now();
    });
    const answer = await within(promise, this.#options.startWaitMs);
    if (answer) return answer;
    if (this.#shared) await this.#share(this.#shared, run);
    this.#polled.set(id, run);
    return null;
  }

  /**
   * Records a run in the shared store before its 202 goes out (so a poll on any service finds
   * it), and its answer once it ends (`run.stored`). When the store fails, the run stays this
   * service's alone (its polls here still answer).
   */
  async #share(shared: SharedPolledRuns, run: PolledRun): Promise<void> {
    const note = (err: unknown) =>
      console.error(
        `fused serve: polled run ${run.runId} is not shared with other services: ${
          describeThrown(err)
        }`,
      );
    try {
      // Lost (answered as such) once it is past its timeout by a minute with no answer.
      const until = Date.now() + this.#options.runTimeoutMs + 60_000;
      await shared.begin(run.ownerId, run.runId, until);
    } catch (err) {
      note(err);
      return;
    }
    run.stored = run.promise.then((answer) => shared.finish(run.ownerId, run.runId, answer))
      .catch(note);
  }

  /**
   * The answer of a polled run, null while it runs, undefined when the id is unknown to this
   * service and (in scale-out) to the shared store.
   */
  async poll(runId: string, ownerId: string): Promise<RunAnswer | null | undefined> {
    const run = this.#polled.get(`${ownerId}:${runId}`);
    if (!run) return await this.#pollShared(runId, ownerId);
    if (!run.answer) {
      await within(run.promise, this.#options.pollWaitMs);
    }
    return run.answer ?? null;
  }

  /** A run another service started: its stored answer, waiting up to one poll wait for it. */
  async #pollShared(runId: string, ownerId: string): Promise<RunAnswer | null | undefined> {
    if (!this.#shared) return undefined;
    const found = await this.#shared.find(ownerId, runId);
    if (found !== null) return found;
    await new Promise((resolve) => setTimeout(resolve, this.#options.pollWaitMs));
    return await this.#shared.find(ownerId, runId);
  }

  /** Number of cached results (for tests and the health route). */
  get cacheEntries(): number {
    return this.#cache.size;
  }

  /** Waits for polled runs still going (so close() does not cut them off mid-write). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.#polled.values()].map((r) => r.stored ?? r.promise));
  }
}
