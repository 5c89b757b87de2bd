/**
 * The caller of runs made on this machine by its own user (a script, a notebook): a UDF's SDK
 * calls are carried out with this process's SDK — nested runs on the same executor (or the
 * service, for engine "remote"), `fd://` files and saved UDFs by name through the service this
 * client is logged in to, as its user (a share token always runs there, as its UDF's owner) —
 * under {@linkcode LOCAL_POLICY}: downloads into `options.dataDirectory` from public hosts, and
 * from private ones the run names in its `allowNet`.
 *
 * @module
 */
import { join } from "node:path";
import * as files from "../client/api/files.ts";
import { isShareToken } from "../client/api/udfs.ts";
import { download } from "../client/download.ts";
import { FusedError, HttpError, NotSupportedError, ValidationError } from "../client/errors.ts";
import { loadSaved } from "../client/load.ts";
import { options } from "../client/options.ts";
import { cachingLocalEngine, effectiveMaxAge, engineFor } from "../client/run.ts";
import type { LocalEngineLike, RunResponse } from "../client/engine_types.ts";
import type { Udf } from "../client/udf.ts";
import {
  type CallerContext,
  type HostHandler,
  LOCAL_POLICY,
  type NestedRun,
} from "../client/engine_types.ts";

function path(args: unknown[]): string {
  if (typeof args[0] !== "string" || !args[0]) {
    throw new ValidationError("A file call needs an fd:// path");
  }
  return args[0];
}

function expiration(args: unknown[]): number | undefined {
  return typeof args[1] === "number" ? args[1] : undefined;
}

function range(args: unknown[]): files.ByteRange | undefined {
  const value = args[1] as files.ByteRange | undefined;
  return typeof value === "object" && value !== null ? value : undefined;
}

/**
 * A missing file answers as the service's own store does (a `FileNotFoundError`), so a UDF tells
 * "not there" from a failure the same way on every host.
 */
async function sameMissing<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (error) {
    if (error instanceof HttpError && error.status === 404) {
      const missing = new FusedError(error.message, { cause: error });
      missing.name = "FileNotFoundError";
      throw missing;
    }
    throw error;
  }
}

const OBJECT_CACHE_HERE =
  'cacheStorage "object" keeps results on a service\'s shared store, and this UDF runs on this machine\'s own engine: run it on the service (engine "remote") or a worker, or use cacheStorage "mount" to share results between this machine\'s processes';

/** The SDK of this process, answering a UDF's calls. */
export function localHost(engine: LocalEngineLike): HostHandler {
  const local = cachingLocalEngine(engine);
  return {
    async run(request: NestedRun, { caller, signal }): Promise<RunResponse> {
      const call = {
        parameters: request.parameters,
        tile: request.tile,
        signal,
        timeoutMs: options.runTimeout * 1000,
        cacheMaxAge: request.cacheMaxAge,
        caller,
      };
      const target = request.udf;
      if (request.engine === "remote" || (typeof target === "string" && isShareToken(target))) {
        return engineFor("remote").run(target, call);
      }
      if (typeof target !== "string") return local.run(target, call);
      const udf = await loadSaved(target, { signal });
      return await local.run(udf, {
        ...call,
        cacheMaxAge: request.cacheMaxAge ?? effectiveMaxAge(udf, {}),
      });
    },
    load(ref, { signal }): Promise<Udf> {
      return loadSaved(ref, { signal });
    },
    async download(url, target, { signal }): Promise<void> {
      // fd:// only (the executor checks and fetches other URLs): the store of the service this
      // client is logged in to (or the folder a local options.fdPrefix names), as its user.
      if (!url.startsWith("fd://")) throw new ValidationError(`${url} is not an fd:// URL`);
      await download(url, target, { signal });
    },
    files(method, args, body, { signal }): Promise<unknown> {
      switch (method) {
        case "files.list":
          return sameMissing<unknown>(
            args[1] === true
              ? files.list(path(args), { details: true, signal })
              : files.list(path(args), { signal }),
          );
        case "files.get":
          return sameMissing(files.get(path(args), { range: range(args), signal }));
        case "files.upload": {
          const size = typeof args[1] === "number" ? args[1] : undefined;
          return files.upload(body ?? new Uint8Array(), path(args), { size, signal });
        }
        case "files.delete": {
          const depth = args[1] === "unlimited" || typeof args[1] === "number"
            ? args[1]
            : undefined;
          return files.delete(path(args), { maxDeletionDepth: depth, signal });
        }
        case "files.signUrl":
          return files.signUrl(path(args), { expiration: expiration(args), signal });
        case "files.signUrlPrefix":
          return files.signUrlPrefix(path(args), { expiration: expiration(args), signal });
      }
    },
    objectCache(): Promise<never> {
      return Promise.reject(new NotSupportedError(OBJECT_CACHE_HERE));
    },
  };
}

/** Runs of this machine's own user: depth 0, the data and cache folders of `fused.options`. */
export function localCaller(engine: LocalEngineLike): CallerContext {
  return {
    id: "local",
    depth: 0,
    dataDir: options.dataDirectory,
    cacheDir: options.cacheDirectory ?? join(options.dataDirectory, "cached_data"),
    host: localHost(engine),
    policy: LOCAL_POLICY,
  };
}
