/**
 * Frame headers between the executor and its UDF processes (types and one constant).
 * Binary payloads travel in the frame body (see _frames.ts and _wire.ts).
 *
 * @module
 */
import type { UdfLogs } from "../client/errors.ts";
import type { HostMethod } from "../client/host_channel.ts";
import type { InjectedArguments, UdfSignature } from "./params.ts";
import type { PackedResult } from "../client/formats/packed.ts";
import type { PyTable } from "./_py_result.ts";

/** Runs the entrypoint of a UDF module. */
export interface RunMessage {
  type: "run";
  id: number;
  /** file: URL of the UDF module. */
  url: string;
  entrypoint: string;
  /** The call's parameters (unknown names are an error). */
  given: Record<string, unknown>;
  /** The UDF's default parameters (unknown names are dropped). */
  defaults: Record<string, unknown>;
  injected?: InjectedArguments;
  /** Environment values `Deno.env.get` returns inside the UDF. */
  env: Record<string, string>;
  /** Send output while the run goes on (`output` messages), not only with its answer. */
  streamOutput?: boolean;
  /** Largest result, in bytes. */
  maxResultBytes: number;
  /** A Python UDF's module files by name: its process has no module folder mounted. */
  files?: Record<string, string>;
  /** A Python UDF's cache folder: its process may serve any UDF of the caller. */
  cacheDir?: string;
}

/** Loads a UDF module and returns its signature. */
export interface DescribeMessage {
  type: "describe";
  id: number;
  url: string;
  entrypoint: string;
  /** A Python UDF's module files by name, as in {@linkcode RunMessage}. */
  files?: Record<string, string>;
  /** A Python UDF's cache folder, as in {@linkcode RunMessage}. */
  cacheDir?: string;
}

/** The host's answer to a `call`; a binary answer is in the frame body. */
export type ReplyMessage =
  | { type: "reply"; call: number; ok: true; value: unknown }
  | { type: "reply"; call: number; ok: false; error: { name: string; message: string } };

/**
 * Runs again what the last `run` message to this process asked, under a new id: a warm run of
 * the same UDF with the same parameters (the host sends it only when they are all primitives, so
 * nothing of one run is shared with the next) is a few bytes, not a header to write and parse.
 * Only TypeScript UDF processes get it.
 */
export interface AgainMessage {
  type: "again";
  id: number;
}

/** A run sent but cancelled before it started: the process skips it. */
export interface SkipMessage {
  type: "skip";
  id: number;
}

/** What the host sends. */
export type HostMessage =
  | RunMessage
  | DescribeMessage
  | ReplyMessage
  | SkipMessage
  | AgainMessage;

/**
 * A JSON value or a string a UDF returned, small enough to travel in its answer's header (as
 * JSON, parsed with it) instead of as UTF-8 in the body; larger ones are `PackedResult`s.
 */
export interface InlineResult {
  kind: "value";
  value: unknown;
}

/** Longest inline result, in UTF-16 units of its JSON text. */
export const INLINE_RESULT_CHARS = 4096;

/** A failure, serialized: `validation` becomes a ValidationError, `runtime` a UdfRuntimeError. */
export interface FailureMessage {
  kind: "validation" | "runtime";
  message: string;
  exceptionClass: string;
  lineno?: number;
  stack?: string;
}

/**
 * What a UDF process sends. A Python process sets `retire` on an answer when its run left
 * processes running: the host stops it after the answer.
 */
export type ChildMessage =
  /** Sent once, when the process is ready for work. */
  | { type: "ready" }
  | {
    type: "result";
    id: number;
    result: PackedResult | PyTable | InlineResult;
    /** None: the run wrote nothing. */
    logs?: UdfLogs;
    retire?: string;
  }
  | { type: "signature"; id: number; signature: UdfSignature; logs: UdfLogs; retire?: string }
  | { type: "failure"; id: number; failure: FailureMessage; logs: UdfLogs; retire?: string }
  /** Output written since the last `output` message of a run that asked for streaming. */
  | { type: "output"; id: number; stdout: string; stderr: string }
  /** An error nobody awaited, thrown while the UDF's code ran (or after). */
  | { type: "crash"; failure: FailureMessage; logs: UdfLogs }
  /** An SDK call of the running UDF for its host to carry out (bytes in the body). */
  | { type: "call"; id: number; call: number; method: HostMethod; args: unknown[] };

/** Arguments of the runner process, as one JSON argument. */
export interface ChildConfig {
  /** The unix socket to connect to. */
  socket: string;
  /** The caller's data folder (`filePath`, `download`). */
  dataDir: string;
  /** The UDF's cache folder (`fused.cache`). */
  cacheDir: string;
  /** A temp folder of this process. */
  tempDir: string;
  /** Modules a spare Python process imports before it knows its UDF (engine/_pool.ts). */
  preload?: string[];
}
