/**
 * A real evaluator for tests: every event recorded, cells run with sensible defaults, waits
 * bounded in time. Private to kernel/ tests.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type EvaluatorOptions, startEvaluator } from "./evaluator.ts";
import type {
  Evaluator,
  EvaluatorEvent,
  ExecuteOptions,
  ExecuteOutcome,
} from "./evaluator_types.ts";

/** What a test gets: the evaluator, its events, and helpers over them. */
export interface Harness {
  /** The evaluator. */
  ev: Evaluator;
  /** Every event so far, in order. */
  events: EvaluatorEvent[];
  /** Runs a cell (a fresh tag unless given). */
  run(code: string, cell?: string, extra?: Partial<ExecuteOptions>): Promise<ExecuteOutcome>;
  /** Everything a cell wrote to stdout so far. */
  stdout(cell: string): string;
  /** The first event matching `pred`, waiting up to `ms` for it. */
  waitFor(
    pred: (e: EvaluatorEvent) => boolean,
    ms?: number,
    what?: string,
  ): Promise<EvaluatorEvent>;
}

let cellCounter = 0;

/** Starts an evaluator, runs `fn` with a harness over it, and always shuts it down. */
export async function withEvaluator(
  fn: (h: Harness) => Promise<void>,
  options: EvaluatorOptions = {},
): Promise<void> {
  const ev = await startEvaluator(options);
  const events: EvaluatorEvent[] = [];
  const waiters: { pred: (e: EvaluatorEvent) => boolean; resolve: (e: EvaluatorEvent) => void }[] =
    [];
  ev.onEvent((e) => {
    events.push(e);
    for (const w of [...waiters]) {
      if (w.pred(e)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(e);
      }
    }
  });
  const h: Harness = {
    ev,
    events,
    run: (code, cell = `cell-${++cellCounter}`, extra = {}) =>
      ev.execute(code, {
        cell,
        silent: false,
        allowStdin: false,
        requestInput: () => Promise.reject(new Error("no stdin in this test")),
        ...extra,
      }),
    stdout: (cell) =>
      events.filter((e) => e.kind === "stream" && e.cell === cell && e.name === "stdout")
        .map((e) => (e as { text: string }).text).join(""),
    waitFor(pred, ms = 5000, what = "the event") {
      const found = events.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${what} did not arrive in ${ms} ms`)), ms);
        waiters.push({
          pred,
          resolve: (e) => {
            clearTimeout(timer);
            resolve(e);
          },
        });
      });
    },
  };
  try {
    await fn(h);
  } finally {
    await ev.shutdown();
  }
}

/** The text/plain of a cell's result; fails the test unless the cell succeeded. */
export function plain(outcome: ExecuteOutcome): unknown {
  assert.equal(outcome.status, "ok", JSON.stringify(outcome));
  return outcome.status === "ok" ? outcome.result?.data["text/plain"] : undefined;
}

/** Rejects if `p` takes longer than `ms`: detects a hang, not a speed. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
