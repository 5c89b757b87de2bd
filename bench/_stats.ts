/**
 * Small statistics shared by the benchmarks.
 *
 * @module
 */

/** The q-quantile (0..1) of samples, by the nearest-rank rule. */
export function quantile(samples: number[], q: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** The median of samples (the mean of the middle two for an even count). */
export function median(samples: number[]): number {
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Milliseconds as µs below 1 ms, else with one decimal. */
export function formatMs(ms: number): string {
  return ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(1)} ms`;
}

/**
 * Median times of two kinds of work measured in turns: each goes first every other round, so
 * neither always follows the other; the first `warmup` rounds are not counted.
 *
 * @example
 * ```ts
 * import { interleaved } from "./_stats.ts";
 * const { a, b } = await interleaved(10, 2, {
 *   a: () => Promise.resolve(),
 *   b: () => new Promise((r) => setTimeout(r, 1)),
 * });
 * ```
 */
export async function interleaved<K extends string>(
  rounds: number,
  warmup: number,
  work: Record<K, (round: number) => Promise<unknown>>,
): Promise<Record<K, number>> {
  const kinds = Object.keys(work) as K[];
  const times = Object.fromEntries(kinds.map((kind) => [kind, [] as number[]])) as Record<
    K,
    number[]
  >;
  for (let i = 0; i < rounds + warmup; i++) {
    for (const kind of i % 2 === 0 ? kinds : [...kinds].reverse()) {
      const start = performance.now();
      await work[kind](i);
      if (i >= warmup) times[kind].push(performance.now() - start);
    }
  }
  return Object.fromEntries(kinds.map((kind) => [kind, median(times[kind])])) as Record<K, number>;
}
