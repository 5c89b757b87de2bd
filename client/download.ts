/**
 * `fused.download`: fetch a file once into the data directory, so every later call (from any
 * process of this machine) gets the local copy without a request.
 *
 * Without a target path the file goes to `{storage root}/download/{scheme}/{host}/{url path}`
 * (see `storageRoot` in `file_path.ts`; "auto" is `options.dataDirectory`). URL parts that are
 * not plain file-name characters, and query strings, add a short hash of the URL to the name so
 * that two URLs never share a file.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { dirname, extname, isAbsolute, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { withFileLock } from "./cache.ts";
import { FusedError, NotSupportedError, ValidationError } from "./errors.ts";
import { checkFdSegments, resolveFdPath, resolveInside, storageRoot } from "./file_path.ts";
import type { Storage } from "./options.ts";
import { udfHost } from "./host_channel.ts";

/** Options of {@linkcode download}. */
export interface DownloadOptions {
  /** Root of relative and derived paths: "auto"/"mount" (data directory) or "local". */
  storage?: Storage;
  /** How long to wait for another process downloading the same file, in ms (default 10 min). */
  lockTimeoutMs?: number;
  /** Extra request headers for http(s) URLs. */
  headers?: HeadersInit;
  /** Stops the download. */
  signal?: AbortSignal;
}

const DEFAULT_LOCK_TIMEOUT_MS = 600_000;

/** Parses a URL `download` accepts (http(s), file, fd), or throws an error naming the fix. */
export function parseDownloadUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ValidationError(
      `Cannot download "${url}": it is not a URL; give an http(s)://, file:// or fd:// URL`,
    );
  }
  const scheme = parsed.protocol.slice(0, -1);
  if (scheme === "s3" || scheme === "gs") {
    throw new NotSupportedError(
      `Cannot download ${url}: ${scheme}:// is not supported here; use an https URL (a signed URL) or an fd:// path`,
    );
  }
  if (!["http", "https", "file", "fd"].includes(scheme)) {
    throw new ValidationError(
      `Cannot download ${url}: the scheme ${scheme}:// is not supported; use http(s)://, file:// or fd://`,
    );
  }
  if (scheme === "fd") checkFdSegments(url);
  return parsed;
}

function safeSegment(segment: string): string {
  let text: string;
  try {
    text = decodeURIComponent(segment);
  } catch {
    text = segment;
  }
  const clean = text.replace(/[^A-Za-z0-9._~-]/g, "_");
  return clean === "." || clean === ".." ? clean.replace(/\./g, "_") : clean;
}

/**
 * The relative path a URL is downloaded to when no path is given.
 *
 * @example
 * ```ts
 * import { downloadPathOf } from "./download.ts";
 * downloadPathOf("https://example.com/data/a.tif"); // "download/https/example.com/data/a.tif"
 * ```
 */
export function downloadPathOf(url: string): string {
  const parsed = parseDownloadUrl(url);
  const scheme = parsed.protocol.slice(0, -1);
  const host = parsed.host.replace(/:/g, "_");
  const raw = parsed.pathname.split("/").filter((part) => part !== "");
  const segments = raw.map(safeSegment);
  if (parsed.pathname.endsWith("/") || segments.length === 0) segments.push("index");
  const changed = segments.some((segment, i) => raw[i] !== undefined && segment !== raw[i]);
  if (parsed.search !== "" || changed) {
    const tag = createHash("sha256").update(url).digest("hex").slice(0, 10);
    const last = segments.pop()!;
    const ext = extname(last);
    segments.push(`${last.slice(0, last.length - ext.length)}_${tag}${ext}`);
  }
  return ["download", scheme, ...(host ? [host] : []), ...segments].join("/");
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

async function fetchTo(url: URL, temp: string, opts: DownloadOptions): Promise<void> {
  const scheme = url.protocol.slice(0, -1);
  const source = scheme === "file"
    ? fileURLToPath(url)
    : scheme === "fd"
    ? resolveFdPath(url.href)
    : undefined;
  if (source === null) {
    // fd:// is the store of the service this client is logged in to (its folder, or S3).
    const files = await import("./api/files.ts");
    await files.download(url.href, temp, { signal: opts.signal });
    return;
  }
  if (source !== undefined) {
    try {
      await Deno.copyFile(source, temp);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      // An fd:// file is named by its URL: its folder may be a service's.
      const where = scheme === "fd" ? url.href : source;
      throw new FusedError(`Cannot download ${url.href}: there is no file at ${where}`);
    }
    return;
  }
  let response: Response;
  try {
    response = await fetch(url, { headers: opts.headers, signal: opts.signal });
  } catch (error) {
    if (opts.signal?.aborted) throw error;
    throw new FusedError(`Cannot download ${url.href}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (!response.ok || response.body === null) {
    await response.body?.cancel();
    throw new FusedError(
      `Cannot download ${url.href}: the server answered ${response.status} ${response.statusText}`
        .trimEnd(),
    );
  }
  const file = await Deno.open(temp, { write: true, createNew: true });
  await response.body.pipeTo(file.writable);
}

/**
 * Downloads a file once and returns its local path (Fused's `fused.download`). Later calls, from
 * any process of this machine, return the same path without a request; concurrent calls wait
 * for the first (a lock file beside the target). The file appears whole or not at all.
 *
 * @param url An http(s)://, file:// or fd:// URL.
 * @param filePath Where to save it: relative to the storage root, or absolute; derived from the
 * URL when not given.
 *
 * @example
 * ```ts ignore
 * import { download } from "./download.ts";
 * const path = await download("https://example.com/data/countries.geojson");
 * const text = await Deno.readTextFile(path);
 * ```
 */
export async function download(
  url: string,
  filePath?: string,
  opts: DownloadOptions = {},
): Promise<string> {
  const parsed = parseDownloadUrl(url);
  const root = storageRoot(opts.storage);
  const target = filePath === undefined
    ? resolveInside(root, downloadPathOf(url))
    : isAbsolute(filePath)
    ? filePath
    : resolveInside(root, filePath, "download path");
  if (await isFile(target)) return target;
  const host = udfHost();
  if (host) {
    // Inside a UDF: no network here; the host downloads it into this UDF's data folder (once,
    // under the same lock), as the UDF's caller.
    await host.call("download", [url, relative(root, target)]);
    return target;
  }
  await Deno.mkdir(dirname(target), { recursive: true });
  return await withFileLock(`${target}.lock`, {
    timeoutMs: opts.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS,
    label: `the download of ${url}`,
  }, async () => {
    if (await isFile(target)) return target; // another process finished while we waited
    const temp = join(dirname(target), `.${crypto.randomUUID()}.part`);
    try {
      await fetchTo(parsed, temp, opts);
      await Deno.rename(temp, target);
    } catch (error) {
      await Deno.remove(temp).catch(() => {});
      throw error;
    }
    return target;
  });
}
