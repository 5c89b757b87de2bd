/**
 * Local paths for UDF files: `filePath` (Fused's `fused.file_path`), the local folder `fd://`
 * names when `options.fdPrefix` says so, and the one containment check every path built from user
 * input goes through.
 *
 * Roots: "mount" (and "auto") is `options.dataDirectory`, this machine's `/mount`: shared by every
 * process and kept across runs. "local" is `{options.tempDirectory}/fused_data`.
 *
 * `fd://bucket/key` is a file of the store of the service this client is logged in to
 * (`options.baseUrl`; its folder, or its S3 bucket in scale-out), read and written through the
 * service's file API, and inside a UDF through its host. Only when `options.fdPrefix` names a
 * local folder is it `{fdPrefix}/bucket/key` on this machine ({@linkcode localFdRoot}): fd://
 * without any service, e.g. for tests or one machine's scripts.
 *
 * @module
 */
import { homedir } from "node:os";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { NotSupportedError, ValidationError } from "./errors.ts";
import { options, type Storage } from "./options.ts";
import { udfHost } from "./host_channel.ts";

/** Options of {@linkcode filePath}. */
export interface FilePathOptions {
  /** Create the missing folders (default true): the parent, or the path itself if it ends in "/". */
  mkdir?: boolean;
  /** "auto" or "mount": `options.dataDirectory`; "local": inside `options.tempDirectory`. */
  storage?: Storage;
}

/**
 * Joins a relative path to a root and checks the result stays inside it.
 *
 * @example
 * ```ts
 * import { resolveInside } from "./file_path.ts";
 * resolveInside("/data", "a/b.txt"); // "/data/a/b.txt"
 * ```
 */
export function resolveInside(root: string, path: string, what = "path"): string {
  if (typeof path !== "string" || path.trim() === "") {
    throw new ValidationError(
      `The ${what} is empty: give a relative path such as "folder/file.txt"`,
    );
  }
  // The messages leave the root out: on a service the root is a folder of the service, and the
  // error reaches the UDF and whoever called it.
  if (isAbsolute(path) || /^[A-Za-z]:[\\/]/.test(path)) {
    throw new ValidationError(
      `The ${what} "${path}" is absolute: give a path relative to its root, such as "folder/file.txt"`,
    );
  }
  const full = resolve(root, path);
  const inside = relative(resolve(root), full);
  if (inside.split(/[\\/]/)[0] === ".." || isAbsolute(inside)) {
    throw new ValidationError(
      `The ${what} "${path}" leaves its root: remove the ".." parts`,
    );
  }
  return full;
}

/** The rule of `fd://` segments, in the words of every error that refuses a path for it. */
const FD_SEGMENT_RULE =
  "fd:// paths may not contain .. segments, nor . ones (even %-encoded): write fd://folder/file";

/**
 * Refuses an `fd://` URL whose text has a `..` or `.` segment, %-encoded or not, with an error
 * that states the rule. It checks the text as written: parsing it as a URL would fold
 * `fd://a/../../b` into `fd://a/b` without a word.
 *
 * @example
 * ```ts
 * import { checkFdSegments } from "./file_path.ts";
 * checkFdSegments("fd://bucket/table/part0.parquet"); // fine
 * try {
 *   checkFdSegments("fd://../secret");
 * } catch (error) {
 *   console.log((error as Error).message); // … fd:// paths may not contain .. segments …
 * }
 * ```
 */
export function checkFdSegments(url: string): void {
  const rest = url.replace(/^fd:\/\//i, "");
  let text = rest;
  try {
    text = decodeURIComponent(rest);
  } catch {
    // A bad escape is refused where the path is read; its raw segments are checked here.
  }
  for (const segment of text.split(/[\\/]/)) {
    if (segment === "." || segment === "..") {
      throw new ValidationError(`Cannot use "${url}": ${FD_SEGMENT_RULE}`);
    }
  }
}

/**
 * The root folder of a storage kind.
 *
 * @example
 * ```ts
 * import { storageRoot } from "./file_path.ts";
 * storageRoot("mount"); // options.dataDirectory
 * ```
 */
export function storageRoot(storage: Storage = "auto"): string {
  switch (storage) {
    case "auto":
    case "mount":
      return options.dataDirectory;
    case "local":
      return join(options.tempDirectory, "fused_data");
    case "object":
      throw new NotSupportedError(
        'Storage "object" is not supported yet: use "mount" (options.dataDirectory, shared by every process on this machine) or "local"',
      );
    default:
      throw new ValidationError(
        `Unknown storage "${storage}": use "auto", "mount" or "local"`,
      );
  }
}

/**
 * Absolute path of a file under the data directory (Fused's `fused.file_path`), creating the
 * folders it needs. A path ending in "/" is a folder and is created itself; otherwise its parent
 * folder is created.
 *
 * @example
 * ```ts
 * import { filePath } from "./file_path.ts";
 * import { options } from "./options.ts";
 * options.dataDirectory = await Deno.makeTempDir();
 * const path = filePath("my_udf/out.parquet"); // {dataDirectory}/my_udf/out.parquet
 * options.reset();
 * ```
 */
export function filePath(path: string, opts: FilePathOptions = {}): string {
  const root = storageRoot(opts.storage);
  const full = resolveInside(root, path);
  if (opts.mkdir ?? true) {
    Deno.mkdirSync(/[\\/]$/.test(path) ? full : dirname(full), { recursive: true });
  }
  return full;
}

/**
 * The data folder of the embedded service, as `fused serve` picks it: `FUSED_SERVER_DIR`, else
 * `~/.fused/server`.
 *
 * @example
 * ```ts
 * import { embeddedServerDir } from "./file_path.ts";
 * embeddedServerDir(); // e.g. "/home/me/.fused/server"
 * ```
 */
export function embeddedServerDir(): string {
  try {
    const fromEnv = Deno.env.get("FUSED_SERVER_DIR");
    if (fromEnv) return fromEnv;
  } catch {
    // No env permission: fall back to the home folder.
  }
  return join(homedir(), ".fused", "server");
}

/**
 * The local folder `fd://` URLs name: `options.fdPrefix` when it is a local folder or `file://`
 * URL; null (the default) when fd:// is the store of the service this client is logged in to,
 * and always inside a UDF, whose fd:// calls its host makes as the UDF's caller.
 *
 * @example
 * ```ts
 * import { localFdRoot } from "./file_path.ts";
 * localFdRoot(); // null: fd:// goes through the service at options.baseUrl
 * ```
 */
export function localFdRoot(): string | null {
  const prefix = options.fdPrefix;
  if (prefix === null || udfHost()) return null;
  if (prefix.startsWith("file://")) return fileURLToPath(prefix).replace(/\/+$/, "") || "/";
  if (isAbsolute(prefix)) return prefix;
  throw new NotSupportedError(
    `options.fdPrefix is "${prefix}", a store this client cannot reach itself: set it to null to use the store of the service at options.baseUrl, or to a local folder`,
  );
}

/**
 * The local path of an `fd://bucket/key` URL under {@linkcode localFdRoot}, or null when fd://
 * is the service's store.
 *
 * @example
 * ```ts
 * import { resolveFdPath } from "./file_path.ts";
 * import { options } from "./options.ts";
 * options.fdPrefix = "/data/fd";
 * resolveFdPath("fd://bucket/table/part0.parquet"); // "/data/fd/bucket/table/part0.parquet"
 * options.reset();
 * ```
 */
export function resolveFdPath(url: string): string | null {
  const match = /^fd:\/\/(.*)$/i.exec(url);
  if (!match) {
    throw new ValidationError(`"${url}" is not an fd:// URL: write it as fd://bucket/path`);
  }
  checkFdSegments(url);
  let rest: string;
  try {
    rest = decodeURIComponent(match[1]);
  } catch {
    throw new ValidationError(`"${url}" has a bad %-escape: encode the path with encodeURI`);
  }
  const root = localFdRoot();
  if (root === null) return null;
  if (rest === "" || rest === "/") return root;
  return resolveInside(root, rest.replace(/^\/+/, ""), "fd:// path");
}
