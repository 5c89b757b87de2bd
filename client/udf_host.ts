/**
 * The SDK inside a UDF: a UDF runs in a sandboxed process with no network, no environment and
 * only its own folders, so the SDK calls that need more (nested runs, saved UDFs loaded by name,
 * downloads, `fd://` files) go to the process's host, which carries them out as the UDF's caller.
 *
 * Two sides, one vocabulary:
 * - in the UDF's process, the executor's runner installs a {@linkcode UdfHost} (`setUdfHost`);
 *   `download`, `fused.api` file calls, `load` of a saved UDF or an http(s) URL and the engine
 *   table then forward to it;
 * - on the host, a {@linkcode CallerContext} travels with every run and names who the run acts
 *   as and the {@linkcode HostHandler} that answers its calls (the notebook's own SDK, or the
 *   service acting as the requesting user).
 *
 * @module
 */
import { FusedError, type UdfLogs } from "./errors.ts";
import { type PackedResult, unpackResult } from "./formats/packed.ts";
import { fromTransferable } from "./formats/transfer.ts";
import type {
  EngineCall,
  EngineName,
  RunResponse,
  Tile,
  UdfEngine,
  UdfSignatureLike,
} from "./run.ts";
import type { Udf } from "./udf.ts";
import type { UdfJson } from "./udf_json.ts";

/** The SDK calls a UDF can make through its host. */
export type HostMethod =
  | "run"
  | "describe"
  | "load"
  | "download"
  | "files.list"
  | "files.get"
  | "files.upload"
  | "files.uploadFile"
  | "files.delete"
  | "files.signUrl"
  | "files.signUrlPrefix";

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
    method: Exclude<HostMethod, "run" | "describe" | "load" | "download" | "files.uploadFile">,
    args: unknown[],
    body: Uint8Array | ReadableStream<Uint8Array> | undefined,
    context: HostCallContext,
  ): Promise<unknown>;
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
}

/** The UDF process's side: the channel to its host. */
export interface UdfHost {
  /** Calls the host; binary values (file bytes) travel as `body`. */
  call(method: HostMethod, args: unknown[], body?: Uint8Array): Promise<HostReply>;
  /** The folders this process may use (they become the defaults of `fused.options`). */
  folders: { dataDir: string; cacheDir: string; tempDir: string };
}

/** A nested run as it travels to the host: the UDF as its JSON (the host checks it). */
export type NestedRunMessage = Omit<NestedRun, "udf"> & { udf: UdfJson | string };

/** The answer to a nested "run" call: the result's bytes are the reply's body. */
export interface NestedRunReply {
  /** The result, packed against the reply's body. */
  result: PackedResult;
  /** Output of the nested run. */
  logs: UdfLogs;
  /** Whether it came from the cache. */
  cached: boolean;
  /** Its wall time, in milliseconds. */
  timeTakenMs: number;
}

/** The host's answer to a call. */
export interface HostReply {
  /** The JSON value of the answer. */
  value: unknown;
  /** Bytes of the answer (a file's content, a result's buffers). */
  body: Uint8Array;
}

let current: UdfHost | undefined;

/** Installs the host channel (the executor's runner does this inside a UDF's process). */
export function setUdfHost(host: UdfHost | undefined): void {
  current = host;
}

/** The host channel when this code runs inside a UDF's process, else undefined. */
export function udfHost(): UdfHost | undefined {
  return current;
}

/**
 * The engine table's row inside a UDF's process: every run goes to the host, which runs it as
 * the UDF's caller, one level deeper. Batch jobs cannot be started from inside a UDF.
 */
export function hostEngine(host: UdfHost, row: EngineName): UdfEngine {
  return {
    async run(target: Udf | string, call: EngineCall): Promise<RunResponse> {
      if (row === "batch") {
        throw new FusedError(
          "A UDF cannot start a batch job from inside its run: start it from a notebook or script (udf.job(params).runBatch())",
        );
      }
      const request: NestedRunMessage = {
        udf: typeof target === "string" ? target : target.toJSON(),
        engine: row,
        parameters: call.parameters,
        tile: call.tile,
        cacheMaxAge: call.cacheMaxAge,
      };
      const { value, body } = await host.call("run", [request]);
      const reply = value as NestedRunReply;
      const data = await fromTransferable(unpackResult(reply.result, body));
      return {
        data,
        udf: typeof target === "string" ? null : target,
        logs: reply.logs,
        cached: reply.cached,
        timeTakenMs: reply.timeTakenMs,
      };
    },
    async describe(udf: Udf): Promise<UdfSignatureLike> {
      const { value } = await host.call("describe", [udf.toJSON()]);
      return value as UdfSignatureLike;
    },
  };
}
