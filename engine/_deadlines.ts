/**
 * Deadlines of many things in flight served by one timer: a timer per run was a tenth of a
 * routed uncached run in the service (and Deno's `setTimeout` builds a Node-style `Timeout` each
 * time). The timer is armed for the earliest deadline, and cleared once nothing is watched, so
 * nothing outlives what it watches.
 *
 * @module
 */

/** Something with a deadline (a `performance.now()` time) and what to do when it passes. */
export interface Deadline {
  /** When it expires, in `performance.now()` milliseconds. */
  deadline: number;
  /** Called once, at or after the deadline, unless it was unwatched first. */
  expire(): void;
}

/**
 * Watches deadlines with one timer.
 *
 * @example
 * ```ts
 * import { Deadlines } from "./_deadlines.ts";
 * const deadlines = new Deadlines();
 * const run = { deadline: performance.now() + 10, expire: () => console.log("late") };
 * deadlines.watch(run);
 * deadlines.unwatch(run); // answered in time: nothing is printed, no timer is left
 * ```
 */
export class Deadlines {
  #watched = new Set<Deadline>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The deadline the timer is armed for. */
  #armedFor = Infinity;

  /** How many are watched. */
  get size(): number {
    return this.#watched.size;
  }

  /** Watches `item` until {@linkcode Deadlines.unwatch} or its expiry. */
  watch(item: Deadline): void {
    this.#watched.add(item);
    if (item.deadline < this.#armedFor) this.#arm(item.deadline);
  }

  /** Stops watching `item`; the timer goes with the last one. */
  unwatch(item: Deadline): void {
    if (!this.#watched.delete(item) || this.#watched.size > 0) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = Infinity;
  }

  #arm(deadline: number): void {
    clearTimeout(this.#timer);
    this.#armedFor = deadline;
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, deadline - performance.now()));
  }

  #fire(): void {
    this.#timer = undefined;
    this.#armedFor = Infinity;
    const now = performance.now();
    const expired: Deadline[] = [];
    let next = Infinity;
    for (const item of this.#watched) {
      if (item.deadline <= now) expired.push(item);
      else if (item.deadline < next) next = item.deadline;
    }
    for (const item of expired) this.#watched.delete(item);
    if (next < Infinity) this.#arm(next);
    // Expired last: what they do (watch others, unwatch) finds the timer as it should be.
    for (const item of expired) item.expire();
  }
}
