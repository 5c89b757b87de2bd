/**
 * Local paths for UDF files: `filePath` (Fused's `fused.file_path`), the `fd://` root of the
 * embedded service, and the one containment check every path built from user input goes through.
 *
 * Roots: "mount" (and "auto") is `options.dataDirectory`, this machine's `/mount`: shared by every
 * process and kept across runs. "local" is `{options.tempDirectory}/fused_data`. `fd://bucket/key`
 * is `{fdRoot()}/bucket/key`, where `fdRoot()` is `options.fdPrefix` when that names a local
 * folder, else the embedded service's store (`{embeddedServerDir()}/files`), so that a file
 * uploaded with `fused.api.upload` is the file `download`, `ingest` and `getChunksMetadata` read.
 *
 * @module
 */
import { homedir } from "node:os";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { NotSupportedError, ValidationError } from "./errors.ts";
import { options, type Storage } from "./options.ts";

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
  if (isAbsolute(path) || /^[A-Za-z]:[\\/]/.test(path)) {
    throw new ValidationError(
      `The ${what} "${path}" is absolute: give a path relative to ${root}, such as "folder/file.txt"`,
    );
  }
  const full = resolve(root, path);
  const inside = relative(resolve(root), full);
  if (inside.split(/[\\/]/)[0] === ".." || isAbsolute(inside)) {
    throw new ValidationError(
      `The ${what} "${path}" leaves its root ${root}: remove the ".." parts`,
    );
  }
  return full;
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
 * The local folder `fd://` URLs resolve to: `options.fdPrefix` when it is a local folder or
 * `file://` URL, else the embedded service's store, `{embeddedServerDir()}/files`.
 *
 * @example
 * ```ts
 * import { fdRoot } from "./file_path.ts";
 * fdRoot(); // e.g. "/home/me/.fused/data/fd"
 * ```
 */
export function fdRoot(): string {
  const prefix = options.fdPrefix;
  if (prefix === null) return join(embeddedServerDir(), "files");
  if (prefix.startsWith("file://")) return fileURLToPath(prefix).replace(/\/+$/, "") || "/";
  if (isAbsolute(prefix)) return prefix;
  throw new NotSupportedError(
    `Cannot resolve fd:// locally: options.fdPrefix is "${prefix}"; set it to a local folder or file:// URL, or to null for ${
      join(embeddedServerDir(), "files")
    }`,
  );
}

/**
 * The local path of an `fd://bucket/key` URL.
 *
 * @example
 * ```ts
 * import { resolveFdPath } from "./file_path.ts";
 * resolveFdPath("fd://bucket/table/part0.parquet"); // {fdRoot()}/bucket/table/part0.parquet
 * ```
 */
export function resolveFdPath(url: string): string {
  const match = /^fd:\/\/(.*)$/i.exec(url);
  if (!match) {
    throw new ValidationError(`"${url}" is not an fd:// URL: write it as fd://bucket/path`);
  }
  let rest: string;
  try {
    rest = decodeURIComponent(match[1]);
  } catch {
    throw new ValidationError(`"${url}" has a bad %-escape: encode the path with encodeURI`);
  }
  if (rest === "" || rest === "/") return fdRoot();
  return resolveInside(fdRoot(), rest.replace(/^\/+/, ""), "fd:// path");
}
