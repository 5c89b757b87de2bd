/**
 * Makes a JobPool show itself as a live widget in the notebook: `display(pool)`, or a cell whose
 * value is a pool, opens the widget's models as comms and shows its bundle as display_data with
 * a display id, so progress reaches widget frontends as model updates and every other frontend
 * as update_display_data. Button clicks arrive as comm messages, which the evaluator delivers
 * while the cell that made the pool is still awaiting `pool.wait()`.
 *
 * Where no frontend showed a widget manager (see `frontendHasWidgetManager`) no widget comm is
 * opened: the display is the HTML, whose Cancel button (classic Notebook) opens a comm to
 * `POOL_CONTROL_TARGET`, answered here. A cell interrupted while it awaits a pool (`wait()`,
 * `results()`, `collect()`, ...) cancels that pool and says so.
 *
 * Pools are recognised by shape (see `isJobPoolLike`), so this module never loads the client and
 * a pool from any copy of it displays the same way.
 *
 * @example
 * ```ts ignore
 * import { installJobPoolDisplay } from "./job_pool_display.ts";
 * installJobPoolDisplay(); // the evaluator Worker does this once
 * ```
 *
 * @module
 */

import {
  isJobPoolLike,
  type JobPoolLike,
  type JobPoolWidget,
  type JobPoolWidgetOptions,
  type LiveWidgetModel,
  POOL_CONTROL_TARGET,
  showJobPool,
  type WidgetTransport,
} from "../display/job_pool_widget.ts";
import type { PoolProgress } from "../client/job_pool.ts";
import { requireBridge } from "./_bridge.ts";
import {
  frontendHasWidgetManager,
  openComm,
  registerCommTarget,
  WIDGET_CONTROL_TARGET,
} from "./comm.ts";
import { display, registerDisplayHook } from "./display.ts";

/**
 * A widget transport over this kernel's comms and displays. Updates go to the cell being
 * executed when they are sent (nbclient and nbconvert read only that cell's messages, and
 * update a display by its id wherever it is), else to the cell that showed the pool.
 */
export function kernelWidgetTransport(): WidgetTransport {
  const bridge = requireBridge("The JobPool widget");
  const home = bridge.currentCell();
  const target = (): string => bridge.runningCell?.() ?? home;
  return {
    openComm(targetName, data, { metadata, commId }) {
      const comm = bridge.runInCell(home, () => openComm(targetName, data, { metadata, commId }));
      return {
        id: comm.id,
        send(payload) {
          if (comm.closed) throw new Error(`Comm ${comm.id} is closed: the frontend closed it`);
          // Not comm.send(), which always answers to the cell that opened the comm.
          bridge.emit({
            kind: "comm_msg",
            cell: target(),
            commId: comm.id,
            data: payload,
            buffers: [],
          });
        },
        onMessage: (cb) => comm.onMessage((payload) => cb(payload)),
        onClose: (cb) => comm.onClose(() => cb()),
      };
    },
    updateDisplay(bundle, displayId) {
      bridge.runInCell(target(), () =>
        display(bundle.data, {
          raw: true,
          update: true,
          displayId,
          metadata: bundle.metadata,
        }).catch(() => undefined));
    },
  };
}

const INSTALLED = Symbol.for("fused.kernel.jobPoolDisplay");
const WAIT_HOOK = Symbol.for("fused.jobPool.onWait");
const AWAITED = Symbol.for("fused.kernel.awaitedPools");

/** Pools each cell awaits now, on a global symbol so every copy of this module shares them. */
function awaitedPools(): Map<string, Set<JobPoolLike>> {
  const g = globalThis as Record<symbol, unknown>;
  return (g[AWAITED] ??= new Map()) as Map<string, Set<JobPoolLike>>;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** What cancelling a pool did, in a sentence. */
function cancelledText(before: PoolProgress, title: string): string {
  const { pending, running } = before.counts;
  const finished = before.total - pending - running;
  return `${title}: cancelled ${plural(pending, "pending run")}` +
    (running ? ` and stopped ${plural(running, "running one")}` : "") +
    ` (${finished} of ${before.total} had finished)`;
}

/**
 * Cancels every unfinished pool that `cell` is awaiting and prints what it did to that cell's
 * stdout; the evaluator calls this when the cell is interrupted. Returns how many pools it
 * cancelled.
 */
export function cancelAwaitedPools(cell: string): number {
  const pools = awaitedPools().get(cell);
  if (!pools) return 0;
  const bridge = requireBridge("Cancelling a JobPool");
  let count = 0;
  for (const pool of pools) {
    const before = pool.progress();
    if (before.done) continue;
    pool.cancel();
    count++;
    bridge.emit({
      kind: "stream",
      cell,
      name: "stdout",
      text: `Interrupted: ${cancelledText(before, "JobPool")}\n`,
    });
  }
  return count;
}

/**
 * Registers the display hook that shows pools as live widgets (once per Worker; later calls do
 * nothing). Returns a function that removes it.
 */
export function installJobPoolDisplay(options: JobPoolWidgetOptions = {}): () => void {
  const g = globalThis as Record<symbol, unknown>;
  if (typeof g[INSTALLED] === "function") return g[INSTALLED] as () => void;
  const shown = new WeakSet<object>();
  // Displays whose HTML carries a Cancel button, by display id, while their pool runs.
  const cancellable = new Map<string, JobPoolLike>();
  const remove = registerDisplayHook((value) => {
    if (!isJobPoolLike(value)) return undefined;
    shown.add(value);
    const widgets = options.widgets ?? frontendHasWidgetManager();
    const widget = showJobPool(value, kernelWidgetTransport(), { ...options, widgets });
    if (widgets) live.add(widget);
    if (!widgets && !value.progress().done) {
      cancellable.set(widget.displayId, value);
      const stop = value.onProgress((p) => {
        if (!p.done) return;
        stop();
        cancellable.delete(widget.displayId);
      });
    }
    return widget.bundle;
  });
  // The HTML's Cancel button: one comm per click, whose open data names the display.
  const unregister = registerCommTarget(POOL_CONTROL_TARGET, (comm, open) => {
    const data = (open.data ?? {}) as { method?: unknown; display_id?: unknown };
    const pool = typeof data.display_id === "string" ? cancellable.get(data.display_id) : undefined;
    if (data.method === "cancel" && pool) pool.cancel();
    comm.close();
  });
  // ipywidgets' control comm: a widget manager connecting to this kernel (a reloaded
  // JupyterLab or Notebook 7 page) asks for every live model with `request_states` and
  // restores the widgets on screen from the `update_states` answer.
  const live = new Set<JobPoolWidget>();
  const unregisterControl = registerCommTarget(WIDGET_CONTROL_TARGET, (comm) => {
    comm.onMessage((data) => {
      if ((data as { method?: unknown } | null)?.method !== "request_states") return;
      const states: Record<string, LiveWidgetModel> = {};
      for (const widget of live) {
        const models = widget.liveModels();
        if (Object.keys(models).length === 0) live.delete(widget);
        Object.assign(states, models);
      }
      comm.send({ method: "update_states", states, buffer_paths: [] });
    });
  });
  // `await pool.wait()` on a pool that is not on screen shows it, as Python's wait() shows a
  // progress bar in notebooks, and while the cell awaits a pool an interrupt cancels it. The
  // client calls this through a global symbol, so this module never loads the client (see
  // client/job_pool.ts); what it returns, the client calls when the wait ends.
  g[WAIT_HOOK] = (pool: unknown, wait: { show?: boolean } = {}): (() => void) | undefined => {
    if (!isJobPoolLike(pool)) return undefined;
    if (wait.show !== false && !shown.has(pool)) void display(pool).catch(() => undefined);
    const cell = requireBridge("JobPool.wait()").currentCell();
    const cells = awaitedPools();
    const pools = cells.get(cell) ?? new Set();
    cells.set(cell, pools);
    pools.add(pool);
    return () => {
      pools.delete(pool);
      if (pools.size === 0 && cells.get(cell) === pools) cells.delete(cell);
    };
  };
  const uninstall = (): void => {
    remove();
    unregister();
    unregisterControl();
    delete g[WAIT_HOOK];
    delete g[INSTALLED];
  };
  g[INSTALLED] = uninstall;
  return uninstall;
}
