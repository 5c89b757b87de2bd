/**
 * Jupyter comms for code running in the kernel: open a comm to the frontend, or register a
 * target for comms the frontend opens. Messages from the frontend arrive while a cell is still
 * awaiting. Binary buffers are Uint8Arrays; widget protocol messages pass through unchanged.
 *
 * @example
 * ```ts ignore
 * import { openComm } from "./comm.ts";
 * const comm = openComm("my.target", { hello: 1 });
 * comm.onMessage((data) => console.log("frontend said", data));
 * comm.send({ progress: 0.5 });
 * ```
 *
 * @module
 */

import { requireBridge } from "./_bridge.ts";
import type { FrontendCommMessage } from "./evaluator_types.ts";

/** Options of messages sent on a comm. */
export interface CommSendOptions {
  /** Message metadata (widgets put `{ version: "2.1.0" }` on comm_open). */
  metadata?: unknown;
  /** Binary buffers sent as extra frames. */
  buffers?: Uint8Array[];
}

/** A message received on a comm. */
export interface CommMessage {
  /** The message's `data`. */
  data: unknown;
  /** The message's `metadata`. */
  metadata?: unknown;
  /** Binary buffers. */
  buffers: Uint8Array[];
}

/** One comm between the kernel and the frontend. */
export interface Comm {
  /** The comm id. */
  readonly id: string;
  /** The target name. */
  readonly targetName: string;
  /** Whether close() was called or the frontend closed it. */
  readonly closed: boolean;
  /** Sends a comm_msg to the frontend. */
  send(data: unknown, options?: CommSendOptions): void;
  /** Closes the comm (comm_close to the frontend). */
  close(data?: unknown, options?: CommSendOptions): void;
  /** Calls `cb` for every comm_msg from the frontend; returns an unsubscribe function. */
  onMessage(cb: (data: unknown, message: CommMessage) => void): () => void;
  /** Calls `cb` when the frontend closes the comm. */
  onClose(cb: (data: unknown, message: CommMessage) => void): () => void;
}

/** Handler of a comm the frontend opened on a registered target. */
export type CommTargetHandler = (comm: Comm, openMessage: CommMessage) => void;

interface CommState {
  comms: Map<string, CommImpl>;
  /** The header of the frontend request being handled now (synchronously), if any. */
  handling?: Record<string, unknown>;
  targets: Map<string, { handler: CommTargetHandler; cell: string }>;
  /** Whether a frontend showed it has a widget manager (see noteWidgetManagerHint). */
  widgetManager: boolean;
}

const STATE_KEY = Symbol.for("fused.kernel.comms");

function state(): CommState {
  const g = globalThis as Record<symbol, unknown>;
  let s = g[STATE_KEY] as CommState | undefined;
  if (!s) {
    s = { comms: new Map(), targets: new Map(), widgetManager: false };
    g[STATE_KEY] = s;
  }
  return s;
}

class CommImpl implements Comm {
  readonly id: string;
  readonly targetName: string;
  readonly cell: string;
  closed = false;
  #messageCbs = new Set<(data: unknown, message: CommMessage) => void>();
  #closeCbs = new Set<(data: unknown, message: CommMessage) => void>();

  constructor(id: string, targetName: string, cell: string) {
    this.id = id;
    this.targetName = targetName;
    this.cell = cell;
  }

  send(data: unknown, options: CommSendOptions = {}): void {
    if (this.closed) throw new Error(`Comm ${this.id} is closed: open a new comm to send more`);
    requireBridge("Comm.send()").emit({
      kind: "comm_msg",
      cell: this.cell,
      commId: this.id,
      data,
      metadata: options.metadata,
      buffers: options.buffers ?? [],
      replyTo: state().handling,
    });
  }

  close(data: unknown = {}, options: CommSendOptions = {}): void {
    if (this.closed) return;
    this.closed = true;
    state().comms.delete(this.id);
    requireBridge("Comm.close()").emit({
      kind: "comm_close",
      cell: this.cell,
      commId: this.id,
      data,
      buffers: options.buffers ?? [],
    });
  }

  onMessage(cb: (data: unknown, message: CommMessage) => void): () => void {
    this.#messageCbs.add(cb);
    return () => this.#messageCbs.delete(cb);
  }

  onClose(cb: (data: unknown, message: CommMessage) => void): () => void {
    this.#closeCbs.add(cb);
    return () => this.#closeCbs.delete(cb);
  }

  deliver(
    type: "comm_msg" | "comm_close",
    message: CommMessage,
    header?: Record<string, unknown>,
  ): void {
    const cbs = type === "comm_msg" ? this.#messageCbs : this.#closeCbs;
    if (type === "comm_close") {
      this.closed = true;
      state().comms.delete(this.id);
    }
    const bridge = requireBridge("Comm delivery");
    for (const cb of [...cbs]) {
      handling(header, () =>
        bridge.runInCell(this.cell, () => {
          try {
            const r = cb(message.data, message) as unknown;
            if (r instanceof Promise) r.catch((e) => reportHandlerError(this.cell, e));
          } catch (e) {
            reportHandlerError(this.cell, e);
          }
        }));
    }
  }
}

/**
 * Runs `fn` as the handling of the frontend request `header`: what a comm sends meanwhile answers
 * that request. Only the synchronous part of a handler counts (after an await, a send has the
 * comm's cell as its parent again).
 */
function handling(header: Record<string, unknown> | undefined, fn: () => void): void {
  const s = state();
  const before = s.handling;
  s.handling = header;
  try {
    fn();
  } finally {
    s.handling = before;
  }
}

function reportHandlerError(cell: string, e: unknown): void {
  const err = e instanceof Error ? e : new Error(String(e));
  requireBridge("Comm handler").emit({
    kind: "stream",
    cell,
    name: "stderr",
    text: `Error in comm handler: ${err.stack ?? err.message}\n`,
  });
}

/** Opens a comm to the frontend (comm_open on iopub). */
export function openComm(
  targetName: string,
  data: unknown = {},
  options: CommSendOptions & { commId?: string } = {},
): Comm {
  const bridge = requireBridge("openComm()");
  const id = options.commId ?? crypto.randomUUID().replaceAll("-", "");
  const comm = new CommImpl(id, targetName, bridge.currentCell());
  state().comms.set(id, comm);
  bridge.emit({
    kind: "comm_open",
    commId: id,
    targetName,
    data,
    metadata: options.metadata,
    buffers: options.buffers ?? [],
  });
  return comm;
}

/** Registers a handler for comms the frontend opens with `targetName`. */
export function registerCommTarget(targetName: string, handler: CommTargetHandler): () => void {
  const bridge = requireBridge("registerCommTarget()");
  state().targets.set(targetName, { handler, cell: bridge.currentCell() });
  return () => state().targets.delete(targetName);
}

/** Records a comm opened through `Deno.jupyter.broadcast("comm_open", ...)` so comm_info lists it. */
export function trackComm(commId: string, targetName: string, cell: string): void {
  if (!state().comms.has(commId)) state().comms.set(commId, new CommImpl(commId, targetName, cell));
}

/** Forgets a comm closed through `Deno.jupyter.broadcast("comm_close", ...)`. */
export function untrackComm(commId: string): void {
  state().comms.delete(commId);
}

/** Open comms, as Jupyter's comm_info_reply lists them. */
export function commInfo(targetName?: string): Record<string, { target_name: string }> {
  const out: Record<string, { target_name: string }> = {};
  for (const [id, c] of state().comms) {
    if (targetName === undefined || targetName === c.targetName) {
      out[id] = { target_name: c.targetName };
    }
  }
  return out;
}

/** Comm target of ipywidgets' control comm (`request_states`), opened by widget managers. */
export const WIDGET_CONTROL_TARGET = "jupyter.widget.control";
const WIDGET_TARGET = "jupyter.widget";

/**
 * Records what a frontend asked that only a widget manager asks: a comm_info_request for the
 * `jupyter.widget` target, or a comm to `jupyter.widget.control`. ipywidgets' managers
 * (JupyterLab, Notebook 7, classic Notebook's widgetsnbextension) send one of them when they
 * connect to a kernel, to restore live widgets; a frontend without one never does.
 */
export function noteWidgetManagerHint(
  request: { commInfoTarget?: string } | { openedTarget: string },
): void {
  const target = "openedTarget" in request ? request.openedTarget : request.commInfoTarget;
  if (target === WIDGET_TARGET || target === WIDGET_CONTROL_TARGET) state().widgetManager = true;
}

/**
 * Whether a frontend of this kernel has a widget manager (see {@linkcode noteWidgetManagerHint}).
 * Widgets must not open `jupyter.widget` comms otherwise: classic Notebook without ipywidgets
 * logs "Class jupyter.widget not found in registry" for every one.
 */
export function frontendHasWidgetManager(): boolean {
  return state().widgetManager;
}

/** Delivers a frontend comm message (used by the evaluator Worker). */
export function deliverFrontendComm(msg: FrontendCommMessage): void {
  const bridge = requireBridge("Comm delivery");
  const message: CommMessage = { data: msg.data, metadata: msg.metadata, buffers: msg.buffers };
  if (msg.type === "comm_open") {
    noteWidgetManagerHint({ openedTarget: msg.targetName ?? "" });
    const target = state().targets.get(msg.targetName ?? "");
    if (!target) {
      // As ipykernel does: no handler, so tell the frontend the comm is closed.
      bridge.emit({
        kind: "comm_close",
        cell: bridge.currentCell(),
        commId: msg.commId,
        data: {},
        buffers: [],
      });
      return;
    }
    const comm = new CommImpl(msg.commId, msg.targetName ?? "", target.cell);
    state().comms.set(msg.commId, comm);
    handling(msg.header, () =>
      bridge.runInCell(target.cell, () => {
        try {
          const r = target.handler(comm, message) as unknown;
          if (r instanceof Promise) r.catch((e) => reportHandlerError(target.cell, e));
        } catch (e) {
          reportHandlerError(target.cell, e);
        }
      }));
    return;
  }
  const comm = state().comms.get(msg.commId);
  if (comm) comm.deliver(msg.type, message, msg.header);
}
