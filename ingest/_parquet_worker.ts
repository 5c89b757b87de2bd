/**
 * A Parquet writer thread (see `_parquet_writers.ts`): answers each `{ id, ipc, metadata }` with
 * `{ id, bytes }` (transferred) or `{ id, error }`. Says `{ ready: true }` once loaded.
 *
 * @module
 */

import { writeIpcRowGroups } from "./_row_groups.ts";

/** A write asked of this thread. */
interface Job {
  id: number;
  ipc: Uint8Array;
  metadata: [string, string][];
}

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<Job>) => void) | null;
  postMessage(message: unknown, transfer?: Transferable[]): void;
};

scope.onmessage = (e) => {
  const { id, ipc, metadata } = e.data;
  try {
    const bytes = writeIpcRowGroups(ipc, new Map(metadata));
    scope.postMessage({ id, bytes }, [bytes.buffer as ArrayBuffer]);
  } catch (err) {
    scope.postMessage({ id, error: String((err as Error)?.message ?? err) });
  }
};
scope.postMessage({ ready: true });
