/**
 * Polled runs shared by every service of a platform: the service that runs one records it in the
 * shared store when its start answers 202, and its answer (status, headers, body) when it ends,
 * so a poll that a load balancer sends to any other service finds it. Only the run's owner finds
 * it (the key holds the owner's id). The store is a sibling of the `fd://` store (`<prefix>.runs`,
 * see `siblingStoreUrl`), so no `fd://` path reaches a run's result.
 *
 * Status lives beside the result in the store, not in PostgreSQL: one object per run, and S3's
 * read-after-write consistency makes the 202 → poll handover safe with no second system to
 * keep in step. The service that ran it deletes it when it forgets the run (10 minutes after
 * the end); a service killed before that leaves it, so give the bucket a lifecycle rule that
 * expires `<prefix>.runs/` after a day.
 *
 * @module
 */
import { readBytes, type Storage, writeBytes } from "./storage.ts";
import type { RunAnswer } from "./runs.ts";

/** What the run's status object holds. */
interface StoredStatus {
  /** `running`, or `done` once the answer's body is stored. */
  state: "running" | "done";
  /** Milliseconds since the epoch after which a still-running run counts as lost. */
  until: number;
  /** The answer's status and headers, once done. */
  status?: number;
  headers?: Record<string, string>;
}

/** The answer of a run whose service stopped before it ended. */
function lostAnswer(runId: string): RunAnswer {
  const body = new TextEncoder().encode(JSON.stringify({
    detail: `Run ${runId} was lost: the service running it stopped before it ended; start it again`,
  }));
  return { status: 503, body, headers: { "content-type": "application/json" } };
}

/**
 * Polled runs in a shared store (see the module notes).
 *
 * @example
 * ```ts ignore
 * import { SharedPolledRuns } from "./polled_runs.ts";
 * import { LocalStorage } from "./storage.ts";
 * const runs = new SharedPolledRuns(new LocalStorage(await Deno.makeTempDir()));
 * await runs.begin("user-1", "run-1", Date.now() + 60_000);
 * console.log(await runs.find("user-1", "run-1")); // null: still running
 * ```
 */
export class SharedPolledRuns {
  readonly #storage: Storage;

  /** Shared runs in this store. */
  constructor(storage: Storage) {
    this.#storage = storage;
  }

  #key(ownerId: string, runId: string): string {
    return `${encodeURIComponent(ownerId)}/${runId}`;
  }

  /** Records a run that goes on after its start answered; lost when not done by `until`. */
  async begin(ownerId: string, runId: string, until: number): Promise<void> {
    const status: StoredStatus = { state: "running", until };
    await writeBytes(
      this.#storage,
      `${this.#key(ownerId, runId)}.json`,
      new TextEncoder().encode(JSON.stringify(status)),
    );
  }

  /** Records a run's answer: the body first, then the status that points to it. */
  async finish(ownerId: string, runId: string, answer: RunAnswer): Promise<void> {
    const key = this.#key(ownerId, runId);
    await writeBytes(this.#storage, `${key}.body`, answer.body);
    const status: StoredStatus = {
      state: "done",
      until: 0,
      status: answer.status,
      headers: answer.headers,
    };
    await writeBytes(
      this.#storage,
      `${key}.json`,
      new TextEncoder().encode(JSON.stringify(status)),
    );
  }

  /** A run of this owner: undefined when unknown, null while it runs, else its answer. */
  async find(ownerId: string, runId: string): Promise<RunAnswer | null | undefined> {
    const key = this.#key(ownerId, runId);
    const text = await readBytes(this.#storage, `${key}.json`);
    if (!text) return undefined;
    const status = JSON.parse(new TextDecoder().decode(text)) as StoredStatus;
    if (status.state === "running") return Date.now() > status.until ? lostAnswer(runId) : null;
    const body = await readBytes(this.#storage, `${key}.body`);
    if (!body) return undefined;
    return { status: status.status!, headers: status.headers!, body };
  }

  /** Deletes a run's objects (its service forgot it). */
  async forget(ownerId: string, runId: string): Promise<void> {
    const key = this.#key(ownerId, runId);
    await this.#storage.delete(`${key}.json`);
    await this.#storage.delete(`${key}.body`);
  }
}
