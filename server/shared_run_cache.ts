/**
 * The run cache of a platform's services on its bucket: an encoded answer computed through one
 * service is a hit through every other (each keeps its memory cache in front as the near
 * cache). Entries live beside the `fd://` store (`<prefix>.cache`, see `siblingStoreUrl`), one
 * folder per saved UDF (`code` for code-included runs) so a clear drops a UDF's entries at once.
 * An entry is read only while younger than the run's cache age; the bucket's own lifecycle rule,
 * if any, bounds how long they are kept.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { readBytes, type Storage, writeBytes } from "./storage.ts";
import type { RunAnswer } from "./runs.ts";

/** What an entry's head object holds beside the body. */
interface EntryHead {
  /** When it was stored (ms since the epoch). */
  storedAt: number;
  /** The answer's status and headers. */
  status: number;
  headers: Record<string, string>;
}

/**
 * Encoded answers on the shared store.
 *
 * @example
 * ```ts ignore
 * import { SharedRunCache } from "./shared_run_cache.ts";
 * const cache = new SharedRunCache(store);
 * await cache.put("udf-1", key, answer);
 * const hit = await cache.get("udf-1", key, 3600);
 * ```
 */
export class SharedRunCache {
  readonly #storage: Storage;

  /** A cache in this store. */
  constructor(storage: Storage) {
    this.#storage = storage;
  }

  #key(udfId: string | null, key: string): string {
    const name = createHash("sha256").update(key).digest("hex");
    return `${udfId === null ? "code" : `udf-${encodeURIComponent(udfId)}`}/${name}`;
  }

  /** The answer stored under `key` when younger than `maxAgeSeconds`, else undefined. */
  async get(
    udfId: string | null,
    key: string,
    maxAgeSeconds: number,
  ): Promise<RunAnswer | undefined> {
    const at = this.#key(udfId, key);
    const head = await readBytes(this.#storage, `${at}.json`);
    if (!head) return undefined;
    const entry = JSON.parse(new TextDecoder().decode(head)) as EntryHead;
    if (Date.now() - entry.storedAt > maxAgeSeconds * 1000) return undefined;
    const body = await readBytes(this.#storage, `${at}.body`);
    return body ? { status: entry.status, headers: entry.headers, body } : undefined;
  }

  /** Stores an answer under `key`: the body first, then the head that makes it visible. */
  async put(udfId: string | null, key: string, answer: RunAnswer): Promise<void> {
    const at = this.#key(udfId, key);
    await writeBytes(this.#storage, `${at}.body`, answer.body);
    const head: EntryHead = {
      storedAt: Date.now(),
      status: answer.status,
      headers: answer.headers,
    };
    await writeBytes(this.#storage, `${at}.json`, new TextEncoder().encode(JSON.stringify(head)));
  }

  /** Drops every entry of a saved UDF. */
  async clear(udfId: string): Promise<void> {
    await this.#storage.delete(`udf-${encodeURIComponent(udfId)}`, { maxDepth: 1 });
  }
}
