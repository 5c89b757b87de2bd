/**
 * The runner the service uses by default: client/run.ts's caching local engine on the UDF
 * executor (sandboxed processes from engine/), each run acting as the user it is for.
 *
 * A user's runs get their own data and cache folders (`<dataDir>/users/<id>/data|cache`), and
 * their UDFs' SDK calls are answered as that user: nested runs on the same executor, saved UDFs
 * by name by the registry's sharing rules (saved_udfs.ts), downloads into the user's data folder,
 * `fd://` files in the service's store.
 *
 * @module
 */
import { join } from "node:path";
import { FusedError, NotSupportedError, ValidationError } from "../client/errors.ts";
import { options as fusedOptions } from "../client/options.ts";
import { cachingLocalEngine, effectiveMaxAge, installEngine } from "../client/run.ts";
import type { LocalEngineLike, RunResponse, UdfEngine } from "../client/engine_types.ts";
import type { Udf } from "../client/udf.ts";
import type {
  CallerContext,
  CallerPolicy,
  HostHandler,
  NestedRun,
} from "../client/engine_types.ts";
import { defaultEngine } from "../engine/mod.ts";
import { callerCacheDir, type ObjectCacheStore } from "./object_cache.ts";
import type { Registry } from "./registry/mod.ts";
import type { UserQuotas } from "./quota.ts";
import type { UdfRunner } from "./runs.ts";
import { registryFinder, type SavedUdfFinder } from "./saved_udfs.ts";
import {
  fdUrl,
  fileDetails,
  parseFdFilePath,
  parseFdPath,
  type ReadOptions,
  type Storage,
} from "./storage.ts";

/** Options of {@linkcode localRunner}. */
export interface LocalRunnerOptions {
  /** The executor (default: the process-wide engine). */
  engine?: LocalEngineLike;
  /** The service's `fd://` store, for the file calls of UDFs; without it they are refused. */
  storage?: Storage;
  /** Where users' data and cache folders go; without it, runs act as this process's user. */
  dataDir?: string;
  /** What users' runs may reach through the service (default {@linkcode SERVICE_POLICY}). */
  policy?: Partial<CallerPolicy>;
  /** Where UDFs find saved UDFs by name, as their caller may; without it they cannot. */
  registry?: Registry;
  /** Users' disk quotas (see {@linkcode ServiceCallersOptions.quotas}). */
  quotas?: UserQuotas;
  /** Where `fused.cache` keeps entries with cacheStorage "object"; without it, refused. */
  objectCache?: ObjectCacheStore;
}

/**
 * What a user's runs may reach through the service by default: public hosts for downloads, no
 * loopback, link-local or private address (the service's own database, storage, metadata
 * endpoints), files up to 4 GiB, any npm package.
 */
export const SERVICE_POLICY: CallerPolicy = Object.freeze({
  net: true,
  privateNetwork: "never",
  maxDownloadBytes: 4 * 1024 ** 3,
  npm: Object.freeze({}),
});

function fdPath(args: unknown[], parse = parseFdPath): string {
  if (typeof args[0] !== "string") throw new ValidationError("A file call needs an fd:// path");
  return parse(args[0]);
}

async function bytesOf(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function rangeOf(value: unknown): ReadOptions {
  if (typeof value !== "object" || value === null) return {};
  const { start, end } = value as { start?: unknown; end?: unknown };
  if (
    !(Number.isSafeInteger(start) && (start as number) >= 0) ||
    (end !== undefined && !(Number.isSafeInteger(end) && (end as number) >= (start as number)))
  ) {
    throw new ValidationError("A byte range must be { start, end } with 0 <= start <= end");
  }
  return { range: { start: start as number, end: end as number | undefined } };
}

/**
 * The `fd://` calls of a UDF answered from a store directly: the service's own (as its user; the
 * service's users share it as a team shares a bucket), and that of a batch job's process or a
 * `fused worker` (the same store, reached without the service). Without a store they are refused.
 */
function storeFileCalls(
  storage: Storage | undefined,
  quotas: UserQuotas | undefined,
  objectCache: ObjectCacheStore | undefined,
): Pick<HostHandler, "download" | "files" | "objectCache"> {
  const store = (): Storage => {
    if (!storage) {
      throw new ValidationError("fd:// files are not available to UDFs on this service");
    }
    return storage;
  };
  return {
    async download(url, target): Promise<void> {
      // fd:// only (the executor checks and fetches other URLs).
      const file = await store().read(parseFdPath(url));
      const out = await Deno.open(target, { write: true, createNew: true });
      await file.body.pipeTo(out.writable);
    },
    async files(method, args, body, { caller }): Promise<unknown> {
      switch (method) {
        case "files.list": {
          const entries = await store().list(fdPath(args).replace(/\/?$/, ""));
          return args[1] === true ? entries.map(fileDetails) : entries.map(fdUrl);
        }
        case "files.get":
          return await bytesOf((await store().read(fdPath(args), rangeOf(args[1]))).body);
        case "files.upload": {
          const stream = body instanceof ReadableStream
            ? body
            : new Response((body ?? new Uint8Array()) as Uint8Array<ArrayBuffer>).body!;
          const key = fdPath(args, parseFdFilePath);
          if (!quotas) {
            await store().write(key, stream);
            return null;
          }
          // An upload of a file of the data folder comes with its size (files.uploadFile).
          const length = body instanceof ReadableStream && typeof args[1] === "number"
            ? args[1]
            : body instanceof Uint8Array
            ? body.byteLength
            : undefined;
          await quotas.write(caller.id, key, stream, { length, what: `Uploading fd://${key}` });
          return null;
        }
        case "files.delete": {
          const depth = args[1] === "unlimited" ? null : typeof args[1] === "number" ? args[1] : 3;
          const key = fdPath(args);
          return quotas
            ? await quotas.delete(key, { maxDepth: depth })
            : await store().delete(key, { maxDepth: depth });
        }
        default:
          throw new ValidationError(
            `${method} is not available inside a UDF on the service: sign URLs from a notebook or script`,
          );
      }
    },
    async objectCache(method, args, body, { caller }) {
      if (!objectCache) {
        throw new NotSupportedError(
          'cacheStorage "object" is not available on this host: it has no shared cache store (a service or `fused worker` started with --storage has one); use cacheStorage "mount" or "local"',
        );
      }
      const key = args[0] as string;
      if (method === "cache.put") {
        await objectCache.put(caller.id, key, body ?? new Uint8Array());
        return null;
      }
      return await objectCache.get(caller.id, key, args[1] as number);
    },
  };
}

/** What {@linkcode savedUdfCalls} needs. */
export interface SavedUdfCallsOptions {
  /** Runs the nested UDFs: the executor's caching local row (`cachingLocalEngine`). */
  engine: UdfEngine;
  /** Finds saved UDFs as the caller may; without it, UDFs cannot use saved UDFs by name. */
  find?: SavedUdfFinder;
  /** The caller of another user: whom the run of a share token acts as (its UDF's owner). */
  callerOf(userId: string): CallerContext;
}

/**
 * A UDF's nested runs and its loads by name, answered on the service's side (the service, a
 * batch job's process, a `fused worker`): runs go to `engine` as the caller, one level deeper
 * (engine "remote" from there is the same place); a saved UDF is found by `find` as the caller
 * may, and the run of a share token acts as its UDF's owner at the same depth, as
 * `GET /{token}/run` does.
 *
 * @example
 * ```ts ignore
 * const host = { ...storeFileCalls(storage), ...savedUdfCalls({ engine, find, callerOf }) };
 * ```
 */
export function savedUdfCalls(options: SavedUdfCallsOptions): Pick<HostHandler, "run" | "load"> {
  const find: SavedUdfFinder = options.find ?? ((ref) => {
    throw new FusedError(
      `Cannot find the saved UDF "${ref}": this host has no registry of saved UDFs; pass the UDF itself (fused.run(udf))`,
    );
  });
  return {
    async run(request: NestedRun, { caller, signal }): Promise<RunResponse> {
      let udf = request.udf;
      let runAs = caller;
      let cacheMaxAge = request.cacheMaxAge;
      if (typeof udf === "string") {
        const found = await find(udf, "run", caller, signal);
        udf = found.udf;
        if (found.actAs !== caller.id) {
          runAs = { ...options.callerOf(found.actAs), depth: caller.depth };
        }
        if (!found.cache) cacheMaxAge = 0;
      }
      return await options.engine.run(udf, {
        parameters: request.parameters,
        tile: request.tile,
        signal,
        timeoutMs: fusedOptions.runTimeout * 1000,
        cacheMaxAge: cacheMaxAge ?? effectiveMaxAge(udf, {}),
        caller: runAs,
      });
    },
    async load(ref, { caller, signal }): Promise<Udf> {
      return (await find(ref, "load", caller, signal)).udf;
    },
  };
}

/** Options of {@linkcode serviceCallers}. */
export interface ServiceCallersOptions extends Omit<SavedUdfCallsOptions, "callerOf"> {
  /** Where users' folders go: `<dataDir>/users/<id>/data|cache`. */
  dataDir: string;
  /** The `fd://` store of the UDFs' file calls; without it they are refused. */
  storage?: Storage;
  /** What the users' runs may reach (default {@linkcode SERVICE_POLICY}). */
  policy?: Partial<CallerPolicy>;
  /**
   * The users' disk quotas: their `fd://` writes are recorded and counted, and their runs get
   * the quota (see `CallerQuota`); without them, nothing is counted.
   */
  quotas?: UserQuotas;
  /** Where `fused.cache` keeps entries with cacheStorage "object"; without it, refused. */
  objectCache?: ObjectCacheStore;
}

/**
 * The callers of the service's users, by user id: each with its own data and cache folders, its
 * UDFs' SDK calls answered as that user (`fd://` files from the store, nested runs and saved
 * UDFs by {@linkcode savedUdfCalls}). The service, batch jobs and workers make them alike.
 *
 * @example
 * ```ts ignore
 * const callerOf = serviceCallers({ engine, dataDir, storage, find: registryFinder(registry) });
 * await engine.run(udf, { parameters: {}, caller: callerOf(user.id) });
 * ```
 */
export function serviceCallers(options: ServiceCallersOptions): (userId: string) => CallerContext {
  const policy: CallerPolicy = { ...SERVICE_POLICY, ...options.policy };
  const callers = new Map<string, CallerContext>();
  const callerOf = (userId: string): CallerContext => {
    let caller = callers.get(userId);
    if (!caller) {
      if (!/^[A-Za-z0-9_-]{1,128}$/.test(userId)) {
        throw new ValidationError(`User id "${userId}" cannot name a folder`);
      }
      const root = join(options.dataDir, "users", userId);
      caller = {
        id: userId,
        depth: 0,
        dataDir: join(root, "data"),
        cacheDir: callerCacheDir(options.dataDir, userId),
        host,
        policy,
        ...(options.quotas && { quota: options.quotas.callerQuota(userId) }),
      };
      callers.set(userId, caller);
    }
    return caller;
  };
  const host: HostHandler = {
    ...storeFileCalls(options.storage, options.quotas, options.objectCache),
    ...savedUdfCalls({ engine: options.engine, find: options.find, callerOf }),
  };
  return callerOf;
}

/**
 * The local runner. Installs `engine` (default: the process-wide engine) as client/run.ts's
 * local engine, which is one per process: the service and notebook runs share it.
 */
export function localRunner(options: LocalRunnerOptions = {}): UdfRunner {
  const executor = options.engine ?? defaultEngine();
  const engine = cachingLocalEngine(executor);
  installEngine("local", engine);
  const callerOf = options.dataDir
    ? serviceCallers({
      engine,
      dataDir: options.dataDir,
      storage: options.storage,
      find: options.registry && registryFinder(options.registry),
      policy: options.policy,
      quotas: options.quotas,
      objectCache: options.objectCache,
    })
    : undefined;
  // Straight to the local row, as runDetailed would route it: the service's runs come decided
  // (local, quiet, no retry, their cache age and timeout), and reading them again as a user's
  // run options was 2-3 % of the service's CPU of an uncached run (perf with JS frames).
  const runLocally: UdfRunner = (udf, o) =>
    engine.run(udf, {
      parameters: o.parameters,
      tile: o.z === undefined ? undefined : { x: o.x!, y: o.y!, z: o.z },
      signal: o.signal,
      timeoutMs: o.runTimeout ?? fusedOptions.runTimeout * 1000,
      cacheMaxAge: o.cache === false ? 0 : o.cacheMaxAge ?? effectiveMaxAge(udf, {}),
      caller: o.callerId && callerOf ? callerOf(o.callerId) : undefined,
    });
  runLocally.pin = async (udf, callerId) => {
    // Python UDFs are saved for Fused's own runtime: they have no npm packages to pin.
    if (udf.language === "python" || !executor.pin) return;
    await executor.pin(udf, callerOf ? callerOf(callerId) : undefined);
  };
  return runLocally;
}
