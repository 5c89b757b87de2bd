/**
 * Makes a JobPool show itself as a live widget in the notebook: `display(pool)`, or a cell whose
 * value is a pool, opens the widget's models as comms and shows its bundle as display_data with
 * a display id, so progress reaches widget frontends as model updates and every other frontend
 * as update_display_data. Button clicks arrive as comm messages, which the evaluator delivers
 * while the cell that made the pool is still awaiting `pool.wait()`.
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
  type JobPoolWidgetOptions,
  showJobPool,
  type WidgetTransport,
} from "../display/job_pool_widget.ts";
import { requireBridge } from "./_bridge.ts";
import { openComm } from "./comm.ts";
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

/**
 * Registers the display hook that shows pools as live widgets (once per Worker; later calls do
 * nothing). Returns a function that removes it.
 */
export function installJobPoolDisplay(options: JobPoolWidgetOptions = {}): () => void {
  const g = globalThis as Record<symbol, unknown>;
  if (typeof g[INSTALLED] === "function") return g[INSTALLED] as () => void;
  const shown = new WeakSet<object>();
  const remove = registerDisplayHook((value) => {
    if (!isJobPoolLike(value)) return undefined;
    shown.add(value);
    return showJobPool(value, kernelWidgetTransport(), options).bundle;
  });
  // `await pool.wait()` on a pool that is not on screen shows it, as Python's wait() shows a
  // progress bar in notebooks. The client calls this through a global symbol, so this module
  // never loads the client (see client/job_pool.ts).
  g[WAIT_HOOK] = (pool: unknown): void => {
    if (!isJobPoolLike(pool) || shown.has(pool)) return;
    void display(pool).catch(() => undefined);
  };
  const uninstall = (): void => {
    remove();
    delete g[WAIT_HOOK];
    delete g[INSTALLED];
  };
  g[INSTALLED] = uninstall;
  return uninstall;
}
