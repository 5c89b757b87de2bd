/**
 * Parquet writes on worker threads, so that the files of one ingest are compressed side by side
 * (parquet-wasm writes on one thread; ZSTD-compressing a 1 M-row table's files is most of an
 * ingest). Each thread runs `_parquet_worker.ts`; a write sends the file's Arrow IPC bytes and
 * gets the Parquet bytes back, both transferred, not copied. The bytes are those the calling
 * thread would write (same parquet-wasm, same settings: `_row_groups.ts`).
 *
 * parquet-wasm is 5 MB of WebAssembly: compiling it costs ~190 ms of CPU per thread (measured:
 * starting two threads that import it took 360-400 ms CPU, 0.5-0.7 s). So its WebAssembly module
 * is compiled once per process, here, and sent to each thread, which instantiates parquet-wasm's
 * ESM build (the same `.wasm` file as the Node build the package name loads) from it. Where the
 * package's files cannot be read, each thread imports the package itself.
 *
 * Where threads cannot start (a runtime without Workers, or one refusing them), {@linkcode
 * ParquetWriters.open} returns null and the caller writes on its own thread.
 *
 * @module
 */

import * as pq from "parquet-wasm";
import { writeIpcRowGroups } from "./_row_groups.ts";

/** Longest wait for a thread to load before writing on the calling thread instead. */
const START_TIMEOUT_MS = 30_000;

interface Pending {
  resolve(bytes: Uint8Array): void;
  reject(error: Error): void;
}

/** A few Parquet writer threads; {@linkcode ParquetWriters.close} ends them. */
export class ParquetWriters {
  readonly #workers: Worker[];
  readonly #load: number[];
  readonly #pending = new Map<number, Pending>();
  #next = 0;
  #failed: Error | null = null;

  private constructor(workers: Worker[]) {
    this.#workers = workers;
    this.#load = workers.map(() => 0);
    workers.forEach((w, i) => {
      w.onmessage = (e: MessageEvent<{ id: number; bytes?: Uint8Array; error?: string }>) => {
        const { id, bytes, error } = e.data;
        const job = this.#pending.get(id);
        if (!job) return;
        this.#pending.delete(id);
        this.#load[i]--;
        if (bytes) job.resolve(bytes);
        else job.reject(new Error(`Cannot write a Parquet file: ${error}`));
      };
      w.onerror = (e) => {
        e.preventDefault();
        this.#fail(new Error(`A Parquet writer thread failed: ${e.message}`));
      };
    });
  }

  /**
   * Starts `count` writer threads and waits until they are loaded; null when they cannot start
   * (then write on this thread).
   */
  static async open(count: number): Promise<ParquetWriters | null> {
    if (typeof Worker !== "function" || count < 1) return null;
    const workers: Worker[] = [];
    try {
      const load = await compiledParquetWasm() ?? {};
      for (let i = 0; i < count; i++) {
        const worker = new Worker(new URL("./_parquet_worker.ts", import.meta.url), {
          type: "module",
        });
        workers.push(worker);
        worker.postMessage(load);
      }
      const started = await Promise.all(workers.map(ready));
      if (started.every(Boolean)) return new ParquetWriters(workers);
    } catch {
      // Refused (permissions, a thread limit): write on this thread.
    }
    for (const w of workers) w.terminate();
    return null;
  }

  /** Number of threads. */
  get size(): number {
    return this.#workers.length;
  }

  /** The Parquet bytes of a file from its Arrow IPC stream bytes (which are transferred). */
  write(ipc: Uint8Array, metadata: Map<string, string>): Promise<Uint8Array> {
    if (this.#failed) return Promise.reject(this.#failed);
    // The least busy thread.
    let w = 0;
    for (let i = 1; i < this.#workers.length; i++) if (this.#load[i] < this.#load[w]) w = i;
    const id = this.#next++;
    this.#load[w]++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      const whole = ipc.byteOffset === 0 && ipc.byteLength === ipc.buffer.byteLength;
      const message = { id, ipc, metadata: [...metadata] };
      this.#workers[w].postMessage(message, whole ? [ipc.buffer as ArrayBuffer] : []);
    });
  }

  /** Ends the threads; writes still waiting fail. */
  close(): void {
    for (const w of this.#workers) w.terminate();
    this.#fail(new Error("The Parquet writer threads were closed"));
  }

  #fail(error: Error): void {
    this.#failed ??= error;
    for (const job of this.#pending.values()) job.reject(error);
    this.#pending.clear();
  }
}

let compiled: Promise<{ module: WebAssembly.Module; glue: string } | null> | undefined;

/**
 * parquet-wasm's WebAssembly module, compiled once per process, and the URL of the ESM build
 * that instantiates it; null where the package's files cannot be read.
 */
function compiledParquetWasm(): Promise<{ module: WebAssembly.Module; glue: string } | null> {
  compiled ??= (async () => {
    try {
      // The package name resolves to its Node build, node/parquet_wasm.js, beside esm/.
      const node = import.meta.resolve("parquet-wasm");
      const glue = new URL("../esm/parquet_wasm.js", node);
      if (glue.protocol !== "file:") return null;
      const bytes = await Deno.readFile(new URL("../esm/parquet_wasm_bg.wasm", node));
      return { module: await WebAssembly.compile(bytes), glue: glue.href };
    } catch {
      return null;
    }
  })();
  return compiled;
}

/** Resolves true when the thread says it is ready, false when it fails to load first. */
function ready(worker: Worker): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), START_TIMEOUT_MS);
    worker.onmessage = (e) => {
      clearTimeout(timer);
      resolve(e.data?.ready === true);
    };
    worker.onerror = (e) => {
      e.preventDefault();
      clearTimeout(timer);
      resolve(false);
    };
  });
}

/** Writes on this thread: what {@linkcode ParquetWriters.write} does when threads cannot start. */
export function writeHere(ipc: Uint8Array, metadata: Map<string, string>): Promise<Uint8Array> {
  try {
    return Promise.resolve(writeIpcRowGroups(pq, ipc, metadata));
  } catch (err) {
    return Promise.reject(err);
  }
}
