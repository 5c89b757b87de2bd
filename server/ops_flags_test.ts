import assert from "node:assert/strict";
import { DEFAULT_POOLS, durationFlag, opsFlags, wholeNumberFlag } from "./ops_flags.ts";

Deno.test("a whole number flag is read, defaulted, and refused out of range with the range", () => {
  const range = { min: 1, max: 50, fallback: 2 };
  assert.equal(wholeNumberFlag("--db-pool", "7", range), 7);
  assert.equal(wholeNumberFlag("--db-pool", undefined, range), 2);
  assert.equal(
    wholeNumberFlag("--db-pool", "0", range),
    'Invalid --db-pool "0": use a whole number from 1 to 50',
  );
  assert.match(String(wholeNumberFlag("--db-pool", "2.5", range)), /whole number from 1 to 50/);
});

Deno.test("a duration flag reads units and bare seconds, and names the fix for a bad one", () => {
  assert.equal(durationFlag("--retention", "30d", undefined), 30 * 86_400_000);
  assert.equal(durationFlag("--retention", "12h", undefined), 12 * 3_600_000);
  assert.equal(durationFlag("--drain-timeout", "90", 60_000), 90_000);
  assert.equal(durationFlag("--drain-timeout", undefined, 60_000), 60_000);
  assert.equal(durationFlag("--retention", undefined, undefined), undefined);
  assert.match(
    String(durationFlag("--retention", "1 week", undefined)),
    /^Invalid --retention "1 week": use a whole number followed by s, m, h or d/,
  );
});

Deno.test("the operations flags take each role's pool defaults and refuse a bad value", () => {
  assert.deepEqual(opsFlags({}, "service"), {
    dbPoolSize: DEFAULT_POOLS.service.registry,
    queuePoolSize: DEFAULT_POOLS.service.queue,
    metricsListen: undefined,
    retentionMs: undefined,
  });
  assert.deepEqual(
    opsFlags({ "db-pool": "3", "metrics-listen": "9464", retention: "30d" }, "worker"),
    {
      dbPoolSize: 3,
      queuePoolSize: DEFAULT_POOLS.worker.queue,
      metricsListen: { hostname: "127.0.0.1", port: 9464 },
      retentionMs: 30 * 86_400_000,
    },
  );
  assert.equal(
    opsFlags({ "log-format": "xml" }, "worker"),
    'Invalid --log-format "xml": use text or json',
  );
  assert.match(String(opsFlags({ "queue-pool": "0" }, "service")), /^Invalid --queue-pool "0"/);
  assert.match(String(opsFlags({ retention: "soon" }, "service")), /^Invalid --retention "soon"/);
});
