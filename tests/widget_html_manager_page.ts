/// <reference lib="dom" />
/**
 * The browser side of tests/widget_html_manager_test.ts, bundled offline with esbuild: the
 * official ipywidgets 8 widget manager (`@jupyter-widgets/html-manager` with
 * `@jupyter-widgets/controls`) connected to a live kernel through `@jupyterlab/services`, the
 * client JupyterLab itself uses, over the Jupyter server's kernel websocket. It follows the
 * ipywidgets `examples/web3` manager: comm_open messages of the `jupyter.widget` target become
 * models, and display_data with a widget view becomes a view on the page.
 *
 * The page exposes `window.widgetPage` for the test: `execute(code)` runs a cell and records its
 * reply and outputs; nothing here knows about JobPool.
 *
 * @module
 */
import { HTMLManager } from "@jupyter-widgets/html-manager";
import * as base from "@jupyter-widgets/base";
import { type Kernel, KernelManager, type KernelMessage } from "@jupyterlab/services";
import { pageServerSettings } from "./_page_settings.ts";

const WIDGET_VIEW = "application/vnd.jupyter.widget-view+json";

/** html-manager with a kernel: the two comm methods it leaves as placeholders, implemented. */
class KernelWidgetManager extends HTMLManager {
  readonly kernel: Kernel.IKernelConnection;

  constructor(kernel: Kernel.IKernelConnection) {
    super();
    this.kernel = kernel;
    kernel.registerCommTarget(this.comm_target_name, async (comm, msg) => {
      const shim = new base.shims.services.Comm(comm as never);
      await this.handle_comm_open(shim, msg as never);
    });
  }

  // deno-lint-ignore require-await
  override async _create_comm(
    targetName: string,
    modelId: string,
    data?: unknown,
    metadata?: unknown,
    buffers?: ArrayBuffer[] | ArrayBufferView[],
  ): Promise<unknown> {
    const comm = this.kernel.createComm(targetName, modelId);
    if (data || metadata) comm.open(data as never, metadata as never, buffers);
    return new base.shims.services.Comm(comm as never);
  }

  /**
   * What JupyterLab's widget manager does when it connects to a kernel (`restoreWidgets` with
   * `loadKernel`): asks the kernel for its live widgets, through the `jupyter.widget.control`
   * comm or else a comm_info_request for `jupyter.widget`.
   */
  restoreFromKernel(): Promise<void> {
    return this._loadFromKernel();
  }

  override async _get_comm_info(): Promise<Record<string, unknown>> {
    const reply = await this.kernel.requestCommInfo({ target_name: this.comm_target_name });
    return reply.content.status === "ok" ? reply.content.comms : {};
  }
}

/** What a cell did, as the page saw it. */
interface CellRecord {
  reply?: Record<string, unknown>;
  outputs: { type: string; content: Record<string, unknown> }[];
  views: number;
}

const cells: Record<string, CellRecord> = {};
const errors: string[] = [];

async function start(): Promise<void> {
  const params = new URLSearchParams(location.hash.slice(1));
  const serverSettings = pageServerSettings(params);
  const kernels = new KernelManager({ serverSettings });
  const kernel = await kernels.startNew({ name: params.get("kernel") ?? "fused" });
  const manager = new KernelWidgetManager(kernel);
  await manager.restoreFromKernel();
  const area = document.getElementById("outputs")!;

  async function show(content: Record<string, unknown>, record: CellRecord): Promise<void> {
    const data = content.data as Record<string, unknown>;
    const view = data[WIDGET_VIEW] as { model_id: string; version_major: number } | undefined;
    const el = document.createElement("div");
    el.className = "output";
    area.appendChild(el);
    if (view && view.version_major === 2 && manager.has_model(view.model_id)) {
      const model = await manager.get_model(view.model_id);
      await manager.display_view(manager.create_view(model), el);
      record.views++;
    } else {
      el.textContent = String(data["text/plain"] ?? "");
    }
  }

  function execute(code: string): string {
    const future = kernel.requestExecute({ code, stop_on_error: true });
    const id = future.msg.header.msg_id;
    const record: CellRecord = { outputs: [], views: 0 };
    cells[id] = record;
    future.onIOPub = (msg: KernelMessage.IIOPubMessage) => {
      const type = msg.header.msg_type;
      const content = msg.content as Record<string, unknown>;
      if (type === "status" || type === "execute_input") return;
      record.outputs.push({ type, content });
      if (type === "display_data") {
        show(content, record).catch((e) => errors.push(`display: ${e?.stack ?? e}`));
      }
    };
    future.done.then(
      (reply) => record.reply = reply.content as unknown as Record<string, unknown>,
      (e) => errors.push(`execute: ${e?.stack ?? e}`),
    );
    return id;
  }

  Object.assign(globalThis, { widgetPage: { ready: true, execute, cells, errors } });
}

start().catch((e) => {
  errors.push(`start: ${e?.stack ?? e}`);
  Object.assign(globalThis, { widgetPage: { ready: false, cells, errors } });
});
