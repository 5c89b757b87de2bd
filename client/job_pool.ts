/**
 * `JobPool`: many runs of one UDF with bounded concurrency, retries with backoff, cancellation,
 * live status, and the results as a table. Built by `fused.submit`; the engine is whatever
 * `runTask` calls (local Workers or the service), so the pool is the same for both.
 *
 * @module
 */
import * as arrow from "apache-arrow";
import {
  FusedError,
  UdfCancelledError,
  type UdfLogs,
  UdfRuntimeError,
  UdfTimeoutError,
  ValidationError,
} from "./errors.ts";
import { isTable, type UdfResult } from "./formats/mod.ts";
import { nestedType, nestedVector } from "./formats/nested.ts";
import { recordsToTable } from "./formats/records.ts";
import { options as fusedOptions } from "./options.ts";
import type { RunResponse } from "./engine_types.ts";

/** Where a task is: Fused's status names. */
export type TaskStatus = "pending" | "running" | "success" | "error" | "timeout" | "cancelled";

/**
 * Where the notebook kernel installs what `wait()` calls to show a pool. A global symbol rather
 * than an import: the kernel must not load the client (Arrow) into every notebook's Worker.
 */
const WAIT_HOOK = Symbol.for("fused.jobPool.onWait");

/** All statuses, in the order Fused prints them. */
export const TASK_STATUSES: readonly TaskStatus[] = [
  "running",
  "timeout",
  "error",
  "success",
  "pending",
  "cancelled",
];

/** Runs one task; the signal aborts it (local runs stop at once). */
export type RunTask = (args: Record<string, unknown>, signal: AbortSignal) => Promise<RunResponse>;

/** Options of a JobPool. */
export interface JobPoolOptions {
  /** How many tasks run at once (default 8). */
  maxWorkers?: number;
  /** Retries of a failed task that did not fail in the UDF itself (default 2). */
  maxRetry?: number;
  /** Base of the exponential backoff between retries, in milliseconds (default 1000). */
  retryBaseDelayMs?: number;
}

/** A snapshot of the pool's progress, as the widget and progress bar show it. */
export interface PoolProgress {
  /** Number of tasks. */
  total: number;
  /** Counts per status. */
  counts: Record<TaskStatus, number>;
  /** Milliseconds since the pool (or its last retry) started. */
  elapsedMs: number;
  /** Tasks run to an end (success, error, timeout) per second so far. */
  rate: number;
  /** The first error by argument order, with its logs. */
  firstError?: { index: number; message: string; logs: string };
  /** Whether every task has finished. */
  done: boolean;
}

interface Task {
  index: number;
  args: Record<string, unknown>;
  status: TaskStatus;
  response?: RunResponse;
  error?: Error;
  startedAt?: number;
  endedAt?: number;
  controller?: AbortController;
}

function formatLogs(logs: UdfLogs | undefined): string | null {
  if (!logs) return null;
  return `stdout\n------\n${logs.stdout}\nstderr\n------\n${logs.stderr}`;
}

function describeArgs(args: Record<string, unknown>): string {
  const text = JSON.stringify(args);
  return text.length > 80 ? text.slice(0, 77) + "..." : text;
}

function isRetryable(err: unknown): boolean {
  return !(err instanceof UdfRuntimeError || err instanceof ValidationError ||
    err instanceof UdfCancelledError);
}

/** A pool of runs of one UDF over a list of arguments. */
export class JobPool {
  readonly #tasks: Task[];
  readonly #runTask: RunTask;
  readonly #maxWorkers: number;
  readonly #maxRetry: number;
  readonly #retryBaseDelayMs: number;
  // Pending tasks are #queue[#head..]: shift() on a large array moves every element (O(n) per
  // task), so the head advances instead and the array is compacted now and then.
  #queue: Task[] = [];
  #head = 0;
  readonly #counts = Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as Record<
    TaskStatus,
    number
  >;
  #active = 0;
  #startedAt = performance.now();
  #lastEndedAt = 0;
  #cancelled = false;
  #listeners = new Set<(progress: PoolProgress) => void>();
  #waiters: (() => void)[] = [];

  /** Starts running `runTask` over `argList`. Prefer `fused.submit`. */
  constructor(runTask: RunTask, argList: Record<string, unknown>[], options: JobPoolOptions = {}) {
    const maxWorkers = options.maxWorkers ?? 8;
    if (!Number.isInteger(maxWorkers) || maxWorkers < 1) {
      throw new ValidationError(`maxWorkers must be a whole number 1 or more, got ${maxWorkers}`);
    }
    this.#runTask = runTask;
    this.#maxWorkers = maxWorkers;
    this.#maxRetry = options.maxRetry ?? 2;
    this.#retryBaseDelayMs = options.retryBaseDelayMs ?? 1000;
    this.#tasks = argList.map((args, index) => ({ index, args, status: "pending" }));
    this.#counts.pending = this.#tasks.length;
    this.#queue = [...this.#tasks];
    this.#pump();
  }

  /** Number of tasks. */
  get length(): number {
    return this.#tasks.length;
  }

  /** The arguments of each task, in order. */
  get args(): Record<string, unknown>[] {
    return this.#tasks.map((t) => t.args);
  }

  /** Calls `listener` on every status change; returns an unsubscribe function. */
  onProgress(listener: (progress: PoolProgress) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #pump(): void {
    while (this.#active < this.#maxWorkers && this.#head < this.#queue.length && !this.#cancelled) {
      const task = this.#queue[this.#head++];
      if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
      this.#active++;
      this.#execute(task).finally(() => {
        this.#active--;
        this.#pump();
        this.#changed();
      });
    }
    this.#changed();
  }

  async #execute(task: Task): Promise<void> {
    this.#setStatus(task, "running");
    task.startedAt = performance.now();
    task.controller = new AbortController();
    this.#changed();
    for (let attempt = 0;; attempt++) {
      try {
        task.response = await this.#runTask(task.args, task.controller.signal);
        task.error = undefined;
        this.#setStatus(task, "success");
        break;
      } catch (err) {
        const error = err instanceof Error ? err : new Error(String(err));
        if (task.controller.signal.aborted || error instanceof UdfCancelledError) {
          this.#setStatus(task, "cancelled");
          task.error = error;
          break;
        }
        if (attempt < this.#maxRetry && isRetryable(error) && !this.#cancelled) {
          const delay = this.#retryBaseDelayMs * 2 ** attempt;
          const aborted = await new Promise<boolean>((resolve) => {
            const timer = setTimeout(() => resolve(false), delay);
            task.controller!.signal.addEventListener("abort", () => {
              clearTimeout(timer);
              resolve(true);
            }, { once: true });
          });
          if (!aborted) continue;
          this.#setStatus(task, "cancelled");
          task.error = error;
          break;
        }
        task.error = error;
        this.#setStatus(task, error instanceof UdfTimeoutError ? "timeout" : "error");
        break;
      }
    }
    task.endedAt = performance.now();
    this.#lastEndedAt = Math.max(this.#lastEndedAt, task.endedAt);
    task.controller = undefined;
  }

  /** Moves a task to a status, keeping the counts (so done() and status() cost O(1)). */
  #setStatus(task: Task, status: TaskStatus): void {
    this.#counts[task.status]--;
    this.#counts[status]++;
    task.status = status;
  }

  #changed(): void {
    if (this.done()) {
      for (const resolve of this.#waiters.splice(0)) resolve();
    }
    if (this.#listeners.size === 0) return;
    const progress = this.progress();
    for (const listener of this.#listeners) listener(progress);
  }

  /** The pool's progress now. */
  progress(): PoolProgress {
    const counts = this.status();
    // Cancelled tasks finish instantly; counting them would inflate the rate after a cancel.
    const finished = counts.success + counts.error + counts.timeout;
    const elapsedMs = this.totalTime() * 1000;
    const first = counts.error + counts.timeout > 0
      ? this.#tasks.find((t) => t.status === "error" || t.status === "timeout")
      : undefined;
    return {
      total: this.#tasks.length,
      counts,
      elapsedMs,
      rate: elapsedMs > 0 ? finished / (elapsedMs / 1000) : 0,
      firstError: first
        ? {
          index: first.index,
          message: first.error?.message ?? "",
          logs: formatLogs(
            first.error instanceof UdfRuntimeError ? first.error.logs : first.response?.logs,
          ) ?? "",
        }
        : undefined,
      done: this.done(),
    };
  }

  /**
   * Cancels every pending task at once and aborts the running ones (local runs stop; remote runs
   * stop being waited for). Returns how many tasks were cancelled.
   */
  cancel(): number {
    this.#cancelled = true;
    let count = 0;
    const pending = this.#queue.slice(this.#head);
    this.#queue = [];
    this.#head = 0;
    for (const task of pending) {
      this.#setStatus(task, "cancelled");
      task.endedAt = performance.now();
      this.#lastEndedAt = Math.max(this.#lastEndedAt, task.endedAt);
      count++;
    }
    for (const task of this.#tasks) {
      if (task.status === "running" && task.controller) {
        task.controller.abort(new UdfCancelledError("pool task", "the pool was cancelled"));
        count++;
      }
    }
    this.#changed();
    return count;
  }

  /** Runs again every task that ended in error or timeout (and, after cancel, cancelled ones). */
  retry(): number {
    const again = this.#tasks.filter((t) =>
      t.status === "error" || t.status === "timeout" ||
      (this.#cancelled && t.status === "cancelled")
    );
    this.#cancelled = false;
    this.#startedAt = performance.now();
    this.#lastEndedAt = 0;
    for (const task of again) {
      this.#setStatus(task, "pending");
      task.error = undefined;
      task.response = undefined;
      task.startedAt = task.endedAt = undefined;
    }
    for (const task of again) this.#queue.push(task);
    this.#pump();
    return again.length;
  }

  /** Seconds from the start (or last retry) to the last finished task, or to now, as fused-py. */
  totalTime(): number {
    // The latest end is tracked as tasks end: this runs on every progress update.
    const end = this.done() && this.#lastEndedAt ? this.#lastEndedAt : performance.now();
    return Math.max(0, end - this.#startedAt) / 1000;
  }

  /** Seconds each task took, as fused-py; null for tasks not finished. */
  times(): (number | null)[] {
    return this.#tasks.map((t) =>
      t.startedAt !== undefined && t.endedAt !== undefined ? (t.endedAt - t.startedAt) / 1000 : null
    );
  }

  /** Whether every task has finished, whatever its outcome. */
  done(): boolean {
    return this.#counts.pending === 0 && this.#counts.running === 0;
  }

  /** Whether every task succeeded. */
  allSucceeded(): boolean {
    return this.#tasks.every((t) => t.status === "success");
  }

  /** Whether any task failed (error or timeout). */
  anyFailed(): boolean {
    return this.#tasks.some((t) => t.status === "error" || t.status === "timeout");
  }

  /** Whether any task succeeded. */
  anySucceeded(): boolean {
    return this.#tasks.some((t) => t.status === "success");
  }

  /** Counts of tasks per status. */
  status(): Record<TaskStatus, number> {
    return { ...this.#counts };
  }

  /**
   * Resolves when every task has finished. In a notebook it shows the pool's live widget; in a
   * terminal it draws a progress bar on stderr (with `options.showProgress`). `progress: false`
   * shows neither, `true` forces the bar. (`results()` and `collect()` wait quietly: their
   * output is the result, and a progress display left above it would be stale.)
   */
  async wait(options: { progress?: boolean; signal?: AbortSignal } = {}): Promise<void> {
    if (this.done()) return;
    // In the notebook kernel: show the pool's live widget unless it is on screen already (not
    // for `progress: false`), and let an interrupt of the awaiting cell cancel the pool.
    const onWait = (globalThis as Record<symbol, unknown>)[WAIT_HOOK];
    const endWait: unknown = typeof onWait === "function"
      ? onWait(this, { show: options.progress !== false })
      : undefined;
    const showBar = options.progress ?? (fusedOptions.showProgress && Deno.stderr.isTerminal());
    const unsubscribe = showBar ? this.onProgress((p) => drawBar(p)) : undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        this.#waiters.push(resolve);
        options.signal?.addEventListener("abort", () => reject(options.signal!.reason), {
          once: true,
        });
      });
    } finally {
      unsubscribe?.();
      if (typeof endWait === "function") endWait();
      if (showBar) drawBar(this.progress());
    }
  }

  /** Waits, printing each task's outcome as it finishes. */
  async tail(options: { stopOnException?: boolean } = {}): Promise<void> {
    const reported = new Set<number>();
    const report = (): boolean => {
      for (const task of this.#tasks) {
        if (reported.has(task.index) || task.status === "pending" || task.status === "running") {
          continue;
        }
        reported.add(task.index);
        const summary = task.status === "success"
          ? `${((task.endedAt! - task.startedAt!) / 1000).toFixed(2)} s`
          : task.error?.message ?? "";
        console.log(
          `[${new Date().toISOString()}] Run #${task.index} ${
            describeArgs(task.args)
          } ${task.status} (${summary})`,
        );
        if (options.stopOnException && (task.status === "error" || task.status === "timeout")) {
          return true;
        }
      }
      return false;
    };
    if (report()) return;
    await new Promise<void>((resolve) => {
      const unsubscribe = this.onProgress(() => {
        if (report() || this.done()) {
          unsubscribe();
          resolve();
        }
      });
      if (this.done()) {
        unsubscribe();
        resolve();
      }
    });
    console.log("End of tail");
  }

  /**
   * Waits and returns every result in argument order; the first failure is thrown unless
   * `returnExceptions` is true (then errors take their task's place).
   */
  async results(options: { returnExceptions?: boolean } = {}): Promise<(UdfResult | Error)[]> {
    await this.wait({ progress: false });
    return this.#tasks.map((t) => {
      if (t.status === "success") return t.response!.data;
      const error = this.#taskError(t);
      if (options.returnExceptions) return error;
      throw error;
    });
  }

  #taskError(task: Task): Error {
    const message = task.error?.message ?? `task ${task.status}`;
    const wrapped = new FusedError(`[Run #${task.index} ${describeArgs(task.args)}] ${message}`, {
      cause: task.error,
    });
    return wrapped;
  }

  /** Results of the tasks finished with success so far, by argument position. */
  resultsNow(): Map<number, UdfResult> {
    return this.success();
  }

  /** Successful results so far, by argument position. */
  success(): Map<number, UdfResult> {
    return new Map(
      this.#tasks.filter((t) => t.status === "success").map((t) => [t.index, t.response!.data]),
    );
  }

  /** Errors so far (error and timeout), by argument position. */
  errors(): Map<number, Error> {
    return new Map(
      this.#tasks.filter((t) => t.status === "error" || t.status === "timeout")
        .map((t) => [t.index, this.#taskError(t)]),
    );
  }

  /** The first error by argument order, or undefined. */
  firstError(): Error | undefined {
    return this.errors().values().next().value;
  }

  /** Each task's logs (`stdout\n------\n...`), null while it has none. */
  logs(): (string | null)[] {
    return this.#tasks.map((t) =>
      formatLogs(
        t.response?.logs ?? (t.error instanceof UdfRuntimeError ? t.error.logs : undefined),
      )
    );
  }

  /** The first task's logs that exist, by argument order. */
  firstLog(): string | null {
    return this.logs().find((l) => l !== null) ?? null;
  }

  /** Arguments of tasks not started yet, by position. */
  pending(): Map<number, Record<string, unknown>> {
    return this.#byStatus("pending");
  }

  /** Arguments of tasks running now, by position. */
  running(): Map<number, Record<string, unknown>> {
    return this.#byStatus("running");
  }

  /** Arguments of cancelled tasks, by position. */
  cancelled(): Map<number, Record<string, unknown>> {
    return this.#byStatus("cancelled");
  }

  #byStatus(status: TaskStatus): Map<number, Record<string, unknown>> {
    return new Map(this.#tasks.filter((t) => t.status === status).map((t) => [t.index, t.args]));
  }

  /** The arguments as a table, one row per task. */
  argDf(): arrow.Table {
    return this.#argColumnsTable(this.#tasks.map((t) => t.args));
  }

  #argNames(): string[] {
    const names = new Set<string>();
    for (const task of this.#tasks) for (const key of Object.keys(task.args)) names.add(key);
    return [...names];
  }

  #argColumnsTable(
    rows: Record<string, unknown>[],
    extra: Record<string, unknown[]> = {},
  ): arrow.Table {
    const columns: Record<string, arrow.Vector> = {};
    for (const name of this.#argNames()) {
      columns[name] = nestedVector(rows.map((r) => r[name]));
    }
    for (const [name, values] of Object.entries(extra)) columns[name] = nestedVector(values);
    return new arrow.Table(columns);
  }

  /**
   * The tasks as a table now: argument columns, `status`, `time` (seconds), `logs`, `result`
   * (nested values: objects as structs, arrays and tables' rows as lists) and `error`.
   */
  df(): arrow.Table {
    const times = this.times();
    return this.#argColumnsTable(this.#tasks.map((t) => t.args), {
      status: this.#tasks.map((t) => t.status),
      time: times,
      logs: this.logs(),
      result: this.#tasks.map((t) => (t.status === "success" ? t.response!.data : null)),
      error: this.#tasks.map((t) => (t.error ? t.error.message : null)),
    });
  }

  /** fused-py's `get_status_df()`: the argument columns and each task's `status`, now. */
  getStatusDf(): arrow.Table {
    return this.#argColumnsTable(this.#tasks.map((t) => t.args), {
      status: this.#tasks.map((t) => t.status),
    });
  }

  /**
   * fused-py's `get_results_df()`: the argument columns and each task's `result` now, as nested
   * values (null until the task has succeeded).
   */
  getResultsDf(): arrow.Table {
    return this.#argColumnsTable(this.#tasks.map((t) => t.args), {
      result: this.#tasks.map((t) => (t.status === "success" ? t.response!.data : null)),
    });
  }

  /**
   * Waits and returns one table: table results (and arrays of records) concatenated, with the
   * argument values as leading columns unless a result has a column of that name; other results
   * (and every result with `flatten: false`) as nested values in a `result` column. Failed runs
   * are an error unless
   * `ignoreExceptions` is true.
   */
  async collect(
    options: { ignoreExceptions?: boolean; flatten?: boolean } = {},
  ): Promise<arrow.Table> {
    await this.wait({ progress: false });
    const ok = this.#tasks.filter((t) => t.status === "success");
    if (!options.ignoreExceptions) {
      const failed = this.#tasks.find((t) => t.status !== "success");
      if (failed) throw this.#taskError(failed);
    }
    const flatten = options.flatten ?? true;
    // Tables and arrays of records ([{ n, sq }, ...]) concatenate as rows, as in fused-py.
    const tables = ok.map((t) =>
      isTable(t.response!.data) ? t.response!.data : recordsToTable(t.response!.data)
    );
    if (flatten && ok.length > 0 && tables.every((t) => t !== undefined)) {
      return this.#concatTables(ok, tables as arrow.Table[]);
    }
    return this.#argColumnsTable(ok.map((t) => t.args), {
      result: ok.map((t) => t.response!.data),
    });
  }

  #concatTables(tasks: Task[], tables: arrow.Table[]): arrow.Table {
    const first = tables[0];
    // A result column named like an argument keeps the result's values, as in fused-py.
    const argNames = this.#argNames().filter((n) => !first.schema.fields.some((f) => f.name === n));
    const shape = (t: arrow.Table) =>
      t.schema.fields.map((f) => `${f.name}:${undictionary(f.type)}`).join(", ");
    const chunks: Record<string, arrow.Data[]> = {};
    for (const [i, task] of tasks.entries()) {
      const table = tables[i];
      if (shape(table) !== shape(first)) {
        throw new ValidationError(
          `Cannot collect: run #${task.index} returned columns ${shape(table)}, unlike run #${
            tasks[0].index
          } (${shape(first)}); pass flatten: false to get one result per row`,
        );
      }
      for (const name of argNames) {
        const column = nestedVector(
          new Array(table.numRows).fill(task.args[name]),
          this.#argType(name),
        );
        (chunks[name] ??= []).push(...column.data);
      }
      for (const field of table.schema.fields) {
        (chunks[field.name] ??= []).push(...plainColumn(table.getChild(field.name)!).data);
      }
    }
    const merged = new arrow.Table(
      Object.fromEntries(
        Object.entries(chunks).map(([name, data]) => [name, new arrow.Vector(data)]),
      ),
    );
    const geo = first.schema.metadata.get("geo");
    if (geo) merged.schema.metadata.set("geo", geo);
    return merged;
  }

  /** One Arrow type per argument, so every run's argument column has the same type. */
  #argType(name: string): arrow.DataType {
    return nestedType(this.#tasks.map((t) => t.args[name]));
  }

  /** `<JobPool with 10 jobs [3 running, 7 success]>`, as Fused prints it. */
  toString(): string {
    const counts = this.status();
    const parts = TASK_STATUSES.filter((s) => counts[s] > 0).map((s) => `${counts[s]} ${s}`);
    return `<JobPool with ${this.#tasks.length} jobs [${parts.join(", ")}]>`;
  }
}

/** The type with dictionaries replaced by their value type. */
function undictionary(type: arrow.DataType): arrow.DataType {
  return arrow.DataType.isDictionary(type) ? type.dictionary : type;
}

/** A column with dictionaries decoded, so columns of different runs concatenate. */
function plainColumn(vector: arrow.Vector): arrow.Vector {
  if (!arrow.DataType.isDictionary(vector.type)) return vector;
  return arrow.vectorFromArray([...vector], vector.type.dictionary);
}

function drawBar(progress: PoolProgress): void {
  const finished = progress.total - progress.counts.pending - progress.counts.running;
  const width = 30;
  const filled = progress.total ? Math.round((finished / progress.total) * width) : width;
  const line =
    `\r[${"#".repeat(filled)}${" ".repeat(width - filled)}] ${finished}/${progress.total}` +
    ` | ${(progress.elapsedMs / 1000).toFixed(1)} s | ${progress.rate.toFixed(1)}/s`;
  Deno.stderr.writeSync(new TextEncoder().encode(line + (progress.done ? "\n" : "")));
}
