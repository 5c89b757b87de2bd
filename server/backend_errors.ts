/**
 * Errors of the shared backends (PostgreSQL, S3-compatible storage): a server that cannot be
 * reached or refuses the credentials becomes one sentence naming the server and the fix, and an
 * HTTP 503 for the request that met it, never a driver's stack trace. Clients recover by
 * themselves once the server is back (both drivers reconnect on the next call).
 *
 * @module
 */

/** A shared backend cannot be used right now; the request can be retried later. */
export class BackendUnavailableError extends Error {
  /** HTTP status of a request that met it. */
  readonly status = 503;
  /** Creates the error with a message naming the server and the fix. */
  constructor(message: string) {
    super(message);
    this.name = "BackendUnavailableError";
  }
}

const CONNECTION_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EPIPE",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
  "57P01", // terminating connection due to administrator command
  "57P02",
  "57P03", // the database system is starting up / shutting down
]);

/** Whether an error (or its cause) is a refused, reset or timed-out connection. */
export function isConnectionError(err: unknown): boolean {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, i = 0; e && i < 4; i++) {
    if (typeof e.code === "string" && CONNECTION_CODES.has(e.code)) return true;
    if (e instanceof TypeError && /connect|network|fetch/i.test(e.message)) return true;
    e = e.cause as typeof e;
  }
  return false;
}

/**
 * The first line of an error's message, without a driver's trailing detail. pg-boss emits some
 * errors as plain objects (`{ ...err, message }`): their `message` is read too, and any other
 * object is written as JSON, never as `[object Object]`.
 *
 * @example
 * ```ts
 * import { shortMessage } from "./backend_errors.ts";
 * console.log(shortMessage({ message: "Connection terminated.", queue: "q" })); // "Connection terminated"
 * ```
 */
export function shortMessage(err: unknown): string {
  const message = err instanceof Error
    ? err.message
    : typeof (err as { message?: unknown })?.message === "string"
    ? (err as { message: string }).message
    : typeof err === "object" && err !== null
    ? safeJson(err)
    : String(err);
  return message.split("\n")[0].replace(/\.$/, "");
}

function safeJson(value: object): string {
  try {
    return JSON.stringify(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
