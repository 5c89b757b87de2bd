/**
 * File storage behind the `fd://` scheme. `Storage` is the interface (an S3 backend will
 * implement it later); `LocalStorage` keeps files in a folder. `parseFdPath` turns a user's
 * `fd://a/b.parquet` into a storage key and refuses any path that tries to leave the root.
 *
 * @module
 */
import { dirname, join, relative, resolve, sep } from "node:path";
import { byteCap } from "../client/byte_cap.ts";
import { ValidationError } from "../client/errors.ts";

/** What the temporary file of an upload has in its name, between the target name and a tag. */
const TEMP_UPLOAD_MARK = ".tmp-upload-";

/** One entry of a listing; `key` is relative to the storage root, `/`-separated. */
export interface FileInfo {
  /** Key of the file or folder (`a/b.parquet`, `a`); "" is the root. */
  key: string;
  /** Whether it is a folder. */
  isDirectory: boolean;
  /** Size in bytes (files only). */
  size: number | null;
  /** Time of the last change. */
  lastModified: Date | null;
}

/** A file opened for reading. */
export interface FileStream {
  /** The bytes. */
  body: ReadableStream<Uint8Array>;
  /** Size in bytes (of the range, when one was asked for). */
  size: number;
  /** The bytes served, when a range was asked for: first, last (inclusive) and the file's size. */
  range?: { start: number; end: number; total: number };
}

/** A byte range of a read, both ends inclusive (HTTP's `bytes=start-end`). */
export interface ByteRange {
  /** First byte. */
  start: number;
  /** Last byte; the end of the file when absent or past it. */
  end?: number;
}

/** Options of a read. */
export interface ReadOptions {
  /** Only these bytes. */
  range?: ByteRange;
}

/** A range starts past the end of its file (HTTP 416). */
export class RangeNotSatisfiableError extends Error {
  /** HTTP status of a request that asked for it. */
  readonly status = 416;
  /** Creates the error for a key and its size. */
  constructor(key: string, size: number) {
    super(
      `The range starts past the end of fd://${key} (${size} bytes): ask for bytes below ${size}`,
    );
    this.name = "RangeNotSatisfiableError";
  }
}

/** Options of a write. */
export interface WriteOptions {
  /** Refuse (with `TooLargeError`) once the body passes this many bytes. */
  maxBytes?: number;
}

/** A write went past its byte limit; nothing was written. */
export class TooLargeError extends Error {
  /** Creates the error for a limit in bytes. */
  constructor(maxBytes: number) {
    super(
      `The upload is larger than the limit of ${maxBytes} bytes: split it or raise the server's upload limit`,
    );
    this.name = "TooLargeError";
  }
}

/** A key names nothing. */
export class FileNotFoundError extends Error {
  /** Creates the error for a key. */
  constructor(key: string) {
    super(`No file or folder at fd://${key}`);
    this.name = "FileNotFoundError";
  }
}

/** Where `fd://` files live. Keys come from `parseFdPath`, never from users directly. */
export interface Storage {
  /** Direct children of a folder key ("" = root); FileNotFoundError when it does not exist. */
  list(key: string): Promise<FileInfo[]>;
  /** Every file (not folder) under a key, recursively. */
  walk(key: string): AsyncIterable<FileInfo>;
  /** Information about one key, or null. */
  stat(key: string): Promise<FileInfo | null>;
  /**
   * Opens a file, or with `range` only those bytes (only they are read); FileNotFoundError when
   * missing or a folder, RangeNotSatisfiableError when the range starts past its end.
   */
  read(key: string, options?: ReadOptions): Promise<FileStream>;
  /** Writes a file from a stream, atomically (nothing visible until complete). */
  write(key: string, body: ReadableStream<Uint8Array>, options?: WriteOptions): Promise<FileInfo>;
  /**
   * Deletes a file, or a folder with everything in it when its tree is at most `maxDepth`
   * levels deep (null = unlimited); false when nothing was there.
   */
  delete(key: string, options?: { maxDepth?: number | null }): Promise<boolean>;
  /** Resolves when the store answers (readiness); throws naming the store when it does not. */
  check(): Promise<void>;
  /**
   * A URL that reads a file straight from the store for `seconds`, for stores that have one (S3
   * presigned URLs); without it the service signs URLs it serves itself.
   */
  signUrl?(key: string, seconds: number): Promise<string>;
}

/** A file of a store as bytes, or null when it does not exist (small files only). */
export async function readBytes(storage: Storage, key: string): Promise<Uint8Array | null> {
  try {
    const { body } = await storage.read(key);
    return new Uint8Array(await new Response(body).arrayBuffer());
  } catch (err) {
    if (err instanceof FileNotFoundError) return null;
    throw err;
  }
}

/** Writes bytes as a file of a store (atomically, as every write). */
export async function writeBytes(storage: Storage, key: string, data: Uint8Array): Promise<void> {
  await storage.write(key, new Blob([data as Uint8Array<ArrayBuffer>]).stream());
}

/**
 * Parses a `fd://` path into a storage key, refusing anything that could leave the root:
 * `..` or `.` segments, absolute paths (`fd:///etc`), backslashes, control characters and
 * percent-encoded bytes (the query string was decoded once already; a second layer is a trick).
 *
 * @example
 * ```ts
 * import { parseFdPath } from "./storage.ts";
 * parseFdPath("fd://tables/roads.parquet"); // "tables/roads.parquet"
 * ```
 */
export function parseFdPath(path: string): string {
  if (!path.startsWith("fd://")) {
    throw new ValidationError(`Path "${path}" is not an fd:// path: write it as fd://folder/file`);
  }
  const rest = path.slice("fd://".length);
  if (rest.startsWith("/")) {
    throw new ValidationError(
      `Path "${path}" is absolute: fd:// paths are relative to the storage root (fd://folder/file)`,
    );
  }
  // Control characters are the point of this check.
  // deno-lint-ignore no-control-regex
  if (/[\\\u0000-\u001f\u007f]/.test(rest)) {
    throw new ValidationError(`Path "${path}" contains a backslash or a control character`);
  }
  if (/%[0-9a-fA-F]{2}/.test(rest)) {
    throw new ValidationError(
      `Path "${path}" contains percent-encoded characters: send the plain path, encoded once in the URL`,
    );
  }
  const segments = rest.split("/");
  if (segments.at(-1) === "") segments.pop(); // a trailing "/" names a folder
  for (const segment of segments) {
    if (segment === "" || segment === "." || segment === "..") {
      throw new ValidationError(
        `Path "${path}" contains an empty, "." or ".." segment: fd:// paths may not contain .. segments, nor . or empty ones (write fd://folder/file)`,
      );
    }
  }
  return segments.join("/");
}

/**
 * Parses the `fd://` path of a file to write, as {@linkcode parseFdPath}, refusing a path that
 * ends in `/` (or the root): it names a folder, and writing there would make a file of its name.
 *
 * @example
 * ```ts
 * import { parseFdFilePath } from "./storage.ts";
 * parseFdFilePath("fd://tables/roads.parquet"); // "tables/roads.parquet"
 * ```
 */
export function parseFdFilePath(path: string): string {
  const key = parseFdPath(path);
  if (path.endsWith("/") || key === "") {
    throw new ValidationError(
      `Path "${path}" names a folder: add a file name to write to (fd://folder/file.csv)`,
    );
  }
  return key;
}

/** The `fd://` URL of a key (folders end with `/`). */
export function fdUrl(info: Pick<FileInfo, "key" | "isDirectory">): string {
  return `fd://${info.key}${info.isDirectory && info.key !== "" ? "/" : ""}`;
}

/** A file as Fused's `ListDetails` (what `/files/list-details` answers). */
export function fileDetails(info: FileInfo): Record<string, unknown> {
  return {
    url: fdUrl(info),
    file_name: info.key.split("/").at(-1) ?? "",
    is_directory: info.isDirectory,
    size: info.size,
    last_modified: info.lastModified?.toISOString() ?? null,
  };
}

/** Storage in a local folder. */
export class LocalStorage implements Storage {
  /** Absolute path of the root folder. */
  readonly root: string;

  /** Uses (and creates on first write) the folder `root`. */
  constructor(root: string) {
    this.root = resolve(root);
  }

  /** {@inheritDoc Storage.check} */
  async check(): Promise<void> {
    try {
      // An empty store has no folder yet; one that cannot be made (gone, read-only) is down.
      await Deno.mkdir(this.root, { recursive: true });
    } catch (err) {
      throw new Error(`The store folder ${this.root} cannot be used (${(err as Error).message})`);
    }
  }

  /** The lexical path of a key (no symlinks followed), refused when it leaves the root. */
  #lexical(key: string): string {
    const path = key === "" ? this.root : join(this.root, ...key.split("/"));
    const rel = relative(this.root, path);
    if (rel.startsWith("..") || rel.includes(`${sep}..${sep}`)) {
      throw new ValidationError(`fd://${key} is outside the storage root`);
    }
    return path;
  }

  async #realRoot(): Promise<string> {
    await Deno.mkdir(this.root, { recursive: true });
    return await Deno.realPath(this.root);
  }

  /**
   * Maps a key to a path, checking (again, after symlinks) that it stays inside the root; a key
   * that does not exist, or that runs through a file as if it were a folder, maps to a path that
   * reads as missing.
   */
  async #path(key: string): Promise<string> {
    const path = this.#lexical(key);
    // A symlink inside the root could point outside it: compare real paths when the file exists.
    let real: string;
    try {
      real = await Deno.realPath(path);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) {
        return path;
      }
      throw err;
    }
    if (!isInside(real, await this.#realRoot())) {
      throw new ValidationError(`fd://${key} resolves outside the storage root`);
    }
    return path;
  }

  /**
   * The path a write of `key` goes to, checked before anything is written: the nearest existing
   * parent is resolved through symlinks and must lie inside the root, and no parent may be a file.
   */
  async #writablePath(key: string): Promise<string> {
    const path = await this.#path(key);
    const realRoot = await this.#realRoot();
    const segments = key.split("/");
    // Walk down from the root: each existing parent must be a folder inside the root.
    for (let i = 1; i < segments.length; i++) {
      const parentKey = segments.slice(0, i).join("/");
      const parent = join(this.root, ...segments.slice(0, i));
      let real: string;
      try {
        real = await Deno.realPath(parent);
      } catch (err) {
        if (err instanceof Deno.errors.NotFound) {
          // A link to nothing would make the folder creation below fail or follow it.
          if ((await Deno.lstat(parent).catch(() => null))?.isSymlink) {
            throw new ValidationError(
              `Cannot write fd://${key}: fd://${parentKey} is a broken link; delete it or choose another path`,
            );
          }
          break; // the rest is created inside the last existing parent, checked above
        }
        if (err instanceof Deno.errors.NotADirectory) {
          throw new ValidationError(notAFolder(key, parentKey));
        }
        throw err;
      }
      if (!isInside(real, realRoot)) {
        throw new ValidationError(`fd://${parentKey}/ resolves outside the storage root`);
      }
      if (!(await Deno.stat(real)).isDirectory) {
        throw new ValidationError(notAFolder(key, parentKey));
      }
    }
    return path;
  }

  #info(key: string, stat: Deno.FileInfo): FileInfo {
    return {
      key,
      isDirectory: stat.isDirectory,
      size: stat.isDirectory ? null : stat.size,
      lastModified: stat.mtime,
    };
  }

  /** {@inheritDoc Storage.stat} */
  async stat(key: string): Promise<FileInfo | null> {
    try {
      return this.#info(key, await Deno.stat(await this.#path(key)));
    } catch (err) {
      if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) {
        return null;
      }
      throw err;
    }
  }

  /** {@inheritDoc Storage.list} */
  async list(key: string): Promise<FileInfo[]> {
    const dir = await this.#path(key);
    if (key === "") await Deno.mkdir(dir, { recursive: true });
    const out: FileInfo[] = [];
    try {
      for await (const entry of Deno.readDir(dir)) {
        if (entry.name.includes(TEMP_UPLOAD_MARK)) continue;
        const child = key === "" ? entry.name : `${key}/${entry.name}`;
        // A symlink pointing outside the root is left out, not allowed to spoil the listing.
        const info = await this.stat(child).catch((err) => {
          if (err instanceof ValidationError) return null;
          throw err;
        });
        if (info) out.push(info);
      }
    } catch (err) {
      if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) {
        throw new FileNotFoundError(key);
      }
      throw err;
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** {@inheritDoc Storage.walk} */
  async *walk(key: string): AsyncIterable<FileInfo> {
    const info = await this.stat(key);
    if (!info) return;
    if (!info.isDirectory) {
      yield info;
      return;
    }
    for (const child of await this.list(key)) yield* this.walk(child.key);
  }

  /** {@inheritDoc Storage.read} */
  async read(key: string, options: ReadOptions = {}): Promise<FileStream> {
    const path = await this.#path(key);
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true });
    } catch (err) {
      if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) {
        throw new FileNotFoundError(key);
      }
      throw err;
    }
    const stat = await file.stat();
    if (!stat.isFile) {
      file.close();
      throw new FileNotFoundError(key);
    }
    if (!options.range) return { body: file.readable, size: stat.size };
    const start = options.range.start;
    const end = Math.min(options.range.end ?? Infinity, stat.size - 1);
    if (start >= stat.size || start > end) {
      file.close();
      throw new RangeNotSatisfiableError(key, stat.size);
    }
    await file.seek(start, Deno.SeekMode.Start);
    let left = end - start + 1;
    // Stops after the range: the file's stream is cancelled, which closes the file.
    const body = file.readable.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          const part = chunk.byteLength > left ? chunk.subarray(0, left) : chunk;
          left -= part.byteLength;
          controller.enqueue(part);
          if (left === 0) controller.terminate();
        },
      }),
    );
    return { body, size: end - start + 1, range: { start, end, total: stat.size } };
  }

  /** {@inheritDoc Storage.write} */
  async write(
    key: string,
    body: ReadableStream<Uint8Array>,
    options: WriteOptions = {},
  ): Promise<FileInfo> {
    if (key === "") {
      throw new ValidationError(
        "Cannot write to the storage root: give a file name (fd://folder/file)",
      );
    }
    const path = await this.#writablePath(key);
    if ((await Deno.lstat(path).catch(() => null))?.isSymlink && !(await this.stat(key))) {
      throw new ValidationError(
        `Cannot write fd://${key}: it is a broken link; delete it or choose another path`,
      );
    }
    const existing = await this.stat(key);
    if (existing?.isDirectory) {
      throw new ValidationError(`fd://${key} is a folder: upload to a file path inside it`);
    }
    await Deno.mkdir(dirname(path), { recursive: true });
    const tmp = `${path}${TEMP_UPLOAD_MARK}${crypto.randomUUID().slice(0, 8)}`;
    const file = await Deno.open(tmp, { write: true, createNew: true });
    const limit = options.maxBytes ?? Infinity;
    const counter = byteCap(limit, () => new TooLargeError(limit));
    try {
      await body.pipeThrough(counter).pipeTo(file.writable);
      await Deno.rename(tmp, path);
    } catch (err) {
      await Deno.remove(tmp).catch(() => {});
      throw err;
    }
    return (await this.stat(key)) as FileInfo;
  }

  /** {@inheritDoc Storage.delete} */
  async delete(key: string, options: { maxDepth?: number | null } = {}): Promise<boolean> {
    if (key === "") {
      throw new ValidationError("Cannot delete the storage root: name a file or folder inside it");
    }
    const info = await this.stat(key);
    if (!info) return false;
    const path = await this.#path(key);
    if (info.isDirectory) {
      const maxDepth = options.maxDepth ?? null;
      const depth = await treeDepth(path);
      if (maxDepth !== null && depth > maxDepth) {
        throw new ValidationError(
          `fd://${key}/ is ${depth} levels deep, more than max_depth=${maxDepth}: raise max_depth (or "unlimited") to delete it`,
        );
      }
    }
    await Deno.remove(path, { recursive: true });
    return true;
  }
}

/** Whether a real path is the real root or inside it. */
function isInside(real: string, realRoot: string): boolean {
  return real === realRoot || real.startsWith(realRoot + sep);
}

function notAFolder(key: string, fileKey: string): string {
  return `Cannot write fd://${key}: fd://${fileKey} is a file, not a folder; choose a path that does not go through a file`;
}

/**
 * Removes the temporary files of uploads cut off by a crash (`*.tmp-upload-*`) under a storage
 * folder; returns how many. Call it only while no upload runs (at start, holding the data-folder
 * lock). Symlinked folders are not followed.
 */
export async function removeStaleUploads(root: string): Promise<number> {
  let removed = 0;
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(root));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return 0;
    throw err;
  }
  for (const entry of entries) {
    const path = join(root, entry.name);
    if (entry.name.includes(TEMP_UPLOAD_MARK) && entry.isFile) {
      await Deno.remove(path).catch(() => {});
      removed++;
    } else if (entry.isDirectory) {
      removed += await removeStaleUploads(path);
    }
  }
  return removed;
}

/** Levels of a folder: 1 for a folder of files, 2 when it holds a folder of files, ... */
async function treeDepth(dir: string): Promise<number> {
  let deepest = 1;
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isDirectory) deepest = Math.max(deepest, 1 + await treeDepth(join(dir, entry.name)));
  }
  return deepest;
}
