/**
 * The host's side of a UDF's SDK calls: one table, {@linkcode HOST_CALLS}, names each call a UDF
 * may make and the rule it is checked against before the caller's {@linkcode HostHandler} reads,
 * fetches or writes anything. Every call acts as the run's caller, never as the host: the checks
 * of files and network are in `_host_policy.ts`.
 *
 * @module
 */
import { basename, dirname, join, relative } from "node:path";
import { byteCap } from "../client/byte_cap.ts";
import { withFileLock } from "../client/cache.ts";
import { parseDownloadUrl } from "../client/download.ts";
import { FusedError, ValidationError } from "../client/errors.ts";
import { resolveInside } from "../client/file_path.ts";
import { BodyWriter, type PackedResult, packResult } from "../client/formats/packed.ts";
import { toTransferable } from "../client/formats/transfer.ts";
import { isSavedReference, load } from "../client/load.ts";
import { options } from "../client/options.ts";
import { Udf, udf as makeUdf } from "../client/udf.ts";
import { type CallerContext, LOCAL_POLICY } from "../client/engine_types.ts";
import type { HostMethod } from "../client/host_channel.ts";
import type { NestedRunMessage, NestedRunReply } from "../client/udf_host.ts";
import {
  downloadCap,
  fetchChecked,
  HostCallRefused,
  isInside,
  type NetworkScope,
  openInside,
  writeCapped,
} from "./_host_policy.ts";
import type { UdfSignature } from "./params.ts";
import { packForPython } from "./_py_result.ts";

/** What the executor knows of the run that made a call. */
export interface HostCallScope {
  /** The run's caller. */
  caller: CallerContext;
  /** The run's own network permission (its `allowNet`): false, true or `host[:port]` entries. */
  net: boolean | string[];
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

function text(value: unknown, what: string): string {
  if (typeof value !== "string" || value === "") {
    throw new ValidationError(`${what} must be a non-empty string`);
  }
  return value;
}

/**
 * A UDF as its JSON, its code alone (`{ code, name }`, as `udf(code)` makes it), or a saved UDF's
 * reference (never a path: the host reads no file for a UDF).
 */
function udfOf(value: unknown): Udf | string {
  if (typeof value !== "string") {
    const { code, name, type } = (value ?? {}) as Record<string, unknown>;
    if (type === undefined && typeof code === "string") {
      return makeUdf(code, { name: name === undefined ? undefined : text(name, "The UDF's name") });
    }
    return Udf.fromJSON(value);
  }
  const ref = text(value, "The UDF to run").trim();
  if (isSavedReference(ref)) return ref;
  throw new ValidationError(
    `Cannot run ${
      JSON.stringify(ref.slice(0, 200))
    } through the host: give a Udf or a saved UDF's NAME, OWNER/NAME, id or share token (load a file of the UDF's own folders first)`,
  );
}

function nestedCaller(caller: CallerContext): CallerContext {
  const depth = caller.depth + 1;
  if (depth > options.maxRecursionFactor) {
    throw new FusedError(
      `A UDF called UDFs ${depth} levels deep, over the limit of ${options.maxRecursionFactor} (options.maxRecursionFactor): call fewer UDFs from UDFs, or raise the limit`,
    );
  }
  return { ...caller, depth };
}

async function runNested(args: unknown[], scope: HostCallScope): Promise<HostCallAnswer> {
  const caller = nestedCaller(scope.caller);
  const request = args[0] as NestedRunMessage;
  if (typeof request !== "object" || request === null) {
    throw new ValidationError("A nested run must be an object");
  }
  if (request.engine !== "local" && request.engine !== "remote") {
    throw new ValidationError(`Unknown engine "${request.engine}": use "local" or "remote"`);
  }
  const response = await scope.caller.host.run({
    udf: udfOf(request.udf),
    engine: request.engine,
    parameters: typeof request.parameters === "object" && request.parameters !== null
      ? request.parameters
      : {},
    tile: request.tile,
    cacheMaxAge: typeof request.cacheMaxAge === "number" ? request.cacheMaxAge : undefined,
  }, { caller, signal: scope.signal });
  const writer = new BodyWriter();
  // The result goes back as bytes too; copy, since the cache may hold the same buffers. A
  // Python UDF has no Arrow reader: it asks for tables column by column.
  const result = request.tables === "columns"
    ? await packForPython(response.data, writer)
    : packResult((await toTransferable(response.data, { copy: true })).message, writer);
  const value: NestedRunReply = {
    result: result as PackedResult,
    logs: response.logs,
    cached: response.cached,
    timeTakenMs: response.timeTakenMs,
  };
  return { value, parts: writer.parts };
}

async function describe(args: unknown[], scope: HostCallScope): Promise<HostCallAnswer> {
  nestedCaller(scope.caller);
  const udf = udfOf(args[0]);
  if (typeof udf === "string") throw new ValidationError("describe takes a UDF, not a name");
  return { value: await scope.describe(udf), parts: [] };
}

/** Largest file of UDF code a host fetches for a UDF's `fused.load(url)` (the registry's cap). */
const MAX_UDF_SOURCE_BYTES = 5_000_000;

/** Fetches a file of UDF code for a run: checked as a download, refused over the cap. */
async function fetchUdfSource(
  url: URL,
  network: NetworkScope,
  init: { signal: AbortSignal },
): Promise<Response> {
  const response = await fetchChecked(url, network, init);
  const refusal = () =>
    new HostCallRefused(
      `Loading a UDF from ${url.href}`,
      `the file is larger than ${MAX_UDF_SOURCE_BYTES} bytes, the most a UDF's code may be`,
      "Load the UDF's code alone, and download its data with fused.download",
    );
  if (Number(response.headers.get("content-length") ?? 0) > MAX_UDF_SOURCE_BYTES) {
    await response.body?.cancel();
    throw refusal();
  }
  const cap = byteCap(MAX_UDF_SOURCE_BYTES, refusal);
  const { status, statusText, headers } = response;
  return new Response(response.body?.pipeThrough(cap) ?? null, { status, statusText, headers });
}

/**
 * `fused.load` for a UDF: an http(s) URL is fetched by download's network rule, each file capped;
 * anything else must be a saved UDF's reference, which the caller's host finds as the caller may
 * read it. A code string or a path never gets here: the UDF reads its own folders itself.
 */
async function loadUdf(args: unknown[], scope: HostCallScope): Promise<HostCallAnswer> {
  const { caller, signal } = scope;
  const ref = text(args[0], "The UDF to load").trim();
  let udf: Udf;
  if (/^https?:\/\//i.test(ref)) {
    const network: NetworkScope = { net: scope.net, policy: caller.policy ?? LOCAL_POLICY };
    udf = await load(ref, {
      signal,
      fetch: (url, init) => fetchUdfSource(new URL(url), network, init),
    });
  } else if (isSavedReference(ref)) {
    udf = await caller.host.load(ref, { caller, signal });
  } else {
    throw new ValidationError(
      `Cannot load ${
        JSON.stringify(ref.slice(0, 200))
      } through the host: give a saved UDF's NAME, OWNER/NAME, id or share token, or an http(s) URL (a UDF loads files of its own folders itself)`,
    );
  }
  return { value: udf.toJSON(), parts: [] };
}

/**
 * Makes `dir` (a folder under `dataDir`) one level at a time, never through a link that leads
 * outside `dataDir`, and answers its real path: nothing is created outside before a check.
 */
async function folderInside(dataDir: string, dir: string): Promise<string> {
  await Deno.mkdir(dataDir, { recursive: true });
  const root = await Deno.realPath(dataDir);
  let current = root;
  for (const part of relative(dataDir, dir).split(/[\\/]/).filter((p) => p !== "")) {
    const next = join(current, part);
    const stat = await Deno.lstat(next).catch(() => undefined);
    if (!stat) {
      await Deno.mkdir(next).catch((error) => {
        if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      });
    }
    current = await Deno.realPath(next);
    if (!isInside(root, current) || !(await Deno.stat(current)).isDirectory) {
      throw new HostCallRefused(
        `Writing into ${relative(dataDir, dir)}`,
        "its folder leads outside the caller's data folder, or is not a folder",
        "Download to a path whose folders are plain folders of fused.filePath()",
      );
    }
  }
  return current;
}

/**
 * `fused.download` for a UDF: the URL is checked as the caller may reach it, the file is written
 * once (under a lock, whole or not at all) at a path whose real folder is inside the caller's
 * data folder.
 */
async function download(args: unknown[], scope: HostCallScope): Promise<HostCallAnswer> {
  const { caller, signal } = scope;
  const policy = caller.policy ?? LOCAL_POLICY;
  const url = parseDownloadUrl(text(args[0], "The URL to download"));
  const target = resolveInside(caller.dataDir, text(args[1], "The download path"), "download path");
  const folder = await folderInside(caller.dataDir, dirname(target));
  const path = join(folder, basename(target));
  const network: NetworkScope = { net: scope.net, policy };
  const what = `Downloading ${url.href}`;
  await withFileLock(`${path}.lock`, { label: `the download of ${url.href}` }, async () => {
    const there = await Deno.lstat(path).catch(() => undefined);
    if (there?.isFile) return; // downloaded before, by this run or another
    // What the file may take: the policy's cap, or what is left of the caller's disk quota.
    const cap = await downloadCap(caller, what);
    const temp = join(folder, `.${crypto.randomUUID()}.part`);
    try {
      if (url.protocol === "file:") {
        const file = await openInside(caller.dataDir, url);
        const { size } = await file.stat();
        if (size > cap.bytes) {
          file.close();
          throw cap.refuse(size);
        }
        await writeCapped(file.readable, temp, cap);
      } else if (url.protocol === "fd:") {
        await caller.host.download(url.href, temp, { caller, signal });
        const { size } = await Deno.stat(temp);
        if (size > cap.bytes) throw cap.refuse(size);
      } else {
        const response = await fetchChecked(url, network, { signal });
        if (!response.ok || response.body === null) {
          await response.body?.cancel();
          throw new FusedError(
            `Cannot download ${url.href}: the server answered ${response.status} ${response.statusText}`
              .trimEnd(),
          );
        }
        const length = Number(response.headers.get("content-length") ?? 0);
        if (length > cap.bytes) {
          await response.body.cancel();
          throw cap.refuse(length);
        }
        await writeCapped(response.body, temp, cap);
      }
      await Deno.rename(temp, path);
    } catch (error) {
      await Deno.remove(temp).catch(() => {});
      throw error;
    }
  });
  return { value: relative(caller.dataDir, target), parts: [] };
}

/**
 * `fused.api.upload` of a file in the caller's data folder (ingest stages its tables there): the
 * file is opened, checked to lie inside the folder after symlinks, and streamed to the caller's
 * store as an upload, so no frame has to hold it.
 */
async function uploadFile(args: unknown[], scope: HostCallScope): Promise<HostCallAnswer> {
  const { caller, signal } = scope;
  let url: URL;
  try {
    url = new URL(text(args[0], "The file to upload"));
  } catch {
    throw new ValidationError("The file to upload must be a file:// URL");
  }
  const target = text(args[1], "The fd:// path to upload to");
  const file = await openInside(caller.dataDir, url);
  try {
    const { size } = await file.stat();
    await caller.host.files("files.upload", [target, size], file.readable, { caller, signal });
  } finally {
    try {
      file.close();
    } catch {
      // Its stream closed it when it was read to the end.
    }
  }
  return { value: target, parts: [] };
}

function fileCall(method: Exclude<Extract<HostMethod, `files.${string}`>, "files.uploadFile">) {
  return async (args: unknown[], scope: HostCallScope, body: Uint8Array) => {
    const answer = await scope.caller.host.files(
      method,
      args,
      body.byteLength ? body : undefined,
      { caller: scope.caller, signal: scope.signal },
    );
    if (answer instanceof Uint8Array) return { value: { bytes: true }, parts: [answer] };
    return { value: answer ?? null, parts: [] };
  };
}

/** An object cache entry's name: the SHA-256 hex digests of its folder and key (the SDK hashes them). */
function objectCacheKey(value: unknown): string {
  if (typeof value !== "string" || !/^[0-9a-f]{64}\/[0-9a-f]{64}$/.test(value)) {
    throw new ValidationError(
      'An object cache key must be "<folder digest>/<key digest>": two SHA-256 hex digests (64 characters 0-9a-f each)',
    );
  }
  return value;
}

/** `fused.cache` with cacheStorage "object": the caller's own entries, through its host. */
async function objectCacheCall(
  method: "cache.get" | "cache.put",
  args: unknown[],
  scope: HostCallScope,
  body: Uint8Array,
): Promise<HostCallAnswer> {
  const key = objectCacheKey(args[0]);
  const context = { caller: scope.caller, signal: scope.signal };
  if (method === "cache.put") {
    await scope.caller.host.objectCache(method, [key], body, context);
    return { value: null, parts: [] };
  }
  const maxAge = args[1];
  if (typeof maxAge !== "number" || !(maxAge >= 0)) {
    throw new ValidationError("An object cache read needs a max age in seconds (0 or more)");
  }
  const found = await scope.caller.host.objectCache(method, [key, maxAge], undefined, context);
  return found === null
    ? { value: null, parts: [] }
    : { value: { ageMs: found.ageMs }, parts: [found.bytes] };
}

const CACHE_RULE =
  "the caller's own entries (keyed by its user id) in the platform's cache area of the shared store, which no fd:// path reaches; a key is two SHA-256 digests, of the folder and of the key";

/** One SDK call a UDF may make, and the rule the host checks before it does anything. */
export interface HostCallRule {
  /** What is checked against the caller, in words (the README lists these). */
  rule: string;
  /** Carries the call out as the caller. */
  answer(args: unknown[], scope: HostCallScope, body: Uint8Array): Promise<HostCallAnswer>;
}

const FD_RULE = "fd:// paths on the caller's store, as the caller";

/** Every call a UDF may make through its host. */
export const HOST_CALLS: { readonly [M in HostMethod]: HostCallRule } = {
  run: {
    rule:
      "as the caller, one level deeper, at most options.maxRecursionFactor deep; a UDF object, or a saved UDF found as for load (a share token: anyone holding it while enabled, and its run acts as its UDF's owner, as over HTTP)",
    answer: runNested,
  },
  describe: { rule: "as run: a UDF object, one level deeper", answer: describe },
  load: {
    rule:
      "a saved UDF's name, owner/name, team/name, id or share token, found by the caller's host as the caller may read it (on the service: the HTTP API's sharing rules); an http(s) URL as download's network rule, at most 5 MB a file; never a file of the host",
    answer: loadUdf,
  },
  download: {
    rule:
      "file:// only inside the caller's data folder after symlinks; http(s) only when the run allows network, to the hosts it names, to public addresses unless the caller's policy allows others, every redirect checked again; fd:// on the caller's store; at most the policy's maxDownloadBytes; written only inside the caller's data folder",
    answer: download,
  },
  "files.list": { rule: FD_RULE, answer: fileCall("files.list") },
  "files.get": { rule: FD_RULE, answer: fileCall("files.get") },
  "files.upload": { rule: FD_RULE, answer: fileCall("files.upload") },
  "files.uploadFile": {
    rule:
      "a file inside the caller's data folder after symlinks, streamed to an fd:// path on the caller's store, as the caller",
    answer: uploadFile,
  },
  "files.delete": { rule: FD_RULE, answer: fileCall("files.delete") },
  "files.signUrl": { rule: FD_RULE, answer: fileCall("files.signUrl") },
  "files.signUrlPrefix": { rule: FD_RULE, answer: fileCall("files.signUrlPrefix") },
  "cache.get": {
    rule: CACHE_RULE,
    answer: (args, scope, body) => objectCacheCall("cache.get", args, scope, body),
  },
  "cache.put": {
    rule: CACHE_RULE,
    answer: (args, scope, body) => objectCacheCall("cache.put", args, scope, body),
  },
};

/** Carries out one SDK call of a UDF as its caller, after its rule's checks. */
export function answerHostCall(
  method: HostMethod,
  args: unknown,
  body: Uint8Array,
  scope: HostCallScope,
): Promise<HostCallAnswer> {
  if (!Array.isArray(args)) throw new ValidationError("A host call's arguments must be a list");
  if (!Object.hasOwn(HOST_CALLS, method)) {
    throw new ValidationError(`Unknown host call "${String(method)}"`);
  }
  return HOST_CALLS[method].answer(args, scope, body);
}
