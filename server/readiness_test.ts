import assert from "node:assert/strict";
import { Readiness } from "./readiness.ts";

Deno.test("readiness names every backend that is down, with its reason", async () => {
  const readiness = new Readiness([
    {
      name: "database",
      check: () => Promise.reject(new Error("Cannot reach PostgreSQL at h:5432")),
    },
    { name: "store", check: () => Promise.resolve() },
    {
      name: "queue",
      check: () => Promise.reject(new Error("The job queue cannot use PostgreSQL")),
    },
  ]);
  assert.deepEqual(await readiness.report(), {
    ready: false,
    down: {
      database: "Cannot reach PostgreSQL at h:5432",
      queue: "The job queue cannot use PostgreSQL",
    },
  });
});

Deno.test("a backend that does not answer in time counts as down", async () => {
  const readiness = new Readiness([
    { name: "store", check: () => new Promise(() => {}) },
  ], { timeoutMs: 20 });
  assert.deepEqual(await readiness.report(), {
    ready: false,
    down: { store: "The store did not answer within 20 ms" },
  });
});

Deno.test("a report is reused for reuseMs however many ask, then made again", async () => {
  let probes = 0;
  const readiness = new Readiness([
    { name: "database", check: () => Promise.resolve(void probes++) },
  ], { reuseMs: 50 });
  await Promise.all([readiness.report(), readiness.report(), readiness.report()]);
  assert.equal(probes, 1);
  await new Promise((r) => setTimeout(r, 60));
  assert.equal((await readiness.report()).ready, true);
  assert.equal(probes, 2);
});
