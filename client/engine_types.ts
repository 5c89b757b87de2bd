/**
 * What engines, their callers and hosts exchange: a run as an engine gets it, its response, and
 * who it acts as ({@linkcode CallerContext}, with the {@linkcode HostHandler} that answers its
 * UDF's SDK calls and the operator's {@linkcode CallerPolicy}). Types (and the local policy) only,
 * so the run table (`run.ts`), the host bridge (`udf_host.ts`) and the API client all import it
 * from below.
 *
 * @module
 */
import type { QuotaUsage, UdfLogs } from "./errors.ts";
import type { UdfResult } from "./formats/mod.ts";
import type { HostMethod } from "./host_channel.ts";
import type { Udf } from "./udf.ts";

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
  /** Who the run acts as (default: this process's user, at depth 0). */
  caller?: CallerContext;
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
  /**
   * Installs the npm packages a UDF imports, as `caller`'s policy allows, and pins their versions
   * in its metadata (`fused:npm`): what a service does before it saves a UDF.
   */
  pin?(udf: Udf, caller?: CallerContext): Promise<void>;
}

/** A run as every engine of the table receives it: options already checked and resolved. */
export interface EngineCall {
  /** UDF parameters (raw; the executor coerces them). */
  parameters: Record<string, unknown>;
  /** A tile run. */
  tile?: Tile;
  /** Cancels the run. */
  signal?: AbortSignal;
  /** Stops a run that takes longer (milliseconds). */
  timeoutMs?: number;
  /** Network access for a local run. */
  allowNet?: boolean | string[];
  /** Cache age in seconds (0 disables); undefined leaves it to the engine (a run by name). */
  cacheMaxAge?: number;
  /** Instance type: "realtime", or the batch type of a batch run. */
  instanceType?: string;
  /** Who the run acts as (a nested run's caller is one level deeper). */
  caller?: CallerContext;
}

/**
 * One row of the engine table: what runs a UDF (or a saved name or token) somewhere and answers
 * with the full response. `describe` reads a UDF's parameters; only the local row has it.
 */
export interface UdfEngine {
  /** Runs one UDF. */
  run(target: Udf | string, call: EngineCall): Promise<RunResponse>;
  /** Reads a UDF's parameters from its code (the local row). */
  describe?(udf: Udf): Promise<UdfSignatureLike>;
}

/**
 * The rows of the table: "local" (the sandboxed executor on this machine), "remote" (a service),
 * "batch" (a batch job on a service). Inside a UDF every row is the bridge to the UDF's host.
 */
export type EngineName = "local" | "remote" | "batch";

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

/** A nested run, as the UDF asks for it. */
export interface NestedRun {
  /**
   * The UDF to run: a Udf (as its JSON), or a saved UDF's `name`, `owner/name`, `team/name`, id
   * or share token, which the host finds as the caller may (a share token's run acts as its
   * UDF's owner, as over HTTP).
   */
  udf: Udf | string;
  /** "local" or "remote". */
  engine: "local" | "remote";
  /** UDF parameters. */
  parameters: Record<string, unknown>;
  /** A tile run. */
  tile?: Tile;
  /** Cache age in seconds; undefined: the UDF's own. */
  cacheMaxAge?: number;
}

/** What answers a UDF's SDK calls on the host, acting as the run's caller. */
export interface HostHandler {
  /** Runs a UDF for the calling UDF (one level deeper). */
  run(request: NestedRun, context: HostCallContext): Promise<RunResponse>;
  /**
   * The saved UDF `ref` names (`name`, `owner/name`, `team/name`, id, share token), when the
   * caller may read its code (`fused.load` inside a UDF). Never a file of the host.
   */
  load(ref: string, context: HostCallContext): Promise<Udf>;
  /**
   * Copies the `fd://` file at `url`, as the caller, to `target`: a new file in the caller's data
   * folder (the executor checks other URLs itself, then writes them there).
   */
  download(url: string, target: string, context: HostCallContext): Promise<void>;
  /**
   * A `fused.api` file call: list, get, upload, delete, signUrl, signUrlPrefix. An upload's
   * content is `body`: the bytes the UDF sent, or a stream of a file in the caller's data folder
   * that the executor opened and checked (`files.uploadFile`: no frame holds it), with its size
   * as the second argument.
   */
  files(
    method: Extract<Exclude<HostMethod, "files.uploadFile">, `files.${string}`>,
    args: unknown[],
    body: Uint8Array | ReadableStream<Uint8Array> | undefined,
    context: HostCallContext,
  ): Promise<unknown>;
  /**
   * `fused.cache` with `cacheStorage: "object"`: the caller's own entries on the platform's
   * shared store, in an area no `fd://` path reaches, keyed by the caller's id. `cache.get`
   * (`[key, maxAgeSeconds]`) answers `{ ageMs, bytes }` of an entry younger than that, else
   * null; `cache.put` (`[key]`, the entry's envelope as `body`) stores it. A host without a
   * shared store refuses both with an error naming what to use instead.
   */
  objectCache(
    method: Extract<HostMethod, `cache.${string}`>,
    args: unknown[],
    body: Uint8Array | undefined,
    context: HostCallContext,
  ): Promise<{ ageMs: number; bytes: Uint8Array } | null>;
}

/** What the host knows of the call it answers. */
export interface HostCallContext {
  /** The caller of the run that made the call. */
  caller: CallerContext;
  /** Aborted when the calling run ends. */
  signal: AbortSignal;
}

/**
 * What the operator allows the runs of a caller, beyond what each run allows itself (its
 * `allowNet`): checked by the host on every call a UDF makes through it.
 */
export interface CallerPolicy {
  /**
   * The network a run's host calls (`fused.download` of http(s) URLs) may reach when the run
   * does not set its own `allowNet`: false, true (public hosts) or `host[:port]` entries. The
   * UDF's process itself gets no network from this: only from its run's `allowNet`.
   */
  net: boolean | string[];
  /**
   * Whether a host call may reach loopback, link-local, private and other non-public addresses
   * for a run that allows network: "never" (the service, unless its operator starts it with
   * `--allow-private-network`: then "always"), or "listed" (this machine's own user: when the
   * run's `allowNet` list names the host, e.g. `["127.0.0.1:8080"]`).
   */
  privateNetwork: "never" | "listed" | "always";
  /** Largest file a host call downloads for the run, in bytes. */
  maxDownloadBytes: number;
  /**
   * Which npm packages the run's UDF may import (names, `@scope/*` for a whole scope): `deny`
   * wins over `allow`; without `allow`, any package not denied.
   */
  npm: { allow?: string[]; deny?: string[] };
}

/** The policy of runs made on this machine by its own user. */
export const LOCAL_POLICY: CallerPolicy = Object.freeze({
  net: true,
  privateNetwork: "listed",
  maxDownloadBytes: 16 * 1024 ** 3,
  npm: Object.freeze({}),
});

/** Who a run acts as, and where its data lives. */
export interface CallerContext {
  /**
   * Identity of the caller ("local" in a script or notebook, the user's id on the service). The
   * executor never lets two callers share a process.
   */
  id: string;
  /** How deep in nested runs this run is (0 for a run nobody nested). */
  depth: number;
  /** The caller's data folder: what `filePath` and `download` write into (read/write). */
  dataDir: string;
  /** The caller's cache folder: `fused.cache` and run results of its UDFs (read/write). */
  cacheDir: string;
  /** Answers the UDF's SDK calls. */
  host: HostHandler;
  /** What the operator allows this caller's runs (default {@linkcode LOCAL_POLICY}). */
  policy?: CallerPolicy;
  /** The caller's disk quota, where the operator set one (the service); none on this machine. */
  quota?: CallerQuota;
}

/**
 * What a caller may hold on disk: its data and cache folders and its share of `fd://`. The
 * executor refuses a run while the caller is over it, caps each file the UDF's process writes at
 * it, and caps the host's downloads for the UDF at what is left.
 */
export interface CallerQuota {
  /** Bytes the caller may hold. */
  limitBytes: number;
  /** What the caller holds now. */
  usage(): Promise<QuotaUsage>;
}
