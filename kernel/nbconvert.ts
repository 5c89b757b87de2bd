/**
 * Running `jupyter` (nbconvert) on notebooks with this checkout's Fused kernel, for `fused demo`
 * and `fused publish`.
 *
 * @example
 * ```ts ignore
 * import { kernelEnv, runJupyter } from "./nbconvert.ts";
 * const env = await kernelEnv("/tmp/fused-kernel");
 * await runJupyter(["nbconvert", "--to", "notebook", "--execute", "a.ipynb"], { cwd: ".", env });
 * ```
 *
 * @module
 */
import { delimiter, join } from "node:path";
import { FusedError, NotSupportedError } from "../client/errors.ts";
import { installKernelspec } from "./install.ts";

/** A `jupyter` command that failed; `stderr` is all it wrote there. */
export class JupyterError extends FusedError {
  /** What the command wrote to stderr. */
  readonly stderr: string;

  /** Creates the error of a failed `jupyter` command. */
  constructor(message: string, stderr: string) {
    super(message);
    this.name = "JupyterError";
    this.stderr = stderr;
  }
}

/**
 * Installs this checkout's kernelspec under `prefix` and answers the environment that makes
 * Jupyter find it first (`JUPYTER_PATH`): re-pointing the user-wide one would silently take it
 * from another checkout.
 */
export async function kernelEnv(prefix: string): Promise<Record<string, string>> {
  await installKernelspec({ prefix });
  const jupyterPath = [join(prefix, "share", "jupyter"), Deno.env.get("JUPYTER_PATH")]
    .filter(Boolean).join(delimiter);
  return { JUPYTER_PATH: jupyterPath };
}

/** Runs `jupyter ARGS`; a failure throws a {@linkcode JupyterError} with its last lines. */
export async function runJupyter(
  args: string[],
  options: { cwd: string; env: Record<string, string> },
): Promise<void> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("jupyter", {
      args,
      cwd: options.cwd,
      env: options.env,
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new NotSupportedError(
        "Cannot find the jupyter command: run ./fused demo, which installs it (or bash .ci/setup)",
      );
    }
    throw err;
  }
  if (!out.success) {
    const stderr = new TextDecoder().decode(out.stderr).trim();
    throw new JupyterError(
      `jupyter ${args[0]} failed:\n${stderr.split("\n").slice(-25).join("\n")}`,
      stderr,
    );
  }
}
