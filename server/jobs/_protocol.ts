/**
 * What the job runner and a job's process exchange through files in the job's run folder:
 * `spec.json` (what to run, written by the runner), `output.log` (the process's stdout and stderr,
 * one JSON record `{"t": ms, "m": text}` per line from the job itself, plain text from anything
 * else, such as V8 running out of memory) and `exit.json` (the outcome, written last).
 * Files rather than pipes, so a job outlives a restart of the service and is picked up again.
 *
 * @module
 */
import type { CallerPolicy } from "../../client/engine_types.ts";
import type { UdfJson } from "../../client/udf_json.ts";
import type { JobResultFile } from "../registry/mod.ts";
import type { InstanceLimits } from "./instance_types.ts";

/** One step of a job: a UDF and its parameters. */
export interface ChildStep {
  /** The Udf JSON. */
  udf: UdfJson;
  /** Parameters of the run. */
  parameters: Record<string, unknown>;
}

/** `spec.json`: everything a job's process needs. */
export interface ChildSpec {
  /** The job's id. */
  jobId: string;
  /** Its instance type. */
  instanceType: string;
  /** The limits of that type. */
  limits: InstanceLimits;
  /** The UDF steps, run in order. */
  steps: ChildStep[];
  /** Environment values the UDFs read with `Deno.env.get` (the job's `additional_env`). */
  env: Record<string, string>;
  /** The local engine's folder (module files, cache). */
  engineDir: string;
  /** Storage key of the folder the result files go to (`jobs/<id>`). */
  resultPrefix: string;
  /** The root folder of the service's `fd://` store, which the job's UDFs read and write. */
  filesDir: string;
  /**
   * The service serves `fd://` from another store (`--storage`): the UDFs' `fd://` calls are
   * asked of the runner through `callsDir` (results still go to `filesDir`, moved at the end).
   */
  filesViaRunner?: boolean;
  /** Where the outcome goes. */
  exitPath: string;
  /** The job's owner: its UDFs run as them, and find saved UDFs by name as they may. */
  ownerId: string;
  /**
   * Where the folders of the job's callers are (`<callersDir>/users/<id>/data|cache`): the
   * service's own, so a user's jobs and realtime runs share their data and cache.
   */
  callersDir: string;
  /** Where the process asks the runner for saved UDFs by name (see _saved_calls.ts). */
  callsDir: string;
  /** What the operator lets users' UDFs reach (over runner.ts's `SERVICE_POLICY`). */
  policy?: Partial<CallerPolicy>;
  /**
   * Users' disk quota (`--quota-mb`) and what the job's owner held in `fd://` when it started:
   * the job's `fd://` uploads are recorded through `callsDir` and counted (../quota.ts). None:
   * not counted.
   */
  quota?: { limitBytes: number; ownerStoredBytes: number };
}

/** `exit.json`: the outcome of a job's process. */
export interface ChildExit {
  /** How the job ended. */
  status: "succeeded" | "failed";
  /** The error of a failed job. */
  error: string | null;
  /** Result files written. */
  results: JobResultFile[];
}

/** Formats one log record as the job's process writes it. */
export function formatLogRecord(timestamp: number, message: string): string {
  return JSON.stringify({ t: timestamp, m: message }) + "\n";
}

/** Reads one line of `output.log`: a record of the job, or a plain line (time unknown). */
export function parseLogLine(line: string): { timestamp?: number; message: string } {
  if (line.startsWith('{"t":')) {
    try {
      const record = JSON.parse(line);
      if (typeof record.t === "number" && typeof record.m === "string") {
        return { timestamp: record.t, message: record.m };
      }
    } catch {
      // Not one of ours after all: keep the line as it is.
    }
  }
  return { message: line };
}
