import assert from "node:assert/strict";
import { UdfCancelledError } from "./errors.ts";

Deno.test("a cancellation names its reason: text, an Error, or nothing", () => {
  assert.equal(new UdfCancelledError("t", "user stop").message, 'UDF "t" was cancelled: user stop');
  assert.match(
    new UdfCancelledError("t", new Error("timeout")).message,
    /cancelled: Error: timeout/,
  );
  assert.equal(new UdfCancelledError("t").message, 'UDF "t" was cancelled');
});

Deno.test("a reason that cannot be turned into text is described without throwing", () => {
  const bare = Object.assign(Object.create(null), { why: "closing" });
  const throwing = {
    toString(): string {
      throw new Error("no text");
    },
  };
  const hostile = new Proxy({}, {
    get(): never {
      throw new Error("trap");
    },
    getPrototypeOf(): never {
      throw new Error("trap");
    },
  });
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  Object.setPrototypeOf(cyclic, null);
  for (const reason of [bare, Object.create(null), throwing, hostile, cyclic]) {
    const error = new UdfCancelledError("t", reason);
    assert.ok(error instanceof UdfCancelledError);
    assert.match(error.message, /^UDF "t" was cancelled: \S/);
  }
  assert.match(new UdfCancelledError("t", bare).message, /closing/);
});
