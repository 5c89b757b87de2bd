/**
 * The contract between the kernel's protocol loop (main thread) and the evaluator that runs user
 * code in a Worker. The loop knows nothing of how code runs; the evaluator knows nothing of ZMTP.
 *
 * @module
 */

/** A Jupyter MIME bundle: `data` keyed by MIME type, `metadata` likewise. */
export interface MimeBundle {
  /** Representations keyed by MIME type (`text/plain`, `text/html`, `image/png` as base64, ...). */
  data: Record<string, unknown>;
  /** Metadata keyed by MIME type. */
  metadata?: Record<string, unknown>;
  /** Transient fields, e.g. `{ display_id }` for displays that update in place. */
  transient?: Record<string, unknown>;
}

/**
 * Something the evaluator reports while (or after) a cell runs. `cell` is the tag that was given
 * to `execute`, so output of background work started by a cell can be sent with that cell's
 * parent header even after the cell finished.
 */
export type EvaluatorEvent =
  | { kind: "stream"; cell: string; name: "stdout" | "stderr"; text: string }
  | { kind: "display"; cell: string; bundle: MimeBundle; update: boolean }
  | { kind: "clear_output"; cell: string; wait: boolean }
  | { kind: "error"; cell: string; ename: string; evalue: string; traceback: string[] }
  | {
    kind: "comm_open";
    cell: string;
    commId: string;
    targetName: string;
    data: unknown;
    metadata?: unknown;
    buffers: Uint8Array[];
  }
  | {
    kind: "comm_msg";
    cell: string;
    commId: string;
    data: unknown;
    metadata?: unknown;
    buffers: Uint8Array[];
    /** Sent while handling this frontend request: its header is the message's parent. */
    replyTo?: Record<string, unknown>;
  }
  | { kind: "comm_close"; cell: string; commId: string; data: unknown; buffers: Uint8Array[] }
  /** The evaluator was restarted (after a hard interrupt or a crash); all user state is gone. */
  | { kind: "restarted"; reason: string };

/** Result of one `execute`. */
export type ExecuteOutcome =
  | { status: "ok"; result?: MimeBundle }
  | { status: "error"; ename: string; evalue: string; traceback: string[] }
  | { status: "aborted" };

/** Options of one `execute`. */
export interface ExecuteOptions {
  /** Tag of this cell; every event caused by it carries this tag. */
  cell: string;
  /** Jupyter `silent`: no output, no execute_result. */
  silent: boolean;
  /** Jupyter `allow_stdin`: whether `prompt()`/`confirm()` may ask the frontend. */
  allowStdin: boolean;
  /** Asks the frontend for input (Jupyter `input_request`); only called when allowStdin. */
  requestInput(prompt: string, password: boolean): Promise<string>;
}

/** A comm message from the frontend to a comm that lives in the evaluator. */
export interface FrontendCommMessage {
  /** `comm_open`, `comm_msg` or `comm_close`. */
  type: "comm_open" | "comm_msg" | "comm_close";
  /** The comm's id. */
  commId: string;
  /** Target name (comm_open only). */
  targetName?: string;
  /** The message's `data`. */
  data: unknown;
  /** The message's `metadata`. */
  metadata?: unknown;
  /** Binary buffers. */
  buffers: Uint8Array[];
  /**
   * The request's Jupyter header: what a comm sends while handling it answers it (its parent),
   * as in ipykernel; a widget manager waits for the `update` whose parent is its `request_state`.
   */
  header?: Record<string, unknown>;
}

/** What the protocol loop needs from an evaluator. */
export interface Evaluator {
  /** Runs one cell; resolves when the cell's top-level code (including awaits) is done. */
  execute(code: string, options: ExecuteOptions): Promise<ExecuteOutcome>;
  /**
   * Interrupts the running cell: an awaiting cell ends at once with a KeyboardInterrupt-style
   * error; a busy sync loop is stopped within about a second, keeping state if possible, else the
   * evaluator restarts (and emits a `restarted` event).
   */
  interrupt(): Promise<"interrupted" | "restarted" | "idle">;
  /** Completion at a cursor offset (in UTF-16 code units of `code`). */
  complete(
    code: string,
    cursorPos: number,
  ): Promise<{ matches: string[]; cursorStart: number; cursorEnd: number; metadata?: unknown }>;
  /** Documentation for the name at a cursor offset. */
  inspect(
    code: string,
    cursorPos: number,
    detailLevel: number,
  ): Promise<{ found: boolean; data: Record<string, unknown> }>;
  /** Whether a console frontend should run the code or ask for more lines. */
  isComplete(
    code: string,
  ): Promise<{ status: "complete" | "incomplete" | "invalid"; indent?: string }>;
  /** Delivers a frontend comm message; works while a cell is awaiting. */
  commFromFrontend(message: FrontendCommMessage): void;
  /** Open comms as Jupyter's comm_info_reply wants them, optionally for one target. */
  commInfo(targetName?: string): Promise<Record<string, { target_name: string }>>;
  /** Starts over with fresh state (Jupyter restart). */
  restart(): Promise<void>;
  /** Stops the Worker for good. */
  shutdown(): Promise<void>;
  /** Subscribes to events; returns an unsubscribe function. */
  onEvent(listener: (event: EvaluatorEvent) => void): () => void;
}
