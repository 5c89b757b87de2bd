/**
 * The HTTP transport of the API client: one `fetch` wrapper that adds the token and the default
 * run headers, applies `requestTimeout` (or `runTimeout` for runs), retries 502/503 answers and
 * network failures with exponential backoff (as Fused's `session_with_retries`), validates JSON
 * answers with zod, and turns error answers into errors that carry the service's own message and,
 * for failed UDFs, their logs and line (from `x-fused-metadata`).
 *
 * @module
 */
import { z } from "zod";
import {
  FusedError,
  HttpError,
  NotSupportedError,
  UdfCancelledError,
  type UdfLogs,
  UdfRuntimeError,
  UdfTimeoutError,
  ValidationError,
} from "../errors.ts";
import { options, requestTimeoutMs } from "../options.ts";
import { type AuthToken, resolveToken } from "./_token_store.ts";
import { sleep } from "../sleep.ts";

/** Version sent in `Fused-Ts-Version`, so the service can tell this client from the Python one. */
export const CLIENT_VERSION = "0.1.0";

/** A query-string value; `undefined` and `null` are left out, as `requests` does. */
export type QueryValue = string | number | boolean | null | undefined;

/** Whether a request sends the token: always (fails when there is none), when there is one, never. */
export type AuthMode = "required" | "optional" | "none";

/** Options of one request. */
export interface RequestOptions {
  /** HTTP method; GET unless given. */
  method?: string;
  /** Query string. */
  query?: Record<string, QueryValue>;
  /** A JSON body (sent with `Content-Type: application/json`). */
  json?: unknown;
  /** A raw body; a stream is sent once (no retries), bytes and text may be sent again. */
  body?: Uint8Array | string | ReadableStream<Uint8Array>;
  /** Extra headers. */
  headers?: Record<string, string>;
  /** Whether to send the token (default "required"). */
  auth?: AuthMode;
  /** Timeout of each attempt in milliseconds; `requestTimeout` seconds unless given. */
  timeoutMs?: number;
  /** Whether 502/503 answers and network failures are retried (default true). */
  retry?: boolean;
  /** Cancels the request. */
  signal?: AbortSignal;
  /** Statuses besides 2xx that are not errors (e.g. 202 while a run is pending). */
  acceptStatuses?: number[];
  /** When set, the request is a UDF run: failures become UDF errors naming this UDF. */
  udfName?: string;
  /** Follow redirects (default) or hand back the 3xx answer. */
  redirect?: RequestRedirect;
}

/** Options of API calls that may go through a given transport (a `FusedAPI`). */
export interface ApiCallOptions {
  /** The transport to use; the global one (`fused.options` + stored token) unless given. */
  transport?: Transport;
  /** Cancels the request. */
  signal?: AbortSignal;
}

/** Settings of a transport; anything left out follows `fused.options` at each call. */
export interface TransportInit {
  /**
   * Base URL of the API (`.../v1`), or a list of them (services on one shared database, used in
   * turn); `fused.options.baseUrl` unless given.
   */
  baseUrl?: string | readonly string[];
  /** A token used instead of `FUSED_AUTH_TOKEN` and the credentials file. */
  token?: string;
}

/** The `x-fused-metadata` header: logs and error details of a UDF run. */
export const FusedMetadataSchema = z.looseObject({
  stdout: z.string().nullish(),
  stderr: z.string().nullish(),
  exception_class: z.string().nullish(),
  has_exception: z.boolean().nullish(),
  lineno: z.number().int().nullish(),
  line: z.string().nullish(),
  errormsg: z.string().nullish(),
  exception: z.string().nullish(),
  error_type: z.string().nullish(),
  traceback: z.string().nullish(),
  profile: z.unknown().optional(),
  bounds: z.unknown().optional(),
});

/** What `x-fused-metadata` holds. */
export type FusedMetadata = z.infer<typeof FusedMetadataSchema>;

/** Parses `x-fused-metadata`; `undefined` when absent or not JSON (it is advisory). */
export function parseFusedMetadata(headers: Headers): FusedMetadata | undefined {
  const raw = headers.get("x-fused-metadata");
  if (!raw) return undefined;
  try {
    const parsed = FusedMetadataSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** The logs of a run from its metadata. */
export function logsOf(metadata: FusedMetadata | undefined): UdfLogs {
  return { stdout: metadata?.stdout ?? "", stderr: metadata?.stderr ?? "" };
}

/** The message of an error body: `{detail}` (FastAPI, ours), `{message}`, else the text. */
export function messageOfBody(text: string, contentType: string | null): string {
  const trimmed = text.trim();
  if (/json/i.test(contentType ?? "") || /^[{[]/.test(trimmed)) {
    try {
      const value = JSON.parse(trimmed);
      const detail = value?.detail ?? value?.message ?? value?.error;
      if (typeof detail === "string") return detail;
      if (detail !== undefined) return JSON.stringify(detail);
    } catch {
      // Not JSON after all: use the text.
    }
  }
  return trimmed.slice(0, 2000);
}

/**
 * The error of a failed run from its metadata, by Fused's `error_type`; `undefined` for failures
 * of the service itself (reported as HTTP errors).
 */
function udfFailure(
  udfName: string,
  meta: FusedMetadata,
  fallback: string,
): FusedError | undefined {
  const message = meta.errormsg ?? meta.exception ?? fallback;
  switch (meta.error_type) {
    case "timeout_error": {
      const err = new UdfTimeoutError(udfName, options.runTimeout * 1000);
      if (meta.errormsg) err.message = meta.errormsg;
      return err;
    }
    case "validation_error":
      return new ValidationError(message);
    case "not_supported":
      return new NotSupportedError(message);
    case "cancelled":
      return new UdfCancelledError(udfName, message);
    case "server_error":
      return undefined;
  }
  return new UdfRuntimeError(udfName, {
    message,
    exceptionClass: meta.exception_class ?? "Error",
    lineno: meta.lineno ?? undefined,
    line: meta.line ?? undefined,
    stack: meta.traceback ?? undefined,
    logs: logsOf(meta),
  });
}

function hintFor(status: number): string {
  if (status === 401) {
    return "; log in with fused.api.login({ token }) or set FUSED_AUTH_TOKEN";
  }
  if (status === 403) return "; the token's user may not do this";
  return "";
}

/** Turns an error answer into the error to throw; reads (and so consumes) the body. */
export async function errorFromResponse(
  response: Response,
  method: string,
  url: string,
  udfName?: string,
): Promise<FusedError> {
  const text = await response.text().catch(() => "");
  const meta = parseFusedMetadata(response.headers);
  const fromBody = messageOfBody(text, response.headers.get("content-type"));
  if (udfName !== undefined && meta && (meta.has_exception || meta.errormsg || meta.exception)) {
    const failure = udfFailure(udfName, meta, fromBody);
    if (failure) return failure;
  }
  const explained = response.headers.get("x-fused-error") ?? fromBody;
  const base = explained || response.statusText || "no message";
  const message = `${method} ${url} failed with HTTP ${response.status}: ${base}${
    hintFor(response.status)
  }`;
  return new HttpError(response.status, url, message, text);
}

/** The error of a request cancelled through its signal: the reason, or a UDF cancellation. */
function cancelled(opts: RequestOptions): unknown {
  const reason = opts.signal?.reason;
  return opts.udfName !== undefined ? new UdfCancelledError(opts.udfName, reason) : reason;
}

/** Whether a failure of `fetch` itself (not an HTTP answer) may succeed when tried again. */
function isNetworkError(err: unknown): boolean {
  return err instanceof TypeError;
}

/**
 * Whether `fetch` failed before the request left (refused, unreachable, no such host): then
 * nothing reached the service and any request may go to another one.
 */
function isConnectError(err: unknown): boolean {
  return err instanceof TypeError &&
    /\(Connect\)|tcp connect error|connection refused|dns error/i.test(describeFailure(err));
}

/** What `fetch` said, with the reason Deno keeps in `cause` ("fetch failed" alone says nothing). */
function describeFailure(err: unknown): string {
  const cause = (err as { cause?: unknown })?.cause;
  const message = err instanceof Error ? err.message : String(err);
  return cause instanceof Error ? `${message}: ${cause.message}` : message;
}

/** How long a service of a `baseUrl` list that could not be reached is left out (ms). */
export const DEAD_SERVICE_MS = 30_000;

/** Services of `baseUrl` lists that could not be reached, and until when they are left out. */
const deadUntil = new Map<string, number>();

/** Whether a request may be sent again, to this service or another: it changes nothing twice. */
function safeToRepeat(method: string, headers: Headers): boolean {
  return method === "GET" || method === "HEAD" || headers.has("idempotency-key");
}

/** The transport: a base URL and a token source; one instance per `FusedAPI`. */
export class Transport {
  #init: TransportInit;

  /** Creates a transport; without settings it follows `fused.options` and the stored token. */
  constructor(init: TransportInit = {}) {
    this.#init = init;
  }

  #turn = 0;

  /** The base URLs, without trailing slashes. */
  #bases(): string[] {
    const base = this.#init.baseUrl ?? options.baseUrl;
    return (typeof base === "string" ? [base] : [...base]).map((b) => b.replace(/\/+$/, ""));
  }

  /**
   * The base URL of the API, without a trailing slash. With a list, each read gives the next
   * service in turn, leaving out for a while (`DEAD_SERVICE_MS`) one that could not be reached,
   * unless every one of them is.
   */
  get baseUrl(): string {
    return this.#next(new Set());
  }

  /** The next base URL in turn that is neither `tried` nor marked unreachable (if any is). */
  #next(tried: ReadonlySet<string>): string {
    const bases = this.#bases();
    const now = Date.now();
    const fresh = bases.filter((b) => !tried.has(b));
    const alive = fresh.filter((b) => (deadUntil.get(b) ?? 0) <= now);
    const pool = alive.length > 0 ? alive : fresh.length > 0 ? fresh : bases;
    return pool[this.#turn++ % pool.length];
  }

  /** The token this transport sends, or `null` when not logged in. */
  token(): Promise<AuthToken | null> {
    return resolveToken(this.#init.token);
  }

  /** The full URL of a path under the base URL, with a query string. */
  url(path: string, query: Record<string, QueryValue> = {}): string {
    return this.#url(/^https?:\/\//.test(path) ? "" : this.baseUrl, path, query);
  }

  #url(base: string, path: string, query: Record<string, QueryValue>): string {
    const url = new URL(base + path);
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null) url.searchParams.append(key, String(value));
    }
    return url.href;
  }

  async #headers(opts: RequestOptions): Promise<Headers> {
    const headers = new Headers(options.defaultRunHeaders);
    headers.set("Fused-Ts-Version", CLIENT_VERSION);
    for (const [key, value] of Object.entries(opts.headers ?? {})) headers.set(key, value);
    if (opts.json !== undefined) headers.set("Content-Type", "application/json");
    const auth = opts.auth ?? "required";
    if (auth !== "none") {
      const token = await this.token();
      if (token) headers.set("Authorization", `${token.scheme} ${token.token}`);
      else if (auth === "required") {
        throw new FusedError(
          "Not logged in: call fused.api.login({ token }) or set FUSED_AUTH_TOKEN (the local service's admin token is in admin-credentials.json in its data folder)",
        );
      }
    }
    return headers;
  }

  /**
   * Sends a request and returns the answer when its status is 2xx (or accepted); otherwise
   * throws the service's error. Retries 502/503 and network failures with exponential backoff.
   * With a list of base URLs, a request that is safe to repeat (GET, HEAD, or one carrying an
   * `Idempotency-Key`) goes on to the next service at once when one cannot be reached, times out
   * or answers 502/503, and any request does when the connection was refused (nothing was sent); only once every
   * service was tried does it back off, growing per round over the list (with 2 services and the
   * default 5 retries: 1 + 2 s in all, never the 31 s of one service). A refused connection is
   * not retried on the same service: when every service refuses, the request fails at once.
   */
  async fetch(path: string, opts: RequestOptions = {}): Promise<Response> {
    const method = (opts.method ?? "GET").toUpperCase();
    // An absolute URL goes to exactly that service.
    const absolute = /^https?:\/\//.test(path);
    const headers = await this.#headers(opts);
    const body = opts.json !== undefined ? JSON.stringify(opts.json) : opts.body;
    const timeoutMs = opts.timeoutMs ?? requestTimeoutMs(options.requestTimeout);
    const replayable = !(body instanceof ReadableStream);
    const repeatable = replayable && safeToRepeat(method, headers);
    const maxRetries = opts.retry === false || !replayable ? 0 : options.requestMaxRetries;
    const count = absolute ? 1 : this.#bases().length;
    let tried = new Set<string>();
    let base = absolute ? "" : this.#next(tried);
    const refused = new Map<string, string>();
    // Rounds over every service of a list: the backoff grows per round, not per attempt.
    let round = 0;
    for (let attempt = 0;; attempt++) {
      if (opts.signal?.aborted) throw cancelled(opts);
      const url = this.#url(base, path, opts.query ?? {});
      tried.add(base);
      // Move on to another service (no wait) while one is left to try; once every one was
      // tried, back off before the next round.
      const moveOn = async (failover: boolean): Promise<void> => {
        if (failover && count > 1) {
          if (tried.size >= count) {
            tried = new Set();
            await this.#backoff(round++, opts);
          }
          base = this.#next(tried);
        } else await this.#backoff(attempt, opts);
      };
      const timeout = AbortSignal.timeout(timeoutMs);
      const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
      let response: Response;
      try {
        response = await fetch(url, {
          method,
          headers,
          body: body as BodyInit | undefined,
          signal,
          redirect: opts.redirect ?? "follow",
        });
      } catch (err) {
        if (opts.signal?.aborted) throw cancelled(opts);
        if (timeout.aborted) {
          if (repeatable && count > 1 && attempt < maxRetries) {
            deadUntil.set(base, Date.now() + DEAD_SERVICE_MS);
            await moveOn(true);
            continue;
          }
          if (opts.udfName !== undefined) throw new UdfTimeoutError(opts.udfName, timeoutMs);
          throw new FusedError(
            `${method} ${url} timed out after ${
              timeoutMs / 1000
            } s: raise fused.options.requestTimeout or check the service`,
          );
        }
        if (isConnectError(err)) {
          deadUntil.set(base, Date.now() + DEAD_SERVICE_MS);
          refused.set(base, describeFailure(err));
          if (replayable && refused.size < count) {
            base = this.#next(new Set(refused.keys()));
            continue;
          }
        } else if (isNetworkError(err) && attempt < maxRetries) {
          deadUntil.set(base, Date.now() + DEAD_SERVICE_MS);
          await moveOn(repeatable);
          continue;
        }
        throw new FusedError(
          `Cannot reach ${
            refused.size > 1 ? `any of ${[...refused.keys()].join(", ")} (${url})` : url
          }: ${describeFailure(err)}; check fused.options.baseUrl and that the service is running`,
          { cause: err },
        );
      }
      if (response.status !== 502 && response.status !== 503) deadUntil.delete(base);
      else if (attempt < maxRetries) {
        await response.body?.cancel();
        await moveOn(repeatable);
        continue;
      }
      const accepted = response.ok || (opts.acceptStatuses ?? []).includes(response.status) ||
        (opts.redirect === "manual" && response.status >= 300 && response.status < 400);
      if (accepted) return response;
      throw await errorFromResponse(response, method, url, opts.udfName);
    }
  }

  async #backoff(attempt: number, opts: RequestOptions): Promise<void> {
    try {
      await sleep(options.requestRetryBaseDelay * 1000 * 2 ** attempt, opts.signal);
    } catch {
      throw cancelled(opts);
    }
  }

  /** Sends a request and validates its JSON answer with a schema. */
  async json<T extends z.ZodType>(
    schema: T,
    path: string,
    opts: RequestOptions = {},
  ): Promise<z.infer<T>> {
    const response = await this.fetch(path, opts);
    const text = await response.text();
    let value: unknown;
    try {
      value = text.trim() === "" ? null : JSON.parse(text);
    } catch {
      throw new FusedError(
        `${opts.method ?? "GET"} ${response.url} did not answer JSON (${
          text.slice(0, 80)
        }): check that fused.options.baseUrl points to a Fused service`,
      );
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      const issues = parsed.error.issues.slice(0, 3).map((i) =>
        `${i.path.join(".") || "(root)"}: ${i.message}`
      );
      throw new FusedError(
        `${opts.method ?? "GET"} ${response.url} answered an unexpected shape (${
          issues.join("; ")
        }): the service and this client disagree on this route`,
      );
    }
    return parsed.data;
  }

  /** Sends a request and returns the answer's bytes. */
  async bytes(path: string, opts: RequestOptions = {}): Promise<Uint8Array> {
    const response = await this.fetch(path, opts);
    return new Uint8Array(await response.arrayBuffer());
  }
}

let defaultTransport = new Transport();

/** The transport of `fused.api.*` functions (follows `fused.options` and the stored token). */
export function globalTransport(): Transport {
  return defaultTransport;
}

/** Replaces the transport of `fused.api.*` functions (`new FusedAPI({ setGlobalApi: true })`). */
export function setGlobalTransport(transport: Transport | undefined): void {
  defaultTransport = transport ?? new Transport();
}

/** Checks a value is a non-empty string, for ids and paths given by callers. */
export function requireText(value: unknown, what: string): string {
  if (typeof value !== "string" || value.trim() === "") {
    throw new ValidationError(`${what} must be a non-empty string, got ${JSON.stringify(value)}`);
  }
  return value;
}
