/**
 * Per-user disk quotas of the service (`fused serve --quota-mb`, `fused worker --quota-mb`).
 *
 * What a user holds is their share of the `fd://` store plus their data and cache folders on the
 * service. The store is a team's shared namespace (a folder or an S3 bucket), so it cannot say
 * who a file belongs to: the registry records, for every file written through the service, the
 * user who wrote it last and its size (`Registry.recordFile`); an overwrite by another user moves
 * the bytes to that user, a delete frees them. Every write through the service goes through
 * {@linkcode UserQuotas.write}: it is refused before a byte is read when its length is known to
 * be over what is left, and stopped (nothing kept) once a body of unknown length passes it.
 *
 * @module
 */
import { join } from "node:path";
import { byteCap } from "../client/byte_cap.ts";
import { QuotaExceededError, type QuotaUsage } from "../client/errors.ts";
import type { CallerQuota } from "../client/engine_types.ts";
import type { Registry } from "./registry/mod.ts";
import type { FileInfo, Storage } from "./storage.ts";

/** The quota of a user when the operator sets none: 10 GiB. */
export const DEFAULT_QUOTA_BYTES = 10 * 1024 ** 3;

/** How long a measurement of what a user holds stands in for a run's check (ms). */
const MEASURE_MS = 1000;

/** Options of {@linkcode UserQuotas}. */
export interface UserQuotasOptions {
  /** Where the owners of `fd://` files are recorded. */
  registry: Pick<Registry, "recordFile" | "forgetFiles" | "storedBytes">;
  /** The `fd://` store. */
  storage: Storage;
  /** Bytes each user may hold (default {@linkcode DEFAULT_QUOTA_BYTES}). */
  limitBytes?: number;
  /** Where users' data and cache folders are (`<usersRoot>/users/<id>/data|cache`); none: not counted. */
  usersRoot?: string;
}

/** Options of a quota-checked write. */
export interface QuotaWriteOptions {
  /** The length the writer announced (Content-Length, a file's size), checked before reading. */
  length?: number;
  /** The store's own size limit for one file (the upload limit). */
  maxBytes?: number;
  /** What is written, for the refusal ("Uploading fd://a.csv"). */
  what?: string;
}

/**
 * The disk quotas of the service's users.
 *
 * @example
 * ```ts
 * import { UserQuotas } from "./quota.ts";
 * import { LocalStorage } from "./storage.ts";
 * import { SqliteRegistry } from "./registry/sqlite.ts";
 * const registry = new SqliteRegistry(":memory:");
 * const storage = new LocalStorage(await Deno.makeTempDir());
 * const quotas = new UserQuotas({ registry, storage, limitBytes: 1024 });
 * await quotas.write("u1", "a.txt", ReadableStream.from([new Uint8Array(10)]));
 * await quotas.usage("u1"); // { store: 10, folders: 0 }
 * await registry.close();
 * ```
 */
export class UserQuotas {
  /** Bytes each user may hold. */
  readonly limitBytes: number;
  readonly #options: UserQuotasOptions;
  readonly #measured = new Map<string, { usage: QuotaUsage; at: number }>();
  /** Measurements being taken, by user. */
  readonly #measuring = new Map<string, Promise<QuotaUsage>>();
  /** Counts writes and deletes, so a measurement older than one is not kept. */
  #generation = 0;

  /** Creates the quotas of a store and its registry. */
  constructor(options: UserQuotasOptions) {
    this.#options = options;
    this.limitBytes = options.limitBytes ?? DEFAULT_QUOTA_BYTES;
  }

  /** The data and cache folders of a user, where they are counted. */
  foldersOf(userId: string): string[] {
    const root = this.#options.usersRoot;
    if (root === undefined) return [];
    const user = join(root, "users", userId);
    return [join(user, "data"), join(user, "cache")];
  }

  /**
   * What a user holds; `except` leaves one `fd://` key out (the file a write replaces), and
   * `maxAgeMs` lets a measurement that recent stand (runs check often; writes measure afresh).
   */
  async usage(
    userId: string,
    options: { except?: string; maxAgeMs?: number } = {},
  ): Promise<QuotaUsage> {
    if (options.except !== undefined) return await this.#measure(userId, options.except);
    const known = this.#measured.get(userId);
    if (known && performance.now() - known.at <= (options.maxAgeMs ?? -1)) {
      return { ...known.usage };
    }
    // Runs that find the measurement stale while it is being taken again share that one: each
    // took its own before, walking the user's folders several times a second under load.
    let measuring = options.maxAgeMs === undefined ? undefined : this.#measuring.get(userId);
    if (!measuring) {
      const generation = this.#generation;
      measuring = this.#measure(userId).then((usage) => {
        // A write or delete meanwhile may have changed what the user holds: not kept then.
        if (generation === this.#generation) {
          this.#measured.set(userId, { usage, at: performance.now() });
        }
        return usage;
      }).finally(() => {
        if (this.#measuring.get(userId) === measuring) this.#measuring.delete(userId);
      });
      this.#measuring.set(userId, measuring);
    }
    return { ...await measuring };
  }

  async #measure(userId: string, except?: string): Promise<QuotaUsage> {
    const store = await this.#options.registry.storedBytes(userId, except);
    let folders = 0;
    for (const folder of this.foldersOf(userId)) folders += await folderBytes(folder);
    return { store, folders };
  }

  /** Forgets every measurement: a write or delete changed what someone holds. */
  #changed(): void {
    this.#generation += 1;
    this.#measured.clear();
    this.#measuring.clear();
  }

  /**
   * Writes an `fd://` file as `userId`, counted against their quota (a file of theirs it
   * replaces is not counted twice); a QuotaExceededError when it does not fit, and then nothing
   * of it is kept.
   */
  async write(
    userId: string,
    key: string,
    body: ReadableStream<Uint8Array>,
    options: QuotaWriteOptions = {},
  ): Promise<FileInfo> {
    const what = options.what ?? `Writing fd://${key}`;
    const usage = await this.usage(userId, { except: key });
    const left = this.limitBytes - usage.store - usage.folders;
    if (options.length !== undefined && options.length > left) {
      await body.cancel().catch(() => {});
      throw new QuotaExceededError(what, this.limitBytes, usage, options.length);
    }
    const counted = body.pipeThrough(
      byteCap(left, (seen) => new QuotaExceededError(what, this.limitBytes, usage, seen)),
    );
    const info = await this.#options.storage.write(key, counted, { maxBytes: options.maxBytes });
    await this.#options.registry.recordFile(key, userId, info.size ?? 0);
    this.#changed(); // the writer's usage grew, and a previous owner's may have shrunk
    return info;
  }

  /** Deletes an `fd://` file or folder, freeing its bytes from whoever wrote them. */
  async delete(key: string, options: { maxDepth?: number | null } = {}): Promise<boolean> {
    const deleted = await this.#options.storage.delete(key, options);
    await this.#options.registry.forgetFiles(key);
    this.#changed();
    return deleted;
  }

  /**
   * Records a file written straight to the store for `userId` (a batch job's result, written by
   * its own process while no service may run), so it counts against their quota.
   */
  async record(userId: string, key: string): Promise<void> {
    const info = await this.#options.storage.stat(key);
    if (info && !info.isDirectory) {
      await this.#options.registry.recordFile(key, userId, info.size ?? 0);
    }
  }

  /**
   * Refuses (QuotaExceededError naming `what`) when the user holds the quota or more; the
   * usage is measured at most once a second per user.
   */
  async check(userId: string, what: string): Promise<void> {
    const usage = await this.usage(userId, { maxAgeMs: MEASURE_MS });
    if (usage.store + usage.folders >= this.limitBytes) {
      throw new QuotaExceededError(what, this.limitBytes, usage);
    }
  }

  /** The quota of a user's runs, for their caller (see `CallerQuota`). */
  callerQuota(userId: string): CallerQuota {
    return {
      limitBytes: this.limitBytes,
      usage: () => this.usage(userId, { maxAgeMs: MEASURE_MS }),
    };
  }
}

/** Bytes of the files under a folder, links not followed; 0 when it does not exist. */
export async function folderBytes(folder: string): Promise<number> {
  let total = 0;
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(folder));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) return 0;
    throw err;
  }
  for (const entry of entries) {
    const path = join(folder, entry.name);
    if (entry.isDirectory) total += await folderBytes(path);
    else if (entry.isFile) total += (await Deno.lstat(path).catch(() => null))?.size ?? 0;
  }
  return total;
}
