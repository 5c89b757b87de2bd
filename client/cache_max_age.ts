/**
 * Parsing of Fused's cache age strings (`"48h"`, `"90d"`, `"10s"`, `0`).
 *
 * @module
 */
import { ValidationError } from "./errors.ts";

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** The default age of a cached UDF run: 90 days, as Fused. */
export const DEFAULT_UDF_CACHE_MAX_AGE = 90 * 86400;

/**
 * Converts a cache age (`"12h"`, `"30m"`, `600`, `0`) to whole seconds, following Fused's rule
 * `^\d+[smhd]$` (case and surrounding space ignored); a number is seconds.
 *
 * @example
 * ```ts
 * import { parseCacheMaxAge } from "./cache_max_age.ts";
 * parseCacheMaxAge("48h"); // 172800
 * ```
 */
export function parseCacheMaxAge(value: string | number): number {
  if (typeof value === "number") {
    if (!Number.isInteger(value) || value < 0) {
      throw new ValidationError(
        `Cannot use cache_max_age ${value}: give whole seconds (0 or more) or a string like "10m"`,
      );
    }
    return value;
  }
  const text = value.trim().toLowerCase();
  if (text === "0") return 0;
  const match = /^(\d+)([smhd])$/.exec(text);
  if (!match) {
    throw new ValidationError(
      `Cannot parse cache_max_age "${value}": use a number followed by s, m, h or d (e.g. "10m", "48h", "90d")`,
    );
  }
  return Number(match[1]) * UNIT_SECONDS[match[2]];
}

/** Formats seconds the way a user would write them back (`172800` → `"2d"`). */
export function formatCacheMaxAge(seconds: number): string {
  for (const unit of ["d", "h", "m"] as const) {
    const size = UNIT_SECONDS[unit];
    if (seconds > 0 && seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}
