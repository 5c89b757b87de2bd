import assert from "node:assert/strict";
import { addServerPath, describeThrown, redactPaths } from "./_http.ts";

Deno.test("any thrown value is described in words, and describing never throws", () => {
  assert.equal(describeThrown({ code: 7 }), 'object {"code":7}');
  assert.equal(describeThrown(Object.create(null)), "object without a prototype {}");
  assert.equal(describeThrown(new RangeError("too far")), "RangeError: too far");
  assert.equal(describeThrown("plain"), "plain");
  assert.equal(describeThrown(null), "null");
  assert.equal(describeThrown(undefined), "undefined");
  assert.equal(describeThrown(10n), "10");
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  assert.equal(describeThrown(cycle), "object");
  const hostile = new Proxy({}, {
    getPrototypeOf() {
      throw new Error("trap");
    },
  });
  assert.match(describeThrown(hostile), /cannot be described/);
});

Deno.test("server folders are cut from error text, keeping file names and positions", () => {
  addServerPath("/srv/fused-data");
  assert.equal(
    redactPaths("Not a directory (os error 20): realpath '/srv/fused-data/files/demo/a.txt/b'"),
    "Not a directory (os error 20): realpath 'b'",
  );
  assert.equal(redactPaths("at file:///srv/fused-data/modules/ab/udf.ts:3:5)"), "at udf.ts:3:5)");
  assert.equal(redactPaths("see /srv/fused-database"), "see /srv/fused-database");
});
