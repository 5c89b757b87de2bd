/**
 * The channel from a UDF's process to its host: inside a UDF the executor's runner installs a
 * {@linkcode UdfHost} (`setUdfHost`), and the SDK's calls that need more than the sandbox gives
 * (nested runs, loads by name, downloads, `fd://` files) go through it. The lowest layer of the
 * SDK: `options` reads the folders it names, so it imports nothing of the SDK.
 *
 * @module
 */

/** The SDK calls a UDF can make through its host. */
export type HostMethod =
  | "run"
  | "describe"
  | "load"
  | "download"
  | "files.list"
  | "files.get"
  | "files.upload"
  | "files.uploadFile"
  | "files.delete"
  | "files.signUrl"
  | "files.signUrlPrefix"
  | "cache.get"
  | "cache.put";

/** The UDF process's side: the channel to its host. */
export interface UdfHost {
  /** Calls the host; binary values (file bytes) travel as `body`. */
  call(method: HostMethod, args: unknown[], body?: Uint8Array): Promise<HostReply>;
  /** The folders this process may use (they become the defaults of `fused.options`). */
  folders: { dataDir: string; cacheDir: string; tempDir: string };
}

/** The host's answer to a call. */
export interface HostReply {
  /** The JSON value of the answer. */
  value: unknown;
  /** Bytes of the answer (a file's content, a result's buffers). */
  body: Uint8Array;
}

let current: UdfHost | undefined;

/** Installs the host channel (the executor's runner does this inside a UDF's process). */
export function setUdfHost(host: UdfHost | undefined): void {
  current = host;
}

/** The host channel when this code runs inside a UDF's process, else undefined. */
export function udfHost(): UdfHost | undefined {
  return current;
}
