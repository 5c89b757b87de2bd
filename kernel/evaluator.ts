/**
 * The evaluator: runs notebook cells in a Deno Worker with REPL semantics (see
 * `_evaluator_worker.ts`) and implements the {@linkcode Evaluator} contract for the protocol loop.
 *
 * How the protocol loop uses it:
 * - `execute(code, { cell, silent, allowStdin, requestInput })` resolves with the outcome. The
 *   cell's own error is only in the outcome (publish iopub `error` from it); `error` events are
 *   for background failures (timers, unhandled rejections) that have no reply of their own.
 * - Events (stream, display, comm_*) come through `onEvent`, each tagged with the `cell` given to
 *   execute, also when they come from background work after the cell finished. All events of a
 *   cell that were produced before its outcome are delivered before `execute` resolves.
 * - `interrupt()` never wedges: an awaiting cell ends at once; a busy loop in cell code stops at
 *   the next loop iteration or function call (state kept); anything else (a loop inside a
 *   library, `Atomics.wait`) makes the Worker restart after 1.5 s, with a `restarted` event.
 * - complete/inspect answer while a cell awaits; while a cell spins they give empty answers
 *   after a short timeout instead of blocking.
 *
 * @module
 */

import type {
  Evaluator,
  EvaluatorEvent,
  ExecuteOptions,
  ExecuteOutcome,
  FrontendCommMessage,
} from "./evaluator_types.ts";
import {
  type FromWorker,
  INPUT_ERROR,
  INPUT_INTERRUPTED,
  INPUT_OK,
  type ToWorker,
} from "./_evaluator_protocol.ts";
import { checkComplete } from "./_transform.ts";
import { TypeCompleter, type TypeCompletion } from "./_lsp.ts";

/** Options of {@linkcode startEvaluator}. */
export interface EvaluatorOptions {
  /** Directory that relative imports in cells resolve against (default: `Deno.cwd()`). */
  cwd?: string;
  /** How long an interrupted cell may take to stop before the Worker is restarted (ms). */
  interruptGraceMs?: number;
  /** How long complete/inspect wait for a busy Worker before answering empty (ms). */
  queryTimeoutMs?: number;
  /**
   * Type-aware completion from `deno lsp`, merged with the runtime names; `false` turns it off.
   * Default: on, with the project's deno.json as config.
   */
  typeCompletion?: TypeCompletionOptions | false;
}

/** Options of the type-aware completion (see {@linkcode EvaluatorOptions}). */
export interface TypeCompletionOptions {
  /** Command line of the language server (default: `[Deno.execPath(), "lsp"]`). */
  command?: string[];
  /** deno.json the server uses (default: the project's, beside the kernel folder). */
  configPath?: string;
  /** How long the first completion waits for the cold server (ms, default 1500). */
  firstBudgetMs?: number;
  /** How long later completions wait for the server (ms, default 300). */
  budgetMs?: number;
}

/** The project's deno.json, whose import map the kernel runs with (`--config`). */
function defaultConfigPath(): string | undefined {
  const url = new URL("../deno.json", import.meta.url);
  if (url.protocol !== "file:") return undefined;
  try {
    const path = decodeURIComponent(url.pathname);
    return Deno.statSync(path).isFile ? path : undefined;
  } catch {
    return undefined;
  }
}

const INPUT_BYTES = 1 << 20;

interface RunningCell {
  id: number;
  options: ExecuteOptions;
  resolve: (outcome: ExecuteOutcome) => void;
  done: Promise<ExecuteOutcome>;
}

class WorkerEvaluator implements Evaluator {
  #cwd: string;
  #graceMs: number;
  #queryMs: number;
  #worker!: Worker;
  #flag = new Int32Array(new SharedArrayBuffer(4));
  #input = new SharedArrayBuffer(8 + INPUT_BYTES);
  #listeners = new Set<(event: EvaluatorEvent) => void>();
  #pending = new Map<number, (value: unknown) => void>();
  #nextId = 1;
  #running: RunningCell | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;
  /** Sources of the cells that ran without error since the last restart: the typed document. */
  #cells: string[] = [];
  #typeOptions: TypeCompletionOptions | false;
  #types: TypeCompleter | undefined;

  constructor(options: EvaluatorOptions) {
    this.#cwd = options.cwd ?? Deno.cwd();
    this.#graceMs = options.interruptGraceMs ?? 1500;
    this.#queryMs = options.queryTimeoutMs ?? 2000;
    this.#typeOptions = options.typeCompletion ?? {};
  }

  async start(): Promise<void> {
    const worker = new Worker(new URL("./_evaluator_worker.ts", import.meta.url), {
      type: "module",
    });
    this.#worker = worker;
    const ready = new Promise<void>((resolve, reject) => {
      worker.onmessage = (e: MessageEvent<FromWorker>) => {
        if (e.data.type === "ready") resolve();
        else this.#onMessage(e.data);
      };
      worker.onerror = (e) => {
        e.preventDefault();
        reject(new Error(`The evaluator Worker failed to start: ${e.message}`));
      };
    });
    this.#send({
      type: "init",
      flag: this.#flag.buffer as SharedArrayBuffer,
      input: this.#input,
      cwd: this.#cwd,
    });
    await ready;
    worker.onmessage = (e: MessageEvent<FromWorker>) => this.#onMessage(e.data);
    worker.onerror = (e) => {
      // Uncaught errors are handled inside the Worker; reaching here means the Worker died.
      e.preventDefault();
      if (this.#worker === worker && !this.#closed) {
        void this.#hardRestart(`the evaluator crashed: ${e.message}`);
      }
    };
  }

  #send(msg: ToWorker): void {
    this.#worker.postMessage(msg);
  }

  #emit(event: EvaluatorEvent): void {
    for (const l of this.#listeners) {
      try {
        l(event);
      } catch {
        // A listener's failure must not stop the others nor the Worker's messages.
      }
    }
  }

  #onMessage(msg: FromWorker): void {
    switch (msg.type) {
      case "events":
        for (const ev of msg.events) this.#emit(ev);
        return;
      case "reply": {
        const resolve = this.#pending.get(msg.id);
        this.#pending.delete(msg.id);
        resolve?.(msg.value);
        return;
      }
      case "input":
        void this.#answerInput(msg.prompt, msg.password);
        return;
    }
  }

  async #answerInput(prompt: string, password: boolean): Promise<void> {
    const state = new Int32Array(this.#input, 0, 2);
    const bytes = new Uint8Array(this.#input, 8);
    const write = (code: number, text: string) => {
      let encoded = new TextEncoder().encode(text);
      if (encoded.length > bytes.length) {
        code = INPUT_ERROR;
        encoded = new TextEncoder().encode("The input was longer than 1 MiB: enter less text");
      }
      bytes.set(encoded);
      Atomics.store(state, 1, encoded.length);
      Atomics.store(state, 0, code);
      Atomics.notify(state, 0);
    };
    const running = this.#running;
    if (!running || !running.options.allowStdin) {
      write(INPUT_ERROR, "prompt() cannot ask for input: this frontend does not allow stdin");
      return;
    }
    try {
      const answer = await running.options.requestInput(prompt, password);
      if (Atomics.load(state, 0) === 0) write(INPUT_OK, answer);
    } catch (e) {
      if (Atomics.load(state, 0) === 0) {
        write(INPUT_ERROR, `Input request failed: ${e instanceof Error ? e.message : e}`);
      }
    }
  }

  #request<T>(msg: ToWorker & { id: number }, fallback: T, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(msg.id);
        resolve(fallback);
      }, timeoutMs);
      this.#pending.set(msg.id, (v) => {
        clearTimeout(timer);
        resolve(v as T);
      });
      this.#send(msg);
    });
  }

  execute(code: string, options: ExecuteOptions): Promise<ExecuteOutcome> {
    const run = this.#queue.then(() => this.#execute(code, options));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #execute(code: string, options: ExecuteOptions): Promise<ExecuteOutcome> {
    if (this.#closed) {
      return Promise.resolve({
        status: "error",
        ename: "Error",
        evalue: "The evaluator was shut down: restart the kernel",
        traceback: [],
      });
    }
    const id = this.#nextId++;
    let resolve!: (o: ExecuteOutcome) => void;
    const done = new Promise<ExecuteOutcome>((r) => resolve = r);
    const running: RunningCell = { id, options, resolve, done };
    this.#running = running;
    this.#pending.set(id, (v) => {
      const outcome = v as ExecuteOutcome;
      if (outcome?.status === "ok") {
        this.#cells.push(code);
        if (this.#cells.length > 200) this.#cells.shift();
      }
      resolve(outcome);
    });
    this.#send({
      type: "execute",
      id,
      code,
      cell: options.cell,
      silent: options.silent,
      allowStdin: options.allowStdin,
    });
    return done.finally(() => {
      if (this.#running === running) this.#running = undefined;
    });
  }

  async interrupt(): Promise<"interrupted" | "restarted" | "idle"> {
    const running = this.#running;
    if (!running) return "idle";
    Atomics.store(this.#flag, 0, 1);
    // A prompt() waiting for input stops waiting.
    const state = new Int32Array(this.#input, 0, 2);
    if (Atomics.load(state, 0) === 0) {
      Atomics.store(state, 1, 0);
      Atomics.store(state, 0, INPUT_INTERRUPTED);
      Atomics.notify(state, 0);
    }
    this.#send({ type: "interrupt", id: running.id });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<"timeout">((r) =>
      timer = setTimeout(() => r("timeout"), this.#graceMs)
    );
    const result = await Promise.race([running.done.then(() => "done" as const), timedOut]);
    clearTimeout(timer);
    if (result === "done") return "interrupted";
    await this.#hardRestart(
      "interrupt: the cell did not stop within 1.5 s (busy outside cell code)",
    );
    return "restarted";
  }

  async #hardRestart(reason: string): Promise<void> {
    const running = this.#running;
    this.#worker.terminate();
    for (const [id, resolve] of this.#pending) {
      if (id !== running?.id) resolve(undefined);
    }
    this.#pending.clear();
    this.#running = undefined;
    this.#cells = [];
    Atomics.store(this.#flag, 0, 0);
    await this.start();
    running?.resolve({
      status: "error",
      ename: "KeyboardInterrupt",
      evalue: `Interrupted; the kernel restarted and all variables were lost (${reason})`,
      traceback: [
        `KeyboardInterrupt: the cell did not stop, so the kernel restarted: all variables were lost`,
      ],
    });
    this.#emit({ kind: "restarted", reason });
  }

  async complete(
    code: string,
    cursorPos: number,
  ): Promise<{ matches: string[]; cursorStart: number; cursorEnd: number; metadata?: unknown }> {
    const id = this.#nextId++;
    const runtime = this.#request<RuntimeCompletion | undefined>(
      { type: "complete", id, code, cursorPos },
      { matches: [], cursorStart: cursorPos, cursorEnd: cursorPos },
      this.#queryMs,
    ).then((r) => r ?? { matches: [], cursorStart: cursorPos, cursorEnd: cursorPos });
    const types = this.#typeCompleter()?.complete(this.#cells, code, cursorPos)
      .catch(() => undefined);
    return mergeCompletions(code, cursorPos, await runtime, await types);
  }

  /** The type completer, created on first use (its server starts on its first request). */
  #typeCompleter(): TypeCompleter | undefined {
    if (this.#typeOptions === false || this.#closed) return undefined;
    this.#types ??= new TypeCompleter({
      cwd: this.#cwd,
      configPath: this.#typeOptions.configPath ?? defaultConfigPath(),
      command: this.#typeOptions.command,
      firstBudgetMs: this.#typeOptions.firstBudgetMs,
      budgetMs: this.#typeOptions.budgetMs,
    });
    return this.#types;
  }

  /** Stops the language server, if one runs; the next completion starts a fresh one. */
  async #closeTypes(): Promise<void> {
    const types = this.#types;
    this.#types = undefined;
    await types?.close();
  }

  inspect(
    code: string,
    cursorPos: number,
    detailLevel: number,
  ): Promise<{ found: boolean; data: Record<string, unknown> }> {
    const id = this.#nextId++;
    return this.#request(
      { type: "inspect", id, code, cursorPos, detailLevel },
      { found: false, data: {} },
      this.#queryMs,
    ).then((r) => r ?? { found: false, data: {} });
  }

  isComplete(
    code: string,
  ): Promise<{ status: "complete" | "incomplete" | "invalid"; indent?: string }> {
    return Promise.resolve(checkComplete(code));
  }

  commFromFrontend(message: FrontendCommMessage): void {
    this.#send({ type: "comm", message });
  }

  commInfo(targetName?: string): Promise<Record<string, { target_name: string }>> {
    const id = this.#nextId++;
    return this.#request({ type: "commInfo", id, targetName }, {}, this.#queryMs)
      .then((r) => r ?? {});
  }

  /** Interrupts a running cell and waits briefly so no REPL evaluation is pending at terminate. */
  async #settle(): Promise<void> {
    const running = this.#running;
    if (!running) return;
    Atomics.store(this.#flag, 0, 1);
    this.#send({ type: "interrupt", id: running.id });
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      running.done,
      new Promise((r) => timer = setTimeout(r, 500)),
    ]);
    clearTimeout(timer);
  }

  async restart(): Promise<void> {
    const running = this.#running;
    await this.#settle();
    this.#worker.terminate();
    for (const resolve of this.#pending.values()) resolve(undefined);
    this.#pending.clear();
    this.#running = undefined;
    this.#cells = [];
    running?.resolve({ status: "aborted" });
    Atomics.store(this.#flag, 0, 0);
    await Promise.all([this.start(), this.#closeTypes()]);
  }

  async shutdown(): Promise<void> {
    this.#closed = true;
    const running = this.#running;
    await this.#settle();
    this.#worker.terminate();
    for (const resolve of this.#pending.values()) resolve(undefined);
    this.#pending.clear();
    this.#running = undefined;
    running?.resolve({ status: "aborted" });
    await this.#closeTypes();
  }

  onEvent(listener: (event: EvaluatorEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

interface RuntimeCompletion {
  matches: string[];
  cursorStart: number;
  cursorEnd: number;
  metadata?: unknown;
}

/**
 * Puts the language server's names (type-aware, in its ranking) first and adds the runtime names
 * it lacks (values only known at run time). Runtime answers for magics pass through unchanged.
 */
function mergeCompletions(
  code: string,
  cursorPos: number,
  runtime: RuntimeCompletion,
  types: TypeCompletion[] | undefined,
): RuntimeCompletion {
  if (!types?.length) return runtime;
  const partial = code.slice(0, cursorPos).match(/[A-Za-z_$][\w$]*$/)?.[0] ?? "";
  const start = cursorPos - partial.length;
  if (runtime.matches.length > 0 && runtime.cursorStart !== start) return runtime;
  const entries = new Map<string, { type: string; signature?: string }>();
  for (const t of types) {
    if (!entries.has(t.label)) entries.set(t.label, { type: t.type, signature: t.signature });
  }
  for (const name of runtime.matches) {
    if (!entries.has(name)) entries.set(name, { type: "<unknown>" });
  }
  const matches = [...entries.keys()];
  return {
    matches,
    cursorStart: start,
    cursorEnd: cursorPos,
    metadata: {
      _jupyter_types_experimental: matches.map((text) => {
        const { type, signature } = entries.get(text)!;
        return { start, end: cursorPos, text, type, ...(signature ? { signature } : {}) };
      }),
    },
  };
}

/** Starts an evaluator Worker and resolves when it is ready to run cells. */
export async function startEvaluator(options: EvaluatorOptions = {}): Promise<Evaluator> {
  const evaluator = new WorkerEvaluator(options);
  await evaluator.start();
  return evaluator;
}
