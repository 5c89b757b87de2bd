/**
 * One service per data folder: `service.lock` in the folder names the owner's pid, host and port.
 * A second service on the same folder is refused with that owner named; a lock whose process is
 * gone (killed, crashed) is taken over.
 *
 * Hand-written rather than an npm lock package: the lock must hold the port, and the packages
 * judge staleness by age alone, which would let a second service in beside a quiet first one.
 *
 * @module
 */
import { join } from "node:path";
import { hostname } from "node:os";
import { FusedError } from "../client/errors.ts";
import { processAlive, tempSibling } from "../client/atomic_write.ts";

/** The name of the lock file inside the data folder. */
export const DATA_LOCK_FILE = "service.lock";

/** What the lock file holds. */
interface LockBody {
  pid: number;
  host: string;
  port: number | null;
  startTime: string | null;
  id: string;
}

/** A held data-folder lock. */
export interface DataLock {
  /** Records the port the service listens on, for the message a second service gets. */
  setPort(port: number): Promise<void>;
  /** Removes the lock when it is still ours. */
  release(): Promise<void>;
}

/** Start time of a process in clock ticks since boot (Linux), to tell a reused pid apart. */
function processStartTime(pid: number): string | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // Field 22; the command name (field 2) may hold spaces, so count from its closing ")".
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  } catch {
    return null;
  }
}

/** Whether the holder of a lock still runs (true when that cannot be told: keep out). */
function holderAlive(body: Partial<LockBody>): boolean {
  if (typeof body.pid !== "number" || body.host !== hostname()) return true;
  if (!processAlive(body.pid)) return false;
  const started = processStartTime(body.pid);
  return !(body.startTime && started && started !== body.startTime);
}

async function readBody(path: string): Promise<Partial<LockBody> | null> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    return {}; // unreadable: a crash between create and write; judged as not running below
  }
}

/** Writes the body to a temporary file and links it into place: fails if a lock exists. */
async function tryCreate(path: string, body: LockBody): Promise<boolean> {
  const tmp = tempSibling(path);
  await Deno.writeTextFile(tmp, JSON.stringify(body), { mode: 0o600 });
  try {
    await Deno.link(tmp, path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.AlreadyExists) return false;
    throw err;
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
}

/**
 * Takes the lock of a data folder, or throws a FusedError naming the service that holds it.
 * A lock left by a process that is gone is taken over.
 */
export async function acquireDataLock(dataDir: string): Promise<DataLock> {
  const path = join(dataDir, DATA_LOCK_FILE);
  const body: LockBody = {
    pid: Deno.pid,
    host: hostname(),
    port: null,
    startTime: processStartTime(Deno.pid),
    id: crypto.randomUUID(),
  };
  for (let attempt = 0; !(await tryCreate(path, body)); attempt++) {
    const holder = await readBody(path);
    if (holder === null) continue; // released meanwhile: try again
    const unreadable = holder.pid === undefined;
    if (!unreadable && holderAlive(holder)) {
      const where = holder.port ? ` on port ${holder.port}` : " (still starting)";
      throw new FusedError(
        `The data folder ${dataDir} is in use by another Fused service (pid ${holder.pid}${where}): stop that service, or start this one with another --data-dir`,
      );
    }
    if (attempt > 5) {
      throw new FusedError(
        `Cannot take over the stale lock ${path}: delete it if no Fused service uses ${dataDir}`,
      );
    }
    // Stale: move it aside under a unique name (only one contender's rename succeeds), retry.
    const aside = tempSibling(path);
    await Deno.rename(path, aside).then(() => Deno.remove(aside), () => {});
  }
  return {
    async setPort(port: number): Promise<void> {
      body.port = port;
      const tmp = tempSibling(path);
      await Deno.writeTextFile(tmp, JSON.stringify(body), { mode: 0o600 });
      await Deno.rename(tmp, path);
    },
    async release(): Promise<void> {
      const now = await readBody(path);
      if (now?.id === body.id) await Deno.remove(path).catch(() => {});
    },
  };
}
