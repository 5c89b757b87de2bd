/**
 * Entry point of the kernel process, as a kernelspec starts it:
 * `deno run -A --unstable-worker-options kernel/main.ts <connection_file>`, on Linux behind
 * `perl kernel/_launch.pl`, which binds the five sockets before Deno starts (`_launch.ts`).
 *
 * Binds the five channels first (or takes over the launcher's) and answers the first request before the evaluator, the history
 * store and `node:crypto` start loading (the Kernel starts them right after that reply); only the
 * requests that need the evaluator wait for it.
 *
 * @module
 */

import type { Evaluator } from "./evaluator_types.ts";
import { type Channel, Kernel } from "./kernel.ts";
import { type SocketName, takeListenFds } from "./_launch.ts";
import { MessageCodec } from "./wire.ts";
import { listenZmtp, type ZmtpSocket } from "./zmtp.ts";

/** The fields of a Jupyter connection file this kernel uses. */
export interface ConnectionInfo {
  /** Only `tcp` is supported. */
  transport: string;
  /** Address to bind. */
  ip: string;
  /** Port of the shell ROUTER. */
  shell_port: number;
  /** Port of the iopub PUB. */
  iopub_port: number;
  /** Port of the stdin ROUTER. */
  stdin_port: number;
  /** Port of the control ROUTER. */
  control_port: number;
  /** Port of the heartbeat REP. */
  hb_port: number;
  /** HMAC key; empty disables signing. */
  key: string;
  /** Must be `hmac-sha256`. */
  signature_scheme: string;
}

/** The URL of a module beside this one, as a value Deno's module graph does not follow. */
function sibling(path: string): string {
  return new URL(path, import.meta.url).href;
}

/** A running kernel process's sockets and loop. */
export interface RunningKernel {
  /** The protocol loop. */
  kernel: Kernel;
  /** Stops listening on every channel. */
  close(): void;
}

/** Reads and checks a connection file. */
export async function readConnectionFile(path: string): Promise<ConnectionInfo> {
  let info: ConnectionInfo;
  try {
    info = JSON.parse(await Deno.readTextFile(path));
  } catch (err) {
    throw new Error(`Cannot read the connection file ${path}: ${err}`);
  }
  if ((info.transport ?? "tcp") !== "tcp") {
    throw new Error(
      `Transport "${info.transport}" is not supported: use "tcp" in the connection file`,
    );
  }
  for (const p of ["shell_port", "iopub_port", "stdin_port", "control_port", "hb_port"] as const) {
    if (!Number.isInteger(info[p])) {
      throw new Error(`The connection file ${path} has no integer ${p}: it is not a Jupyter one`);
    }
  }
  return info;
}

/**
 * Binds the kernel's sockets and starts its loop.
 *
 * @example
 * ```ts ignore
 * const running = await runKernel(await readConnectionFile(Deno.args[0]));
 * ```
 */
export function runKernel(
  info: ConnectionInfo,
  options: {
    onShutdown?: (restart: boolean) => void | Promise<void>;
    startEvaluator?: () => Promise<Evaluator>;
    /** Listening sockets already bound to the connection file's ports (see `_launch.py`). */
    listenFds?: Record<SocketName, number>;
  } = {},
): RunningKernel {
  const hostname = info.ip === "*" || !info.ip ? "0.0.0.0" : info.ip;
  const fds = options.listenFds;
  const codec = new MessageCodec(info.key ?? "", { signatureScheme: info.signature_scheme });
  // The loop is created after the sockets (it sends through them); no frame can arrive before
  // this function returns, since accepting connections is asynchronous.
  const route = (channel: Channel) => (frames: Uint8Array[]) => kernel.receive(channel, frames);
  const sockets: Record<Channel, ZmtpSocket> & { hb: ZmtpSocket } = {
    shell: listenZmtp("ROUTER", {
      hostname,
      port: info.shell_port,
      fd: fds?.shell,
      onMessage: route("shell"),
    }),
    control: listenZmtp("ROUTER", {
      hostname,
      port: info.control_port,
      fd: fds?.control,
      onMessage: route("control"),
    }),
    stdin: listenZmtp("ROUTER", {
      hostname,
      port: info.stdin_port,
      fd: fds?.stdin,
      onMessage: route("stdin"),
    }),
    iopub: listenZmtp("PUB", { hostname, port: info.iopub_port, fd: fds?.iopub }),
    hb: listenZmtp("REP", { hostname, port: info.hb_port, fd: fds?.hb }),
  };
  const close = () => {
    for (const s of Object.values(sockets)) s.close();
  };
  const kernel: Kernel = new Kernel({
    codec,
    transport: { send: (channel, frames) => sockets[channel].send(frames) },
    // Both load once the first reply went out (the Kernel calls these then). The specifiers are
    // computed so that Deno does not build their module graphs, with the npm packages of the
    // TypeScript stripper and their resolution, before this module runs: CPU time to import
    // this module went from 222 to 125 ms (bench/kernel_bench.ts has the start row).
    evaluator: options.startEvaluator ??
      (async () => {
        const m: typeof import("./evaluator.ts") = await import(sibling("./evaluator.ts"));
        return m.startEvaluator({ cwd: Deno.cwd() });
      }),
    history: async () => {
      try {
        const m: typeof import("./history.ts") = await import(sibling("./history.ts"));
        return new m.HistoryStore();
      } catch (err) {
        console.error(`fused kernel: history is off for this session: ${err}`);
        return undefined;
      }
    },
    version: "0.1.0",
    onShutdown: async (restart) => {
      // Let the reply and the idle status leave before the sockets close.
      await Promise.race([
        Promise.all(Object.values(sockets).map((s) => s.flush())),
        new Promise((r) => setTimeout(r, 1000)),
      ]);
      close();
      await options.onShutdown?.(restart);
    },
  });
  kernel.start();
  return { kernel, close };
}

if (import.meta.main) {
  const path = Deno.args[0];
  if (!path) {
    console.error("Usage: deno run -A --unstable-worker-options kernel/main.ts <connection_file>");
    Deno.exit(2);
  }
  const running = runKernel(await readConnectionFile(path), {
    onShutdown: () => Deno.exit(0),
    listenFds: takeListenFds(),
  });
  // Ctrl-C in the terminal that runs Jupyter reaches the kernel's process group too; treat it as
  // an interrupt instead of dying with all state.
  Deno.addSignalListener("SIGINT", () => {
    running.kernel.interruptFromSignal();
  });
  Deno.addSignalListener("SIGTERM", () => {
    running.close();
    Deno.exit(0);
  });
  // If Jupyter itself dies without shutting us down, do not linger as an orphan.
  const parent = Deno.ppid;
  const watchdog = setInterval(() => {
    if (Deno.ppid !== parent) Deno.exit(0);
  }, 2000);
  Deno.unrefTimer(watchdog);
}
