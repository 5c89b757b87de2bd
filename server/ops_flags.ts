/**
 * Command-line values of the operations flags that `fused serve` and `fused worker` share (pool
 * sizes, durations): each parser returns the value, or the error message naming the flag and
 * what to write instead.
 *
 * @module
 */

import { type ListenAddress, parseListenAddress } from "./metrics.ts";
import { LOG_FORMATS, useJsonLogs } from "./log_format.ts";

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A whole number flag within `[min, max]`; `fallback` when the flag is absent.
 *
 * @example
 * ```ts
 * import { wholeNumberFlag } from "./ops_flags.ts";
 * console.log(wholeNumberFlag("--db-pool", "4", { min: 1, max: 100, fallback: 2 })); // 4
 * ```
 */
export function wholeNumberFlag(
  flag: string,
  value: string | undefined,
  range: { min: number; max: number; fallback: number },
): number | string {
  if (value === undefined) return range.fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < range.min || n > range.max) {
    return `Invalid ${flag} "${value}": use a whole number from ${range.min} to ${range.max}`;
  }
  return n;
}

/**
 * A duration flag in milliseconds: a whole number followed by s, m, h or d (`90s`, `30d`), or
 * whole seconds; `fallback` when the flag is absent.
 *
 * @example
 * ```ts
 * import { durationFlag } from "./ops_flags.ts";
 * console.log(durationFlag("--retention", "30d", undefined)); // 2592000000
 * ```
 */
export function durationFlag(
  flag: string,
  value: string | undefined,
  fallback: number | undefined,
): number | string | undefined {
  if (value === undefined) return fallback;
  const match = /^(\d+)([smhd]?)$/.exec(value.trim().toLowerCase());
  if (!match) {
    return `Invalid ${flag} "${value}": use a whole number followed by s, m, h or d (e.g. "90s", "30d")`;
  }
  return Number(match[1]) * UNIT_MS[match[2] || "s"];
}

/**
 * Default pool sizes (most PostgreSQL connections): with them 10 services and 50 workers hold at
 * most 10 × 8 + 50 × 4 = 280 connections, under a PostgreSQL configured for 300 (README,
 * "Scale-out"). Each process holds one more connection per pool than these: the registry's for
 * LISTEN (cancels, ends of jobs), pg-boss's for LISTEN (new jobs). Measured in
 * tests/connection_budget_test.ts.
 */
export const DEFAULT_POOLS = {
  service: { registry: 5, queue: 1 },
  worker: { registry: 1, queue: 1 },
} as const;

/** The range of a pool size flag (`--db-pool`, `--queue-pool`). */
export const POOL_RANGE = { min: 1, max: 100 };

/** `parseArgs` options of the flags below. */
export const OPS_OPTIONS = {
  "metrics-listen": { type: "string" },
  "log-format": { type: "string" },
} as const;

/** What `opsFlags` read. */
export interface OpsFlags {
  /** Where to serve the metrics, when asked. */
  metricsListen?: ListenAddress;
}

/**
 * Reads `--metrics-listen` and `--log-format`, and switches to JSON logs when asked (so that all
 * later lines are records); an error message for a bad value.
 */
export function opsFlags(
  values: { "metrics-listen"?: string; "log-format"?: string },
  process: string,
): OpsFlags | string {
  const format = values["log-format"] ?? "text";
  if (!(LOG_FORMATS as readonly string[]).includes(format)) {
    return `Invalid --log-format "${format}": use ${LOG_FORMATS.join(" or ")}`;
  }
  const listen = values["metrics-listen"];
  const metricsListen = listen === undefined ? undefined : parseListenAddress(listen);
  if (typeof metricsListen === "string") return metricsListen;
  if (format === "json") useJsonLogs(process);
  return { metricsListen };
}
