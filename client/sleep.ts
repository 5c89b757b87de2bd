/**
 * A wait that a signal ends early (rejecting with the signal's reason), for retries and polls.
 *
 * @module
 */

/**
 * Resolves after `ms` milliseconds, or rejects with `signal.reason` as soon as it aborts.
 *
 * @example
 * ```ts
 * import { sleep } from "./sleep.ts";
 * await sleep(5);
 * ```
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    function onAbort(): void {
      clearTimeout(timer);
      reject(signal!.reason);
    }
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
