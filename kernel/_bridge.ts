/**
 * The link between user-facing helpers (display, comms, magics) and the evaluator Worker that
 * runs them. It lives on a global symbol, not in module state, so that a helper module loaded
 * twice (once by the Worker, once by a cell through another URL) still talks to the same kernel.
 *
 * @module
 */

import type { EvaluatorEvent } from "./evaluator_types.ts";

/** An event as helpers emit it; the bridge fills in the cell from the current context. */
export type BridgeEvent = EvaluatorEvent extends infer E
  ? E extends { cell: string } ? Omit<E, "cell"> & { cell?: string } : never
  : never;

/** What the evaluator Worker offers to helpers running inside it. */
export interface KernelBridge {
  /** Sends an event to the protocol loop, tagged with the current (or given) cell. */
  emit(event: BridgeEvent): void;
  /** Tag of the cell whose code (or background work) is running now. */
  currentCell(): string;
  /** Runs `fn` as if it were code of `cell`, so its output goes to that cell. */
  runInCell<T>(cell: string, fn: () => T): T;
  /**
   * Tag of the cell being executed now, whatever async work is running, or undefined when no
   * (non-silent) cell runs. Live displays send their updates there: nbclient and nbconvert
   * only read messages of the running cell.
   */
  runningCell?(): string | undefined;
}

const BRIDGE_KEY = Symbol.for("fused.kernel.bridge");

/** The bridge, or undefined outside the kernel. */
export function getBridge(): KernelBridge | undefined {
  return (globalThis as Record<symbol, unknown>)[BRIDGE_KEY] as KernelBridge | undefined;
}

/** The bridge; throws a clear error outside the kernel. */
export function requireBridge(what: string): KernelBridge {
  const bridge = getBridge();
  if (!bridge) {
    throw new Error(
      `${what} works only inside the fused Jupyter kernel: run this code in a notebook cell`,
    );
  }
  return bridge;
}

/** Installs the bridge (the evaluator Worker calls this once). */
export function setBridge(bridge: KernelBridge): void {
  (globalThis as Record<symbol, unknown>)[BRIDGE_KEY] = bridge;
}
