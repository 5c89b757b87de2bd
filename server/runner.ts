/**
 * The runner the service uses by default: `runDetailed` from client/run.ts on the UDF executor
 * (sandboxed processes from engine/), each run acting as the user it is for.
 *
 * A user's runs get their own data and cache folders (`<dataDir>/users/<id>/data|cache`), and
 * their UDFs' SDK calls are answered as that user: nested runs on the same executor, downloads
 * into the user's data folder, `fd://` files in the service's store.
 *
 * @module
 */
import { join } from "node:path";
import { ValidationError } from "../client/errors.ts";
import {
  cachingLocalEngine,
  installEngine,
  type LocalEngineLike,
  runDetailed,
  type RunResponse,
} from "../client/run.ts";
import type { CallerContext, CallerPolicy, HostHandler, NestedRun } from "../client/udf_host.ts";
import { defaultEngine } from "../engine/mod.ts";
import type { UdfRunner } from "./runs.ts";
import { fdUrl, fileDetails, parseFdPath, type Storage } from "./storage.ts";

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

function fdPath(args: unknown[]): string {
  if (typeof args[0] !== "string") throw new ValidationError("A file call needs an fd:// path");
  return parseFdPath(args[0]);
}

async function bytesOf(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Answers a UDF's SDK calls as the service's user. */
function serviceHost(storage: Storage | undefined): HostHandler {
  const store = (): Storage => {
    if (!storage) {
      throw new ValidationError("fd:// files are not available to UDFs on this service");
    }
    return storage;
  };
  return {
    run(request: NestedRun, { caller, signal }): Promise<RunResponse> {
      if (typeof request.udf === "string") {
        throw new ValidationError(
          "A UDF on the service runs other UDFs as Udf objects: fused.load them first",
        );
      }
      // "remote" from inside the service is this service: the run stays here, as the same user.
      return runDetailed(request.udf, {
        engine: "local",
        parameters: request.parameters,
        ...(request.tile ?? {}),
        cacheMaxAge: request.cacheMaxAge,
        verbose: false,
        signal,
        caller,
      });
    },
    async download(url, target): Promise<void> {
      // fd:// only (the executor checks and fetches other URLs): the service's own store.
      const file = await store().read(parseFdPath(url));
      const out = await Deno.open(target, { write: true, createNew: true });
      await file.body.pipeTo(out.writable);
    },
    async files(method, args, body): Promise<unknown> {
      switch (method) {
        case "files.list": {
          const entries = await store().list(fdPath(args).replace(/\/?$/, ""));
          return args[1] === true ? entries.map(fileDetails) : entries.map(fdUrl);
        }
        case "files.get":
          return await bytesOf((await store().read(fdPath(args))).body);
        case "files.upload": {
          const bytes = body ?? new Uint8Array();
          await store().write(fdPath(args), new Response(bytes as Uint8Array<ArrayBuffer>).body!);
          return null;
        }
        case "files.delete": {
          const depth = args[1] === "unlimited" ? null : typeof args[1] === "number" ? args[1] : 3;
          return await store().delete(fdPath(args), { maxDepth: depth });
        }
        default:
          throw new ValidationError(
            `${method} is not available inside a UDF on the service: sign URLs from a notebook or script`,
          );
      }
    },
  };
}

/**
 * The local runner. Installs `engine` (default: the process-wide engine) as client/run.ts's
 * local engine, which is one per process: the service and notebook runs share it.
 */
export function localRunner(options: LocalRunnerOptions = {}): UdfRunner {
  installEngine("local", cachingLocalEngine(options.engine ?? defaultEngine()));
  const host = serviceHost(options.storage);
  const policy: CallerPolicy = { ...SERVICE_POLICY, ...options.policy };
  const callers = new Map<string, CallerContext>();
  const callerOf = (userId: string): CallerContext => {
    let caller = callers.get(userId);
    if (!caller) {
      if (!/^[A-Za-z0-9_-]{1,128}$/.test(userId)) {
        throw new ValidationError(`User id "${userId}" cannot name a folder`);
      }
      const root = join(options.dataDir!, "users", userId);
      caller = {
        id: userId,
        depth: 0,
        dataDir: join(root, "data"),
        cacheDir: join(root, "cache"),
        host,
        policy,
      };
      callers.set(userId, caller);
    }
    return caller;
  };
  return function runLocally(udf, runOptions) {
    const { callerId, ...rest } = runOptions;
    const caller = callerId && options.dataDir ? callerOf(callerId) : undefined;
    return runDetailed(udf, { ...rest, caller } as Parameters<typeof runDetailed>[1]);
  };
}
