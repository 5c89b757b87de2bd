/**
 * Errors raised by the SDK. Each one names the problem and the fix; UDF errors carry the logs and
 * the line of the UDF source that failed, as Fused's `x-fused-metadata` does.
 *
 * @module
 */

/** Captured output of one UDF run. */
export interface UdfLogs {
  /** What the UDF wrote with `console.log` / `console.info` / `console.debug`. */
  stdout: string;
  /** What the UDF wrote with `console.error` / `console.warn`. */
  stderr: string;
}

/** Base class of every error the SDK raises on purpose. */
export class FusedError extends Error {
  /** Creates an error with a message that names the problem and the fix. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FusedError";
  }
}

/** A value given by the caller is not acceptable (bad option, bad parameter, bad path). */
export class ValidationError extends FusedError {
  /** Creates a validation error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ValidationError";
  }
}

/** Details of a failed UDF run, in the shape of Fused's `x-fused-metadata` header. */
export interface UdfFailure {
  /** The message of the exception the UDF threw. */
  message: string;
  /** Class name of the exception (`TypeError`, `RangeError`, ...). */
  exceptionClass: string;
  /** 1-based line of the UDF source where it failed, when known. */
  lineno?: number;
  /** The text of that source line, when known. */
  line?: string;
  /** Stack trace with UDF line numbers. */
  stack?: string;
  /** Output the UDF wrote before it failed. */
  logs: UdfLogs;
}

/** The UDF itself threw, or returned a value that cannot be serialized. Not retried. */
export class UdfRuntimeError extends FusedError {
  /** Class name of the exception the UDF threw. */
  readonly exceptionClass: string;
  /** 1-based line of the UDF source where it failed, when known. */
  readonly lineno?: number;
  /** The text of that source line, when known. */
  readonly line?: string;
  /** Output the UDF wrote before it failed. */
  readonly logs: UdfLogs;
  /** Name of the UDF that failed. */
  readonly udfName: string;

  /** Creates the error from a failure report. */
  constructor(udfName: string, failure: UdfFailure) {
    const where = failure.lineno
      ? ` (line ${failure.lineno}${failure.line ? `: ${failure.line.trim()}` : ""})`
      : "";
    super(`UDF "${udfName}" failed${where}: ${failure.exceptionClass}: ${failure.message}`);
    this.name = "UdfRuntimeError";
    this.udfName = udfName;
    this.exceptionClass = failure.exceptionClass;
    this.lineno = failure.lineno;
    this.line = failure.line;
    this.logs = failure.logs;
    if (failure.stack) this.stack = failure.stack;
  }
}

/**
 * The process running a UDF ended before answering: it ran out of memory, exited, or crashed.
 * `exceptionClass` is "MemoryLimitError" or "ProcessExit"; the message names the cause.
 */
export class UdfProcessError extends UdfRuntimeError {
  /** Creates the error from the cause and what the UDF had written. */
  constructor(udfName: string, exceptionClass: string, cause: string, logs: UdfLogs) {
    super(udfName, { message: cause, exceptionClass, logs });
    this.name = "UdfProcessError";
  }
}

/** A UDF's result is larger than the limit of its kind (`options.maxResultBytes`). */
export class ResultTooLargeError extends FusedError {
  /** Creates the error; the message names the size, the limit and what to do. */
  constructor(message: string) {
    super(message);
    this.name = "ResultTooLargeError";
  }
}

/**
 * A wait passed its `timeout`, as fused-py's `TimeoutError`: code that catches it by name works
 * for job waits and for runs stopped by their `runTimeout`.
 *
 * @example
 * ```ts
 * import { TimeoutError } from "fused";
 * try {
 *   throw new TimeoutError("Job j1 did not finish within 5 s");
 * } catch (err) {
 *   if (!(err instanceof TimeoutError)) throw err;
 * }
 * ```
 */
export class TimeoutError extends FusedError {
  /** Creates a timeout error that says what did not finish in time. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TimeoutError";
  }
}

/** A run took longer than its `runTimeout` and was stopped. */
export class UdfTimeoutError extends TimeoutError {
  /** Creates a timeout error for a UDF and a limit in milliseconds. */
  constructor(udfName: string, timeoutMs: number) {
    super(
      `UDF "${udfName}" did not finish within ${timeoutMs} ms and was stopped: raise runTimeout (fused.options.runTimeout) or make the UDF faster`,
    );
    this.name = "UdfTimeoutError";
  }
}

/**
 * A reason of any kind as text, never throwing: `String` throws for an object without a
 * prototype or whose `toString` throws, and a cancellation must not fail because of its reason.
 */
function describeReason(reason: unknown): string {
  try {
    return String(reason);
  } catch {
    // No usable toString: try its fields.
  }
  try {
    const json = JSON.stringify(reason);
    if (typeof json === "string") return json;
  } catch {
    // Cyclic, a BigInt inside, or a getter that throws.
  }
  try {
    return Object.prototype.toString.call(reason);
  } catch {
    // A Proxy whose every trap throws.
  }
  return `a ${typeof reason} that cannot be shown as text`;
}

/** A run was cancelled through its AbortSignal. */
export class UdfCancelledError extends FusedError {
  /** Creates a cancellation error; any reason is described, whatever it is. */
  constructor(udfName: string, reason?: unknown) {
    super(`UDF "${udfName}" was cancelled${reason ? `: ${describeReason(reason)}` : ""}`);
    this.name = "UdfCancelledError";
  }
}

/** Something is not supported by this implementation; the message says what to use instead. */
export class NotSupportedError extends FusedError {
  /** Creates a not-supported error. */
  constructor(message: string) {
    super(message);
    this.name = "NotSupportedError";
  }
}

/** The service answered with an HTTP error; the message is the service's own explanation. */
export class HttpError extends FusedError {
  /** HTTP status code (401, 404, 500, ...). */
  readonly status: number;
  /** The URL that was requested. */
  readonly url: string;
  /** The body of the answer as text (JSON error bodies stay as their JSON text). */
  readonly body: string;

  /** Creates an error for a status, a URL, the message to show, and the raw body. */
  constructor(status: number, url: string, message: string, body = "") {
    super(message);
    this.name = "HttpError";
    this.status = status;
    this.url = url;
    this.body = body;
  }
}

/** What a user holds against their disk quota, in bytes. */
export interface QuotaUsage {
  /** The `fd://` files the user wrote last (an overwrite by another user moves them). */
  store: number;
  /** The user's data and cache folders on the service. */
  folders: number;
}

/** Bytes as MiB with the exact count (`1.5 MiB (1572864 bytes)`), or bytes alone below 1 MiB. */
function mib(bytes: number): string {
  if (bytes < 2 ** 20) return `${bytes} bytes`;
  return `${Math.round((bytes / 2 ** 20) * 10) / 10} MiB (${bytes} bytes)`;
}

/**
 * A write would take a user past their disk quota (`fused serve --quota-mb`); nothing of it was
 * kept. The service answers it with 507; inside a UDF it is the error of the SDK call that wrote.
 */
export class QuotaExceededError extends FusedError {
  /** HTTP status of a request that met it (507 Insufficient Storage). */
  readonly status = 507;
  /** The user's quota in bytes. */
  readonly limitBytes: number;
  /** What the user held when the write was refused. */
  readonly usage: QuotaUsage;

  /** Creates the error for what was refused, the quota, the usage and the bytes it needed. */
  constructor(what: string, limitBytes: number, usage: QuotaUsage, neededBytes?: number) {
    const used = usage.store + usage.folders;
    super(
      `${what} is refused: it would pass the disk quota of ${mib(limitBytes)}; used ${
        mib(used)
      } (fd:// files ${mib(usage.store)}, data and cache folders ${mib(usage.folders)})${
        neededBytes === undefined ? "" : `, and it needs ${mib(neededBytes)}`
      }: delete files you no longer need, or ask the operator for a larger --quota-mb`,
    );
    this.name = "QuotaExceededError";
    this.limitBytes = limitBytes;
    this.usage = usage;
  }
}
