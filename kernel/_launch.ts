/**
 * The Deno side of the kernel's launcher (`_launch.pl`): the listening sockets it bound before
 * exec'ing Deno, named in the environment as `FUSED_KERNEL_LISTEN_FDS=shell:3,control:4,...`.
 *
 * @module
 */

/** The environment variable the launcher names its sockets in. */
export const LISTEN_FDS_ENV = "FUSED_KERNEL_LISTEN_FDS";

/** The kernel's five sockets, as the launcher names them. */
export type SocketName = "shell" | "control" | "stdin" | "iopub" | "hb";

const NAMES: readonly SocketName[] = ["shell", "control", "stdin", "iopub", "hb"];
const F_SETFD = 2;
const FD_CLOEXEC = 1;

/** Parses the launcher's list; throws naming what is wrong. */
export function parseListenFds(value: string): Record<SocketName, number> {
  const fds: Partial<Record<SocketName, number>> = {};
  for (const item of value.split(",")) {
    const [name, fd] = item.split(":");
    if (!NAMES.includes(name as SocketName) || !/^\d+$/.test(fd ?? "") || name in fds) {
      throw new Error(
        `${LISTEN_FDS_ENV}="${value}" is not a list of name:descriptor for ${NAMES.join(", ")}: ` +
          `unset it (only the kernel's launcher sets it)`,
      );
    }
    fds[name as SocketName] = Number(fd);
  }
  const missing = NAMES.filter((n) => !(n in fds));
  if (missing.length) {
    throw new Error(`${LISTEN_FDS_ENV}="${value}" has no descriptor for ${missing.join(", ")}`);
  }
  return fds as Record<SocketName, number>;
}

/**
 * The sockets the launcher passed, or undefined when the kernel was started without it. Removes
 * the variable from the environment and marks the descriptors close-on-exec (exec cleared that
 * flag, and Deno does not close descriptors when it spawns), so no child of the kernel, UDF
 * processes included, inherits the kernel's listening sockets.
 */
export function takeListenFds(): Record<SocketName, number> | undefined {
  const value = Deno.env.get(LISTEN_FDS_ENV);
  if (value === undefined) return undefined;
  Deno.env.delete(LISTEN_FDS_ENV);
  const fds = parseListenFds(value);
  closeOnExec(Object.values(fds));
  return fds;
}

/** Sets FD_CLOEXEC on descriptors with libc's fcntl (Linux; the launcher is used only there). */
export function closeOnExec(fds: number[]): void {
  if (Deno.build.os !== "linux") {
    throw new Error(
      `Inherited kernel sockets are supported on Linux only: unset ${LISTEN_FDS_ENV}`,
    );
  }
  const libc = Deno.dlopen("libc.so.6", {
    fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  });
  try {
    for (const fd of fds) {
      if (libc.symbols.fcntl(fd, F_SETFD, FD_CLOEXEC) !== 0) {
        throw new Error(`Descriptor ${fd} named in ${LISTEN_FDS_ENV} is not open`);
      }
    }
  } finally {
    libc.close();
  }
}
