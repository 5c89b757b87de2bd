/**
 * A per-token rate limit for the public routes (share-token runs, signed file URLs and published
 * pages): a token bucket per token, refilled continuously; a request beyond it gets 429 with
 * `Retry-After`.
 * Off unless the service is started with a limit (`fused serve --rate-limit N`).
 *
 * Hand-written: the npm rate limiters are Express or Redis middleware keyed on client IPs; this
 * one is keyed on the token in the URL, answers before routing (as the response memo does), and
 * is a few lines of arithmetic.
 *
 * @module
 */
import { errorResponse } from "./_http.ts";
import { PUBLIC_CORS_HEADERS } from "./cors.ts";

/** Options of {@linkcode RateLimiter}. */
export interface RateLimitOptions {
  /** Requests a minute each token may make on average. */
  perMinute: number;
  /** Requests a token may make at once after a quiet spell (default: `perMinute`). */
  burst?: number;
  /** Most tokens tracked at once; the quietest are forgotten beyond it (default 100000). */
  maxTokens?: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

const SHARE_TOKEN =
  /^\/(?:v1\/realtime-shared\/)?((?:fsh_[0-9a-f]{16,128}|UDF_[A-Za-z0-9_-]{1,128}))(?:[./]|$)/;

/**
 * The key a public request is limited under: its share token (or public UDF name), the
 * signature of a signed file URL, or the address of a published page; null for every other route
 * (authenticated routes are not limited here).
 */
export function rateLimitKey(request: Request): string | null {
  const url = request.url;
  const start = url.indexOf("/", url.indexOf("//") + 2);
  const end = url.indexOf("?", start);
  const path = end < 0 ? url.slice(start) : url.slice(start, end);
  const token = SHARE_TOKEN.exec(path);
  if (token) return token[1];
  if (path === "/v1/files/signed" || path === "/v1/job-results/signed") {
    return `signed:${new URLSearchParams(url.slice(end + 1)).get("signature") ?? ""}`;
  }
  if (path.startsWith("/pages/")) return `page:${path.slice(7)}`;
  return null;
}

/** Token buckets by key. */
export class RateLimiter {
  readonly #perMs: number;
  readonly #burst: number;
  readonly #maxTokens: number;
  readonly #buckets = new Map<string, Bucket>();

  /** Creates a limiter of `perMinute` requests a minute per key. */
  constructor(options: RateLimitOptions) {
    if (!(options.perMinute > 0)) {
      throw new RangeError(`perMinute must be above 0, got ${options.perMinute}`);
    }
    this.#perMs = options.perMinute / 60_000;
    this.#burst = options.burst ?? options.perMinute;
    this.#maxTokens = options.maxTokens ?? 100_000;
  }

  /** Seconds to wait before `key` may make a request, or 0 when it may now (and counts it). */
  take(key: string, now = Date.now()): number {
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      if (this.#buckets.size >= this.#maxTokens) this.#forget(now);
      bucket = { tokens: this.#burst, at: now };
      this.#buckets.set(key, bucket);
    } else {
      bucket.tokens = Math.min(this.#burst, bucket.tokens + (now - bucket.at) * this.#perMs);
      bucket.at = now;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.#perMs / 1000));
  }

  /**
   * A 429 answer when the key has no request left, else null (the request may go on). Only
   * public routes have a key, so the answer carries their CORS headers: without them a browser
   * shows a network error instead of "too many requests".
   */
  refuse(key: string | null): Response | null {
    if (key === null) return null;
    const wait = this.take(key);
    if (wait === 0) return null;
    return errorResponse(
      429,
      `Too many requests for this token: the limit is ${
        Math.round(this.#perMs * 60_000)
      } a minute; retry after ${wait} s`,
      { ...PUBLIC_CORS_HEADERS, "retry-after": String(wait) },
    );
  }

  /** Drops buckets that are full again (their keys have been quiet), else the oldest half. */
  #forget(now: number): void {
    for (const [key, bucket] of this.#buckets) {
      if (bucket.tokens + (now - bucket.at) * this.#perMs >= this.#burst) this.#buckets.delete(key);
    }
    if (this.#buckets.size < this.#maxTokens) return;
    let drop = this.#buckets.size / 2;
    for (const key of this.#buckets.keys()) {
      if (drop-- <= 0) break;
      this.#buckets.delete(key);
    }
  }
}
