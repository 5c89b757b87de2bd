/**
 * A strict reader of the Prometheus text exposition format (0.0.4), for the tests of /metrics.
 *
 * @module
 */
import assert from "node:assert/strict";

/** One sample: metric name, labels and value. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
const LABEL = `[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"`;
const VALUE = "[-+]?(?:\\d+(?:\\.\\d*)?(?:[eE][-+]?\\d+)?|Inf|NaN)";
const SAMPLE = new RegExp(
  `^(${NAME})(?:\\{((?:${LABEL})(?:,${LABEL})*)?,?\\})? (${VALUE})(?: -?\\d+)?$`,
);
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

/**
 * Parses Prometheus text format 0.0.4 strictly: every line a comment of the known kinds, blank,
 * or a sample of a declared family; one TYPE per family, before its samples; histogram buckets
 * cumulative up to +Inf, which equals the family's _count. Throws naming the first bad line.
 */
export function parsePrometheus(text: string): Sample[] {
  assert.ok(text.endsWith("\n"), "the exposition ends with a newline");
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const [n, line] of text.split("\n").entries()) {
    const where = `line ${n + 1}: ${JSON.stringify(line)}`;
    if (line === "") continue;
    const comment = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (comment) {
      assert.match(comment[2], new RegExp(`^${NAME}$`), where);
      if (comment[1] === "TYPE") {
        assert.ok(TYPES.has(comment[3]), where);
        assert.ok(!types.has(comment[2]), `a second TYPE, ${where}`);
        assert.ok(
          !samples.some((s) => s.name.startsWith(comment[2])),
          `TYPE after samples, ${where}`,
        );
        types.set(comment[2], comment[3]);
      }
      continue;
    }
    assert.ok(!line.startsWith("#"), `an unknown comment, ${where}`);
    const match = SAMPLE.exec(line);
    assert.ok(match, `not a sample, ${where}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? "").matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key] = value;
    }
    const name = match[1];
    const family = types.has(name) ? name : name.replace(/_(bucket|sum|count)$/, "");
    const type = types.get(family);
    assert.ok(type, `a sample of no declared family, ${where}`);
    if (family !== name) assert.ok(type === "histogram" || type === "summary", where);
    const value = match[3].replace(/^\+?Inf$/, "Infinity").replace(/^-Inf$/, "-Infinity");
    samples.push({ name, labels, value: Number(value) });
  }
  for (const [family, type] of types) {
    if (type !== "histogram") continue;
    const series = new Map<string, Sample[]>();
    for (const s of samples.filter((s) => s.name === `${family}_bucket`)) {
      const { le: _, ...rest } = s.labels;
      const key = JSON.stringify(rest);
      series.set(key, [...series.get(key) ?? [], s]);
    }
    for (const [key, buckets] of series) {
      for (let i = 1; i < buckets.length; i++) {
        assert.ok(buckets[i].value >= buckets[i - 1].value, `${family} ${key} is cumulative`);
      }
      assert.equal(buckets.at(-1)?.labels.le, "+Inf", `${family} ${key} ends at +Inf`);
      const count = samples.find((s) =>
        s.name === `${family}_count` && JSON.stringify(s.labels) === key
      );
      assert.equal(count?.value, buckets.at(-1)?.value, `${family} ${key}: +Inf = _count`);
    }
  }
  return samples;
}
