/**
 * Writes that never leave a half-written file or folder behind: data goes to a temporary
 * sibling first and is renamed into place (rename is atomic within one file system).
 *
 * @module
 */
import { dirname } from "node:path";

function tempSibling(path: string): string {
  return `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
}

/**
 * Writes bytes or text to `path` atomically, creating parent folders.
 *
 * @example
 * ```ts
 * import { writeFileAtomic } from "./atomic_write.ts";
 * const dir = await Deno.makeTempDir();
 * await writeFileAtomic(`${dir}/a.txt`, "hello");
 * ```
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  options: { mode?: number } = {},
): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  const tmp = tempSibling(path);
  try {
    if (typeof data === "string") await Deno.writeTextFile(tmp, data, { mode: options.mode });
    else await Deno.writeFile(tmp, data, { mode: options.mode });
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
}

/** Whether a path exists (file or folder). */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/**
 * Writes a folder of files atomically: the folder is built beside `path` and renamed into place.
 * An existing `path` is replaced only when `overwrite` is true, and is removed only after the new
 * folder is in place.
 */
export async function writeDirectoryAtomic(
  path: string,
  files: Record<string, string | Uint8Array>,
  options: { overwrite?: boolean } = {},
): Promise<void> {
  const tmp = tempSibling(path);
  await Deno.mkdir(tmp, { recursive: true });
  try {
    for (const [name, data] of Object.entries(files)) {
      const target = `${tmp}/${name}`;
      await Deno.mkdir(dirname(target), { recursive: true });
      if (typeof data === "string") await Deno.writeTextFile(target, data);
      else await Deno.writeFile(target, data);
    }
    if (await exists(path)) {
      if (!options.overwrite) {
        throw new Deno.errors.AlreadyExists(
          `${path} already exists: pass { overwrite: true } to replace it`,
        );
      }
      const old = tempSibling(path);
      await Deno.rename(path, old);
      await Deno.rename(tmp, path);
      await Deno.remove(old, { recursive: true });
    } else {
      await Deno.rename(tmp, path);
    }
  } catch (err) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw err;
  }
}
