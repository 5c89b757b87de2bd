/**
 * The host's side of a UDF's SDK calls: checks what the (untrusted) process asked for, then lets
 * the caller's {@linkcode HostHandler} carry it out as the caller.
 *
 * @module
 */
import { relative } from "node:path";
import { FusedError, ValidationError } from "../client/errors.ts";
import { resolveInside } from "../client/file_path.ts";
import { BodyWriter, packResult } from "../client/formats/packed.ts";
import { toTransferable } from "../client/formats/transfer.ts";
import { options } from "../client/options.ts";
import { Udf } from "../client/udf.ts";
import type {
  CallerContext,
  HostMethod,
  NestedRunMessage,
  NestedRunReply,
} from "../client/udf_host.ts";
import type { UdfSignature } from "./params.ts";

/** What the executor knows of the run that made a call. */
export interface HostCallScope {
  /** The run's caller. */
  caller: CallerContext;
  /** Aborted when the run ends. */
  signal: AbortSignal;
  /** Reads a UDF's parameters on the executor that made the call. */
  describe(udf: Udf): Promise<UdfSignature>;
}

/** An answer: its JSON value and body parts. */
export interface HostCallAnswer {
  /** The JSON value of the reply. */
  value: unknown;
  /** Bytes of the reply. */
  parts: Uint8Array[];
}

const FILE_METHODS = new Set<HostMethod>([
  "files.list",
  "files.get",
  "files.upload",
  "files.delete",
  "files.signUrl",
  "files.signUrlPrefix",
]);

function text(value: unknown, what: string): string {
  if (typeof value !== "string" || value === "") {
    throw new ValidationError(`${what} must be a non-empty string`);
  }
  return value;
}

function udfOf(value: unknown): Udf | string {
  if (typeof value === "string") return text(value, "The UDF to run");
  return Udf.fromJSON(value);
}

/** Carries out one SDK call of a UDF as its caller. */
export async function answerHostCall(
  method: HostMethod,
  args: unknown,
  body: Uint8Array,
  scope: HostCallScope,
): Promise<HostCallAnswer> {
  if (!Array.isArray(args)) throw new ValidationError("A host call's arguments must be a list");
  const { caller, signal } = scope;
  const nested: CallerContext = { ...caller, depth: caller.depth + 1 };
  if (method === "run" || method === "describe") {
    if (nested.depth > options.maxRecursionFactor) {
      throw new FusedError(
        `A UDF called UDFs ${nested.depth} levels deep, over the limit of ${options.maxRecursionFactor} (options.maxRecursionFactor): call fewer UDFs from UDFs, or raise the limit`,
      );
    }
  }
  if (method === "describe") {
    const udf = udfOf(args[0]);
    if (typeof udf === "string") throw new ValidationError("describe takes a UDF, not a name");
    return { value: await scope.describe(udf), parts: [] };
  }
  if (method === "run") {
    const request = args[0] as NestedRunMessage;
    if (typeof request !== "object" || request === null) {
      throw new ValidationError("A nested run must be an object");
    }
    if (request.engine !== "local" && request.engine !== "remote") {
      throw new ValidationError(`Unknown engine "${request.engine}": use "local" or "remote"`);
    }
    const response = await caller.host.run({
      udf: udfOf(request.udf),
      engine: request.engine,
      parameters: typeof request.parameters === "object" && request.parameters !== null
        ? request.parameters
        : {},
      tile: request.tile,
      cacheMaxAge: typeof request.cacheMaxAge === "number" ? request.cacheMaxAge : undefined,
    }, { caller: nested, signal });
    // The result goes back as bytes too; copy, since the cache may hold the same buffers.
    const { message } = await toTransferable(response.data, { copy: true });
    const writer = new BodyWriter();
    const value: NestedRunReply = {
      result: packResult(message, writer),
      logs: response.logs,
      cached: response.cached,
      timeTakenMs: response.timeTakenMs,
    };
    return { value, parts: writer.parts };
  }
  if (method === "download") {
    const url = text(args[0], "The URL to download");
    // The target comes from the UDF: it must stay inside the caller's data folder.
    const target = resolveInside(
      caller.dataDir,
      text(args[1], "The download path"),
      "download path",
    );
    await caller.host.download(url, target, { caller, signal });
    return { value: relative(caller.dataDir, target), parts: [] };
  }
  if (FILE_METHODS.has(method)) {
    const answer = await caller.host.files(
      method as Parameters<CallerContext["host"]["files"]>[0],
      args,
      body.byteLength ? body : undefined,
      { caller, signal },
    );
    if (answer instanceof Uint8Array) return { value: { bytes: true }, parts: [answer] };
    return { value: answer ?? null, parts: [] };
  }
  throw new ValidationError(`Unknown host call "${String(method)}"`);
}
