/**
 * Remote runs: `fused.run(udf, { engine: "remote" })` through the "remote" engine row installed by
 * client/api/mod.ts, and Fused's `fused.core` functions `runFile`, `runTile`, `runSharedFile`,
 * `runSharedTile`.
 *
 * Code-included runs POST `{step_config, format}` to `{rt}/api/v1/run/udf/start[/tiles/z/x/y]`
 * and poll `{rt}/api/v1/run/udf/get/{run_id}` while the service answers 202; saved UDFs run at
 * `{rt}/api/v1/run/udf/saved/{owner}/{name}`; share tokens at `{shared}/{token}/run/file`.
 *
 * @module
 */
import { FusedError, UdfTimeoutError, ValidationError } from "../errors.ts";
import { decodeResult } from "../formats/result.ts";
import { findGeometryColumn, tableToGeoJSON, tableToRows } from "../formats/geo.ts";
import { isRaster } from "../formats/raster.ts";
import { isTable, type UdfResult } from "../formats/types.ts";
import { options, requestTimeoutMs } from "../options.ts";
import type { EngineRunRequest, RunResponse, Tile } from "../engine_types.ts";
import type { Udf } from "../udf.ts";
import { realtimeClientId, realtimePath, sharedBaseUrl } from "./instances.ts";
import { isShareToken, loadSavedUdf } from "./udfs.ts";
import {
  type ApiCallOptions,
  globalTransport,
  logsOf,
  parseFusedMetadata,
  type QueryValue,
  requireText,
  type Transport,
} from "./transport.ts";

/** Fused's `Fused-Recursion` for a top-level client: the service refuses deeper nesting. */
const RECURSION = "2";

function jsonReplacer(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}

/**
 * Encodes one UDF parameter as Fused's `serialize_realtime_params` does: strings and numbers as
 * they are, booleans, arrays and plain objects as JSON, dates as ISO strings, Arrow tables as
 * GeoJSON (with a geometry column) or JSON records. `undefined` is left out.
 */
export function serializeParameter(
  name: string,
  value: unknown,
): string | number | null | undefined {
  if (value === undefined) return undefined;
  if (value === null) return null;
  if (typeof value === "string") return value;
  if (typeof value === "number") return Number.isFinite(value) ? value : String(value);
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Date) return value.toISOString();
  if (isTable(value)) {
    const geometry = findGeometryColumn(value);
    return JSON.stringify(geometry ? tableToGeoJSON(value) : tableToRows(value), jsonReplacer);
  }
  if (isRaster(value) || value instanceof Uint8Array) {
    throw new ValidationError(
      `Parameter "${name}" is binary data, which cannot travel as a UDF parameter: upload it (fused.api.upload) and pass its fd:// path`,
    );
  }
  if (typeof value === "boolean" || typeof value === "object") {
    return JSON.stringify(value, jsonReplacer);
  }
  throw new ValidationError(
    `Parameter "${name}" is a ${typeof value}, which cannot travel as a UDF parameter: pass a string, number, boolean, array, object or table`,
  );
}

/** Encodes every parameter (see {@linkcode serializeParameter}), dropping `undefined` ones. */
export function serializeParameters(
  parameters: Record<string, unknown>,
): Record<string, string | number | null> {
  const out: Record<string, string | number | null> = {};
  for (const [name, value] of Object.entries(parameters)) {
    const encoded = serializeParameter(name, value);
    if (encoded !== undefined) out[name] = encoded;
  }
  return out;
}

/** The `format` a run asks for: `{raster},{vector},json` from the options (Fused's default). */
export function defaultFormat(): string {
  return `${options.defaultDtypeOutRaster},${options.defaultDtypeOutVector},json`;
}

function tilePath(tile: Tile | undefined): string {
  if (!tile) return "";
  for (const [axis, value] of Object.entries(tile)) {
    if (!Number.isInteger(value) || value < 0) {
      throw new ValidationError(`Tile ${axis} must be a whole number 0 or more, got ${value}`);
    }
  }
  return `/tiles/${tile.z}/${tile.x}/${tile.y}`;
}

/** Turns a run's answer into a `RunResponse`: decoded body, logs, cache status, time. */
async function toRunResponse(
  response: Response,
  udf: Udf | null,
  started: number,
): Promise<RunResponse> {
  const meta = parseFusedMetadata(response.headers);
  const bytes = new Uint8Array(await response.arrayBuffer());
  const data = await decodeResult(bytes, response.headers.get("content-type"), {
    metadata: meta?.bounds !== undefined ? { bounds: meta.bounds } : undefined,
  });
  const cached = response.headers.has("x-fused-cached") ||
    response.headers.get("x-cache")?.toLowerCase() === "hit";
  return {
    data,
    udf,
    logs: logsOf(meta),
    cached,
    timeTakenMs: performance.now() - started,
  };
}

/** The Fused `UdfJobStepConfig` that carries a UDF (and its run's parameters) to the service. */
export function stepConfig(udf: Udf, parameters: Record<string, unknown>): Record<string, unknown> {
  const json = udf.toJSON();
  return {
    type: "udf",
    name: udf.name,
    metadata: json.metadata ?? null,
    ignore_chunk_error: false,
    n_processes: null,
    input: null,
    udf: { ...json, parameters: { ...json.parameters, ...parameters } },
  };
}

/** Options of a code-included run. */
export interface RunCodeOptions extends ApiCallOptions {
  /** UDF parameters. */
  parameters?: Record<string, unknown>;
  /** A tile run. */
  tile?: Tile;
  /** Output formats, first applicable wins; `defaultFormat()` unless given. */
  format?: string;
  /** Cache age in seconds (0 disables the service's cache). */
  cacheMaxAge?: number;
  /** Stops waiting after this many milliseconds (`runTimeout` unless given). */
  timeoutMs?: number;
  /** Realtime instance; the preferred one unless given. */
  clientId?: string;
}

/**
 * Runs a UDF you hold on the service: POST to `.../run/udf/start`, then poll `.../get/{run_id}`
 * while it answers 202, until `runTimeout`.
 */
export async function runCode(udf: Udf, opts: RunCodeOptions = {}): Promise<RunResponse> {
  const transport = opts.transport ?? globalTransport();
  const started = performance.now();
  const timeoutMs = opts.timeoutMs ?? options.runTimeout * 1000;
  const deadline = Date.now() + timeoutMs;
  const cid = opts.clientId ?? await realtimeClientId({ transport, signal: opts.signal });
  const rt = realtimePath(cid);
  const parameters = serializeParameters(opts.parameters ?? {});
  const runId = crypto.randomUUID();
  const headers = { "Fused-Recursion": RECURSION, "Fused-Run-Id": runId };
  const request = {
    udfName: udf.name,
    signal: opts.signal,
    headers,
    acceptStatuses: [202],
  };
  // Fused reads the parameters from step_config; this service also takes top-level keys as the
  // call's own parameters, so an unknown name is reported as it is by a local run.
  const response = await transport.fetch(`${rt}/api/v1/run/udf/start${tilePath(opts.tile)}`, {
    ...request,
    method: "POST",
    query: { cache_max_age: opts.cacheMaxAge },
    json: {
      ...parameters,
      step_config: JSON.stringify(stepConfig(udf, parameters)),
      format: opts.format ?? defaultFormat(),
      profile: false,
    },
    timeoutMs,
  });
  if (response.status !== 202) return await toRunResponse(response, udf, started);
  const accepted = await response.json().catch(() => ({})) as { run_id?: unknown };
  const pollId = typeof accepted.run_id === "string" ? accepted.run_id : runId;
  for (let poll = 0;; poll++) {
    const left = deadline - Date.now();
    if (left <= 0) throw new UdfTimeoutError(udf.name, timeoutMs);
    // As Fused's SDK: the first two polls go at once (the service itself waits a little).
    if (poll >= 2) await new Promise((resolve) => setTimeout(resolve, Math.min(1000, left)));
    if (Date.now() >= deadline) throw new UdfTimeoutError(udf.name, timeoutMs);
    let answer: Response;
    try {
      // Any service answers a poll (from the shared store when scaled out), so a poll is a GET
      // the transport sends to the next service of a list when one fails; one poll waits at most
      // `requestTimeout` (the service holds it 1 s), so a hung service is not waited on to the end.
      answer = await transport.fetch(`${rt}/api/v1/run/udf/get/${encodeURIComponent(pollId)}`, {
        ...request,
        timeoutMs: Math.max(
          1,
          Math.min(deadline - Date.now(), requestTimeoutMs(options.requestTimeout)),
        ),
      });
    } catch (err) {
      if (!(err instanceof UdfTimeoutError)) throw err;
      // A poll that timed out before the run's limit is sent again; past it, report the run's.
      if (Date.now() < deadline) continue;
      throw new UdfTimeoutError(udf.name, timeoutMs);
    }
    if (answer.status !== 202) return await toRunResponse(answer, udf, started);
    await answer.body?.cancel();
  }
}

/** Options of the `fused.core` run functions: output and instance, plus any UDF parameters. */
export interface CoreRunOptions extends ApiCallOptions {
  /** UDF parameters, merged over the other keys. */
  parameters?: Record<string, unknown>;
  /** Output formats (`parquet`, `json`, `png`, ...); `defaultFormat()` unless given. */
  format?: string;
  /** Fused's older name for the table format; combined with `dtypeOutRaster`. */
  dtypeOutVector?: string;
  /** Fused's older name for the raster format. */
  dtypeOutRaster?: string;
  /** Realtime instance (saved-UDF runs); the preferred one unless given. */
  clientId?: string;
  /** Cache age in seconds (0 disables the service's cache). */
  cacheMaxAge?: number;
  /** Stops waiting after this many milliseconds (`runTimeout` unless given). */
  timeoutMs?: number;
  /** Any other key is a UDF parameter. */
  [parameter: string]: unknown;
}

const CORE_KEYS = new Set([
  "transport",
  "signal",
  "parameters",
  "format",
  "dtypeOutVector",
  "dtypeOutRaster",
  "clientId",
  "cacheMaxAge",
  "timeoutMs",
  "x",
  "y",
  "z",
]);

function coreParameters(opts: CoreRunOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(opts)) if (!CORE_KEYS.has(key)) out[key] = value;
  return { ...out, ...(opts.parameters ?? {}) };
}

function coreFormat(opts: CoreRunOptions): string {
  if (opts.format && (opts.dtypeOutVector || opts.dtypeOutRaster)) {
    throw new ValidationError("Give either format or dtypeOutVector/dtypeOutRaster, not both");
  }
  if (opts.format) return opts.format;
  if (opts.dtypeOutVector || opts.dtypeOutRaster) {
    return `${opts.dtypeOutRaster ?? options.defaultDtypeOutRaster},${
      opts.dtypeOutVector ?? options.defaultDtypeOutVector
    },json`;
  }
  return defaultFormat();
}

/** Sends a GET run (saved UDF or share token) and decodes its answer. */
async function getRun(
  transport: Transport,
  url: string,
  name: string,
  opts: CoreRunOptions,
  auth: "required" | "optional",
  tile?: Tile,
): Promise<RunResponse> {
  const started = performance.now();
  const query: Record<string, QueryValue> = {
    ...serializeParameters(coreParameters(opts)),
    format: coreFormat(opts),
    cache_max_age: opts.cacheMaxAge,
  };
  const response = await transport.fetch(url + tilePath(tile), {
    query,
    auth,
    udfName: name,
    signal: opts.signal,
    headers: { "Fused-Recursion": RECURSION },
    timeoutMs: opts.timeoutMs ?? options.runTimeout * 1000,
  });
  return await toRunResponse(response, null, started);
}

function ownerAndName(emailOrRef: string, id: string | undefined): [string, string] {
  requireText(emailOrRef, "The owner (e-mail, handle or team)");
  if (id !== undefined) return [emailOrRef, requireText(id, "The UDF name")];
  const parts = emailOrRef.split("/");
  if (parts.length !== 2 || !parts[0] || !parts[1]) {
    throw new ValidationError(
      `Cannot tell the owner and the name of "${emailOrRef}": call runFile(owner, name) or runFile("owner/name")`,
    );
  }
  return [parts[0], parts[1]];
}

function tileFrom(opts: { x?: unknown; y?: unknown; z?: unknown }): Tile {
  const { x, y, z } = opts;
  if (typeof x !== "number" || typeof y !== "number" || typeof z !== "number") {
    throw new ValidationError(
      "A tile run needs x, y and z as numbers: runTile(owner, name, { x, y, z })",
    );
  }
  return { x, y, z };
}

async function savedRun(
  email: string,
  id: string | undefined,
  opts: CoreRunOptions,
  tile?: Tile,
): Promise<RunResponse> {
  const [owner, name] = ownerAndName(email, id);
  const transport = opts.transport ?? globalTransport();
  const cid = opts.clientId ?? await realtimeClientId({ transport, signal: opts.signal });
  const url = `${realtimePath(cid)}/api/v1/run/udf/saved/${encodeURIComponent(owner)}/${
    encodeURIComponent(name)
  }`;
  return await getRun(transport, url, name, opts, "required", tile);
}

/**
 * Runs a saved UDF by owner (e-mail, handle or team) and name, or `"owner/name"`; returns its
 * result.
 *
 * @example
 * ```ts ignore
 * import * as fused from "fused";
 * const table = await fused.core.runFile("admin@localhost", "hello", { n: 3 });
 * ```
 */
export async function runFile(
  email: string,
  id?: string,
  opts: CoreRunOptions = {},
): Promise<UdfResult> {
  return (await savedRun(email, id, opts)).data;
}

/** Runs a saved UDF for one tile (`{ x, y, z }` in the options); returns its result. */
export async function runTile(
  email: string,
  id: string | undefined,
  opts: CoreRunOptions & { x: number; y: number; z: number },
): Promise<UdfResult> {
  return (await savedRun(email, id, opts, tileFrom(opts))).data;
}

async function sharedRun(token: string, opts: CoreRunOptions, tile?: Tile): Promise<RunResponse> {
  requireText(token, "The share token");
  if (!isShareToken(token)) {
    throw new ValidationError(
      `"${token}" is not a share token (fsh_..., UDF_... or 64 hex characters): create one with fused.api.createUdfAccessToken`,
    );
  }
  const transport = opts.transport ?? globalTransport();
  const url = `${sharedBaseUrl(transport)}/${encodeURIComponent(token)}/run${tile ? "" : "/file"}`;
  return await getRun(transport, url, token, opts, "optional", tile);
}

/** Runs the UDF of a share token (no login needed); returns its result. */
export async function runSharedFile(
  token: string,
  opts: CoreRunOptions = {},
): Promise<UdfResult> {
  return (await sharedRun(token, opts)).data;
}

/** Runs the UDF of a share token for one tile (`{ x, y, z }`); returns its result. */
export async function runSharedTile(
  token: string,
  opts: CoreRunOptions & { x: number; y: number; z: number },
): Promise<UdfResult> {
  return (await sharedRun(token, opts, tileFrom(opts))).data;
}

/** What the remote runner of `fused.run` receives besides the UDF. */
export type RemoteRunRequest = Omit<EngineRunRequest, "udf"> & {
  cacheMaxAge?: number;
  instanceType?: string;
};

/**
 * The remote engine of `fused.run`: a Udf runs as a code-included run; a share token runs at its
 * shared URL; any other string is loaded from the registry (`owner/name`, `team/name`, id, own
 * name) and runs with its code, as Fused's newest SDK does.
 */
export async function remoteRun(
  udf: Udf | string,
  request: RemoteRunRequest,
  opts: { transport?: Transport } = {},
): Promise<RunResponse> {
  if (request.instanceType && request.instanceType !== "realtime") {
    throw new FusedError(
      `instanceType "${request.instanceType}" asks for a batch job: start it with fused.api.startJob(udf, { instanceType }) and wait with fused.api.jobWaitForJob`,
    );
  }
  const transport = opts.transport ?? globalTransport();
  const common = { transport, signal: request.signal, timeoutMs: request.timeoutMs };
  if (typeof udf === "string" && isShareToken(udf)) {
    const response = await sharedRun(udf, {
      ...common,
      parameters: request.parameters,
      cacheMaxAge: request.cacheMaxAge,
    }, request.tile);
    return response;
  }
  const target = typeof udf === "string" ? await loadSavedUdf(udf, common) : udf;
  return await runCode(target, {
    ...common,
    parameters: request.parameters,
    tile: request.tile,
    cacheMaxAge: request.cacheMaxAge,
  });
}
