import assert from "node:assert/strict";
import { createDatabase, psql } from "../../tests/_postgres.ts";
import { PostgresRegistry } from "../registry/postgres.ts";
import { LocalStorage } from "../storage.ts";
import { sweepJobs } from "./retention.ts";

Deno.test("a sweep deletes only jobs finished before the age, with their logs and files", async () => {
  const url = await createDatabase("retention");
  const registry = await PostgresRegistry.open(url);
  const dir = await Deno.makeTempDir();
  try {
    const storage = new LocalStorage(dir);
    const user = await registry.createUser({ email: "a@x.org" });
    const job = async (status: "succeeded" | "running", finishedDaysAgo: number | null) => {
      const { id } = await registry.createJob(user.id, {});
      await registry.appendJobLogLines(id, [{ timestamp: 1, message: "line" }]);
      await storage.write(`jobs/${id}/0.json`, ReadableStream.from([new Uint8Array([49])]));
      await registry.setJobStatus(id, status);
      if (finishedDaysAgo !== null) {
        const at = new Date(Date.now() - finishedDaysAgo * 86_400_000).toISOString();
        await psql(
          `UPDATE jobs SET finished_at = '${at}' WHERE id = '${id}'`,
          url.split("/").pop(),
        );
      }
      return id;
    };
    const old = await job("succeeded", 40);
    const recent = await job("succeeded", 1);
    const oldRunning = await job("running", null);
    await psql(
      `UPDATE jobs SET created_at = '2000-01-01T00:00:00.000Z' WHERE id = '${oldRunning}'`,
      url.split("/").pop(),
    );
    assert.equal(await sweepJobs(registry, { storage, maxAgeMs: 30 * 86_400_000 }), 1);
    assert.equal(await registry.getJob(old), null);
    assert.deepEqual(await registry.getJobLogs(old), []);
    assert.equal(await storage.stat(`jobs/${old}/0.json`), null);
    for (const id of [recent, oldRunning]) {
      assert.ok(await registry.getJob(id), id);
      assert.equal((await registry.getJobLogs(id)).length, 1);
      assert.ok(await storage.stat(`jobs/${id}/0.json`));
    }
    assert.equal(await sweepJobs(registry, { storage, maxAgeMs: 30 * 86_400_000 }), 0);
  } finally {
    await registry.close();
    await Deno.remove(dir, { recursive: true });
  }
});
