import assert from "node:assert/strict";
import { join } from "node:path";
import { QuotaExceededError } from "../client/errors.ts";
import { SqliteRegistry } from "./registry/sqlite.ts";
import { folderBytes, UserQuotas } from "./quota.ts";
import { LocalStorage } from "./storage.ts";

async function withQuotas(
  limitBytes: number,
  fn: (quotas: UserQuotas, storage: LocalStorage, root: string) => Promise<void>,
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "fused-quota-" });
  const registry = new SqliteRegistry(":memory:");
  const storage = new LocalStorage(join(root, "files"));
  try {
    await fn(
      new UserQuotas({ registry, storage, limitBytes, usersRoot: join(root, "udf") }),
      storage,
      root,
    );
  } finally {
    await registry.close();
    await Deno.remove(root, { recursive: true });
  }
}

const bytes = (n: number) => ReadableStream.from([new Uint8Array(n)]);

/** A body of unknown length: `n` bytes in chunks of 1000. */
function chunked(n: number): ReadableStream<Uint8Array> {
  let left = n;
  return new ReadableStream({
    pull(controller) {
      const size = Math.min(1000, left);
      left -= size;
      controller.enqueue(new Uint8Array(size));
      if (left === 0) controller.close();
    },
  });
}

Deno.test("a write of a known length past the quota is refused before a byte is read", async () => {
  await withQuotas(1000, async (quotas, storage) => {
    await quotas.write("u1", "a.bin", bytes(600));
    let pulled = false;
    const body = new ReadableStream<Uint8Array>({
      pull() {
        pulled = true;
      },
    }, { highWaterMark: 0 });
    await assert.rejects(
      () => quotas.write("u1", "b.bin", body, { length: 401, what: "Uploading fd://b.bin" }),
      (err: unknown) => {
        assert.ok(err instanceof QuotaExceededError);
        assert.equal(err.status, 507);
        assert.match(err.message, /^Uploading fd:\/\/b\.bin is refused/);
        assert.match(
          err.message,
          /quota of 1000 bytes; used 600 bytes \(fd:\/\/ files 600 bytes, data and cache folders 0 bytes\)/,
        );
        assert.match(err.message, /it needs 401 bytes/);
        return true;
      },
    );
    assert.equal(pulled, false);
    assert.equal(await storage.stat("b.bin"), null);
  });
});

Deno.test("a body of unknown length is stopped past the quota and nothing of it is kept", async () => {
  await withQuotas(5000, async (quotas, storage) => {
    await assert.rejects(() => quotas.write("u1", "big.bin", chunked(20_000)), QuotaExceededError);
    assert.equal(await storage.stat("big.bin"), null);
    assert.deepEqual(await storage.list(""), []);
    assert.deepEqual(await quotas.usage("u1"), { store: 0, folders: 0 });
    await quotas.write("u1", "fits.bin", chunked(5000));
    assert.deepEqual(await quotas.usage("u1"), { store: 5000, folders: 0 });
  });
});

Deno.test("an overwrite of one's own file is not counted twice; another user's overwrite moves the bytes", async () => {
  await withQuotas(1000, async (quotas) => {
    await quotas.write("u1", "shared.bin", bytes(900));
    await quotas.write("u1", "shared.bin", bytes(950), { length: 950 });
    assert.equal((await quotas.usage("u1")).store, 950);
    await quotas.write("u2", "shared.bin", bytes(10));
    assert.equal((await quotas.usage("u1")).store, 0);
    assert.equal((await quotas.usage("u2")).store, 10);
  });
});

Deno.test("a delete frees the bytes of a file and of every file in a folder", async () => {
  await withQuotas(1000, async (quotas) => {
    await quotas.write("u1", "dir/a.bin", bytes(400));
    await quotas.write("u1", "dir/sub/b.bin", bytes(400));
    await assert.rejects(() => quotas.write("u1", "c.bin", bytes(400)), QuotaExceededError);
    assert.equal(await quotas.delete("dir", { maxDepth: null }), true);
    assert.equal((await quotas.usage("u1")).store, 0);
    await quotas.write("u1", "c.bin", bytes(400));
  });
});

Deno.test("a user's data and cache folders count against the same quota", async () => {
  await withQuotas(1000, async (quotas, storage, root) => {
    const [data, cache] = quotas.foldersOf("u1");
    assert.equal(data, join(root, "udf", "users", "u1", "data"));
    await Deno.mkdir(join(data, "deep"), { recursive: true });
    await Deno.mkdir(cache, { recursive: true });
    await Deno.writeFile(join(data, "deep", "x.bin"), new Uint8Array(500));
    await Deno.writeFile(join(cache, "y.bin"), new Uint8Array(300));
    assert.deepEqual(await quotas.usage("u1"), { store: 0, folders: 800 });
    await assert.rejects(
      () => quotas.write("u1", "z.bin", bytes(201), { length: 201 }),
      /data and cache folders 800 bytes/,
    );
    await quotas.write("u1", "z.bin", bytes(200));
    assert.equal(await storage.stat("z.bin").then((i) => i?.size), 200);
    // The folders of a run's caller: the measurement stands for a second, then is made again.
    const quota = quotas.callerQuota("u1");
    assert.equal(quota.limitBytes, 1000);
    assert.deepEqual(await quota.usage(), { store: 200, folders: 800 });
    await assert.rejects(
      () => quotas.check("u1", "Batch job j1"),
      /Batch job j1 is refused: .*quota of 1000 bytes; used 1000 bytes/,
    );
  });
});

Deno.test("a file written to the store for a user is recorded as theirs", async () => {
  await withQuotas(1000, async (quotas, storage) => {
    await storage.write("jobs/j1/0.parquet", bytes(321));
    await quotas.record("u1", "jobs/j1/0.parquet");
    await quotas.record("u1", "jobs/j1/missing.parquet");
    assert.equal((await quotas.usage("u1")).store, 321);
  });
});

Deno.test("folderBytes sums the files under a folder without following links", async () => {
  const root = await Deno.makeTempDir();
  try {
    await Deno.mkdir(join(root, "a"));
    await Deno.writeFile(join(root, "a", "f"), new Uint8Array(10));
    await Deno.writeFile(join(root, "g"), new Uint8Array(5));
    await Deno.symlink(join(root, "a"), join(root, "link"));
    assert.equal(await folderBytes(root), 15);
    assert.equal(await folderBytes(join(root, "missing")), 0);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("runs that find a user's measurement stale share one new measurement", async () => {
  const root = await Deno.makeTempDir({ prefix: "fused-quota-" });
  const registry = new SqliteRegistry(":memory:");
  const storage = new LocalStorage(join(root, "files"));
  let measured = 0;
  // Holds the answer of the next measurement's registry read until the test lets it go.
  let gate: Promise<void> | undefined;
  const counting = {
    recordFile: registry.recordFile.bind(registry),
    forgetFiles: registry.forgetFiles.bind(registry),
    async storedBytes(userId: string, except?: string) {
      measured += 1;
      const wait = gate;
      gate = undefined;
      const stored = await registry.storedBytes(userId, except);
      await wait;
      return stored;
    },
  };
  try {
    const quotas = new UserQuotas({ registry: counting, storage, usersRoot: join(root, "udf") });
    const run = quotas.callerQuota("u1");
    const usages = await Promise.all(Array.from({ length: 8 }, () => run.usage()));
    assert.equal(measured, 1);
    assert.deepEqual(usages, Array(8).fill({ store: 0, folders: 0 }));
    // A measurement taken across a write is not kept: the write would be missed for a second.
    const { promise: held, resolve: release } = Promise.withResolvers<void>();
    gate = held;
    const across = quotas.usage("u1", { maxAgeMs: 0 });
    await quotas.write("u1", "a.bin", bytes(10));
    release();
    assert.deepEqual(await across, { store: 0, folders: 0 }, "it read before the write");
    assert.deepEqual(await run.usage(), { store: 10, folders: 0 });
  } finally {
    await registry.close();
    await Deno.remove(root, { recursive: true });
  }
});
