/**
 * Writes that never leave a half-written file or folder behind: data goes to a temporary
 * sibling first and is renamed into place (rename is atomic within one file system).
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import process from "node:process";

/**
 * The temporary sibling of a path: `<path>.tmp-<pid>-<random>`. The pid tells a later cleanup
 * whether the writer is still at work or was killed.
 */
export function tempSibling(path: string): string {
  return `${path}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
}

const TEMP_NAME = /\.(?:tmp|old)-(\d+)-[0-9a-f]{8}$/;
/** Temporaries of versions before the pid was in the name: judged by age. */
const LEGACY_TEMP_NAME = /\.tmp-[0-9a-f]{8}$/;
const LEGACY_TEMP_AGE_MS = 10 * 60 * 1000;

async function olderThan(path: string, ms = LEGACY_TEMP_AGE_MS): Promise<boolean> {
  const modified = (await Deno.lstat(path).catch(() => null))?.mtime?.getTime();
  return modified !== undefined && Date.now() - modified > ms;
}

/** Whether a process of this machine runs (true when that cannot be told). */
export function processAlive(pid: number): boolean {
  if (pid === Deno.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code !== "ESRCH";
  }
}

/**
 * Removes the temporary files and folders (`*.tmp-<pid>-*`, `*.old-<pid>-*`) that writers killed mid-write left
 * in a folder, when `of` is given only those of that one path; returns how many. Temporaries of
 * running processes are kept; those of older versions (`*.tmp-<random>`) go when 10 minutes old.
 */
export async function removeStaleTemps(dir: string, of?: string): Promise<number> {
  let removed = 0;
  try {
    for await (const entry of Deno.readDir(dir)) {
      const match = TEMP_NAME.exec(entry.name) ?? LEGACY_TEMP_NAME.exec(entry.name);
      if (!match || (of !== undefined && entry.name.slice(0, match.index) !== of)) continue;
      const path = join(dir, entry.name);
      if (match[1] !== undefined ? processAlive(Number(match[1])) : !(await olderThan(path))) {
        continue;
      }
      await Deno.remove(path, { recursive: true }).catch(() => {});
      removed++;
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return 0;
    throw err;
  }
  return removed;
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

type Exchange = (a: string, b: string) => boolean;
let exchangeFn: Exchange | null | undefined;

/**
 * Swaps two paths in one step with Linux's renameat2(RENAME_EXCHANGE), so a folder is replaced
 * without a moment where neither the old nor the new one is in place. Deno has no call for it
 * and no npm package offers it, hence this FFI binding. Null where it cannot be used (no FFI
 * permission, not Linux); the call returns false when the file system refuses the exchange.
 */
function exchange(): Exchange | null {
  if (exchangeFn !== undefined) return exchangeFn;
  exchangeFn = null;
  if (Deno.build.os !== "linux") return null;
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return null;
    const libc = Deno.dlopen("libc.so.6", {
      renameat2: { parameters: ["i32", "buffer", "i32", "buffer", "u32"], result: "i32" },
    });
    const AT_FDCWD = -100;
    const RENAME_EXCHANGE = 2;
    const cString = (text: string) => new TextEncoder().encode(`${text}\0`);
    exchangeFn = (a, b) =>
      libc.symbols.renameat2(AT_FDCWD, cString(a), AT_FDCWD, cString(b), RENAME_EXCHANGE) === 0;
  } catch {
    exchangeFn = null;
  }
  return exchangeFn;
}

/**
 * Puts back a folder that a writer killed between its two renames left aside (`<path>.old-*`),
 * when nothing is at `path`: the old folder is whole, so it is the one to keep.
 */
async function restoreInterrupted(path: string): Promise<void> {
  if (await exists(path)) return;
  const name = basename(path);
  const dir = dirname(path);
  let aside: string | undefined;
  try {
    for await (const entry of Deno.readDir(dir)) {
      const match = /\.old-(\d+)-[0-9a-f]{8}$/.exec(entry.name);
      if (match && entry.name.slice(0, match.index) === name && !processAlive(Number(match[1]))) {
        aside = join(dir, entry.name);
      }
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return;
    throw err;
  }
  if (aside) await Deno.rename(aside, path);
}

/**
 * Writes a folder of files atomically: the new folder is built complete beside `path`, then
 * swapped into place (new in, then old out), so a process killed at any moment leaves the old
 * folder or the new one. An existing `path` is replaced only when `overwrite` is true.
 * Temporaries that killed writers left beside `path` are removed first.
 */
export async function writeDirectoryAtomic(
  path: string,
  files: Record<string, string | Uint8Array>,
  options: { overwrite?: boolean } = {},
): Promise<void> {
  await restoreInterrupted(path);
  await removeStaleTemps(dirname(path), basename(path));
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
      if (exchange()?.(tmp, path)) {
        await Deno.remove(tmp, { recursive: true }); // it holds the old folder now
        return;
      }
      // Without the exchange call: the old folder is set aside first, and put back by the next
      // write if this process dies before the new one is in (see restoreInterrupted).
      const old = `${path}.old-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
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
