/**
 * The operating-system side of a job's process, for the job runner: recognising the process
 * after a restart (its start time in /proc), and waiting for something with a time limit.
 *
 * @module
 */

/** The start time of a process (Linux /proc/<pid>/stat field 22), or null when it is gone. */
export function processStartTime(pid: number): string | null {
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return null;
  }
  // The command name (field 2) may hold spaces and parentheses: fields start after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  if (fields[0] === "Z" || fields[0] === "X") return null; // a zombie has ended
  return fields[19] ?? null;
}

/** Whether the process `pid` still runs and is the one that started at `startTime`. */
export function processAlive(pid: number, startTime: string): boolean {
  const now = processStartTime(pid);
  return now !== null && (startTime === "" || now === startTime);
}

/** What {@linkcode within} answers when the time ran out. */
export const TIMED_OUT: unique symbol = Symbol("timed out");

/** `promise`, or TIMED_OUT after `ms`; the timer is cleared either way (no stray timers). */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<typeof TIMED_OUT>((r) => (timer = setTimeout(() => r(TIMED_OUT), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** An environment variable, or undefined when unset or not readable. */
export function envOrUndefined(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}
