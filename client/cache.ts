/**
 * `fused.cache`: results of any function kept on disk, shared by every process of this machine,
 * plus the lower-level pieces UDF runs use (`cacheKey`, `readCache`, `writeCache`,
 * `withCacheLock`, `deleteCache`) and the cross-process file lock (`withFileLock`).
 *
 * Layout: `{base}/{folder}/data_{key}/` where `base` is `options.cacheDirectory`, else
 * `{options.tempDirectory}/cached_data` (storage "auto" or "local") or
 * `{options.dataDirectory}/cached_data` (storage "mount"); `folder` is `cacheFolderPath` ("tmp").
 * An entry folder holds:
 * - `value.bin`: the value in the cache envelope of `formats/envelope.ts` (magic, lengths, end
 *   marker and checksum, so a truncated or damaged file is noticed); its modification time is
 *   the time the value was computed. It is written to a temporary sibling and renamed into place,
 *   so readers see either nothing or a whole file.
 * - `lock`: present while one process computes the value; JSON `{pid, host, created, id}`,
 *   created with O_EXCL, its modification time refreshed every 2 s while the work runs.
 *
 * The entry folder's modification time is its last use (set on every hit), so when a base folder
 * holds more than `options.cacheMaxBytes`, the least recently used entries are deleted until it
 * holds at most 90% of it. The size is one account for every process of the machine: the file
 * `{base}/.size`, counted up by each write holding it locked (`flock`), and measured again by a
 * walk only when it is new or damaged or the limit is passed. Temporary files of writers that
 * were killed (`value.bin.<pid>.*.tmp`) and locks of dead processes are removed by the same
 * sweep, and by {@linkcode cleanCache}.
 *
 * With `cacheStorage: "object"` the disk is a near cache in front of a service's shared store:
 * a miss on disk asks the store (through the UDF's host inside a UDF, else the `/cache/objects`
 * routes of the service the SDK is logged in to), and a new value goes to both, as the caller.
 *
 * Python's `@fused.cache` keeps pickles and an `index.log`; a TypeScript SDK cannot read those, so
 * this layout only shares the folder structure with it.
 *
 * @module
 */
import { createHash, type Hash } from "node:crypto";
import { hostname as osHostname } from "node:os";
import process from "node:process";
import { dirname, join } from "node:path";
import { parse as parseScript } from "acorn";
import type { Table } from "apache-arrow";
import { parseCacheMaxAge } from "./cache_max_age.ts";
import { FusedError, NotSupportedError, ValidationError } from "./errors.ts";
import { resolveInside } from "./file_path.ts";
import { deserializeValue, joinParts, serializeValueParts } from "./formats/envelope.ts";
import { isPlainObject, isTable } from "./formats/types.ts";
import { globalTransport } from "./api/transport.ts";
import { udfHost } from "./host_channel.ts";
import { options, type Storage } from "./options.ts";

/** Where a cache entry lives: a folder under the cache base, and the storage kind. */
export interface CacheLocation {
  /** Folder under the cache base, relative (default "tmp"); UDF runs use `udf/<name>`. */
  folder?: string;
  /** "auto" or "local": the temp directory; "mount": the data directory. Default `options.cacheStorage`. */
  storage?: Storage;
}

/** Options of {@linkcode readCache}. */
export interface ReadCacheOptions extends CacheLocation {
  /** Entries older than this many seconds are misses; no limit when not given. */
  maxAgeSeconds?: number;
}

/** What {@linkcode readCache} found. */
export type CacheLookup = { hit: true; value: unknown; ageMs: number } | { hit: false };

/** Options of {@linkcode withCacheLock}. */
export interface CacheLockOptions extends CacheLocation {
  /** How long to wait for another process's lock, in milliseconds (default 120000). */
  timeoutMs?: number;
}

/** Options of {@linkcode withFileLock}. */
export interface FileLockOptions {
  /** How long to wait for another holder, in milliseconds (default 120000). */
  timeoutMs?: number;
  /** Names the work in the timeout error (default the lock path). */
  label?: string;
}

/** Options of {@linkcode deleteCache}. */
export interface DeleteCacheOptions extends CacheLocation {
  /** The folder whose entries are deleted (`tmp`, `udf/<name>`, ...). */
  folder: string;
  /** Only entries whose key starts with this. */
  prefix?: string;
}

/** Options of {@linkcode cache}, named as Fused's `@fused.cache` arguments (camelCase). */
export interface CacheOptions {
  /** How long a result stays valid: `"12h"` (default), `"30m"`, `"90d"`, seconds, 0 for never. */
  cacheMaxAge?: string | number;
  /** Folder under the cache base (default "tmp"). */
  cacheFolderPath?: string;
  /** Seconds to wait for another process computing the same call (default 120). */
  concurrentLockTimeout?: number | string;
  /** Ignore a cached result and compute (and store) a new one. */
  cacheReset?: boolean;
  /**
   * "auto", "local", "mount" or "object" (default `options.cacheStorage`). "object" keeps results
   * on a service's shared store as the caller (inside a UDF, that of the service or worker it
   * runs on; else that of the service the SDK is logged in to), with this machine's disk as a
   * near cache in front; with neither, it is refused.
   */
  cacheStorage?: Storage;
  /** Argument names or positions left out of the key (a connection, a logger...). */
  cacheKeyExclude?: readonly (string | number)[];
  /** Print a line when a cached result is returned (default `options.verboseCachedFunctions`). */
  cacheVerbose?: boolean;
  /** Where that line goes (default `console.error`). */
  logger?: (message: string) => void;
}

/** A function wrapped by {@linkcode cache}: same arguments, the result always a Promise. */
export type CachedFunction<A extends unknown[], R> = ((...args: A) => Promise<Awaited<R>>) & {
  /** The key a call with these arguments is stored under. */
  cacheKey(...args: A): string;
};

const DEFAULT_LOCK_TIMEOUT_MS = 120_000;
const HEARTBEAT_MS = 2_000;
/** A lock whose holder is on another host (or unknown) is stale after this long without a beat. */
const MIN_STALE_MS = 10_000;
const VALUE_FILE = "value.bin";
const LOCK_FILE = "lock";
const ORIGINAL = Symbol("fused.cache original function");
const EXCLUDED = Symbol("excluded from the cache key");

// ---------------------------------------------------------------------------------------------
// Keys

/**
 * A SHA-256 hex key over values: objects by canonical content (key order does not matter), typed
 * arrays and bytes by their bytes, Arrow tables by their IPC stream, functions by their source.
 *
 * @example
 * ```ts
 * import { cacheKey } from "./cache.ts";
 * cacheKey([{ a: 1, b: 2 }]) === cacheKey([{ b: 2, a: 1 }]); // true
 * ```
 */
export function cacheKey(parts: unknown[]): string {
  const hash = createHash("sha256");
  feed(hash, parts, new Set());
  return hash.digest("hex");
}

function feedText(hash: Hash, tag: string, text: string): void {
  hash.update(`${tag}${text.length}:`);
  hash.update(text);
}

function feedBytes(hash: Hash, tag: string, bytes: Uint8Array): void {
  hash.update(`${tag}${bytes.byteLength}:`);
  hash.update(bytes);
}

function digestOf(value: unknown, stack: Set<object>): string {
  const hash = createHash("sha256");
  feed(hash, value, stack);
  return hash.digest("hex");
}

function feed(hash: Hash, value: unknown, stack: Set<object>): void {
  if (value === EXCLUDED) return void hash.update("x;");
  switch (typeof value) {
    case "undefined":
      return void hash.update("u;");
    case "boolean":
      return void hash.update(value ? "T;" : "F;");
    case "number":
      return void hash.update(`n${Object.is(value, -0) ? "-0" : String(value)};`);
    case "bigint":
      return void hash.update(`i${value};`);
    case "string":
      return feedText(hash, "s", value);
    case "symbol":
      return feedText(hash, "y", value.description ?? "");
    case "function":
      return feedText(hash, "f", sourceOf(value as (...args: never[]) => unknown));
  }
  if (value === null) return void hash.update("N;");
  const object = value as object;
  if (stack.has(object)) {
    throw new ValidationError(
      "Cannot compute a cache key: an argument contains itself (a cycle); pass plain data or exclude it with cacheKeyExclude",
    );
  }
  stack.add(object);
  try {
    feedObject(hash, object, stack);
  } finally {
    stack.delete(object);
  }
}

function feedObject(hash: Hash, value: object, stack: Set<object>): void {
  if (ArrayBuffer.isView(value)) {
    const bytes = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    return feedBytes(hash, `b${value.constructor.name}`, bytes);
  }
  if (value instanceof ArrayBuffer) return feedBytes(hash, "B", new Uint8Array(value));
  if (isTable(value)) return feedTable(hash, value, stack);
  if (value instanceof Date) return void hash.update(`D${value.getTime()};`);
  if (value instanceof RegExp) return feedText(hash, "R", String(value));
  if (value instanceof Promise) {
    throw new ValidationError(
      "Cannot compute a cache key from a Promise: await it before calling the cached function",
    );
  }
  if (Array.isArray(value)) {
    hash.update(`[${value.length}:`);
    for (const item of value) feed(hash, item, stack);
    return void hash.update("]");
  }
  if (value instanceof Map || value instanceof Set) {
    // Insertion order is not meaning here: hash each entry alone and sort the digests.
    const items = value instanceof Map ? [...value.entries()] : [...value.values()];
    const digests = items.map((item) => digestOf(item, stack)).sort();
    hash.update(`${value instanceof Map ? "M" : "S"}${digests.length}:`);
    for (const digest of digests) hash.update(digest);
    return;
  }
  const name = isPlainObject(value) ? "Object" : value.constructor?.name ?? "Object";
  const toJSON = (value as { toJSON?: () => unknown }).toJSON;
  if (!isPlainObject(value) && typeof toJSON === "function") {
    feedText(hash, "J", name);
    return feed(hash, toJSON.call(value), stack);
  }
  const keys = Object.keys(value).sort();
  hash.update(`{${name}:${keys.length}:`);
  for (const key of keys) {
    feedText(hash, "k", key);
    feed(hash, (value as Record<string, unknown>)[key], stack);
  }
  hash.update("}");
}

/**
 * A table by content: schema, metadata and column values. Not its IPC bytes, which differ for
 * equal tables (dictionary ids come from a global counter in apache-arrow).
 */
function feedTable(hash: Hash, table: Table, stack: Set<object>): void {
  hash.update(`A${table.numRows}:${table.numCols}:`);
  for (const field of table.schema.fields) {
    feedText(hash, "c", `${field.name}:${String(field.type)}:${field.nullable}`);
  }
  feed(hash, Object.fromEntries(table.schema.metadata ?? []), stack);
  for (let i = 0; i < table.numCols; i++) {
    const column = table.getChildAt(i);
    if (column === null) continue;
    if (column.nullCount === 0) {
      const values = column.toArray();
      // Fixed-width columns without nulls hash as one block of bytes: fast for millions of rows.
      if (ArrayBuffer.isView(values)) {
        feedBytes(hash, "v", new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
      } else feed(hash, values, stack);
    } else {
      feed(hash, [...column], stack);
    }
  }
}

type AnyFunction = (...args: never[]) => unknown;

function sourceOf(fn: AnyFunction): string {
  const original = (fn as { [ORIGINAL]?: AnyFunction })[ORIGINAL];
  return (original ?? fn).toString();
}

/** Names of a function's positional parameters (`null` for destructured or rest ones). */
function parameterNames(fn: AnyFunction): (string | null)[] {
  const source = sourceOf(fn);
  // A function, arrow or class expression parses in parentheses; a method only inside `{}`.
  for (const text of [`(${source})`, `({${source}})`]) {
    let program;
    try {
      program = parseScript(text, { ecmaVersion: "latest" });
    } catch {
      continue;
    }
    // deno-lint-ignore no-explicit-any
    const expression = (program.body[0] as any)?.expression;
    const node = expression?.type === "ObjectExpression"
      ? expression.properties[0]?.value
      : expression;
    if (!node || !Array.isArray(node.params)) return [];
    // deno-lint-ignore no-explicit-any
    return node.params.map((param: any) => {
      if (param.type === "Identifier") return param.name;
      if (param.type === "AssignmentPattern" && param.left.type === "Identifier") {
        return param.left.name;
      }
      return null;
    });
  }
  return [];
}

function keyArguments(
  args: unknown[],
  exclude: readonly (string | number)[],
  names: (string | null)[],
): unknown[] {
  let end = args.length;
  while (end > 0 && args[end - 1] === undefined) end--; // f(1) and f(1, undefined) are one call
  const byName = new Set(exclude.filter((item): item is string => typeof item === "string"));
  const byIndex = new Set(exclude.filter((item): item is number => typeof item === "number"));
  names.forEach((name, index) => {
    if (name !== null && byName.has(name)) byIndex.add(index);
  });
  return args.slice(0, end).map((arg, index) => {
    if (byIndex.has(index)) return EXCLUDED;
    if (byName.size === 0 || !isPlainObject(arg)) return arg;
    // Destructured options (`f({ db, x })`): the names apply to the keys of the object.
    return Object.fromEntries(Object.entries(arg).filter(([key]) => !byName.has(key)));
  });
}

// ---------------------------------------------------------------------------------------------
// Storage

function checkKey(key: string): void {
  if (!/^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/.test(key)) {
    throw new ValidationError(
      `Cannot use "${key}" as a cache key: use letters, digits, "_", "-" or "." (cacheKey() makes one)`,
    );
  }
}

/**
 * The folder a cache location resolves to.
 *
 * @example
 * ```ts
 * import { cacheFolder } from "./cache.ts";
 * cacheFolder({ folder: "udf/my_udf" }); // e.g. "/tmp/cached_data/udf/my_udf"
 * ```
 */
export function cacheFolder(location: CacheLocation = {}): string {
  return resolveInside(cacheBase(location.storage), location.folder ?? "tmp", "cache folder");
}

/**
 * The base folder of a cache storage (every cache folder lies under it). "object" keeps its
 * entries on a service's shared store; this folder is its near cache, the one "local" uses.
 */
function cacheBase(storage: Storage = options.cacheStorage): string {
  if (options.cacheDirectory !== null) return options.cacheDirectory;
  if (storage === "mount") return join(options.dataDirectory, "cached_data");
  if (storage === "auto" || storage === "local" || storage === "object") {
    return join(options.tempDirectory, "cached_data");
  }
  throw new ValidationError(
    `Unknown cacheStorage "${storage}": use "auto", "local", "mount" or "object"`,
  );
}

function entryDir(key: string, location: CacheLocation): string {
  checkKey(key);
  return join(cacheFolder(location), `data_${key}`);
}

/**
 * Reads a cache entry. A damaged entry (truncated, bad checksum) is deleted and reported as a
 * miss, never returned; so is an entry older than `maxAgeSeconds`, which is kept on disk.
 *
 * @example
 * ```ts
 * import { readCache, writeCache } from "./cache.ts";
 * import { options } from "./options.ts";
 * options.cacheDirectory = await Deno.makeTempDir();
 * await writeCache("k1", { n: 1 }, { folder: "demo" });
 * const found = await readCache("k1", { folder: "demo", maxAgeSeconds: 60 });
 * if (!found.hit) throw new Error("expected a hit");
 * options.reset();
 * ```
 */
export async function readCache(key: string, opts: ReadCacheOptions = {}): Promise<CacheLookup> {
  const file = join(entryDir(key, opts), VALUE_FILE);
  let bytes: Uint8Array;
  let modified: Date | null;
  try {
    // Synchronous metadata calls on the miss path (here, the folder, lock and rename below): each
    // costs microseconds, a trip to the thread pool and back costs more (bench/cache_bench.ts).
    modified = Deno.statSync(file).mtime;
    bytes = await Deno.readFile(file);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { hit: false };
    throw error;
  }
  const ageMs = Math.max(0, Date.now() - (modified?.getTime() ?? 0));
  if (opts.maxAgeSeconds !== undefined && ageMs > opts.maxAgeSeconds * 1000) return { hit: false };
  try {
    const value = await deserializeValue(bytes);
    const now = new Date();
    // The folder's time is the entry's last use, which eviction goes by.
    await Deno.utime(dirname(file), now, now).catch(() => {});
    return { hit: true, value, ageMs };
  } catch {
    // Whatever cannot be read back (CorruptDataError or a decoder failing on damaged bytes)
    // is dropped, so the next call computes the value again.
    await Deno.remove(file).catch(() => {});
    return { hit: false };
  }
}

/**
 * Writes a value to the cache atomically (temporary file, then rename).
 *
 * @example
 * ```ts
 * import { writeCache } from "./cache.ts";
 * import { options } from "./options.ts";
 * options.cacheDirectory = await Deno.makeTempDir();
 * await writeCache("k2", "hello", { folder: "demo" });
 * options.reset();
 * ```
 */
export async function writeCache(
  key: string,
  value: unknown,
  opts: CacheLocation = {},
): Promise<void> {
  entryDir(key, opts); // a bad key is refused before the value is encoded
  await writeEntry(key, await serializeValueParts(value), opts);
}

/**
 * Writes an encoded entry (the envelope's parts, in order) atomically; `computedAt` dates it
 * (default now). The parts go to the file one after the other, never joined in memory: for a
 * 1M × 4 table that saved a 24 MB buffer and its copy per write.
 */
async function writeEntry(
  key: string,
  parts: Uint8Array[],
  opts: CacheLocation,
  computedAt?: Date,
): Promise<void> {
  const dir = entryDir(key, opts);
  const temp = join(dir, `${VALUE_FILE}.${Deno.pid}.${crypto.randomUUID()}.tmp`);
  let bytes = 0;
  try {
    // The entry's folder usually exists (its lock made it): made only when the open says it is
    // missing, which saves a mkdir and a stat per write.
    using file = orMakeFolder(dir, () => Deno.openSync(temp, { write: true, createNew: true }));
    for (const part of coalesced(parts)) {
      for (let done = 0; done < part.byteLength;) done += await file.write(part.subarray(done));
      bytes += part.byteLength;
    }
    if (computedAt) await file.utime(computedAt, computedAt);
    Deno.renameSync(temp, join(dir, VALUE_FILE));
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
  await noteWrite(cacheBase(opts.storage), bytes + ENTRY_OVERHEAD);
}

/** Runs `create` (which makes a file in `dir`), making `dir` first only if `create` finds it missing. */
function orMakeFolder<T>(dir: string, create: () => T): T {
  try {
    return create();
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    Deno.mkdirSync(dir, { recursive: true });
    return create();
  }
}

/** Makes a folder whose parent usually exists: one mkdir, recursive only when the parent is missing. */
function makeFolder(dir: string): void {
  try {
    Deno.mkdirSync(dir);
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return;
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    Deno.mkdirSync(dir, { recursive: true });
  }
}

/** Parts with the small ones joined (an Arrow table is many buffers, some of a few bytes). */
function* coalesced(parts: Uint8Array[]): Generator<Uint8Array> {
  const SMALL = 64 * 1024;
  let run: Uint8Array[] = [];
  let runBytes = 0;
  for (const part of parts) {
    if (part.byteLength >= SMALL) {
      if (run.length) yield joinParts(run);
      run = [];
      runBytes = 0;
      yield part;
      continue;
    }
    run.push(part);
    runBytes += part.byteLength;
    if (runBytes >= SMALL) {
      yield joinParts(run);
      run = [];
      runBytes = 0;
    }
  }
  if (run.length) yield joinParts(run);
}

// ---------------------------------------------------------------------------------------------
// Object storage: a service's shared store, through the UDF's host or the service's API

/** Where "object" entries are kept: a service's shared store, as the caller. */
interface ObjectStore {
  /** The entry under `digest` when younger than `maxAgeSeconds`, else null. */
  get(digest: string, maxAgeSeconds: number): Promise<{ ageMs: number; bytes: Uint8Array } | null>;
  /** Stores the entry under `digest`. */
  put(digest: string, bytes: Uint8Array): Promise<void>;
}

/**
 * The shared store of "object" entries: inside a UDF its host's (host calls `cache.get` and
 * `cache.put`, as the run's caller), else that of the service the SDK is logged in to (its
 * `/cache/objects` routes, with the SDK's token). With neither, "object" is refused.
 */
async function objectStore(): Promise<ObjectStore> {
  const host = udfHost();
  if (host) {
    return {
      async get(digest, maxAgeSeconds) {
        const reply = await host.call("cache.get", [digest, maxAgeSeconds]);
        if (reply.value === null) return null;
        return { ageMs: (reply.value as { ageMs: number }).ageMs, bytes: reply.body };
      },
      async put(digest, bytes) {
        await host.call("cache.put", [digest], bytes);
      },
    };
  }
  const transport = globalTransport();
  if ((await transport.token()) === null) {
    throw new NotSupportedError(
      'cacheStorage "object" keeps results on a service\'s shared store, and this process is not logged in to one: log in (fused.options.baseUrl and a token), run the cached code in a UDF on a service or `fused worker`, or use cacheStorage "mount" (shared by this machine\'s processes) or "local"',
    );
  }
  return {
    async get(digest, maxAgeSeconds) {
      const response = await transport.fetch(`/cache/objects/${digest}`, {
        query: { max_age: maxAgeSeconds },
        acceptStatuses: [404],
      });
      if (response.status === 404) {
        await response.body?.cancel();
        return null;
      }
      const ageMs = Number(response.headers.get("x-fused-cache-age-ms") ?? 0);
      return { ageMs, bytes: new Uint8Array(await response.arrayBuffer()) };
    },
    async put(digest, bytes) {
      const response = await transport.fetch(`/cache/objects/${digest}`, {
        method: "PUT",
        body: bytes,
        headers: { "Content-Type": "application/octet-stream" },
      });
      await response.body?.cancel();
    },
  };
}

/**
 * An entry's name on the shared store: its folder's digest and its key's, so the entries of one
 * folder can be deleted alone while no name is a path the caller chose (the host adds the caller).
 */
function objectKey(key: string, location: CacheLocation): string {
  return `${objectFolder(location.folder ?? "tmp")}/${sha256Hex(key)}`;
}

/**
 * A cache folder's name on the shared store: the SHA-256 hex digest of its name, which
 * `DELETE /cache/objects?folder=` takes.
 *
 * @example
 * ```ts
 * import { objectFolder } from "./cache.ts";
 * objectFolder("tmp").length; // 64
 * ```
 */
export function objectFolder(folder: string): string {
  return sha256Hex(folder);
}

/** Whether this process is a notebook or script logged in to a service (not a UDF's process). */
export async function loggedInToService(): Promise<boolean> {
  return !udfHost() && (await globalTransport().token()) !== null;
}

function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Reads an "object" entry from the shared store, and keeps a near copy dated as it was made. */
async function readObject(
  key: string,
  location: CacheLocation,
  maxAgeSeconds: number,
): Promise<CacheLookup> {
  const store = await objectStore();
  const found = await store.get(objectKey(key, location), maxAgeSeconds);
  if (found === null) return { hit: false };
  let value: unknown;
  try {
    value = await deserializeValue(found.bytes);
  } catch {
    return { hit: false }; // damaged on the store: computed again, and written over
  }
  await writeEntry(key, [found.bytes], location, new Date(Date.now() - found.ageMs));
  return { hit: true, value, ageMs: found.ageMs };
}

// ---------------------------------------------------------------------------------------------
// Size limit

/**
 * The size account of a base folder, one for every process using it: `{base}/.size` holds the
 * bytes the folder is believed to hold (measured by a sweep, then counted up by each write of
 * any process), read and changed only holding it locked. Deletions outside a sweep
 * leave it high, so the next sweep comes early and measures again.
 */
const LEDGER_FILE = ".size";

/** What an entry costs besides its value: the blocks of its folder and file, so tiny values count. */
const ENTRY_OVERHEAD = 8192;

interface Entry {
  dir: string;
  bytes: number;
  usedMs: number;
  locked: boolean;
}

const TEMP_VALUE = /^value\.bin\.(\d+)\..*\.tmp$/;
/** Temporary values of versions before the pid was in the name: judged by age. */
const LEGACY_TEMP_VALUE = /^value\.bin\.[0-9a-f-]{36}\.tmp$/;
const LEGACY_TEMP_AGE_MS = 10 * 60 * 1000;

async function noteWrite(base: string, bytes: number): Promise<void> {
  await withLedger(base, async (account) => {
    const known = account.read();
    if (known !== null && known + bytes <= options.cacheMaxBytes) {
      account.write(known + bytes);
    } else {
      await sweepLocked(base, account); // a new or damaged account, or over the limit
    }
  });
}

/** A base folder's size account, held locked. */
interface SizeAccount {
  /** The bytes it holds, or null when it is new or damaged (a sweep rewrites it). */
  read(): number | null;
  /** Sets the bytes it holds. */
  write(bytes: number): void;
}

/** Digits of a size account: fixed, so a rewrite is one write of the whole file in place. */
const LEDGER_WIDTH = 20;

/**
 * Runs `work` holding a base folder's size account locked (`flock`, which the kernel releases
 * when the process dies, so no lock is ever left behind). Readers only read under the lock, and a
 * rewrite is one write of fixed width, so no one sees a half-written account; a damaged one
 * (a crash of the machine mid-write) reads as null, and the sweep that follows measures again.
 */
async function withLedger<T>(base: string, work: (account: SizeAccount) => Promise<T>): Promise<T> {
  const path = join(base, LEDGER_FILE);
  // Opened synchronously (a metadata call, as on the rest of the miss path); locked with a trip
  // to the thread pool, since another process may hold it through a sweep.
  const file = orMakeFolder(
    base,
    () => Deno.openSync(path, { read: true, write: true, create: true }),
  );
  try {
    await file.lock(true);
    return await work({
      // Synchronous: 21 bytes of a file just opened, cheaper than a trip to the thread pool.
      read() {
        const buffer = new Uint8Array(LEDGER_WIDTH + 1);
        file.seekSync(0, Deno.SeekMode.Start);
        const text = new TextDecoder().decode(buffer.subarray(0, file.readSync(buffer) ?? 0));
        return new RegExp(`^\\d{${LEDGER_WIDTH}}$`).test(text) ? Number(text) : null;
      },
      write(bytes) {
        const text = new TextEncoder().encode(String(bytes).padStart(LEDGER_WIDTH, "0"));
        file.seekSync(0, Deno.SeekMode.Start);
        if (file.writeSync(text) !== text.byteLength) {
          throw new FusedError(`Cannot update the cache's size account ${path}: a short write`);
        }
      },
    });
  } finally {
    file.close(); // releases the lock
  }
}

/** What a sweep of the cache did. */
export interface CacheCleanup {
  /** Entries deleted to bring the cache under `options.cacheMaxBytes`. */
  evicted: number;
  /** Temporary files of writers that were killed. */
  temporaries: number;
  /** Lock files of processes that are gone. */
  locks: number;
  /** Bytes the cache holds afterwards. */
  bytes: number;
}

/**
 * Sweeps the disk cache of every storage ("local" and "mount" bases): deletes temporary files
 * and locks that dead processes left, then the least recently used entries while the cache holds
 * more than `options.cacheMaxBytes`. The service runs it at start; writes run it when the limit
 * is passed.
 *
 * @example
 * ```ts
 * import { cleanCache } from "./cache.ts";
 * import { options } from "./options.ts";
 * options.cacheDirectory = await Deno.makeTempDir();
 * await cleanCache(); // { evicted: 0, temporaries: 0, locks: 0, bytes: 0 }
 * options.reset();
 * ```
 */
export async function cleanCache(): Promise<CacheCleanup> {
  const total: CacheCleanup = { evicted: 0, temporaries: 0, locks: 0, bytes: 0 };
  for (const base of new Set([cacheBase("local"), cacheBase("mount")])) {
    const one = await sweepBase(base);
    total.evicted += one.evicted;
    total.temporaries += one.temporaries;
    total.locks += one.locks;
    total.bytes += one.bytes;
  }
  return total;
}

function sweepBase(base: string): Promise<CacheCleanup> {
  return withLedger(base, (account) => sweepLocked(base, account));
}

/** Measures a base folder, evicts what is over the limit and rewrites its size account. */
async function sweepLocked(base: string, account: SizeAccount): Promise<CacheCleanup> {
  const result: CacheCleanup = { evicted: 0, temporaries: 0, locks: 0, bytes: 0 };
  const entries: Entry[] = [];
  await collect(base, entries, result);
  let bytes = entries.reduce((sum, e) => sum + e.bytes, 0);
  const max = options.cacheMaxBytes;
  if (bytes > max) {
    // Least recently used first; entries being computed (locked) are left alone.
    entries.sort((a, b) => a.usedMs - b.usedMs);
    for (const entry of entries) {
      if (bytes <= max * 0.9) break;
      if (entry.locked) continue;
      await Deno.remove(entry.dir, { recursive: true }).catch(() => {});
      bytes -= entry.bytes;
      result.evicted++;
    }
  }
  result.bytes = bytes;
  account.write(bytes);
  return result;
}

async function collect(dir: string, entries: Entry[], result: CacheCleanup): Promise<void> {
  let children: Deno.DirEntry[];
  try {
    children = await Array.fromAsync(Deno.readDir(dir));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  for (const child of children) {
    if (!child.isDirectory) continue;
    const path = join(dir, child.name);
    if (child.name.startsWith("data_")) entries.push(await inspectEntry(path, result));
    else await collect(path, entries, result);
  }
}

async function inspectEntry(dir: string, result: CacheCleanup): Promise<Entry> {
  const entry: Entry = { dir, bytes: ENTRY_OVERHEAD, usedMs: 0, locked: false };
  try {
    entry.usedMs = (await Deno.stat(dir)).mtime?.getTime() ?? 0;
    for await (const file of Deno.readDir(dir)) {
      const path = join(dir, file.name);
      const temp = TEMP_VALUE.exec(file.name) ?? LEGACY_TEMP_VALUE.exec(file.name);
      if (temp) {
        const gone = temp[1] !== undefined
          ? processAlive(Number(temp[1])) === false
          : Date.now() - ((await Deno.stat(path)).mtime?.getTime() ?? Date.now()) >
            LEGACY_TEMP_AGE_MS;
        if (gone) {
          await Deno.remove(path).catch(() => {});
          result.temporaries++;
        } else entry.locked = true; // a live writer
      } else if (file.name === LOCK_FILE) {
        const info = await readLock(path);
        if (info && isStale(info, MIN_STALE_MS)) {
          await Deno.remove(path).catch(() => {});
          result.locks++;
        } else entry.locked = true;
      } else if (file.name === VALUE_FILE) {
        entry.bytes += (await Deno.stat(path)).size;
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error; // deleted meanwhile
  }
  return entry;
}

/**
 * Deletes the entries of one cache folder (all, or those whose key starts with `prefix`) and
 * returns how many were deleted.
 *
 * @example
 * ```ts
 * import { deleteCache } from "./cache.ts";
 * import { options } from "./options.ts";
 * options.cacheDirectory = await Deno.makeTempDir();
 * await deleteCache({ folder: "udf/my_udf" }); // 0: nothing cached yet
 * options.reset();
 * ```
 */
export async function deleteCache(opts: DeleteCacheOptions): Promise<number> {
  const folder = cacheFolder(opts);
  if (opts.prefix !== undefined && opts.prefix !== "") checkKey(opts.prefix);
  const wanted = `data_${opts.prefix ?? ""}`;
  let count = 0;
  try {
    for await (const entry of Deno.readDir(folder)) {
      if (!entry.isDirectory || !entry.name.startsWith(wanted)) continue;
      await Deno.remove(join(folder, entry.name), { recursive: true }).catch((error) => {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      });
      count++;
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return 0;
    throw error;
  }
  return count;
}

/**
 * Deletes the entries of the cache folders under `base` whose name's digest
 * ({@linkcode objectFolder}) is `folderDigest`, and returns how many went: a clear of one folder
 * on the shared store reaching the near copies of a machine that knows only the digest. Links
 * are not followed, and the walk stops 16 folders deep.
 *
 * @example
 * ```ts
 * import { deleteNearFolder, objectFolder } from "./cache.ts";
 * await deleteNearFolder(await Deno.makeTempDir(), objectFolder("tmp")); // 0
 * ```
 */
export async function deleteNearFolder(base: string, folderDigest: string): Promise<number> {
  let count = 0;
  const walk = async (rel: string, depth: number): Promise<void> => {
    const dir = rel === "" ? base : join(base, rel);
    const matches = rel !== "" && objectFolder(rel) === folderDigest;
    const children: string[] = [];
    try {
      for await (const entry of Deno.readDir(dir)) {
        if (!entry.isDirectory) continue;
        if (!entry.name.startsWith("data_")) children.push(entry.name);
        else if (matches) {
          await Deno.remove(join(dir, entry.name), { recursive: true }).catch((error) => {
            if (!(error instanceof Deno.errors.NotFound)) throw error;
          });
          count++;
        }
      }
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      throw error;
    }
    if (depth >= 16) return;
    for (const child of children) await walk(rel === "" ? child : `${rel}/${child}`, depth + 1);
  };
  await walk("", 0);
  return count;
}

// ---------------------------------------------------------------------------------------------
// Locks

interface LockInfo {
  pid?: number;
  host?: string;
  created?: number;
  id?: string;
  mtimeMs: number;
}

let host: string | undefined;

/** This machine's name, asked once (a uname per lock otherwise). */
function hostName(): string {
  if (host === undefined) {
    try {
      host = osHostname();
    } catch {
      host = "unknown";
    }
  }
  return host;
}

/** true: running; false: gone; undefined: cannot tell (no permission to signal). */
function processAlive(pid: number): boolean | undefined {
  if (pid === Deno.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "ESRCH") return false;
    if (code === "EPERM") return true; // it exists, owned by someone else
    return undefined;
  }
}

async function readLock(path: string): Promise<LockInfo | null> {
  try {
    const [text, stat] = await Promise.all([Deno.readTextFile(path), Deno.stat(path)]);
    const mtimeMs = stat.mtime?.getTime() ?? Date.now();
    try {
      return { ...JSON.parse(text), mtimeMs };
    } catch {
      return { mtimeMs }; // created but not written yet, or damaged: judged by its age alone
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/** The id written in a lock file's text, or undefined when it has none (damaged, half-made). */
function lockId(text: string): string | undefined {
  try {
    return (JSON.parse(text) as { id?: string }).id;
  } catch {
    return undefined;
  }
}

function isStale(info: LockInfo, staleMs: number): boolean {
  if (info.pid !== undefined && info.host === hostName()) {
    const alive = processAlive(info.pid);
    if (alive !== undefined) return !alive;
  }
  return Date.now() - info.mtimeMs > staleMs;
}

/**
 * Creates the lock file (O_EXCL); false when another holds it. `withFolder`: its folder is made
 * when missing (a cache entry's folder is made by its lock).
 */
async function tryCreateLock(path: string, id: string, withFolder: boolean): Promise<boolean> {
  const body = new TextEncoder().encode(
    JSON.stringify({ pid: Deno.pid, host: hostName(), created: Date.now(), id }),
  );
  const create = () => Deno.openSync(path, { write: true, createNew: true });
  let file: Deno.FsFile;
  try {
    file = withFolder ? orMakeFolder(dirname(path), create) : create();
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return false;
    throw error;
  }
  try {
    // Synchronous: a hundred bytes to a file just made, cheaper than a trip to the thread pool.
    for (let done = 0; done < body.byteLength;) done += file.writeSync(body.subarray(done));
    return true;
  } catch (error) {
    await Deno.remove(path).catch(() => {});
    throw error;
  } finally {
    file.close();
  }
}

/** Removes a stale lock unless someone else is already doing so or it changed meanwhile. */
async function breakLock(path: string, seen: LockInfo, staleMs: number): Promise<void> {
  const breaker = `${path}.break`;
  try {
    await Deno.writeTextFile(breaker, String(Deno.pid), { createNew: true });
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    const stat = await Deno.stat(breaker).catch(() => null);
    // A breaker that crashed mid-way leaves this file; it only lives for milliseconds otherwise.
    if (stat?.mtime && Date.now() - stat.mtime.getTime() > MIN_STALE_MS) {
      await Deno.remove(breaker).catch(() => {});
    }
    return;
  }
  try {
    const now = await readLock(path);
    if (now && now.id === seen.id && now.mtimeMs === seen.mtimeMs && isStale(now, staleMs)) {
      await Deno.remove(path).catch(() => {});
    }
  } finally {
    await Deno.remove(breaker).catch(() => {});
  }
}

/**
 * Runs `compute` while holding a lock file that other processes respect: the file is created
 * with O_EXCL; contenders poll until it is released (then take it) or until `timeoutMs`, then
 * throw. Locks of dead processes on this host, and locks not refreshed for
 * max(`timeoutMs`, 10 s), are broken.
 *
 * @example
 * ```ts
 * import { withFileLock } from "./cache.ts";
 * const dir = await Deno.makeTempDir();
 * const n = await withFileLock(`${dir}/work.lock`, {}, () => 42);
 * ```
 */
export function withFileLock<T>(
  lockPath: string,
  opts: FileLockOptions,
  compute: () => T | Promise<T>,
): Promise<T> {
  return holdingLock(lockPath, opts, false, compute);
}

async function holdingLock<T>(
  lockPath: string,
  opts: FileLockOptions,
  withFolder: boolean,
  compute: () => T | Promise<T>,
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  const staleMs = Math.max(timeoutMs, MIN_STALE_MS);
  const id = crypto.randomUUID();
  const deadline = Date.now() + timeoutMs;
  let pollMs = 20;
  while (!(await tryCreateLock(lockPath, id, withFolder))) {
    const info = await readLock(lockPath);
    if (info === null) continue; // released between our two calls: try again at once
    if (isStale(info, staleMs)) {
      await breakLock(lockPath, info, staleMs);
      continue;
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      const holder = info.pid !== undefined ? ` (pid ${info.pid} on ${info.host})` : "";
      throw new FusedError(
        `Wait time exceeded concurrent_lock_timeout of ${
          timeoutMs / 1000
        }s: another process${holder} is still computing ${
          opts.label ?? lockPath
        }; raise concurrentLockTimeout, or delete ${lockPath} if that process is gone`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(pollMs, left)));
    pollMs = Math.min(pollMs * 1.5, 1000);
  }
  const beat = setInterval(() => {
    const now = new Date();
    Deno.utime(lockPath, now, now).catch(() => {});
  }, HEARTBEAT_MS);
  Deno.unrefTimer(beat);
  try {
    return await compute();
  } finally {
    clearInterval(beat);
    // Removed only while it is still ours (a contender may have broken it as stale and made its
    // own); its id is all this needs, not the age `readLock` also stats for.
    try {
      if (lockId(Deno.readTextFileSync(lockPath)) === id) Deno.removeSync(lockPath);
    } catch {
      // gone already, or not ours to remove
    }
  }
}

/**
 * Runs `compute` holding the lock of one cache entry, so that processes computing the same key
 * run it once: the others wait, then find the value with {@linkcode readCache}.
 *
 * @example
 * ```ts
 * import { cacheKey, readCache, withCacheLock, writeCache } from "./cache.ts";
 * import { options } from "./options.ts";
 * options.cacheDirectory = await Deno.makeTempDir();
 * const key = cacheKey(["square", 7]);
 * const value = await withCacheLock(key, { folder: "demo" }, async () => {
 *   const again = await readCache(key, { folder: "demo" });
 *   if (again.hit) return again.value;
 *   await writeCache(key, 49, { folder: "demo" });
 *   return 49;
 * });
 * options.reset();
 * ```
 */
export async function withCacheLock<T>(
  key: string,
  opts: CacheLockOptions,
  compute: () => T | Promise<T>,
): Promise<T> {
  const dir = entryDir(key, opts);
  makeFolder(dir); // a miss is usually a new entry, whose folder the lock file needs
  return await holdingLock(
    join(dir, LOCK_FILE),
    {
      timeoutMs: opts.timeoutMs,
      label: `cache entry ${dir}`,
    },
    true,
    compute,
  );
}

// ---------------------------------------------------------------------------------------------
// cache()

/**
 * Formats an age the way Fused does: at most two parts (`3 minutes 12 seconds`, `1 day 2 hours`,
 * `0.42 seconds`).
 *
 * @example
 * ```ts
 * import { formatAge } from "./cache.ts";
 * formatAge(192_000); // "3 minutes 12 seconds"
 * ```
 */
export function formatAge(ms: number): string {
  const seconds = ms / 1000;
  if (seconds < 1) return `${seconds.toFixed(2)} seconds`;
  const units: [string, number][] = [["day", 86400], ["hour", 3600], ["minute", 60], [
    "second",
    1,
  ]];
  let rest = Math.floor(seconds);
  const counts = units.map(([, size]) => {
    const count = Math.floor(rest / size);
    rest -= count * size;
    return count;
  });
  const first = counts.findIndex((count) => count > 0);
  const parts = [first, first + 1]
    .filter((i) => i < units.length && counts[i] > 0)
    .map((i) => `${counts[i]} ${units[i][0]}${counts[i] === 1 ? "" : "s"}`);
  return parts.join(" ");
}

function lockTimeoutMs(value: number | string | undefined): number {
  if (value === undefined) return DEFAULT_LOCK_TIMEOUT_MS;
  if (typeof value === "number") {
    if (!(value > 0) || !Number.isFinite(value)) {
      throw new ValidationError(
        `concurrentLockTimeout must be a positive number of seconds, got ${value}`,
      );
    }
    return value * 1000;
  }
  return parseCacheMaxAge(value) * 1000;
}

const inFlight = new Map<string, Promise<unknown>>();

/**
 * Wraps a sync or async function so that its results are kept on disk (Fused's `@fused.cache`):
 * a later call with equal arguments, from this or any other process of the machine, returns the
 * stored result while it is younger than `cacheMaxAge`. Concurrent calls compute once. Failures
 * are not stored. The key covers the function's source, the arguments (by content) and the max
 * age; variables the function closes over are not part of it.
 *
 * @example
 * ```ts
 * import { cache } from "./cache.ts";
 * import { options } from "./options.ts";
 * options.cacheDirectory = await Deno.makeTempDir();
 * const slowSquare = cache(async (n: number) => n * n, { cacheMaxAge: "1h" });
 * await slowSquare(12); // computed
 * await slowSquare(12); // read from disk
 * options.reset();
 * ```
 */
export function cache<A extends unknown[], R>(
  fn: (...args: A) => R,
  opts?: CacheOptions,
): CachedFunction<A, R>;
/**
 * With options only (or nothing), a decorator factory, as fused-py's `@fused.cache(...)`:
 * `cache({ cacheMaxAge: "1h" })(fn)`. The options are checked now.
 *
 * @example
 * ```ts
 * import { cache } from "./cache.ts";
 * const hourly = cache({ cacheMaxAge: "1h" });
 * const square = hourly((n: number) => n * n);
 * ```
 */
export function cache(
  opts?: CacheOptions,
): <A extends unknown[], R>(fn: (...args: A) => R) => CachedFunction<A, R>;
export function cache<A extends unknown[], R>(
  fnOrOpts?: ((...args: A) => R) | CacheOptions,
  opts: CacheOptions = {},
):
  | CachedFunction<A, R>
  | (<B extends unknown[], S>(fn: (...args: B) => S) => CachedFunction<B, S>) {
  if (fnOrOpts === undefined || isPlainObject(fnOrOpts)) {
    const given = (fnOrOpts ?? {}) as CacheOptions;
    checkCacheOptions(given);
    return <B extends unknown[], S>(fn: (...args: B) => S): CachedFunction<B, S> =>
      cachedFunction(fn, given);
  }
  return cachedFunction(fnOrOpts as (...args: A) => R, opts);
}

/** Refuses bad options when they are given, not at the first call. */
function checkCacheOptions(opts: CacheOptions): void {
  parseCacheMaxAge(opts.cacheMaxAge ?? "12h");
  lockTimeoutMs(opts.concurrentLockTimeout);
  cacheFolder({
    folder: opts.cacheFolderPath ?? "tmp",
    storage: opts.cacheStorage ?? options.cacheStorage,
  });
}

function cachedFunction<A extends unknown[], R>(
  fn: (...args: A) => R,
  opts: CacheOptions,
): CachedFunction<A, R> {
  if (typeof fn !== "function") {
    throw new ValidationError(`cache() needs a function, got ${typeof fn}`);
  }
  const maxAgeSeconds = parseCacheMaxAge(opts.cacheMaxAge ?? "12h");
  const timeoutMs = lockTimeoutMs(opts.concurrentLockTimeout);
  const exclude = opts.cacheKeyExclude ?? [];
  for (const item of exclude) {
    if (typeof item !== "string" && !(Number.isInteger(item) && item >= 0)) {
      throw new ValidationError(
        `cacheKeyExclude takes argument names or positions (0, 1, ...), got ${String(item)}`,
      );
    }
  }
  const names = exclude.some((item) => typeof item === "string") ? parameterNames(fn) : [];
  const label = fn.name || "anonymous function";
  const location = (): CacheLocation => ({
    folder: opts.cacheFolderPath ?? "tmp",
    storage: opts.cacheStorage ?? options.cacheStorage,
  });
  cacheFolder(location()); // refuse a bad folder or storage now, not at the first call

  const keyOf = (args: A): string =>
    cacheKey([
      "fused.cache/1",
      sourceOf(fn),
      fn.name,
      keyArguments(args, exclude, names),
      maxAgeSeconds,
    ]);

  async function lookup(key: string, where: CacheLocation): Promise<CacheLookup> {
    if (opts.cacheReset || maxAgeSeconds === 0) return { hit: false };
    // "object": the disk is the near cache, the shared store behind it.
    let found = await readCache(key, { ...where, maxAgeSeconds });
    if (!found.hit && where.storage === "object") {
      found = await readObject(key, where, maxAgeSeconds);
    }
    if (found.hit && (opts.cacheVerbose ?? options.verboseCachedFunctions)) {
      (opts.logger ?? console.error)(
        `'${label}' returned cached result: ${formatAge(found.ageMs)} old`,
      );
    }
    return found;
  }

  async function call(this: unknown, ...args: A): Promise<Awaited<R>> {
    if (maxAgeSeconds === 0) return await fn.apply(this, args); // never kept: nothing to share
    const key = keyOf(args);
    const where = location();
    const first = await lookup(key, where);
    if (first.hit) return first.value as Awaited<R>;
    const slot = `${cacheFolder(where)}/${key}`;
    const pending = inFlight.get(slot);
    if (pending) return await (pending as Promise<Awaited<R>>);
    const work = withCacheLock(key, { ...where, timeoutMs }, async () => {
      const again = await lookup(key, where); // another process may have finished meanwhile
      if (again.hit) return again.value as Awaited<R>;
      const value = await fn.apply(this, args);
      let parts: Uint8Array[];
      try {
        parts = await serializeValueParts(value);
      } catch (error) {
        if (!(error instanceof ValidationError)) throw error;
        throw new ValidationError(
          `Cannot cache the result of '${label}': ${error.message}; return a table, raster, string, bytes or JSON, or call it without fused.cache`,
          { cause: error },
        );
      }
      await writeEntry(key, parts, where);
      if (where.storage === "object") {
        await (await objectStore()).put(objectKey(key, where), joinParts(parts));
      }
      return value;
    });
    inFlight.set(slot, work);
    try {
      return await work;
    } finally {
      inFlight.delete(slot);
    }
  }

  const cached = call as CachedFunction<A, R>;
  Object.defineProperty(cached, ORIGINAL, { value: fn });
  Object.defineProperty(cached, "name", { value: fn.name });
  cached.cacheKey = (...args: A): string => keyOf(args);
  return cached;
}

/**
 * Calls a function through the cache once, without wrapping it first (Fused's `cache_call`).
 *
 * @example
 * ```ts
 * import { cacheCall } from "./cache.ts";
 * import { options } from "./options.ts";
 * options.cacheDirectory = await Deno.makeTempDir();
 * const sum = await cacheCall((a: number, b: number) => a + b, [1, 2], { cacheMaxAge: "10m" });
 * options.reset();
 * ```
 */
export function cacheCall<A extends unknown[], R>(
  fn: (...args: A) => R,
  args: A,
  opts: CacheOptions = {},
): Promise<Awaited<R>> {
  return cache(fn, opts)(...args);
}
