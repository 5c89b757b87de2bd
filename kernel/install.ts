/**
 * Installs the Jupyter kernelspec `fused` ("Deno (Fused)"): `deno task kernel:install
 * [--prefix DIR] [--uninstall]`. Without `--prefix` it goes where `jupyter --data-dir` points
 * ($JUPYTER_DATA_DIR, else the platform's user data dir), with `--prefix` into
 * `DIR/share/jupyter/kernels/fused`.
 *
 * The spec says `interrupt_mode: "message"`: without it jupyter_client interrupts with SIGINT,
 * which kills a Deno process and all notebook state (measured with stock `deno jupyter`).
 *
 * @module
 */

import { encode } from "fast-png";
import { parseArgs } from "node:util";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** Name of the kernelspec directory. */
export const KERNEL_NAME = "fused";

/** Options of {@linkcode installKernelspec} and {@linkcode uninstallKernelspec}. */
export interface KernelspecOptions {
  /** Install under `prefix/share/jupyter/kernels` instead of the user's Jupyter data dir. */
  prefix?: string;
  /** The deno binary the spec runs; default the one running now. */
  denoPath?: string;
  /**
   * The perl that runs the launcher (`_launch.pl`, which binds the kernel's sockets before Deno
   * starts); default `perl` found on PATH, on Linux. `false`, or no perl found, or another OS:
   * the spec runs Deno directly (Deno binds the sockets, the first kernel_info_reply comes one
   * libzmq retry later, 100-200 ms).
   */
  perlPath?: string | false;
}

/** The user's Jupyter data dir, as `jupyter --data-dir` computes it. */
export function jupyterDataDir(): string {
  const env = (k: string) => Deno.env.get(k) || undefined;
  const explicit = env("JUPYTER_DATA_DIR");
  if (explicit) return explicit;
  const home = env("HOME") ?? env("USERPROFILE") ?? ".";
  if (Deno.build.os === "darwin") return join(home, "Library", "Jupyter");
  if (Deno.build.os === "windows") return join(env("APPDATA") ?? home, "jupyter");
  return join(env("XDG_DATA_HOME") ?? join(home, ".local", "share"), "jupyter");
}

/** The directory the kernelspec goes into for these options. */
export function kernelspecDir(options: KernelspecOptions = {}): string {
  const base = options.prefix
    ? join(options.prefix, "share", "jupyter", "kernels")
    : join(jupyterDataDir(), "kernels");
  return join(base, KERNEL_NAME);
}

/** The absolute path of `perl` on PATH (Linux only: the launcher's numbers are Linux's). */
export function findPerl(): string | undefined {
  if (Deno.build.os !== "linux") return undefined;
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (!dir.startsWith("/")) continue;
    const path = join(dir, "perl");
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch { /* not in this folder */ }
  }
  return undefined;
}

/**
 * The kernel.json content: argv runs this repository's kernel/main.ts with its deno.json, behind
 * the socket launcher `_launch.pl` when perl is there (see {@linkcode KernelspecOptions}).
 */
export function kernelspec(options: KernelspecOptions = {}): Record<string, unknown> {
  const mainPath = fileURLToPath(new URL("./main.ts", import.meta.url));
  const configPath = fileURLToPath(new URL("../deno.json", import.meta.url));
  const perl = options.perlPath === undefined ? findPerl() : options.perlPath || undefined;
  const launcher = perl ? [perl, fileURLToPath(new URL("./_launch.pl", import.meta.url))] : [];
  return {
    argv: [
      ...launcher,
      options.denoPath ?? Deno.execPath(),
      "run",
      "-A",
      "--unstable-worker-options",
      // Without it, Deno.serve (the `%fused serve` service) prints a red notice into the cell
      // the first time a handler reads request.signal ("aborts on successful responses (legacy
      // behavior)"); with it the signal aborts only when the client goes away.
      "--unstable-no-legacy-abort",
      "--config",
      configPath,
      mainPath,
      "{connection_file}",
    ],
    display_name: "Deno (Fused)",
    language: "typescript",
    interrupt_mode: "message",
    env: { NO_COLOR: "1" },
    metadata: { debugger: false },
  };
}

/**
 * A square logo: an orange "F" on a dark rounded tile, drawn pixel by pixel so the install needs
 * no image files and no downloads.
 */
export function logoPng(size: number): Uint8Array {
  const data = new Uint8Array(size * size * 4);
  const r = size * 0.18; // corner radius
  const inTile = (x: number, y: number): boolean => {
    const cx = Math.min(Math.max(x, r), size - r);
    const cy = Math.min(Math.max(y, r), size - r);
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
  };
  const u = size / 32; // drawing unit: the design is on a 32 x 32 grid
  const inF = (x: number, y: number): boolean =>
    (x >= 9 * u && x < 14 * u && y >= 6 * u && y < 26 * u) || // stem
    (x >= 9 * u && x < 24 * u && y >= 6 * u && y < 11 * u) || // top bar
    (x >= 9 * u && x < 21 * u && y >= 14 * u && y < 18.5 * u); // middle bar
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = (y * size + x) * 4;
      const px = x + 0.5;
      const py = y + 0.5;
      if (!inTile(px, py)) continue; // transparent outside the tile
      const [cr, cg, cb] = inF(px, py) ? [0xf5, 0x8a, 0x1f] : [0x17, 0x1c, 0x2b];
      data.set([cr, cg, cb, 255], i);
    }
  }
  return encode({ width: size, height: size, data, channels: 4, depth: 8 });
}

/**
 * Writes the kernelspec and its logos; returns the directory. An existing spec is replaced.
 *
 * @example
 * ```ts ignore
 * const dir = await installKernelspec({ prefix: "/tmp/jupyter-prefix" });
 * ```
 */
export async function installKernelspec(options: KernelspecOptions = {}): Promise<string> {
  const dir = kernelspecDir(options);
  const parent = dirname(dir);
  await Deno.mkdir(parent, { recursive: true });
  // Build the whole directory beside the target, then swap it in, so Jupyter never sees half a
  // kernelspec.
  const tmp = await Deno.makeTempDir({ dir: parent, prefix: `.${KERNEL_NAME}-` });
  try {
    if (Deno.build.os !== "windows") await Deno.chmod(tmp, 0o755); // temp dirs start as 0700
    await Deno.writeTextFile(
      join(tmp, "kernel.json"),
      JSON.stringify(kernelspec(options), null, 2) + "\n",
    );
    await Deno.writeFile(join(tmp, "logo-32x32.png"), logoPng(32));
    await Deno.writeFile(join(tmp, "logo-64x64.png"), logoPng(64));
    await Deno.remove(dir, { recursive: true }).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
    await Deno.rename(tmp, dir);
  } catch (err) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw new Error(`Cannot install the kernelspec into ${dir}: ${err}`);
  }
  return dir;
}

/** Removes the kernelspec; returns its directory, or null when it was not installed. */
export async function uninstallKernelspec(options: KernelspecOptions = {}): Promise<string | null> {
  const dir = kernelspecDir(options);
  try {
    await Deno.remove(dir, { recursive: true });
    return dir;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw new Error(`Cannot remove the kernelspec at ${dir}: ${err}`);
  }
}

/** The command line: `install.ts [--prefix DIR] [--uninstall]`. */
export async function main(args: string[] = Deno.args): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        prefix: { type: "string" },
        uninstall: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (err) {
    console.error(
      `${(err as Error).message}\nUsage: deno task kernel:install [--prefix DIR] [--uninstall]`,
    );
    return 2;
  }
  if (parsed.values.help) {
    console.log("Usage: deno task kernel:install [--prefix DIR] [--uninstall]");
    return 0;
  }
  const options = { prefix: parsed.values.prefix };
  if (parsed.values.uninstall) {
    const dir = await uninstallKernelspec(options);
    console.log(
      dir
        ? `Removed the kernelspec "${KERNEL_NAME}" from ${dir}`
        : `The kernelspec "${KERNEL_NAME}" was not installed at ${kernelspecDir(options)}`,
    );
    return 0;
  }
  const dir = await installKernelspec(options);
  console.log(`Installed the kernelspec "${KERNEL_NAME}" (Deno (Fused)) into ${dir}`);
  return 0;
}

if (import.meta.main) Deno.exit(await main());
