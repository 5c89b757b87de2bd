/**
 * Structured logs for `fused serve` and `fused worker` (`--log-format json`): every line the
 * process writes through the console becomes one JSON object on stderr, with `time`, `level`,
 * `process`, `pid` and `msg`, ready for a log collector.
 *
 * The console methods are replaced, not each call site changed: lines come from the service, the
 * worker and the libraries under them (pg-boss, postgres.js), and one switch catches all of them.
 *
 * @module
 */
import { shortMessage } from "./backend_errors.ts";

/** The log formats `--log-format` accepts. */
export const LOG_FORMATS = ["text", "json"] as const;

/** One structured log line. */
export interface LogRecord {
  /** ISO time. */
  time: string;
  /** `error` for a line that reports a failure, `warn` for a warning, else `info`. */
  level: "info" | "warn" | "error";
  /** `fused serve` or `fused worker`. */
  process: string;
  /** Process id. */
  pid: number;
  /** The line, its arguments joined by spaces (an error as its message). */
  msg: string;
}

/**
 * The record of one console call: `method` is the console method, `args` its arguments.
 *
 * @example
 * ```ts
 * import { logRecord } from "./log_format.ts";
 * logRecord("fused worker", "error", ["fused worker: job queue: connection lost"]).level; // "error"
 * ```
 */
export function logRecord(process: string, method: string, args: unknown[]): LogRecord {
  const msg = args.map((a) => typeof a === "string" ? a : shortMessage(a)).join(" ");
  // The processes write their start-up and progress lines to stderr too: the words tell.
  const level = method === "warn" || /^Warning\b/.test(msg)
    ? "warn"
    : /^(fused (serve|worker): |ERROR\b|Error\b)/.test(msg)
    ? "error"
    : "info";
  return { time: new Date().toISOString(), level, process, pid: Deno.pid, msg };
}

/** Makes every console line of this process a JSON record on stderr (see the module notes). */
export function useJsonLogs(process: string): void {
  const encoder = new TextEncoder();
  for (const method of ["log", "info", "warn", "error", "debug"] as const) {
    console[method] = (...args: unknown[]) => {
      const line = JSON.stringify(logRecord(process, method, args)) + "\n";
      Deno.stderr.writeSync(encoder.encode(line));
    };
  }
}
