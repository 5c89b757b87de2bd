/**
 * Messages between the evaluator (main thread) and its Worker.
 *
 * @module
 */

import type { EvaluatorEvent, FrontendCommMessage } from "./evaluator_types.ts";

/** Messages from the main thread. */
export type ToWorker =
  | { type: "init"; flag: SharedArrayBuffer; input: SharedArrayBuffer; cwd: string }
  | {
    type: "execute";
    id: number;
    code: string;
    cell: string;
    silent: boolean;
    allowStdin: boolean;
  }
  | { type: "interrupt"; id: number }
  | { type: "complete"; id: number; code: string; cursorPos: number }
  | { type: "inspect"; id: number; code: string; cursorPos: number; detailLevel: number }
  | { type: "commInfo"; id: number; targetName?: string }
  | { type: "comm"; message: FrontendCommMessage };

/** Messages to the main thread. */
export type FromWorker =
  | { type: "ready" }
  | { type: "events"; events: EvaluatorEvent[] }
  | { type: "reply"; id: number; value: unknown }
  | { type: "input"; prompt: string; password: boolean; cell: string };

/** Input SAB layout: Int32 [0] state, [1] byte length; bytes from offset 8. */
export const INPUT_WAITING = 0;
/** Input state: the reply text is in the buffer. */
export const INPUT_OK = 1;
/** Input state: an error message is in the buffer. */
export const INPUT_ERROR = 2;
/** Input state: the cell was interrupted while waiting. */
export const INPUT_INTERRUPTED = 3;
