/**
 * The Jupyter kernel "Deno (Fused)": the protocol loop (ZMTP sockets, signed messages, dispatch)
 * on the main thread and user code in an evaluator Worker, plus the helpers cells use (display,
 * comms) and the kernelspec installer.
 *
 * @example
 * ```ts ignore
 * import { installKernelspec } from "./mod.ts";
 * await installKernelspec(); // then pick "Deno (Fused)" in Jupyter
 * ```
 *
 * @module
 */

export { Kernel } from "./kernel.ts";
export type {
  Channel,
  KernelOptions,
  KernelRequest,
  KernelTransport,
  ReplyContent,
} from "./kernel.ts";
export { type ConnectionInfo, readConnectionFile, runKernel, type RunningKernel } from "./main.ts";
export { listenZmtp } from "./zmtp.ts";
export type { ZmtpListenOptions, ZmtpSocket, ZmtpSocketType } from "./zmtp.ts";
export { MessageCodec, PROTOCOL_VERSION, WireError } from "./wire.ts";
export type { CodecOptions, JupyterMessage, MessageHeader } from "./wire.ts";
export { defaultHistoryPath, HistoryStore } from "./history.ts";
export type { HistoryEntry, HistoryQueryOptions } from "./history.ts";
export {
  installKernelspec,
  jupyterDataDir,
  KERNEL_NAME,
  kernelspec,
  kernelspecDir,
  uninstallKernelspec,
} from "./install.ts";
export type { KernelspecOptions } from "./install.ts";
export { startEvaluator } from "./evaluator.ts";
export type { EvaluatorOptions } from "./evaluator.ts";
export type * from "./evaluator_types.ts";
export { $display, clearOutput, display, format, html, md, svg } from "./display.ts";
export type { Displayable, DisplayHandle, DisplayOptions } from "./display.ts";
export { openComm, registerCommTarget } from "./comm.ts";
export type { Comm, CommMessage, CommSendOptions, CommTargetHandler } from "./comm.ts";
