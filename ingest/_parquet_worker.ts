/**
 * A Parquet writer thread (see `_parquet_writers.ts`). Its first message says how to load
 * parquet-wasm: `{ module, glue }` instantiates the ESM build (`glue`, a URL) from the compiled
 * `WebAssembly.Module` the calling thread sent (no compile here), `{}` imports the package as
 * the calling thread does. It then says `{ ready: true }` and answers each
 * `{ id, ipc, metadata }` with `{ id, bytes }` (transferred) or `{ id, error }`.
 *
 * @module
 */

import { type ParquetWasm, writeIpcRowGroups } from "./_row_groups.ts";

/** A write asked of this thread. */
interface Job {
  id: number;
  ipc: Uint8Array;
  metadata: [string, string][];
}

/** How to load parquet-wasm. */
interface Load {
  module?: WebAssembly.Module;
  glue?: string;
}

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<Job | Load>) => void) | null;
  postMessage(message: unknown, transfer?: Transferable[]): void;
};

scope.onmessage = async (e) => {
  const { module, glue } = e.data as Load;
  let pq: ParquetWasm;
  if (module && glue) {
    const esm = await import(glue);
    esm.initSync({ module });
    pq = esm;
  } else pq = await import("parquet-wasm");
  scope.onmessage = (e) => {
    const { id, ipc, metadata } = e.data as Job;
    try {
      const bytes = writeIpcRowGroups(pq, ipc, new Map(metadata));
      scope.postMessage({ id, bytes }, [bytes.buffer as ArrayBuffer]);
    } catch (err) {
      scope.postMessage({ id, error: String((err as Error)?.message ?? err) });
    }
  };
  scope.postMessage({ ready: true });
};
