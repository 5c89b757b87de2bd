/**
 * Saved UDFs for a batch job's process, which has no registry and no credential: when a job's
 * UDF loads or runs a UDF by name (`fused.load("name")`, `fused.run("owner/name")`), the process
 * asks the service that runs the job, and the service answers as the job's owner by the rules of
 * its HTTP API (../saved_udfs.ts).
 *
 * Why this and not a credential: an API token for the owner would be a secret written into the
 * job's folder, valid beyond the job and for every route; the admin token would be every user's.
 * Here the process holds nothing: it can only ask what the job's owner may see, and the service
 * checks every question. Runs the job makes through a share token act as that token's UDF owner
 * (as `GET /{token}/run` does); their questions name the token, and the service checks that it
 * still names an enabled UDF before it answers as that owner.
 *
 * The same way the process records the `fd://` files its UDFs and results write (and asks what
 * a user holds), so they count against their writer's disk quota (../quota.ts) as the service's
 * own writes do: the registry is the service's.
 *
 * And `fused.cache` entries with cacheStorage "object": the process asks the runner to read or
 * write the caller's entry (the job's owner, or a share token's UDF owner as above), and the
 * runner does it on the service's own object cache (../object_cache.ts), so an entry written by a
 * job is a hit for its owner's service runs and the other way round. The key (a SHA-256 digest)
 * is checked before anything is read, and an entry's bytes are capped as `PUT /cache/objects`
 * caps them. The bytes travel beside the question (`<id>.bytes`) and the answer
 * (`<id>.answer.bytes`), each written whole before the file that points at it.
 *
 * And, when the service serves `fd://` from another store than its files folder (`--storage`: a
 * bucket or a folder), the `fd://` files the job's UDFs list, read, write and delete: the process
 * asks the runner (jobStorage), which does it on the service's own store, so a file a job writes
 * is there for its owner's service runs and the files API as soon as the write returns, and the
 * process never holds the bucket's credential. The process checks each UDF call as its caller
 * first (paths, quota: ../runner.ts, ../quota.ts); the runner checks the key again before
 * anything is read or written, so no question reaches outside the `fd://` root (`..`, the cache's
 * `<prefix>.cache/`). A write's bytes are written whole beside the question before it is asked,
 * and the store writes a file atomically: a job cancelled or killed mid-write leaves nothing.
 *
 * Why files (`calls/<id>.json`, answered by `calls/<id>.answer`): the job and the runner already
 * talk through files in the job's run folder (_protocol.ts), so a job outlives a restart of the
 * service; a question asked while no service runs is answered by the next one. The runner looks
 * for questions each time it copies the job's output (every `pollMs`, 100 ms by default), and at
 * once when one is put in the folder (watchQuestions).
 *
 * @module
 */
import { basename, join } from "node:path";
import { writeFileAtomic } from "../../client/atomic_write.ts";
import { FusedError, NotSupportedError, ValidationError } from "../../client/errors.ts";
import { Udf } from "../../client/udf.ts";
import type { UdfJson } from "../../client/udf_json.ts";
import { checkObjectCacheKey, type ObjectCacheStore } from "../object_cache.ts";
import {
  type ByteRange,
  type FileInfo,
  FileNotFoundError,
  type FileStream,
  parseFdFilePath,
  parseFdPath,
  type Storage,
} from "../storage.ts";
import type { Registry } from "../registry/mod.ts";
import {
  findSavedUdf,
  type SavedUdf,
  type SavedUdfFinder,
  type SavedUdfPurpose,
} from "../saved_udfs.ts";
import { sleep } from "../../client/sleep.ts";

/** A question of a job's process. */
export interface SavedCall {
  /** The reference the UDF gave. */
  ref: string;
  /** Its code, or a run. */
  purpose: SavedUdfPurpose;
  /** The share token whose runs ask (they act as its UDF's owner); absent: the job's owner. */
  via?: string;
}

/** A question of a job's process about the owners of `fd://` files (see ../quota.ts). */
export type LedgerCall =
  | { ledger: "recordFile"; key: string; userId: string; size: number }
  | { ledger: "forgetFiles"; key: string }
  | { ledger: "storedBytes"; userId: string; except?: string };

/**
 * A question of a job's process about a `fused.cache` entry with cacheStorage "object" (a put's
 * bytes are in `<id>.bytes`); `via` as in {@linkcode SavedCall}.
 */
export type CacheCall =
  | { cache: "get"; key: string; maxAge: number; via?: string }
  | { cache: "put"; key: string; via?: string };

/** A question of a job's process about the `fd://` store (a write's bytes are in `<id>.bytes`). */
export type FileCall =
  | { files: "list" | "walk" | "stat"; key: string }
  | { files: "read"; key: string; range?: ByteRange }
  | { files: "write"; key: string; maxBytes?: number }
  | { files: "delete"; key: string; maxDepth: number | null }
  | { files: "check" };

/** A {@linkcode FileInfo} as it crosses in JSON. */
type FileInfoJson = Omit<FileInfo, "lastModified"> & { lastModified: string | null };

/** The service's side of {@linkcode CacheCall}s of one job. */
export interface CacheAnswers {
  /** The service's object cache. */
  store: ObjectCacheStore;
  /** Largest entry, in bytes (the service's `maxUploadBytes`, as `PUT /cache/objects`). */
  maxBytes: number;
  /** Whom a question acts as: the job's owner, or the UDF owner of the share token it names. */
  actor(via: string | undefined): Promise<string>;
}

/** What the registry keeps of the owners of `fd://` files. */
export type Ledger = Pick<Registry, "recordFile" | "forgetFiles" | "storedBytes">;

/** The answer to a {@linkcode SavedCall} or a {@linkcode LedgerCall}. */
type Answer =
  | { ok: true; udf: UdfJson; actAs: string; cache: boolean; token?: string }
  | { ok: true; value: number | null }
  | { ok: true; entry: { ageMs: number } | null; body?: true }
  | { ok: true; file: unknown; body?: true }
  | { ok: false; error: { name: string; message: string } };

const QUESTION = /^([0-9a-f-]{36})\.json$/;
const WAIT_MS = 25;

async function ask(
  callsDir: string,
  call: SavedCall | LedgerCall | CacheCall | FileCall,
  signal?: AbortSignal,
  bytes?: Uint8Array | ReadableStream<Uint8Array>,
): Promise<Answer & { bytes?: Deno.FsFile }> {
  await Deno.mkdir(callsDir, { recursive: true, mode: 0o700 });
  const id = crypto.randomUUID();
  const question = join(callsDir, `${id}.json`);
  const answer = join(callsDir, `${id}.answer`);
  try {
    // The bytes first: a question the runner sees has all of its body.
    if (bytes) await writeAtomic(join(callsDir, `${id}.bytes`), bytes);
    await writeFileAtomic(question, JSON.stringify(call));
    for (;;) {
      try {
        const text = await Deno.readTextFile(answer);
        await Deno.remove(answer);
        const reply = JSON.parse(text) as Answer;
        if (!reply.ok) {
          const error = new FusedError(reply.error.message);
          error.name = reply.error.name;
          throw error;
        }
        if (!("body" in reply && reply.body)) return reply;
        // Opened, then removed: the bytes stay readable through the file until it is closed.
        const path = join(callsDir, `${id}.answer.bytes`);
        const bytes = await Deno.open(path);
        await Deno.remove(path);
        return { ...reply, bytes };
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
      await sleep(WAIT_MS, signal);
    }
  } finally {
    // Unanswered (the run ended first): the question goes, so no runner answers it for nobody.
    await Deno.remove(question).catch(() => {});
    if (bytes) await Deno.remove(join(callsDir, `${id}.bytes`)).catch(() => {});
  }
}

/** Writes bytes or a stream to `path` whole (a temporary file renamed), or nothing. */
async function writeAtomic(
  path: string,
  data: Uint8Array | ReadableStream<Uint8Array>,
): Promise<void> {
  if (data instanceof Uint8Array) return await writeFileAtomic(path, data);
  const temp = `${path}.tmp`;
  try {
    await Deno.writeFile(temp, data);
    await Deno.rename(temp, path);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
}

/**
 * The finder of a job's process: asks the runner, through `callsDir`, as the job's owner (or as
 * the owner of the share token a run came through).
 *
 * @example
 * ```ts ignore
 * const find = jobFinder(spec.callsDir, spec.ownerId);
 * const { udf } = await find("alice/roads", "load", caller);
 * ```
 */
export function jobFinder(
  callsDir: string,
  ownerId: string,
  tokens: JobTokens = new Map(),
): SavedUdfFinder {
  return async (ref, purpose, caller, signal) => {
    const via = viaOf(tokens, ownerId, caller.id, "find saved UDFs");
    const answer = await ask(callsDir, { ref, purpose, ...(via ? { via } : {}) }, signal);
    if (!("udf" in answer)) throw new FusedError("The service answered a job's question wrongly");
    const found: SavedUdf = {
      udf: Udf.fromJSON(answer.udf),
      actAs: answer.actAs,
      cache: answer.cache,
      ...(answer.token ? { token: answer.token } : {}),
    };
    if (found.token && found.actAs !== ownerId) tokens.set(found.actAs, found.token);
    return found;
  };
}

/**
 * The share tokens through which a job's runs act as users other than its owner, by those users'
 * ids: learnt by {@linkcode jobFinder} as it finds them, named by every later question of theirs.
 */
export type JobTokens = Map<string, string>;

/** The share token a question of `callerId` names (none for the owner); others are refused. */
function viaOf(
  tokens: JobTokens,
  ownerId: string,
  callerId: string,
  what: string,
): string | undefined {
  if (callerId === ownerId) return undefined;
  const via = tokens.get(callerId);
  if (via === undefined) {
    throw new FusedError(
      `Cannot ${what} for caller ${callerId} in job of ${ownerId}: only the job's owner and the owners of share tokens it ran can ask`,
    );
  }
  return via;
}

/**
 * The object cache of a job's process: each entry read or written by the runner, through
 * `callsDir`, as the caller (the job's owner, or a share token's UDF owner: `tokens` is the
 * job's {@linkcode jobFinder}'s).
 *
 * @example
 * ```ts ignore
 * const tokens: JobTokens = new Map();
 * const find = jobFinder(spec.callsDir, spec.ownerId, tokens);
 * const objectCache = jobObjectCache(spec.callsDir, spec.ownerId, tokens);
 * ```
 */
export function jobObjectCache(
  callsDir: string,
  ownerId: string,
  tokens: JobTokens,
): ObjectCacheStore {
  const what = 'use cacheStorage "object"';
  return {
    async get(userId, key, maxAge) {
      const via = viaOf(tokens, ownerId, userId, what);
      const reply = await ask(callsDir, { cache: "get", key, maxAge, ...(via ? { via } : {}) });
      if (!("entry" in reply)) {
        throw new FusedError("The service answered a job's question wrongly");
      }
      if (!reply.entry || !reply.bytes) return null;
      const bytes = new Uint8Array(await new Response(reply.bytes.readable).arrayBuffer());
      return { ageMs: reply.entry.ageMs, bytes };
    },
    async put(userId, key, bytes) {
      const via = viaOf(tokens, ownerId, userId, what);
      await ask(callsDir, { cache: "put", key, ...(via ? { via } : {}) }, undefined, bytes);
    },
  };
}

/** Whom a job's question acts as: its owner, or the UDF owner of the enabled token it names. */
export async function jobActor(
  registry: Registry,
  ownerId: string,
  via: string | undefined,
): Promise<string> {
  return via === undefined ? ownerId : (await findSavedUdf(registry, ownerId, via, "run")).actAs;
}

/**
 * What a job's question names, as the job's owner may see it; a question that names a share
 * token asks as that token's UDF owner, once the token is found to name an enabled UDF.
 */
export async function findForJob(
  registry: Registry,
  ownerId: string,
  call: SavedCall,
): Promise<SavedUdf> {
  const actor = await jobActor(registry, ownerId, call.via);
  return await findSavedUdf(registry, actor, call.ref, call.purpose);
}

/**
 * The registry's record of `fd://` owners for a job's process, asked of the runner through
 * `callsDir`: the process's uploads count against their writers' quotas. What the job's owner
 * holds is answered here, from `owner.storedBytes` (taken when the job started) and the job's
 * own records, so a job that uploads nothing never waits for a service; a file of theirs the
 * job replaces or deletes still counts until the job ends (it may be refused early, never late).
 *
 * @example
 * ```ts ignore
 * const registry = jobLedger(spec.callsDir, { id: spec.ownerId, storedBytes: 0 });
 * const quotas = new UserQuotas({ registry, storage, limitBytes });
 * ```
 */
export function jobLedger(callsDir: string, owner: { id: string; storedBytes: number }): Ledger {
  const written = new Map<string, { userId: string; size: number }>();
  const value = async (call: LedgerCall): Promise<number> => {
    const answer = await ask(callsDir, call);
    return "value" in answer ? Number(answer.value ?? 0) : 0;
  };
  return {
    async recordFile(key, userId, size) {
      await value({ ledger: "recordFile", key, userId, size });
      written.set(key, { userId, size });
    },
    async forgetFiles(key) {
      await value({ ledger: "forgetFiles", key });
      for (const file of [...written.keys()]) {
        if (file === key || file.startsWith(`${key}/`)) written.delete(file);
      }
    },
    async storedBytes(userId, except) {
      if (userId !== owner.id) return await value({ ledger: "storedBytes", userId, except });
      let total = owner.storedBytes;
      for (const [key, file] of written) {
        if (file.userId === userId && key !== except) total += file.size;
      }
      return total;
    },
  };
}

async function answerLedger(ledger: Ledger, value: unknown): Promise<number | null> {
  const call = value as Partial<LedgerCall & { size: unknown; except: unknown }>;
  const text = (v: unknown): v is string => typeof v === "string";
  if (call.ledger === "recordFile" && text(call.key) && text(call.userId)) {
    if (!(Number.isSafeInteger(call.size) && (call.size as number) >= 0)) {
      throw new ValidationError("A recorded file's size must be a whole number of bytes");
    }
    await ledger.recordFile(call.key, call.userId, call.size as number);
    return null;
  }
  if (call.ledger === "forgetFiles" && text(call.key)) {
    await ledger.forgetFiles(call.key);
    return null;
  }
  if (call.ledger === "storedBytes" && text(call.userId)) {
    return await ledger.storedBytes(call.userId, text(call.except) ? call.except : undefined);
  }
  throw new ValidationError(
    "A job's question about files must be recordFile {key, userId, size}, forgetFiles {key} or storedBytes {userId, except?}",
  );
}

/**
 * Answers a {@linkcode CacheCall}: the key is checked before anything is read, the put's bytes
 * are measured before they are read, and the entry is the actor's own.
 */
async function answerCache(
  cache: CacheAnswers | undefined,
  value: Record<string, unknown>,
  bodyPath: string,
  answerBodyPath: string,
): Promise<{ ageMs: number } | null> {
  if (!cache) throw new NotSupportedError('This service keeps no cacheStorage "object" entries');
  const key = checkObjectCacheKey(value.key);
  if (value.via !== undefined && typeof value.via !== "string") {
    throw new ValidationError("A cache question's via must be a share token");
  }
  if (value.cache === "get") {
    const maxAge = value.maxAge;
    if (typeof maxAge !== "number" || !(maxAge >= 0)) {
      throw new ValidationError("An object cache read needs a max age in seconds (0 or more)");
    }
    const found = await cache.store.get(await cache.actor(value.via), key, maxAge);
    if (!found) return null;
    await writeFileAtomic(answerBodyPath, found.bytes);
    return { ageMs: found.ageMs };
  }
  if (value.cache !== "put") {
    throw new ValidationError('A job\'s cache question must be { cache: "get"|"put", key, ... }');
  }
  const actor = await cache.actor(value.via);
  const tooLarge = (size: number) =>
    new ValidationError(
      `The cache entry (${size} bytes) is larger than the limit of ${cache.maxBytes} bytes`,
    );
  const body = await Deno.lstat(bodyPath);
  if (!body.isFile) throw new ValidationError("A cache entry's body must be a plain file");
  if (body.size > cache.maxBytes) throw tooLarge(body.size);
  const bytes = await Deno.readFile(bodyPath);
  if (bytes.byteLength > cache.maxBytes) throw tooLarge(bytes.byteLength);
  await cache.store.put(actor, key, bytes);
  return null;
}

function parseCall(value: unknown): SavedCall {
  const call = value as Partial<SavedCall> | null;
  if (
    typeof call?.ref !== "string" || (call.purpose !== "load" && call.purpose !== "run") ||
    (call.via !== undefined && typeof call.via !== "string")
  ) {
    throw new ValidationError("A job's question must be { ref, purpose: load|run, via? }");
  }
  return { ref: call.ref, purpose: call.purpose, via: call.via };
}

/**
 * The `fd://` store of a job's process: each call asked of the runner through `callsDir`, which
 * answers from the service's store (see the module notes).
 *
 * @example
 * ```ts ignore
 * const store = jobStorage(spec.callsDir);
 * await store.list("out");
 * ```
 */
export function jobStorage(callsDir: string): Storage {
  const file = async (call: FileCall, bytes?: ReadableStream<Uint8Array>) => {
    try {
      const reply = await ask(callsDir, call, undefined, bytes);
      if (!("file" in reply)) throw new FusedError("The service answered a job's question wrongly");
      return reply;
    } catch (error) {
      // Its class, for callers that tell a missing file from a failure.
      if (error instanceof FusedError && error.name === "FileNotFoundError" && "key" in call) {
        throw new FileNotFoundError(call.key);
      }
      throw error;
    }
  };
  const info = (value: unknown): FileInfo => {
    const json = value as FileInfoJson;
    return {
      ...json,
      lastModified: json.lastModified === null ? null : new Date(json.lastModified),
    };
  };
  return {
    async list(key) {
      return ((await file({ files: "list", key })).file as unknown[]).map(info);
    },
    async *walk(key) {
      yield* ((await file({ files: "walk", key })).file as unknown[]).map(info);
    },
    async stat(key) {
      const { file: found } = await file({ files: "stat", key });
      return found === null ? null : info(found);
    },
    async read(key, options = {}) {
      const reply = await file({ files: "read", key, ...options });
      if (!reply.bytes) throw new FusedError("The service answered a job's question wrongly");
      return { ...(reply.file as Omit<FileStream, "body">), body: reply.bytes.readable };
    },
    async write(key, body, options = {}) {
      return info((await file({ files: "write", key, ...options }, body)).file);
    },
    async delete(key, options = {}) {
      const maxDepth = options.maxDepth === undefined ? 3 : options.maxDepth;
      return (await file({ files: "delete", key, maxDepth })).file as boolean;
    },
    async check() {
      await file({ files: "check" });
    },
  };
}

/** A key of a job's question, as `parseFdPath` gives it (the root is ""); else refused. */
function fileKey(value: unknown, forWrite: boolean): string {
  const refuse = () =>
    new ValidationError(
      `A job's fd:// question names ${
        JSON.stringify(value)
      }: a key must be an fd:// path without fd:// (no .., . or empty segments)`,
    );
  if (typeof value !== "string") throw refuse();
  const path = `fd://${value}`;
  if ((forWrite ? parseFdFilePath(path) : parseFdPath(path)) !== value) throw refuse();
  return value;
}

function infoJson(info: FileInfo): FileInfoJson {
  return { ...info, lastModified: info.lastModified?.toISOString() ?? null };
}

/**
 * Answers a {@linkcode FileCall} on the service's `store`: the key is checked before anything is
 * read or written; a write's body must be a plain file, which the store writes whole or not at
 * all; a read's bytes go to `answerBodyPath`, written whole before the answer.
 */
async function answerFiles(
  store: Storage,
  value: Record<string, unknown>,
  bodyPath: string,
  answerBodyPath: string,
): Promise<{ file: unknown; body?: true }> {
  if (value.files === "check") {
    await store.check();
    return { file: null };
  }
  const key = fileKey(value.key, value.files === "write");
  switch (value.files) {
    case "list":
      return { file: (await store.list(key)).map(infoJson) };
    case "walk": {
      const found: FileInfoJson[] = [];
      for await (const info of store.walk(key)) found.push(infoJson(info));
      return { file: found };
    }
    case "stat": {
      const info = await store.stat(key);
      return { file: info && infoJson(info) };
    }
    case "read": {
      const range = value.range as Partial<ByteRange> | undefined;
      const whole = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 0;
      if (
        range !== undefined &&
        !(whole(range?.start) && (range.end === undefined || whole(range.end)))
      ) {
        throw new ValidationError("A job's read range must be { start, end? } in whole bytes");
      }
      const { body, ...rest } = await store.read(key, range ? { range: range as ByteRange } : {});
      await writeAtomic(answerBodyPath, body);
      return { file: rest, body: true };
    }
    case "write": {
      const { maxBytes } = value;
      if (
        maxBytes !== undefined && !(Number.isSafeInteger(maxBytes) && (maxBytes as number) >= 0)
      ) {
        throw new ValidationError("A job's write limit must be a whole number of bytes");
      }
      const body = await Deno.lstat(bodyPath);
      if (!body.isFile) throw new ValidationError("A job's fd:// write must come with its bytes");
      const file = await Deno.open(bodyPath);
      const info = await store.write(key, file.readable, {
        maxBytes: maxBytes as number | undefined,
      });
      return { file: infoJson(info) };
    }
    case "delete": {
      const { maxDepth } = value;
      if (maxDepth !== null && !(Number.isSafeInteger(maxDepth) && (maxDepth as number) >= 0)) {
        throw new ValidationError(
          "A job's delete depth must be a whole number or null (unlimited)",
        );
      }
      return { file: await store.delete(key, { maxDepth: maxDepth as number | null }) };
    }
    default:
      throw new ValidationError(
        "A job's fd:// question must be list, walk, stat, read, write, delete or check",
      );
  }
}

/** Questions put in a job's `callsDir`, as they come (see {@linkcode watchQuestions}). */
export interface QuestionWatch {
  /** Resolves when a question was put in the folder since the last call (or at once if one was). */
  next(): Promise<void>;
  /** Stops watching. */
  close(): void;
}

/**
 * Watches `callsDir` (made if missing) for questions put there, so the runner answers without
 * waiting for its next look; the look every `pollMs` stays, for anything a watch misses.
 */
export async function watchQuestions(callsDir: string): Promise<QuestionWatch> {
  await Deno.mkdir(callsDir, { recursive: true, mode: 0o700 });
  let watcher: Deno.FsWatcher;
  try {
    watcher = Deno.watchFs(callsDir, { recursive: false });
  } catch {
    // No watch to be had (the user's inotify instances used up): the runner's look every pollMs
    // answers alone, as slower but the same.
    return { next: () => new Promise<void>(() => {}), close: () => {} };
  }
  let waiting = Promise.withResolvers<void>();
  let seen = false;
  (async () => {
    for await (const event of watcher) {
      if (!event.paths.some((path) => QUESTION.test(basename(path)))) continue;
      seen = true;
      waiting.resolve();
    }
  })().catch(() => {}); // closed
  return {
    next() {
      if (seen) {
        seen = false;
        return Promise.resolve();
      }
      waiting = Promise.withResolvers<void>();
      return waiting.promise.then(() => {
        seen = false;
      });
    },
    close: () => watcher.close(),
  };
}

/**
 * Answers the questions waiting in `callsDir` with `answer` (the runner's side). Each answer is
 * written before its question is removed, so a restart in between answers it again, never not.
 */
export async function answerSavedCalls(
  callsDir: string,
  answer: (call: SavedCall) => Promise<SavedUdf>,
  ledger?: Ledger,
  cache?: CacheAnswers,
  files?: Storage,
): Promise<void> {
  let names: string[];
  try {
    names = [];
    for await (const entry of Deno.readDir(callsDir)) {
      if (entry.isFile && QUESTION.test(entry.name)) names.push(entry.name);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return; // the job asked nothing yet
    throw error;
  }
  for (const name of names) {
    const question = join(callsDir, name);
    const id = name.replace(QUESTION, "$1");
    let reply: Answer;
    try {
      const call = JSON.parse(await Deno.readTextFile(question));
      if (typeof call === "object" && call !== null && "cache" in call) {
        const body = join(callsDir, `${id}.bytes`);
        const entry = await answerCache(cache, call, body, join(callsDir, `${id}.answer.bytes`));
        reply = { ok: true, entry, ...(entry && { body: true as const }) };
      } else if (typeof call === "object" && call !== null && "files" in call) {
        if (!files) throw new FusedError("This service answers no fd:// questions of jobs");
        const body = join(callsDir, `${id}.bytes`);
        const file = await answerFiles(files, call, body, join(callsDir, `${id}.answer.bytes`));
        reply = { ok: true, ...file };
      } else if (typeof call === "object" && call !== null && "ledger" in call) {
        if (!ledger) throw new FusedError("This service keeps no record of fd:// owners");
        reply = { ok: true, value: await answerLedger(ledger, call) };
      } else {
        const found = await answer(parseCall(call));
        reply = {
          ok: true,
          udf: found.udf.toJSON(),
          actAs: found.actAs,
          cache: found.cache,
          ...(found.token ? { token: found.token } : {}),
        };
      }
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue; // withdrawn meanwhile
      const { name: kind, message } = error instanceof Error
        ? error
        : { name: "Error", message: String(error) };
      reply = { ok: false, error: { name: kind, message } };
    }
    await writeFileAtomic(join(callsDir, `${id}.answer`), JSON.stringify(reply));
    await Deno.remove(question).catch(() => {});
    await Deno.remove(join(callsDir, `${id}.bytes`)).catch(() => {});
  }
}
