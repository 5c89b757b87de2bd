/**
 * Messages between the engine and its UDF Workers (types only: nothing here runs).
 *
 * @module
 */
import type { UdfLogs } from "../client/errors.ts";
import type { TransferMessage } from "../client/formats/transfer.ts";
import type { InjectedArguments, UdfSignature } from "./params.ts";

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
  /** One Int32 the host sets to 1 to stop the run at its next interrupt check. */
  interrupt?: SharedArrayBuffer;
  /** Heap the run may use, in MB; checked every few thousand interrupt checks. */
  memoryLimitMb?: number;
  /** Send output while the run goes on (`output` messages), not only with its answer. */
  streamOutput?: boolean;
}

/** Loads a UDF module and returns its signature. */
export interface DescribeMessage {
  type: "describe";
  id: number;
  url: string;
  entrypoint: string;
  /** As for runs: module top-level code can spin too. */
  interrupt?: SharedArrayBuffer;
}

/** What the engine sends. */
export type HostMessage = RunMessage | DescribeMessage;

/** A failure, serialized: `validation` becomes a ValidationError, `runtime` a UdfRuntimeError. */
export interface FailureMessage {
  kind: "validation" | "runtime";
  message: string;
  exceptionClass: string;
  lineno?: number;
  stack?: string;
}

/** What a Worker answers, once per request. */
export type WorkerMessage =
  | { type: "result"; id: number; result: TransferMessage; logs: UdfLogs }
  | { type: "signature"; id: number; signature: UdfSignature; logs: UdfLogs }
  | { type: "failure"; id: number; failure: FailureMessage; logs: UdfLogs }
  /** Output written since the last `output` message of a run that asked for streaming. */
  | { type: "output"; id: number; stdout: string; stderr: string }
  /** An error nobody awaited, thrown while the UDF's code ran (or after). */
  | { type: "crash"; failure: FailureMessage; logs: UdfLogs };
