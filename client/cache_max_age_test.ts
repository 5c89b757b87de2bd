import assert from "node:assert/strict";
import { formatCacheMaxAge, parseCacheMaxAge } from "./cache_max_age.ts";
import { ValidationError } from "./errors.ts";

Deno.test("cache ages in s, m, h and d are converted to seconds", () => {
  assert.equal(parseCacheMaxAge("10s"), 10);
  assert.equal(parseCacheMaxAge("30m"), 1800);
  assert.equal(parseCacheMaxAge("48h"), 172800);
  assert.equal(parseCacheMaxAge(" 90D "), 7776000);
  assert.equal(parseCacheMaxAge("0"), 0);
  assert.equal(parseCacheMaxAge(600), 600);
});

Deno.test("malformed cache ages are refused with the expected format", () => {
  for (const bad of ["10 min", "1.5h", "10", "h", "-1s", "10w"]) {
    assert.throws(
      () => parseCacheMaxAge(bad),
      (err: unknown) =>
        err instanceof ValidationError && err.message.includes("number followed by s, m, h or d"),
    );
  }
  assert.throws(() => parseCacheMaxAge(-5), ValidationError);
  assert.throws(() => parseCacheMaxAge(1.5), ValidationError);
});

Deno.test("seconds format back to the largest whole unit", () => {
  assert.equal(formatCacheMaxAge(172800), "2d");
  assert.equal(formatCacheMaxAge(5400), "90m");
  assert.equal(formatCacheMaxAge(7), "7s");
});
