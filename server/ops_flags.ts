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
 * most 10 × 7 + 50 × 4 = 270 connections, under a PostgreSQL configured for 300 (README,
 * "Scale-out"). Each process holds one more connection beside its registry pool, for LISTEN
 * (cancels, ends of jobs), and a worker one more beside its queue pool, pg-boss's for LISTEN (new
 * jobs; a service works no queue, so it does not listen). Measured in
 * tests/connection_budget_test.ts.
 */
export const DEFAULT_POOLS = {
  service: { registry: 5, queue: 1 },
  worker: { registry: 1, queue: 1 },
} as const;

/** The help lines of the flags below, with the defaults of `role`. */
export function opsHelp(role: "service" | "worker"): string {
  const pools = DEFAULT_POOLS[role];
  return `  --db-pool N         most registry connections to PostgreSQL (default ${pools.registry}; plus 1 that
                      listens)${role === "worker" ? "; raise it with --concurrency above 4" : ""}
  --queue-pool N      most job queue (pg-boss) connections (default ${pools.queue}${
    role === "worker" ? "; plus 1 that listens" : ""
  })
  --metrics-listen A  serve Prometheus metrics at http://A/metrics, A = HOST:PORT or PORT
                      (127.0.0.1); a listener of its own, for the scraper only (default: off)
  --log-format F      text (default) or json: one JSON object per line on stderr
  --retention AGE     delete jobs, their logs and results once finished longer ago than AGE
                      (e.g. 30d; s, m, h or d; default: keep everything)`;
}

/** `parseArgs` options of the flags below. */
export const OPS_OPTIONS = {
  "db-pool": { type: "string" },
  "queue-pool": { type: "string" },
  "metrics-listen": { type: "string" },
  "log-format": { type: "string" },
  retention: { type: "string" },
} as const;

/** What `opsFlags` read. */
export interface OpsFlags {
  /** Most registry connections. */
  dbPoolSize: number;
  /** Most job queue connections. */
  queuePoolSize: number;
  /** Where to serve the metrics, when asked. */
  metricsListen?: ListenAddress;
  /** Delete jobs finished longer ago than this (ms), when asked. */
  retentionMs?: number;
}

/**
 * Reads `--db-pool`, `--queue-pool` (defaults of `role`), `--metrics-listen`, `--log-format` and
 * `--retention`, and switches to JSON logs when asked (so that all later lines are records); an error message
 * for a bad value.
 */
export function opsFlags(
  values: { [K in keyof typeof OPS_OPTIONS]?: string },
  role: "service" | "worker",
): OpsFlags | string {
  const range = { min: 1, max: 100 };
  const dbPoolSize = wholeNumberFlag("--db-pool", values["db-pool"], {
    ...range,
    fallback: DEFAULT_POOLS[role].registry,
  });
  const queuePoolSize = wholeNumberFlag("--queue-pool", values["queue-pool"], {
    ...range,
    fallback: DEFAULT_POOLS[role].queue,
  });
  if (typeof dbPoolSize === "string") return dbPoolSize;
  if (typeof queuePoolSize === "string") return queuePoolSize;
  const format = values["log-format"] ?? "text";
  if (!(LOG_FORMATS as readonly string[]).includes(format)) {
    return `Invalid --log-format "${format}": use ${LOG_FORMATS.join(" or ")}`;
  }
  const listen = values["metrics-listen"];
  const metricsListen = listen === undefined ? undefined : parseListenAddress(listen);
  if (typeof metricsListen === "string") return metricsListen;
  const retentionMs = durationFlag("--retention", values.retention, undefined);
  if (typeof retentionMs === "string") return retentionMs;
  if (format === "json") useJsonLogs(role === "service" ? "fused serve" : "fused worker");
  return { dbPoolSize, queuePoolSize, metricsListen, retentionMs };
}
