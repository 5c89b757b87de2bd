/**
 * A per-token rate limit for the public routes (share-token runs, signed file URLs and published
 * pages): a token bucket per token, refilled continuously; a request beyond it gets 429 with
 * `Retry-After`.
 * Off unless the service is started with a limit (`fused serve --rate-limit N`). In scale-out the
 * buckets live in PostgreSQL (`SharedRateLimiter`), so the limit holds for the whole platform.
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

/** What the service asks before routing a request: a 429 answer, or null to go on. */
export interface Limiter {
  /** A 429 answer when the key has no request left, else null (the request may go on). */
  refuse(key: string | null): Response | null | Promise<Response | null>;
}

/**
 * The 429 of a key that must wait `wait` seconds, or null when it need not. Only public routes
 * have a key, so the answer carries their CORS headers: without them a browser shows a network
 * error instead of "too many requests".
 */
function tooMany(perMs: number, wait: number): Response | null {
  if (wait === 0) return null;
  return errorResponse(
    429,
    `Too many requests for this token: the limit is ${
      Math.round(perMs * 60_000)
    } a minute; retry after ${wait} s`,
    { ...PUBLIC_CORS_HEADERS, "retry-after": String(wait) },
  );
}

/** Seconds until a bucket holding `tokens` has one again (at least 1). */
function waitFor(tokens: number, perMs: number): number {
  return Math.max(1, Math.ceil((1 - tokens) / perMs / 1000));
}

/** Where the buckets of every service of a platform live (PostgreSQL in scale-out). */
export interface SharedBuckets {
  /**
   * Refills `key`'s bucket to `now` (`perMs` tokens a millisecond, at most `burst`), takes one
   * token when there is one, and says whether it did and what is left; atomically.
   */
  takeRateToken(
    key: string,
    bucket: { perMs: number; burst: number; now: number },
  ): Promise<{ allowed: boolean; tokens: number }>;
  /** Drops the buckets last used before `before` (ms since the epoch): they are full again. */
  forgetRateBuckets(before: number): Promise<void>;
}

/**
 * The same token buckets, kept in the platform's database so that `--rate-limit N` is N for the
 * platform, however many services answer. A database that does not answer lets the request go
 * on: the limit protects the service, and a request that needs the database fails by itself.
 *
 * @example
 * ```ts ignore
 * import { SharedRateLimiter } from "./rate_limit.ts";
 * const limiter = new SharedRateLimiter(registry, { perMinute: 5 });
 * const refused = await limiter.refuse("fsh_...");
 * ```
 */
export class SharedRateLimiter implements Limiter {
  readonly #buckets: SharedBuckets;
  readonly #perMs: number;
  readonly #burst: number;
  #swept = Date.now();

  /** A limiter of `perMinute` requests a minute per key, over buckets in `buckets`. */
  constructor(buckets: SharedBuckets, options: RateLimitOptions) {
    if (!(options.perMinute > 0)) {
      throw new RangeError(`perMinute must be above 0, got ${options.perMinute}`);
    }
    this.#buckets = buckets;
    this.#perMs = options.perMinute / 60_000;
    this.#burst = options.burst ?? options.perMinute;
  }

  /** {@inheritDoc Limiter.refuse} */
  async refuse(key: string | null, now = Date.now()): Promise<Response | null> {
    if (key === null) return null;
    if (now - this.#swept > 600_000) {
      // Every ten minutes, forget the buckets that have refilled (quiet keys).
      this.#swept = now;
      this.#buckets.forgetRateBuckets(now - this.#burst / this.#perMs).catch(() => {});
    }
    let taken;
    try {
      taken = await this.#buckets.takeRateToken(key, {
        perMs: this.#perMs,
        burst: this.#burst,
        now,
      });
    } catch {
      return null;
    }
    return taken.allowed ? null : tooMany(this.#perMs, waitFor(taken.tokens, this.#perMs));
  }
}

/** Token buckets by key. */
export class RateLimiter implements Limiter {
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
    return waitFor(bucket.tokens, this.#perMs);
  }

  /** A 429 answer when the key has no request left, else null (the request may go on). */
  refuse(key: string | null): Response | null {
    if (key === null) return null;
    return tooMany(this.#perMs, this.take(key));
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
