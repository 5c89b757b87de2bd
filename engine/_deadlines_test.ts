import assert from "node:assert/strict";
import { type Deadline, Deadlines } from "./_deadlines.ts";

function item(inMs: number, expired: string[], name: string): Deadline {
  return { deadline: performance.now() + inMs, expire: () => void expired.push(name) };
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check(), what);
}

Deno.test("each deadline expires once, in order, with later and earlier ones added while armed", async () => {
  const deadlines = new Deadlines();
  const expired: string[] = [];
  deadlines.watch(item(120, expired, "late"));
  deadlines.watch(item(20, expired, "early")); // earlier than the armed timer: re-armed for it
  const answered = item(40, expired, "answered");
  deadlines.watch(answered);
  deadlines.unwatch(answered);
  await until(() => expired.length === 2, "both expire");
  assert.deepEqual(expired, ["early", "late"]);
  assert.equal(deadlines.size, 0);
});

Deno.test("what an expiry watches is watched, and the last unwatch leaves no timer behind", async () => {
  const deadlines = new Deadlines();
  const expired: string[] = [];
  deadlines.watch({
    deadline: performance.now() + 10,
    expire: () => {
      expired.push("first");
      deadlines.watch(item(10, expired, "second"));
    },
  });
  await until(() => expired.length === 2, "the second expires too");
  assert.deepEqual(expired, ["first", "second"]);
  const kept = item(60_000, expired, "never");
  deadlines.watch(kept);
  deadlines.unwatch(kept);
  deadlines.unwatch(kept); // twice is harmless
  assert.equal(deadlines.size, 0);
  // Deno's test sanitizer fails this test if a timer were still armed.
});
