/**
 * The file API of the service (`fd://` paths, fused-wire §8): list, get, download, upload, delete
 * and signed URLs.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
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
import { type HostMethod, udfHost } from "../udf_host.ts";

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

/** Downloads a file into memory. */
export async function get(path: string, opts: ApiCallOptions = {}): Promise<Uint8Array> {
  const hosted = await viaHost(opts, "files.get", [checkPath(path)]);
  if (hosted) return hosted.body;
  const transport = opts.transport ?? globalTransport();
  return await transport.bytes("/files/get", {
    query: { path: checkPath(path) },
    signal: opts.signal,
  });
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

/** What `upload` accepts: a local file path, bytes, text as bytes, or an Arrow table (→ Parquet). */
export type UploadSource = string | URL | Uint8Array | ArrayBuffer | Table;

/** Options of `upload`. */
export interface UploadOptions extends ApiCallOptions {
  /** Timeout in seconds (default `requestTimeout`, at least 60 s for files). */
  timeout?: number;
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
  } else {
    throw new ValidationError(
      "upload takes a local file path, a Uint8Array, an ArrayBuffer or an Arrow table",
    );
  }
  if (target.endsWith("/")) {
    throw new ValidationError(`Cannot upload to the folder ${target}: give a file name`);
  }
  if (!opts.transport && udfHost()) {
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
