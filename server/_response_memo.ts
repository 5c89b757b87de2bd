/**
 * A short-lived memo of whole answers to public token GETs, consulted before routing.
 *
 * Why: a cached token result still went through Hono's router, the registry's read cache, the
 * UDF's cache key and header building: 0.43 of `Deno.serve` answering the same bytes from memory
 * (bench/server_bench.ts). Answers are kept at most one second (the same staleness the registry's
 * read cache already allows for a disabled or deleted token) and dropped by any write request.
 *
 * Each answer is kept as a template `Response` and sent as a clone of it: Deno validates the
 * headers of a new Response one by one, which was most of a memoized answer's time (ten headers
 * against the one of a bare `Deno.serve`); a clone copies the validated list and shares the
 * bytes (measured: 95 µs of CPU per answer before, 41 µs as a clone, bare `Deno.serve` 46 µs).
 *
 * @module
 */

interface Entry {
  /** Never sent itself: every answer is a clone, so its body stays unread. */
  template: Response;
  headers: Record<string, string>;
  etag: string | undefined;
  expires: number;
  size: number;
}

/** Whole answers by request URL, for at most `maxTtlMs` each. */
export class ResponseMemo {
  readonly #entries = new Map<string, Entry>();
  #bytes = 0;
  readonly #maxBytes: number;
  readonly #maxTtlMs: number;

  /** Creates a memo holding at most `maxBytes` of bodies, each for at most `maxTtlMs`. */
  constructor(options: { maxBytes?: number; maxTtlMs?: number } = {}) {
    this.#maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
    this.#maxTtlMs = options.maxTtlMs ?? 1000;
  }

  /**
   * The memoized answer to a request, or undefined to route it. A write request (anything but
   * GET and HEAD) may change what a token answers, so it empties the memo.
   */
  answer(request: Request): Response | undefined {
    if (request.method !== "GET") {
      if (request.method !== "HEAD" && this.#entries.size) this.clear();
      return undefined;
    }
    const entry = this.#entries.get(request.url);
    if (!entry) return undefined;
    if (performance.now() > entry.expires) {
      this.#delete(request.url, entry);
      return undefined;
    }
    const ifNoneMatch = request.headers.get("if-none-match");
    if (
      entry.etag && ifNoneMatch &&
      ifNoneMatch.split(",").some((t) => t.trim() === entry.etag || t.trim() === "*")
    ) {
      const { "content-type": _type, ...rest } = entry.headers;
      return new Response(null, { status: 304, headers: rest });
    }
    return entry.template.clone();
  }

  /** Keeps a 200 answer for `ttlMs` (capped at the memo's limit). */
  remember(url: string, body: Uint8Array, headers: Record<string, string>, ttlMs: number): void {
    const ttl = Math.min(ttlMs, this.#maxTtlMs);
    const size = body.byteLength + 512;
    if (ttl <= 0 || size > this.#maxBytes / 8) return;
    const old = this.#entries.get(url);
    if (old) this.#delete(url, old);
    this.#entries.set(url, {
      template: new Response(body as BodyInit, { status: 200, headers }),
      headers,
      etag: headers.etag,
      expires: performance.now() + ttl,
      size,
    });
    this.#bytes += size;
    for (const [key, entry] of this.#entries) {
      if (this.#bytes <= this.#maxBytes) break;
      this.#delete(key, entry);
    }
  }

  /** Forgets every answer. */
  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }

  #delete(url: string, entry: Entry): void {
    this.#entries.delete(url);
    this.#bytes -= entry.size;
  }
}
