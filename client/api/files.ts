/**
 * The file API of the service (`fd://` paths, fused-wire §8): list, get (whole or a byte range),
 * download, upload, delete and signed URLs.
 *
 * Inside a UDF every call goes to its host. A file the UDF uploads from its data folder
 * (`fused.filePath()`, where ingest stages its tables) is streamed by the host from the folder
 * (`files.uploadFile`), so its size is not bound by the frames between the UDF and its host;
 * other uploads travel as bytes in one frame, at most 256 MiB.
 *
 * @module
 */
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { pathToFileURL } from "node:url";
import { FusedError, ValidationError } from "../errors.ts";
import { isTable } from "../formats/types.ts";
import type { Table } from "apache-arrow";
import {
  FileDetailsListSchema,
  FileListSchema,
  type ListDetails,
  SignedPrefixSchema,
} from "./schemas.ts";
import { type ApiCallOptions, globalTransport, requireText } from "./transport.ts";
import { z } from "zod";
import { type HostMethod, udfHost } from "../host_channel.ts";

/**
 * Inside a UDF (no network, no credentials) file calls go to the UDF's host, which makes them as
 * the UDF's caller; an explicit transport is used as given.
 */
async function viaHost<T>(
  opts: ApiCallOptions,
  method: HostMethod,
  args: unknown[],
  body?: Uint8Array,
): Promise<{ value: T; body: Uint8Array } | undefined> {
  const host = opts.transport ? undefined : udfHost();
  if (!host) return undefined;
  const reply = await host.call(method, args, body);
  return { value: reply.value as T, body: reply.body };
}

/** Files larger than this are streamed to the service (and then not retried). */
const STREAM_UPLOAD_BYTES = 256 * 1024 * 1024;

/**
 * Largest upload a UDF sends its host as bytes in one frame: the host's cap on a frame is its
 * `options.maxResultBytes` (256 MiB by default) plus 1 MiB, and a frame over it ends the UDF's
 * process, so a larger upload is refused first, with the way round it.
 */
const HOST_UPLOAD_BYTES = 256 * 1024 * 1024;

function checkPath(path: string): string {
  return requireText(path, "The remote path (fd://folder/file)");
}

/**
 * Lists a folder: `fd://` URLs, or with `details: true` Fused's `ListDetails` (url, file_name,
 * is_directory, size, last_modified).
 *
 * @example
 * ```ts ignore
 * import * as fused from "fused";
 * console.log(await fused.api.list("fd://tables/"));
 * ```
 */
export async function list(
  path: string,
  opts?: ApiCallOptions & { details?: false },
): Promise<string[]>;
/** Lists a folder with details of each entry. */
export async function list(
  path: string,
  opts: ApiCallOptions & { details: true },
): Promise<ListDetails[]>;
export async function list(
  path: string,
  opts: ApiCallOptions & { details?: boolean } = {},
): Promise<string[] | ListDetails[]> {
  const hosted = await viaHost<string[] | ListDetails[]>(opts, "files.list", [
    checkPath(path),
    opts.details === true,
  ]);
  if (hosted) return hosted.value;
  const transport = opts.transport ?? globalTransport();
  const query = { path: checkPath(path) };
  if (opts.details) {
    return await transport.json(FileDetailsListSchema, "/files/list-details", {
      query,
      signal: opts.signal,
    });
  }
  return await transport.json(FileListSchema, "/files/list", { query, signal: opts.signal });
}

/** A byte range of a file, both ends inclusive (HTTP's `bytes=start-end`). */
export interface ByteRange {
  /** First byte. */
  start: number;
  /** Last byte; the end of the file when absent or past it. */
  end?: number;
}

/** Options of `get`. */
export interface GetOptions extends ApiCallOptions {
  /** Only these bytes (read from the store alone, not the whole file). */
  range?: ByteRange;
}

function checkRange(range: ByteRange | undefined): ByteRange | undefined {
  if (range === undefined) return undefined;
  const { start, end } = range;
  if (
    !Number.isSafeInteger(start) || start < 0 ||
    (end !== undefined && !(Number.isSafeInteger(end) && end >= start))
  ) {
    throw new ValidationError(
      `Invalid byte range ${
        JSON.stringify(range)
      }: give { start, end } with 0 <= start <= end (end included)`,
    );
  }
  return range;
}

/**
 * Downloads a file into memory, or with `range` only those bytes.
 *
 * @example
 * ```ts ignore
 * import * as fused from "fused";
 * const magic = await fused.api.get("fd://tables/t/0.parquet", { range: { start: 0, end: 3 } });
 * ```
 */
export async function get(path: string, opts: GetOptions = {}): Promise<Uint8Array> {
  const range = checkRange(opts.range);
  const hosted = await viaHost(opts, "files.get", [checkPath(path), ...(range ? [range] : [])]);
  if (hosted) return hosted.body;
  const transport = opts.transport ?? globalTransport();
  const response = await transport.fetch("/files/get", {
    query: { path: checkPath(path) },
    headers: range ? { Range: `bytes=${range.start}-${range.end ?? ""}` } : undefined,
    signal: opts.signal,
  });
  const bytes = new Uint8Array(await response.arrayBuffer());
  // A service that ignores ranges answers 200 with the whole file.
  if (range && response.status === 200) {
    return bytes.subarray(range.start, range.end === undefined ? undefined : range.end + 1);
  }
  return bytes;
}

/**
 * Downloads a file to a local path, streamed, atomically (a temporary file renamed into place).
 * Returns the local path.
 */
export async function download(
  path: string,
  localPath: string,
  opts: ApiCallOptions = {},
): Promise<string> {
  requireText(localPath, "The local path");
  const hosted = await viaHost(opts, "files.get", [checkPath(path)]);
  const response = hosted ? undefined : await (opts.transport ?? globalTransport()).fetch(
    "/files/get",
    { query: { path: checkPath(path) }, signal: opts.signal },
  );
  const target = localPath.endsWith("/") ? join(localPath, basename(path)) : localPath;
  await Deno.mkdir(dirname(target), { recursive: true });
  const temp = `${target}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  try {
    const file = await Deno.open(temp, { write: true, create: true, truncate: true });
    await (response ? response.body! : new Response(hosted!.body as Uint8Array<ArrayBuffer>).body!)
      .pipeTo(file.writable);
    await Deno.rename(temp, target);
  } catch (err) {
    await Deno.remove(temp).catch(() => {});
    throw err;
  }
  return target;
}

/**
 * What `upload` accepts: a local file path, bytes, text as bytes, an Arrow table (→ Parquet), or
 * a stream of bytes whose length is given as `size`.
 */
export type UploadSource =
  | string
  | URL
  | Uint8Array
  | ArrayBuffer
  | Table
  | ReadableStream<Uint8Array>;

/** Options of `upload`. */
export interface UploadOptions extends ApiCallOptions {
  /** Timeout in seconds (default `requestTimeout`, at least 60 s for files). */
  timeout?: number;
  /** Length in bytes of a stream source (required for streams: the service checks it first). */
  size?: number;
}

/** A local file inside this UDF's data folder, as the file:// URL its host reads, else undefined. */
function inDataFolder(local: string): string | undefined {
  const dataDir = udfHost()?.folders.dataDir;
  if (dataDir === undefined) return undefined;
  const full = resolve(local);
  const rest = relative(dataDir, full);
  if (rest === "" || rest === ".." || rest.startsWith(`..${sep}`) || isAbsolute(rest)) {
    return undefined;
  }
  return pathToFileURL(full).href;
}

/**
 * Uploads a local file, bytes, or an Arrow table (written as Parquet) to a remote path. A remote
 * path ending in `/` gets the local file's name. Returns the remote path.
 *
 * @example
 * ```ts ignore
 * import * as fused from "fused";
 * await fused.api.upload(new TextEncoder().encode("hello"), "fd://notes/hello.txt");
 * ```
 */
export async function upload(
  source: UploadSource,
  remotePath: string,
  opts: UploadOptions = {},
): Promise<string> {
  let target = checkPath(remotePath);
  const transport = opts.transport ?? globalTransport();
  let body: Uint8Array | ReadableStream<Uint8Array>;
  let retry = true;
  let length: number;
  if (typeof source === "string" || source instanceof URL) {
    const local = source instanceof URL ? source.pathname : source;
    const hostRead = opts.transport ? undefined : inDataFolder(local);
    if (hostRead !== undefined) {
      // Inside a UDF: the host streams the file from the caller's data folder.
      if (target.endsWith("/")) target += basename(local);
      await viaHost(opts, "files.uploadFile", [hostRead, target]);
      return target;
    }
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(local);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) {
        throw new ValidationError(
          `No local file ${local}: to upload text, encode it first (new TextEncoder().encode(text))`,
        );
      }
      throw err;
    }
    if (!info.isFile) throw new ValidationError(`${local} is not a file: upload files one by one`);
    if (target.endsWith("/")) target += basename(local);
    length = info.size;
    if (info.size > STREAM_UPLOAD_BYTES) {
      body = (await Deno.open(local)).readable;
      retry = false; // A stream cannot be sent twice.
    } else {
      body = await Deno.readFile(local);
    }
  } else if (source instanceof Uint8Array) {
    body = source;
    length = source.byteLength;
  } else if (source instanceof ArrayBuffer) {
    body = new Uint8Array(source);
    length = source.byteLength;
  } else if (isTable(source)) {
    const { tableToParquet } = await import("../formats/parquet.ts");
    body = tableToParquet(source);
    length = body.byteLength;
  } else if (source instanceof ReadableStream) {
    if (!(Number.isSafeInteger(opts.size) && opts.size! >= 0)) {
      throw new ValidationError("Uploading a stream needs its length: pass { size } in bytes");
    }
    body = source;
    length = opts.size!;
    retry = false; // A stream cannot be sent twice.
  } else {
    throw new ValidationError(
      "upload takes a local file path, a Uint8Array, an ArrayBuffer, an Arrow table or a stream with its size",
    );
  }
  if (target.endsWith("/")) {
    throw new ValidationError(
      `Cannot upload to ${target}: the path names a folder: add a file name (fd://folder/file.csv)`,
    );
  }
  if (!opts.transport && udfHost()) {
    if (length > HOST_UPLOAD_BYTES) {
      if (!(body instanceof Uint8Array)) await body.cancel();
      throw new ValidationError(
        `Cannot upload ${length} bytes to ${target} from inside a UDF as one message (at most ${HOST_UPLOAD_BYTES}): write it to a file under fused.filePath() and upload that path, which the host streams`,
      );
    }
    const bytes = body instanceof Uint8Array ? body : new Uint8Array(
      await new Response(body as ReadableStream<Uint8Array<ArrayBuffer>>).arrayBuffer(),
    );
    await viaHost(opts, "files.upload", [target], bytes);
    return target;
  }
  const seconds = opts.timeout ?? 60;
  const response = await transport.fetch("/files/upload", {
    method: "PUT",
    query: { path: target },
    body,
    headers: { "Content-Type": "application/octet-stream", "Content-Length": String(length) },
    retry,
    timeoutMs: seconds * 1000,
    signal: opts.signal,
  });
  await response.body?.cancel();
  return target;
}

/** Options of `delete`. */
export interface DeleteOptions extends ApiCallOptions {
  /** Deepest folder tree deleted (default 3), or "unlimited"; a guard against deleting too much. */
  maxDeletionDepth?: number | "unlimited";
}

/** Deletes a file or folder; returns whether anything was deleted. */
async function deletePath(path: string, opts: DeleteOptions = {}): Promise<boolean> {
  const depth = opts.maxDeletionDepth ?? 3;
  if (depth !== "unlimited" && !(Number.isInteger(depth) && depth >= 1)) {
    throw new ValidationError(
      `maxDeletionDepth must be a whole number 1 or more, or "unlimited", got ${depth}`,
    );
  }
  const hosted = await viaHost<boolean>(opts, "files.delete", [checkPath(path), depth]);
  if (hosted) return hosted.value;
  const transport = opts.transport ?? globalTransport();
  return await transport.json(z.boolean(), "/files/delete", {
    method: "DELETE",
    query: { path: checkPath(path), max_deletion_depth: depth },
    signal: opts.signal,
  });
}
export { deletePath as delete };

/** Options of the signing functions. */
export interface SignOptions extends ApiCallOptions {
  /** Lifetime of the URL in seconds (service default one hour). */
  expiration?: number;
}

/** A signed HTTPS URL that reads a file without a token (for browsers, DuckDB, GDAL). */
export async function signUrl(path: string, opts: SignOptions = {}): Promise<string> {
  const hosted = await viaHost<string>(opts, "files.signUrl", [checkPath(path), opts.expiration]);
  if (hosted) return hosted.value;
  const transport = opts.transport ?? globalTransport();
  const url = await transport.json(z.string(), "/files/sign", {
    query: { path: checkPath(path), expiration: opts.expiration },
    signal: opts.signal,
  });
  if (!/^https?:\/\//.test(url)) {
    throw new FusedError(`The service signed ${path} as "${url}", which is not a URL`);
  }
  return url;
}

/** Signed URLs of every file under a folder, keyed by `fd://` path. */
export async function signUrlPrefix(
  path: string,
  opts: SignOptions = {},
): Promise<Record<string, string>> {
  const hosted = await viaHost<Record<string, string>>(opts, "files.signUrlPrefix", [
    checkPath(path),
    opts.expiration,
  ]);
  if (hosted) return hosted.value;
  const transport = opts.transport ?? globalTransport();
  return await transport.json(SignedPrefixSchema, "/files/sign_prefix", {
    query: { path: checkPath(path), expiration: opts.expiration },
    signal: opts.signal,
  });
}
