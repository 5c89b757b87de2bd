/**
 * What the end-to-end tests need to drive the real kernel from Debian's Jupyter tools.
 *
 * @module
 */
import { join } from "node:path";
import { installKernelspec } from "../kernel/install.ts";

/** Debian's Python, which has jupyter_client, nbclient, nbconvert and jupyter_kernel_test. */
export const PYTHON = "/usr/bin/python3";

/**
 * Installs the `fused` kernelspec into the prefix `dir` and returns the environment that points
 * Jupyter at it, with runtime files and the kernel's history kept inside `dir` too.
 */
export async function installedKernelEnv(dir: string): Promise<Record<string, string>> {
  await installKernelspec({ prefix: dir });
  const jupyter = join(dir, "share", "jupyter");
  return {
    JUPYTER_PATH: jupyter,
    JUPYTER_DATA_DIR: jupyter,
    JUPYTER_RUNTIME_DIR: join(dir, "runtime"),
    XDG_DATA_HOME: join(dir, "data"),
    PYTHONDONTWRITEBYTECODE: "1",
  };
}

const shared = new Map<string, Promise<Record<string, string>>>();

/**
 * Like `installedKernelEnv`, in a temp prefix made once per test process and name, and removed
 * when the process ends.
 */
export function sharedKernelEnv(name: string): Promise<Record<string, string>> {
  let env = shared.get(name);
  if (!env) {
    env = (async () => {
      const dir = await Deno.makeTempDir({ prefix: `${name}-` });
      globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
      return await installedKernelEnv(dir);
    })();
    shared.set(name, env);
  }
  return env;
}
