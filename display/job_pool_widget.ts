/**
 * The live JobPool widget: a progress bar, counts per status, elapsed time and rate, the first
 * error with its logs, and Cancel and Retry buttons.
 *
 * It speaks the Jupyter widget protocol 2.1 with the standard `@jupyter-widgets/controls` 2.0.0
 * models (IntProgress, HTML, Button, HBox/VBox with their Layout and Style models), so
 * JupyterLab, Notebook 7 and VS Code render it with nothing to install. The same display carries
 * `text/html` and `text/plain`, updated in place (update_display_data). Where no widget manager
 * exists (nbconvert, GitHub, classic Notebook without ipywidgets) no widget comm is opened at all
 * (`widgets: false`): the HTML is the display, and in classic Notebook its script adds a Cancel
 * button that reaches the kernel through the notebook's own comm API
 * (`Jupyter.notebook.kernel.comm_manager`, target {@linkcode POOL_CONTROL_TARGET}).
 *
 * Nothing here knows about the kernel: {@linkcode showJobPool} talks to the frontend through a
 * {@linkcode WidgetTransport} (the kernel's comms and displays, or a recorder in tests).
 *
 * @example
 * ```ts
 * import { renderPoolHtml } from "./job_pool_widget.ts";
 * const html = renderPoolHtml({
 *   total: 4,
 *   counts: { pending: 1, running: 1, success: 1, error: 1, timeout: 0, cancelled: 0 },
 *   elapsedMs: 1500,
 *   rate: 1.3,
 *   firstError: { index: 3, message: "x < 0", logs: "" },
 *   done: false,
 * });
 * if (!html.includes("x &lt; 0")) throw new Error("unexpected");
 * ```
 *
 * @module
 */

import type { PoolProgress, TaskStatus } from "../client/job_pool.ts";
import { escapeHtml, type MimeBundle } from "./mime.ts";

/** MIME type of a widget view (what JupyterLab, Notebook 7 and VS Code render as a widget). */
export const WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json";
/** Comm target of widget models (protocol 2.x). */
export const WIDGET_TARGET = "jupyter.widget";
/** Widget protocol version sent in comm_open metadata. */
export const WIDGET_PROTOCOL_VERSION = "2.1.0";
/**
 * Comm target the HTML's Cancel button opens a comm to, with data
 * `{ method: "cancel", display_id }`: the kernel cancels the pool shown in that display.
 */
export const POOL_CONTROL_TARGET = "fused.job_pool";

const CONTROLS = "@jupyter-widgets/controls";
const BASE = "@jupyter-widgets/base";
/** ipywidgets 8 ships @jupyter-widgets/controls 2.0.0 and @jupyter-widgets/base 2.0.0. */
const MODULE_VERSION = "2.0.0";

/** What the widget needs from a pool: `JobPool` has all of it. */
export interface JobPoolLike {
  /** The pool's progress now. */
  progress(): PoolProgress;
  /** Calls `listener` on every status change; returns an unsubscribe function. */
  onProgress(listener: (progress: PoolProgress) => void): () => void;
  /** Cancels pending tasks and aborts running ones. */
  cancel(): number;
  /** Runs failed (and, after cancel, cancelled) tasks again. */
  retry(): number;
}

/** True for a JobPool, or anything shaped like one (a pool from another copy of the module). */
export function isJobPoolLike(value: unknown): value is JobPoolLike {
  if (value === null || typeof value !== "object") return false;
  const v = value as Record<string, unknown>;
  return ["progress", "onProgress", "cancel", "retry", "wait"].every((k) =>
    typeof v[k] === "function"
  );
}

/** One comm to the frontend, as the widget uses it. */
export interface WidgetComm {
  /** The comm id, which is also the widget's model id. */
  readonly id: string;
  /** Sends a comm_msg. */
  send(data: unknown): void;
  /** Calls `cb` for every comm_msg from the frontend; returns an unsubscribe function. */
  onMessage(cb: (data: unknown) => void): () => void;
  /** Calls `cb` when the frontend closes the comm. */
  onClose(cb: () => void): () => void;
}

/** One live widget model as the `update_states` message of ipywidgets' control comm has it. */
export interface LiveWidgetModel {
  /** Model class name, e.g. `ButtonModel`. */
  model_name: string;
  /** Module of the model class, e.g. `@jupyter-widgets/controls`. */
  model_module: string;
  /** Version of that module. */
  model_module_version: string;
  /** The model's state now. */
  state: WidgetState;
}

/** How the widget reaches the frontend: the kernel implements it with its comms and displays. */
export interface WidgetTransport {
  /** Opens a comm with the given id (comm_open on iopub). */
  openComm(
    targetName: string,
    data: unknown,
    options: { metadata: unknown; commId: string },
  ): WidgetComm;
  /** Replaces the display with this id (update_display_data). */
  updateDisplay(bundle: MimeBundle, displayId: string): void;
}

/** A clock, so tests can drive the throttle without waiting. */
export interface WidgetClock {
  /** Milliseconds, monotonic. */
  now(): number;
  /** Calls `fn` after `ms` milliseconds; returns a handle for `clearTimeout`. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a `setTimeout`. */
  clearTimeout(handle: unknown): void;
}

/** Options of {@linkcode showJobPool}. */
export interface JobPoolWidgetOptions {
  /**
   * Whether the frontend has a widget manager (default true). Without one no widget comm is
   * opened (a frontend without the `jupyter.widget` target logs an error for each), and the HTML,
   * with a Cancel button where the frontend's comm API allows, is the display.
   */
  widgets?: boolean;
  /**
   * Fewest milliseconds between two updates of the widget or of the HTML (default 250; 1000
   * without widgets, where each update re-renders the output).
   */
  minIntervalMs?: number;
  /** While tasks run, the elapsed time is refreshed this often even if no task ends (default 1000). */
  tickMs?: number;
  /**
   * Milliseconds after showing before the HTML display is first updated in place (default 1000).
   * A widget frontend reports its view within this time, and from then on only the final state
   * replaces the display: replacing a widget view re-creates it, which would swallow clicks.
   */
  htmlGraceMs?: number;
  /** Title shown above the bar (default "JobPool"). */
  title?: string;
  /** The clock (default: performance.now and the global timers). */
  clock?: WidgetClock;
  /** The display id (default: a random one). */
  displayId?: string;
}

/** The models of the widget, children before parents (the order they are opened in). */
export const WIDGET_PARTS = [
  "progress.layout",
  "progress.style",
  "progress",
  "summary.layout",
  "summary.style",
  "summary",
  "cancel.layout",
  "cancel.style",
  "cancel",
  "retry.layout",
  "retry.style",
  "retry",
  "error.layout",
  "error.style",
  "error",
  "bar.layout",
  "bar",
  "buttons.layout",
  "buttons",
  "root.layout",
  "root",
] as const;

/** Name of one model of the widget. */
export type WidgetPart = typeof WIDGET_PARTS[number];

/** Widget state per model: what comm_open and update messages carry. */
export type WidgetState = Record<string, unknown>;

const STATUS_ORDER: readonly TaskStatus[] = [
  "running",
  "pending",
  "success",
  "error",
  "timeout",
  "cancelled",
];

const STATUS_COLORS: Record<TaskStatus, string> = {
  running: "var(--jp-brand-color1, #1976d2)",
  pending: "var(--jp-ui-font-color2, #757575)",
  success: "var(--jp-success-color1, #388e3c)",
  error: "var(--jp-error-color1, #d32f2f)",
  timeout: "var(--jp-warn-color1, #f57c00)",
  cancelled: "var(--jp-ui-font-color2, #757575)",
};

/** Logs in the HTML keep their last characters only: the end of a log says what went wrong. */
const MAX_LOG_CHARS = 4000;

/**
 * Number of tasks that ran to an end (success, error or timeout): what the bar and the headline
 * count. Cancelled tasks never ran; a pool cancelled after 2 of 40 shows 2/40 and 38 cancelled,
 * not a full bar.
 */
export function finishedCount(progress: PoolProgress): number {
  return progress.counts.success + progress.counts.error + progress.counts.timeout;
}

/** The word that ends a pool's summary: "cancelled" when any task was, else "done". */
function endWord(progress: PoolProgress): string {
  return progress.counts.cancelled > 0 ? "cancelled" : "done";
}

/** "0.4 s", "12.3 s", "3 min 05 s", "2 h 03 min". */
export function formatElapsed(ms: number): string {
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const whole = Math.floor(s);
  if (whole < 3600) return `${Math.floor(whole / 60)} min ${String(whole % 60).padStart(2, "0")} s`;
  const minutes = Math.floor(whole / 60);
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min`;
}

/**
 * Runs per second that actually ran (success, error, timeout): `PoolProgress.rate` also counts
 * cancelled tasks, which would show thousands per second right after a cancel.
 */
export function runRate(progress: PoolProgress): number {
  const ran = progress.counts.success + progress.counts.error + progress.counts.timeout;
  return progress.elapsedMs > 0 ? ran / (progress.elapsedMs / 1000) : 0;
}

function formatRate(rate: number): string {
  return `${rate >= 10 ? rate.toFixed(0) : rate.toFixed(1)} runs/s`;
}

function eta(progress: PoolProgress): string | undefined {
  const left = progress.counts.pending + progress.counts.running;
  const rate = runRate(progress);
  if (progress.done || left === 0 || rate <= 0) return undefined;
  return formatElapsed((left / rate) * 1000);
}

/**
 * One line of text: "45/200 done (8 running, 147 pending, 45 success) in 12.3 s, 3.7 runs/s";
 * a cancelled pool: "2/40 done, 38 cancelled (2 success, 38 cancelled) ...".
 */
export function poolSummaryText(progress: PoolProgress): string {
  const parts = STATUS_ORDER.filter((s) => progress.counts[s] > 0).map((s) =>
    `${progress.counts[s]} ${s}`
  );
  const left = eta(progress);
  const cancelled = progress.counts.cancelled ? `, ${progress.counts.cancelled} cancelled` : "";
  return `${finishedCount(progress)}/${progress.total} done${cancelled} (${
    parts.join(", ") || "no tasks"
  })` +
    ` in ${formatElapsed(progress.elapsedMs)}, ${formatRate(runRate(progress))}` +
    (left ? `, about ${left} left` : "");
}

/** The text/plain representation of a pool. */
export function poolText(progress: PoolProgress, title = "JobPool"): string {
  const lines = [`${title}: ${poolSummaryText(progress)}`];
  if (progress.firstError) {
    lines.push(`First error (run #${progress.firstError.index}): ${progress.firstError.message}`);
  }
  return lines.join("\n");
}

/** Counts, elapsed time and rate as an HTML line (the widget's summary). */
export function renderSummaryHtml(progress: PoolProgress): string {
  const chips = STATUS_ORDER.filter((s) => progress.counts[s] > 0 || s === "success").map((s) =>
    `<span style="color:${STATUS_COLORS[s]};margin-right:0.8em">` +
    `<b>${progress.counts[s]}</b> ${s}</span>`
  ).join("");
  const left = eta(progress);
  return `<span style="font-variant-numeric:tabular-nums">` +
    `<b>${finishedCount(progress)}/${progress.total}</b>&nbsp;&nbsp;${chips}` +
    `<span style="opacity:0.8">${formatElapsed(progress.elapsedMs)} · ` +
    `${formatRate(runRate(progress))}${left ? ` · about ${left} left` : ""}` +
    `${progress.done ? ` · ${endWord(progress)}` : ""}</span></span>`;
}

/** The first error with its logs as HTML, or "" when there is none. */
export function renderErrorHtml(progress: PoolProgress): string {
  const first = progress.firstError;
  if (!first) return "";
  const logs = first.logs.length > MAX_LOG_CHARS
    ? `[... ${first.logs.length - MAX_LOG_CHARS} characters cut ...]\n` +
      first.logs.slice(-MAX_LOG_CHARS)
    : first.logs;
  const pre = "margin:0.3em 0;padding:0.4em;white-space:pre-wrap;max-height:16em;overflow:auto;" +
    "background:var(--jp-layout-color2, var(--vscode-editor-background, #f5f5f5))";
  return `<div style="color:${STATUS_COLORS.error}"><b>First error</b> (run #${first.index}):</div>` +
    `<pre style="${pre}">${escapeHtml(first.message)}</pre>` +
    // JobPool formats logs as "stdout\n------\n...\nstderr\n------\n...": headers alone are no logs.
    (logs.replace(/^(stdout|stderr)\n-+$/gm, "").trim()
      ? `<details><summary>Logs of run #${first.index}</summary><pre style="${pre}">` +
        `${escapeHtml(logs)}</pre></details>`
      : "");
}

/**
 * The script that puts a Cancel button into the HTML of a running pool shown in `displayId`.
 * Classic Notebook runs scripts of trusted outputs and gives them `Jupyter.notebook.kernel`; a
 * click opens a comm to {@linkcode POOL_CONTROL_TARGET}. Elsewhere (JupyterLab without widgets,
 * nbconvert pages, untrusted notebooks whose scripts are stripped) no button appears, so no
 * button that cannot work is ever shown.
 */
export function cancelButtonScript(displayId: string): string {
  const id = JSON.stringify(displayId);
  return `<script>(function () {
var id = ${id};
var J = window.Jupyter || window.IPython;
var kernel = J && J.notebook && J.notebook.kernel;
if (!kernel || !kernel.comm_manager) return;
var pools = window.__fusedJobPools = window.__fusedJobPools || {};
var slots = document.querySelectorAll('.fused-job-pool-cancel[data-display-id="' + id + '"]');
Array.prototype.forEach.call(slots, function (slot) {
  if (slot.firstChild) return;
  var button = document.createElement("button");
  button.type = "button";
  button.className = "btn btn-default btn-xs fused-job-pool-cancel-button";
  button.title = "Cancel the pending runs and stop the running ones";
  var show = function () {
    button.textContent = pools[id] ? "Cancelling\u2026" : "Cancel";
    button.disabled = !!pools[id];
  };
  var cancel = function (event) {
    event.preventDefault();
    if (pools[id]) return;
    pools[id] = "cancelling";
    show();
    kernel.comm_manager.new_comm(${
    JSON.stringify(POOL_CONTROL_TARGET)
  }, { method: "cancel", display_id: id });
  };
  // A press, not only a click: the output is re-rendered as progress arrives, and a click whose
  // mouseup lands on the next rendering would be lost.
  button.addEventListener("pointerdown", cancel);
  button.addEventListener("click", cancel);
  show();
  slot.appendChild(button);
});
})();</script>`;
}

/**
 * The whole pool as self-contained HTML: what shows where no widget manager exists. With
 * `cancelFor` (the display id) a running pool's HTML carries a Cancel button where the frontend
 * allows one (see {@linkcode cancelButtonScript}).
 */
export function renderPoolHtml(
  progress: PoolProgress,
  options: { title?: string; cancelFor?: string } = {},
): string {
  const finished = finishedCount(progress);
  const title = escapeHtml(options.title ?? "JobPool");
  const cancel = options.cancelFor !== undefined && !progress.done
    ? `<div class="fused-job-pool-cancel" data-display-id="${escapeHtml(options.cancelFor)}" ` +
      `style="margin-top:0.3em"></div>${cancelButtonScript(options.cancelFor)}`
    : "";
  return `<div class="fused-job-pool" style="font-family:var(--jp-ui-font-family, ` +
    `var(--vscode-font-family, sans-serif));font-size:var(--jp-ui-font-size1, 13px)">` +
    `<div><b>${title}</b></div>` +
    `<progress value="${finished}" max="${Math.max(progress.total, 1)}" ` +
    `style="width:100%;max-width:40em;height:1em"></progress>` +
    `<div>${renderSummaryHtml(progress)}</div>${renderErrorHtml(progress)}${cancel}</div>`;
}

function barStyle(progress: PoolProgress): string {
  if (progress.counts.error + progress.counts.timeout > 0) return "danger";
  if (!progress.done) return "";
  return progress.counts.cancelled > 0 ? "warning" : "success";
}

function canRetry(progress: PoolProgress): boolean {
  return progress.counts.error + progress.counts.timeout + progress.counts.cancelled > 0;
}

function layout(css: Record<string, string> = {}): WidgetState {
  return {
    _model_module: BASE,
    _model_module_version: MODULE_VERSION,
    _model_name: "LayoutModel",
    _view_count: null,
    _view_module: BASE,
    _view_module_version: MODULE_VERSION,
    _view_name: "LayoutView",
    ...css,
  };
}

function style(modelName: string, extra: WidgetState): WidgetState {
  return {
    _model_module: CONTROLS,
    _model_module_version: MODULE_VERSION,
    _model_name: modelName,
    _view_count: null,
    _view_module: BASE,
    _view_module_version: MODULE_VERSION,
    _view_name: "StyleView",
    ...extra,
  };
}

function control(modelName: string, viewName: string, extra: WidgetState): WidgetState {
  return {
    _dom_classes: [],
    _model_module: CONTROLS,
    _model_module_version: MODULE_VERSION,
    _model_name: modelName,
    _view_count: null,
    _view_module: CONTROLS,
    _view_module_version: MODULE_VERSION,
    _view_name: viewName,
    tabbable: null,
    tooltip: null,
    ...extra,
  };
}

const BUTTON_STYLE = {
  button_color: null,
  font_family: null,
  font_size: null,
  font_style: null,
  font_variant: null,
  font_weight: null,
  text_color: null,
  text_decoration: null,
};

const HTML_STYLE = { background: null, description_width: "", font_size: null, text_color: null };

/**
 * The state of every model of the widget for a progress snapshot. `ref(part)` is how a model
 * refers to another (`"IPY_MODEL_<id>"`); parts come children first.
 */
export function widgetStates(
  progress: PoolProgress,
  ref: (part: WidgetPart) => string,
): Record<WidgetPart, WidgetState> {
  const html = (part: "summary" | "error", value: string): WidgetState =>
    control("HTMLModel", "HTMLView", {
      description: "",
      description_allow_html: false,
      layout: ref(`${part}.layout`),
      placeholder: "\u200b",
      style: ref(`${part}.style`),
      value,
    });
  const button = (part: "cancel" | "retry", extra: WidgetState): WidgetState =>
    control("ButtonModel", "ButtonView", {
      layout: ref(`${part}.layout`),
      style: ref(`${part}.style`),
      ...extra,
    });
  const box =
    (name: "HBoxModel" | "VBoxModel", part: "bar" | "buttons" | "root") =>
    (children: WidgetPart[], extra: WidgetState = {}): WidgetState =>
      control(name, name.replace("Model", "View"), {
        box_style: "",
        children: children.map(ref),
        layout: ref(`${part}.layout`),
        ...extra,
      });
  return {
    "progress.layout": layout({ width: "min(30em, 60%)" }),
    "progress.style": style("ProgressStyleModel", { bar_color: null, description_width: "" }),
    progress: control("IntProgressModel", "ProgressView", {
      bar_style: barStyle(progress),
      description: "",
      description_allow_html: false,
      layout: ref("progress.layout"),
      max: Math.max(progress.total, 1),
      min: 0,
      orientation: "horizontal",
      style: ref("progress.style"),
      value: finishedCount(progress),
    }),
    "summary.layout": layout({ margin: "0 0 0 1em" }),
    "summary.style": style("HTMLStyleModel", HTML_STYLE),
    summary: html("summary", renderSummaryHtml(progress)),
    "cancel.layout": layout({ width: "auto" }),
    "cancel.style": style("ButtonStyleModel", BUTTON_STYLE),
    cancel: button("cancel", {
      button_style: "warning",
      description: "Cancel",
      disabled: progress.done,
      icon: "stop",
      tooltip: "Cancel the pending runs and stop the running ones",
    }),
    "retry.layout": layout({ width: "auto" }),
    "retry.style": style("ButtonStyleModel", BUTTON_STYLE),
    retry: button("retry", {
      button_style: "",
      description: "Retry",
      disabled: !canRetry(progress),
      icon: "redo",
      tooltip: "Run again the runs that failed or were cancelled",
    }),
    "error.layout": layout(),
    "error.style": style("HTMLStyleModel", HTML_STYLE),
    error: html("error", renderErrorHtml(progress)),
    "bar.layout": layout({ align_items: "center" }),
    bar: box("HBoxModel", "bar")(["progress", "summary"]),
    "buttons.layout": layout(),
    buttons: box("HBoxModel", "buttons")(["cancel", "retry"]),
    "root.layout": layout(),
    // A number (not null) asks widget frontends to report each view they create, which tells
    // us a widget manager is there.
    root: box("VBoxModel", "root")(["bar", "buttons", "error"], { _view_count: 0 }),
  };
}

/** The widget's display bundle: the widget view plus HTML and text fallbacks. */
export function poolBundle(
  progress: PoolProgress,
  options: { modelId?: string; title?: string; cancelFor?: string } = {},
): MimeBundle {
  const data: Record<string, unknown> = {};
  if (options.modelId) {
    data[WIDGET_VIEW_MIME] = { model_id: options.modelId, version_major: 2, version_minor: 1 };
  }
  data["text/html"] = renderPoolHtml(progress, {
    title: options.title,
    cancelFor: options.cancelFor,
  });
  data["text/plain"] = poolText(progress, options.title);
  return { data, metadata: {} };
}

function changedKeys(before: WidgetState, after: WidgetState): WidgetState | undefined {
  let out: WidgetState | undefined;
  for (const [k, v] of Object.entries(after)) {
    if (JSON.stringify(before[k]) !== JSON.stringify(v)) (out ??= {})[k] = v;
  }
  return out;
}

const defaultClock: WidgetClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as number),
};

/** A live widget of one pool; made by {@linkcode showJobPool}. */
export class JobPoolWidget {
  /** The bundle to show first (with `transient.display_id` for in-place updates). */
  readonly bundle: MimeBundle & { transient: { display_id: string } };
  /** The display id of the bundle. */
  readonly displayId: string;
  /** The model id of the root box (the one the widget view names); none without widgets. */
  readonly modelId: string | undefined;
  readonly #pool: JobPoolLike;
  readonly #transport: WidgetTransport;
  readonly #clock: WidgetClock;
  readonly #minInterval: number;
  readonly #tick: number;
  readonly #graceUntil: number;
  readonly #title: string;
  readonly #widgets: boolean;
  readonly #comms = new Map<WidgetPart, WidgetComm>();
  readonly #ids = new Map<WidgetPart, string>();
  #sent: Record<WidgetPart, WidgetState>;
  #sentHtml: string;
  #lastFlush = -Infinity;
  #timer: unknown;
  #timerAt = Infinity;
  #dirty = false;
  #viewSeen = false;
  #htmlHeld = false;
  #finalSent = false;
  #unsubscribe: () => void;

  constructor(pool: JobPoolLike, transport: WidgetTransport, options: JobPoolWidgetOptions = {}) {
    this.#pool = pool;
    this.#transport = transport;
    this.#clock = options.clock ?? defaultClock;
    this.#widgets = options.widgets ?? true;
    this.#minInterval = options.minIntervalMs ?? (this.#widgets ? 250 : 1000);
    this.#tick = Math.max(this.#minInterval, options.tickMs ?? 1000);
    // Without widgets the HTML is the display: it updates from the start.
    this.#graceUntil = this.#clock.now() + (this.#widgets ? options.htmlGraceMs ?? 1000 : 0);
    this.#title = options.title ?? "JobPool";
    this.displayId = options.displayId ?? crypto.randomUUID();
    const progress = pool.progress();
    // Model ids as ipywidgets makes them: 32 hex digits.
    for (const part of WIDGET_PARTS) this.#ids.set(part, crypto.randomUUID().replaceAll("-", ""));
    const states = widgetStates(progress, (part) => `IPY_MODEL_${this.#ids.get(part)}`);
    // Children first: a frontend resolves IPY_MODEL references when a model arrives, so every
    // referenced model must already exist.
    for (const part of this.#widgets ? WIDGET_PARTS : []) {
      const comm = transport.openComm(WIDGET_TARGET, { state: states[part], buffer_paths: [] }, {
        metadata: { version: WIDGET_PROTOCOL_VERSION },
        commId: this.#ids.get(part)!,
      });
      this.#comms.set(part, comm);
      comm.onMessage((data) => this.#onMessage(part, data));
      comm.onClose(() => this.#comms.delete(part));
    }
    this.#sent = states;
    this.modelId = this.#widgets ? this.#ids.get("root")! : undefined;
    const bundle = this.#bundle(progress);
    this.#sentHtml = String(bundle.data["text/html"]);
    this.bundle = { ...bundle, transient: { display_id: this.displayId } };
    this.#finalSent = progress.done;
    this.#unsubscribe = pool.onProgress((p) => {
      if (!p.done) return this.#schedule();
      // The final state goes out at once, before the code awaiting `pool.wait()` resumes:
      // nbconvert stops reading a cell's messages when the cell ends.
      this.#dirty = true;
      this.flush();
    });
    if (!progress.done) this.#schedule(this.#tick);
  }

  /** Whether a frontend reported a view of the widget (a widget manager is there). */
  get viewSeen(): boolean {
    return this.#viewSeen;
  }

  /** The model id of one part (e.g. "cancel"). */
  modelIdOf(part: WidgetPart): string {
    return this.#ids.get(part)!;
  }

  /**
   * The models of this widget whose comms are open, with their current state, as ipywidgets'
   * `update_states` reply on the `jupyter.widget.control` comm lists them: a widget manager that
   * connects to a running kernel (a reloaded JupyterLab page) restores live widgets from it.
   */
  liveModels(): Record<string, LiveWidgetModel> {
    const out: Record<string, LiveWidgetModel> = {};
    for (const part of this.#comms.keys()) {
      const state = this.#sent[part];
      out[this.#ids.get(part)!] = {
        model_name: String(state._model_name),
        model_module: String(state._model_module),
        model_module_version: String(state._model_module_version),
        state,
      };
    }
    return out;
  }

  /** Stops following the pool (the display keeps its last state). */
  dispose(): void {
    this.#unsubscribe();
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(after = 0): void {
    this.#dirty = true;
    const now = this.#clock.now();
    const at = now + Math.max(after, this.#lastFlush + this.#minInterval - now);
    if (this.#timer !== undefined) {
      if (this.#timerAt <= at) return;
      this.#clock.clearTimeout(this.#timer); // an elapsed-time tick is due later than this
    }
    // Always through a timer, even with no wait: an update must never overtake the display
    // it updates, which the caller emits after this object is built.
    this.#timerAt = at;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.flush();
    }, at - now);
  }

  /** Sends what changed now (the throttle calls this; tests may too). */
  flush(): void {
    if (!this.#dirty) return;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#dirty = false;
    this.#lastFlush = this.#clock.now();
    const progress = this.#pool.progress();
    this.#sendWidgetState(progress);
    this.#sendHtml(progress);
    // Work that changed while we were sending waits for the next slot; while tasks run, the
    // elapsed time keeps moving even when no task ends.
    const now = this.#clock.now();
    if (this.#dirty) this.#schedule();
    else if (this.#htmlHeld && now < this.#graceUntil) this.#schedule(this.#graceUntil - now);
    else if (!progress.done) this.#schedule(this.#tick);
  }

  #sendWidgetState(progress: PoolProgress): void {
    const states = widgetStates(progress, (part) => `IPY_MODEL_${this.#ids.get(part)}`);
    for (const part of WIDGET_PARTS) {
      const delta = changedKeys(this.#sent[part], states[part]);
      if (!delta) continue;
      this.#sent[part] = { ...this.#sent[part], ...delta };
      this.#send(part, { method: "update", state: delta, buffer_paths: [] });
    }
  }

  #sendHtml(progress: PoolProgress): void {
    if (!progress.done) this.#finalSent = false;
    // With a widget view on screen, replacing the display would re-create the view (and lose a
    // click in flight), so only the final state goes out: saved notebooks then show the outcome.
    const wanted = progress.done
      ? !this.#finalSent
      : !this.#viewSeen && this.#clock.now() >= this.#graceUntil;
    this.#htmlHeld = !wanted && !progress.done && !this.#viewSeen;
    if (!wanted) return;
    const bundle = this.#bundle(progress);
    const html = String(bundle.data["text/html"]);
    if (html === this.#sentHtml && !progress.done) return;
    this.#sentHtml = html;
    if (progress.done) this.#finalSent = true;
    this.#transport.updateDisplay(bundle, this.displayId);
  }

  #bundle(progress: PoolProgress): MimeBundle {
    return poolBundle(progress, {
      modelId: this.modelId,
      title: this.#title,
      // With a widget manager the view has the buttons; the HTML is only a saved snapshot.
      cancelFor: this.#widgets ? undefined : this.displayId,
    });
  }

  #send(part: WidgetPart, data: unknown): void {
    const comm = this.#comms.get(part);
    if (!comm) return;
    try {
      comm.send(data);
    } catch {
      // The frontend closed this comm: nothing is listening.
      this.#comms.delete(part);
    }
  }

  #onMessage(part: WidgetPart, data: unknown): void {
    if (data === null || typeof data !== "object") return;
    const msg = data as { method?: string; state?: WidgetState; content?: { event?: string } };
    switch (msg.method) {
      case "custom":
        if (msg.content?.event !== "click") return;
        if (part === "cancel") this.#pool.cancel();
        else if (part === "retry") this.#pool.retry();
        return;
      case "request_state":
        this.#send(part, { method: "update", state: this.#sent[part], buffer_paths: [] });
        return;
      case "update":
        if (msg.state && typeof msg.state === "object") {
          this.#sent[part] = { ...this.#sent[part], ...msg.state };
          if (part === "root" && typeof msg.state._view_count === "number") {
            if (msg.state._view_count > 0) this.#viewSeen = true;
          }
        }
        return;
    }
  }
}

/**
 * Shows a pool as a live widget: opens its models through `transport` and returns the widget,
 * whose `bundle` the caller displays (with its display id); progress then flows as throttled
 * widget updates, and as in-place HTML updates where no widget view was reported.
 *
 * @example
 * ```ts
 * import { showJobPool, type WidgetTransport } from "./job_pool_widget.ts";
 * import type { PoolProgress } from "../client/job_pool.ts";
 * const progress: PoolProgress = {
 *   total: 1,
 *   counts: { pending: 0, running: 0, success: 1, error: 0, timeout: 0, cancelled: 0 },
 *   elapsedMs: 10,
 *   rate: 100,
 *   done: true,
 * };
 * const pool = {
 *   progress: () => progress,
 *   onProgress: () => () => {},
 *   cancel: () => 0,
 *   retry: () => 0,
 * };
 * const transport: WidgetTransport = {
 *   openComm: (_target, _data, { commId }) => ({
 *     id: commId,
 *     send() {},
 *     onMessage: () => () => {},
 *     onClose: () => () => {},
 *   }),
 *   updateDisplay() {},
 * };
 * const widget = showJobPool(pool, transport);
 * if (!("application/vnd.jupyter.widget-view+json" in widget.bundle.data)) throw new Error("unexpected");
 * ```
 */
export function showJobPool(
  pool: JobPoolLike,
  transport: WidgetTransport,
  options: JobPoolWidgetOptions = {},
): JobPoolWidget {
  return new JobPoolWidget(pool, transport, options);
}
