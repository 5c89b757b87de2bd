/**
 * The rows of the performance table (issue 19), each reported by the benchmark that measures
 * it, then printed together by `deno task bench` (bench/mod.ts) after every benchmark ran.
 * A benchmark run alone reports into the same list, which nobody prints: its own table is
 * enough there.
 *
 * @module
 */

/** One row: a measured value against the goal it is held to. */
export interface SummaryRow {
  /** The path measured, as the performance table names it. */
  path: string;
  /** The measured value: a ratio against `baseline` (unit "x") or a time (unit "s"). */
  value: number;
  /** "x" for a ratio against the baseline measured in the same run, "s" for seconds. */
  unit: "x" | "s";
  /** What the value is divided by (or compared with), measured in the same run. */
  baseline: string;
  /** The goal: the value must be at most this one... */
  atMost?: number;
  /** ...or at least this one. */
  atLeast?: number;
}

const rows: SummaryRow[] = [];

/** Adds a measured row (a benchmark calls this once per row it measures). */
export function reportRow(row: SummaryRow): void {
  if (!Number.isFinite(row.value)) {
    throw new Error(`${row.path}: the measured value is ${row.value}`);
  }
  if ((row.atMost === undefined) === (row.atLeast === undefined)) {
    throw new Error(`${row.path}: give exactly one of atMost or atLeast`);
  }
  rows.push(row);
}

/** The rows reported so far, in order, and forgets them. */
export function takeRows(): SummaryRow[] {
  return rows.splice(0);
}

/** Whether a row meets its goal. */
export function meets(row: SummaryRow): boolean {
  return row.atMost !== undefined ? row.value <= row.atMost : row.value >= row.atLeast!;
}

/**
 * The rows as a Markdown table: path, value, baseline, goal and whether it is met.
 *
 * @example
 * ```ts
 * import { formatSummary } from "./_summary.ts";
 * const table = formatSummary([{ path: "p", value: 1.2, unit: "x", baseline: "b", atMost: 1.3 }]);
 * if (!table.includes("| p | 1.20x | b | ≤ 1.3x | yes |")) throw new Error(table);
 * ```
 */
export function formatSummary(list: SummaryRow[]): string {
  const fmt = (v: number, unit: "x" | "s") =>
    unit === "x" ? `${v.toFixed(2)}x` : `${v.toFixed(2)} s`;
  const lines = [
    "| path | measured | baseline (same run) | goal | met |",
    "|---|---|---|---|---|",
  ];
  for (const r of list) {
    const goal = r.atMost !== undefined
      ? `≤ ${r.atMost}${r.unit === "x" ? "x" : " s"}`
      : `≥ ${r.atLeast}${r.unit === "x" ? "x" : " s"}`;
    lines.push(
      `| ${r.path} | ${fmt(r.value, r.unit)} | ${r.baseline} | ${goal} | ${
        meets(r) ? "yes" : "no"
      } |`,
    );
  }
  return lines.join("\n");
}
