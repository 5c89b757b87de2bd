import assert from "node:assert/strict";
import { hostname } from "node:os";
import { join } from "node:path";
import { tableFromArrays } from "apache-arrow";
import {
  cache,
  cacheCall,
  cacheFolder,
  cacheKey,
  cleanCache,
  deleteCache,
  formatAge,
  readCache,
  withCacheLock,
  withFileLock,
  writeCache,
} from "./cache.ts";
import { FusedError, NotSupportedError, ValidationError } from "./errors.ts";
import { Raster } from "./formats/raster.ts";
import { options } from "./options.ts";

async function withCacheDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "fused_cache_" });
  options.update({ cacheDirectory: dir, verboseCachedFunctions: false });
  try {
    await fn(dir);
  } finally {
    options.reset();
    await Deno.remove(dir, { recursive: true });
  }
}

function counter(): { calls: number; square: (n: number) => number } {
  const state = {
    calls: 0,
    square(n: number): number {
      state.calls++;
      return n * n;
    },
  };
  return state;
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) out.push(...await listFiles(path));
    else out.push(path);
  }
  return out;
}

// --- keys -------------------------------------------------------------------------------------

Deno.test("cacheKey does not depend on object key order, at any depth", () => {
  assert.equal(
    cacheKey([{ a: 1, b: { c: [1, 2], d: "x" } }]),
    cacheKey([{ b: { d: "x", c: [1, 2] }, a: 1 }]),
  );
  assert.notEqual(cacheKey([{ a: 1 }]), cacheKey([{ a: 2 }]));
  assert.notEqual(cacheKey([[1, 2]]), cacheKey([[2, 1]]), "array order still matters");
});

Deno.test("cacheKey tells apart values that print alike", () => {
  assert.notEqual(cacheKey(["1"]), cacheKey([1]));
  assert.notEqual(cacheKey([null]), cacheKey([undefined]));
  assert.notEqual(cacheKey(["a", "b"]), cacheKey(["ab"]));
  assert.notEqual(cacheKey([["a,b"]]), cacheKey([["a", "b"]]));
  assert.notEqual(cacheKey([0]), cacheKey([-0]));
});

Deno.test("cacheKey hashes typed arrays by content and type", () => {
  assert.equal(cacheKey([new Uint8Array([1, 2, 3])]), cacheKey([Uint8Array.from([1, 2, 3])]));
  assert.notEqual(cacheKey([new Uint8Array([1, 2, 3])]), cacheKey([new Uint8Array([1, 2, 4])]));
  assert.notEqual(
    cacheKey([new Uint8Array(4)]),
    cacheKey([new Float32Array(1)]),
    "same bytes, different element type",
  );
  const big = new Uint8Array([9, 1, 2, 3, 9]);
  assert.equal(cacheKey([big.subarray(1, 4)]), cacheKey([new Uint8Array([1, 2, 3])]));
});

Deno.test("cacheKey hashes Arrow tables by content", () => {
  const a = tableFromArrays({ x: Int32Array.from([1, 2, 3]), y: ["a", "b", "c"] });
  const b = tableFromArrays({ x: Int32Array.from([1, 2, 3]), y: ["a", "b", "c"] });
  const c = tableFromArrays({ x: Int32Array.from([1, 2, 4]), y: ["a", "b", "c"] });
  assert.equal(cacheKey([a]), cacheKey([b]));
  assert.notEqual(cacheKey([a]), cacheKey([c]));
  const withNull = tableFromArrays({ x: [1, null, 3] });
  const withZero = tableFromArrays({ x: [1, 0, 3] });
  assert.notEqual(cacheKey([withNull]), cacheKey([withZero]), "nulls count");
});

Deno.test("cacheKey ignores insertion order of Maps and Sets", () => {
  assert.equal(
    cacheKey([new Map([["a", 1], ["b", 2]])]),
    cacheKey([new Map([["b", 2], ["a", 1]])]),
  );
  assert.equal(cacheKey([new Set([1, 2])]), cacheKey([new Set([2, 1])]));
  assert.notEqual(cacheKey([new Set([1, 2])]), cacheKey([new Set([1, 3])]));
});

Deno.test("cacheKey refuses cycles and promises with a clear error", () => {
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  assert.throws(
    () => cacheKey([cyclic]),
    (e: Error) => e instanceof ValidationError && /cycle/.test(e.message),
  );
  assert.throws(() => cacheKey([Promise.resolve(1)]), /await it/);
  const shared = { x: 1 };
  assert.doesNotThrow(() => cacheKey([[shared, shared]]), "a repeated object is not a cycle");
});

// --- cache() ----------------------------------------------------------------------------------

Deno.test("a second call with equal arguments returns the stored result without calling", () =>
  withCacheDir(async () => {
    const c = counter();
    const square = cache(c.square);
    const first = square(7);
    assert.ok(first instanceof Promise, "a sync function's result becomes a Promise");
    assert.equal(await first, 49);
    assert.equal(await square(7), 49);
    assert.equal(c.calls, 1);
    assert.equal(await square(8), 64);
    assert.equal(c.calls, 2);
  }));

Deno.test("calls with objects whose keys are in another order share one entry", () =>
  withCacheDir(async () => {
    let calls = 0;
    const area = cache(({ w, h }: { w: number; h: number }) => {
      calls++;
      return w * h;
    });
    assert.equal(await area({ w: 2, h: 3 }), 6);
    assert.equal(await area({ h: 3, w: 2 }), 6);
    assert.equal(calls, 1);
  }));

Deno.test("async functions are cached and their result awaited", () =>
  withCacheDir(async () => {
    let calls = 0;
    const fetchish = cache(async (id: string) => {
      calls++;
      await new Promise((resolve) => setTimeout(resolve, 1));
      return { id, ok: true };
    });
    assert.deepEqual(await fetchish("a"), { id: "a", ok: true });
    assert.deepEqual(await fetchish("a"), { id: "a", ok: true });
    assert.equal(calls, 1);
  }));

Deno.test("concurrent calls in one process compute once", () =>
  withCacheDir(async () => {
    let calls = 0;
    const slow = cache(async (n: number) => {
      calls++;
      await new Promise((resolve) => setTimeout(resolve, 30));
      return n + 1;
    });
    const results = await Promise.all(Array.from({ length: 5 }, () => slow(1)));
    assert.deepEqual(results, [2, 2, 2, 2, 2]);
    assert.equal(calls, 1);
  }));

Deno.test("tables, rasters, strings and bytes come back from the cache intact", () =>
  withCacheDir(async () => {
    const table = tableFromArrays({ x: Float64Array.from([1.5, 2.5]), name: ["p", "q"] });
    const raster = Raster.from(Float32Array.from([1, 2, 3, 4]), [2, 2], { bounds: [0, 0, 1, 1] });
    const values: unknown[] = [table, raster, "some text", new Uint8Array([1, 2, 250])];
    for (const [index, value] of values.entries()) {
      const give = cache((_i: number) => value);
      await give(index);
      const back = await give(index);
      if (typeof value === "object") {
        assert.notEqual(back, value, "the second result is read from disk");
      }
      if (value === table) {
        const t = back as typeof table;
        assert.deepEqual(
          t.toArray().map((r) => r.toJSON()),
          table.toArray().map((r) => r.toJSON()),
        );
      } else if (value === raster) {
        const r = back as Raster;
        assert.deepEqual([...r.data], [1, 2, 3, 4]);
        assert.deepEqual(r.shape, [2, 2]);
        assert.deepEqual(r.bounds, [0, 0, 1, 1]);
      } else {
        assert.deepEqual(back, value);
      }
    }
  }));

Deno.test("cacheReset computes again and replaces the stored result", () =>
  withCacheDir(async () => {
    let calls = 0;
    const fn = (n: number): number => n + ++calls * 0;
    const counted = (n: number): number => fn(n);
    await cache(counted)(1);
    await cache(counted, { cacheReset: true })(1);
    assert.equal(calls, 2);
    await cache(counted)(1);
    assert.equal(calls, 2, "the entry written by the reset call is used");
  }));

Deno.test("cacheKeyExclude leaves named and numbered arguments out of the key", () =>
  withCacheDir(async () => {
    let calls = 0;
    function query(connection: { id: number }, sql: string): string {
      if (!connection) throw new Error("no connection");
      calls++;
      return `${sql}!`;
    }
    const byName = cache(query, { cacheKeyExclude: ["connection"] });
    await byName({ id: 1 }, "select 1");
    await byName({ id: 2 }, "select 1");
    assert.equal(calls, 1);
    await byName({ id: 2 }, "select 2");
    assert.equal(calls, 2, "other arguments still count");

    const byIndex = cache(query, { cacheKeyExclude: [0], cacheFolderPath: "other" });
    await byIndex({ id: 1 }, "x");
    await byIndex({ id: 9 }, "x");
    assert.equal(calls, 3);

    const withOptions = cache(
      ({ db, n }: { db: object; n: number }) => {
        if (!db) throw new Error("no db");
        calls++;
        return n;
      },
      { cacheKeyExclude: ["db"] },
    );
    await withOptions({ db: { a: 1 }, n: 5 });
    await withOptions({ db: { b: 2 }, n: 5 });
    assert.equal(calls, 4, "names also apply to keys of an options object");
  }));

Deno.test("trailing undefined arguments do not change the key", () =>
  withCacheDir(async () => {
    const c = counter();
    const square = cache((n: number, _unused?: string) => c.square(n));
    await square(3);
    await square(3, undefined);
    assert.equal(c.calls, 1);
  }));

Deno.test("an expired entry is computed again", () =>
  withCacheDir(async () => {
    const c = counter();
    const square = cache(c.square, { cacheMaxAge: "10m" });
    await square(4);
    const hour = new Date(Date.now() - 3600_000);
    const file = join(cacheFolder({ folder: "tmp" }), `data_${square.cacheKey(4)}`, "value.bin");
    await Deno.utime(file, hour, hour);
    assert.equal(await square(4), 16);
    assert.equal(c.calls, 2);
  }));

Deno.test("cacheMaxAge 0 never stores anything", () =>
  withCacheDir(async (dir) => {
    const c = counter();
    const square = cache(c.square, { cacheMaxAge: 0 });
    await square(2);
    await square(2);
    assert.equal(c.calls, 2);
    assert.deepEqual(await listFiles(dir), []);
  }));

Deno.test("a truncated or damaged entry is deleted and computed again, never returned", () =>
  withCacheDir(async () => {
    const c = counter();
    const square = cache(c.square);
    await square(5);
    const file = join(cacheFolder(), `data_${square.cacheKey(5)}`, "value.bin");
    const bytes = await Deno.readFile(file);
    await Deno.writeFile(file, bytes.subarray(0, bytes.length - 5));
    assert.equal(await square(5), 25);
    assert.equal(c.calls, 2);
    const damaged = await Deno.readFile(file);
    damaged[damaged.length - 12] ^= 0xff;
    await Deno.writeFile(file, damaged);
    assert.equal(await square(5), 25);
    assert.equal(c.calls, 3);
    assert.equal(await square(5), 25);
    assert.equal(c.calls, 3, "the recomputed entry is good");
  }));

Deno.test("a failure is not stored: the next call runs the function again", () =>
  withCacheDir(async (dir) => {
    let calls = 0;
    const flaky = cache((n: number) => {
      calls++;
      if (calls === 1) throw new RangeError("first call fails");
      return n;
    });
    await assert.rejects(flaky(1), RangeError);
    assert.ok(!(await listFiles(dir)).some((f) => f.endsWith("value.bin")));
    assert.equal(await flaky(1), 1);
    assert.equal(calls, 2);
  }));

Deno.test("a result that cannot be stored is a clear error naming the function", () =>
  withCacheDir(async () => {
    const makeMap = cache(function makeMap() {
      return new Map([["a", 1]]);
    });
    await assert.rejects(
      makeMap(),
      (error: Error) =>
        error instanceof ValidationError &&
        error.message.startsWith("Cannot cache the result of 'makeMap'"),
    );
  }));

Deno.test("bad options are refused when the function is wrapped", () =>
  withCacheDir(async () => {
    const fn = (n: number): number => n;
    assert.throws(
      () => cache(fn, { cacheMaxAge: "10 min" }),
      /Cannot parse cache_max_age "10 min"/,
    );
    assert.throws(() => cache(fn, { cacheMaxAge: -1 }), ValidationError);
    assert.throws(() => cache(fn, { cacheFolderPath: "../escape" }), /leaves its root/);
    assert.throws(() => cache(fn, { concurrentLockTimeout: 0 }), /concurrentLockTimeout/);
    assert.throws(() => cache(fn, { cacheKeyExclude: [-1] }), /cacheKeyExclude/);
    await Promise.resolve();
  }));

Deno.test("a cached result prints Fused's message through the logger", () =>
  withCacheDir(async () => {
    const lines: string[] = [];
    const square = cache(function squareIt(n: number) {
      return n * n;
    }, { cacheVerbose: true, logger: (line) => lines.push(line) });
    await square(3);
    assert.deepEqual(lines, []);
    await square(3);
    assert.equal(lines.length, 1);
    assert.match(lines[0], /^'squareIt' returned cached result: [\d.]+ seconds? old$/);
  }));

Deno.test("formatAge keeps at most two parts", () => {
  assert.equal(formatAge(192_000), "3 minutes 12 seconds");
  assert.equal(formatAge((86400 + 7200) * 1000), "1 day 2 hours");
  assert.equal(formatAge(420), "0.42 seconds");
  assert.equal(formatAge(60_000), "1 minute");
  assert.equal(formatAge((3600 + 5) * 1000), "1 hour", "a zero second part is left out");
});

Deno.test("cacheCall caches one call without wrapping", () =>
  withCacheDir(async () => {
    const c = counter();
    assert.equal(await cacheCall(c.square, [6]), 36);
    assert.equal(await cacheCall(c.square, [6]), 36);
    assert.equal(c.calls, 1);
  }));

Deno.test("entries live in data_<key> folders under the cache folder, with no temp files", () =>
  withCacheDir(async (dir) => {
    const square = cache((n: number) => n * n, { cacheFolderPath: "my/folder" });
    await square(2);
    const files = await listFiles(dir);
    assert.deepEqual(files.sort(), [
      join(dir, ".size"), // the machine-wide size account, no lock or temporary left
      join(dir, "my/folder", `data_${square.cacheKey(2)}`, "value.bin"),
    ]);
    const size = Number(await Deno.readTextFile(join(dir, ".size")));
    assert.equal(size, Deno.statSync(files.find((f) => f.endsWith("value.bin"))!).size + 8192);
  }));

Deno.test("mount storage keeps entries in the data directory", async () => {
  const data = await Deno.makeTempDir();
  options.update({ dataDirectory: data, cacheDirectory: null });
  try {
    assert.equal(cacheFolder({ folder: "x", storage: "mount" }), join(data, "cached_data", "x"));
    assert.equal(
      cacheFolder({ folder: "x", storage: "local" }),
      join(options.tempDirectory, "cached_data", "x"),
    );
  } finally {
    options.reset();
    await Deno.remove(data, { recursive: true });
  }
});

// --- lower-level pieces -----------------------------------------------------------------------

Deno.test("readCache misses an entry older than maxAgeSeconds but keeps it", () =>
  withCacheDir(async () => {
    await writeCache("k", { v: 1 }, { folder: "f" });
    const old = new Date(Date.now() - 120_000);
    const file = join(cacheFolder({ folder: "f" }), "data_k", "value.bin");
    await Deno.utime(file, old, old);
    assert.deepEqual(await readCache("k", { folder: "f", maxAgeSeconds: 60 }), { hit: false });
    const found = await readCache("k", { folder: "f", maxAgeSeconds: 600 });
    assert.ok(found.hit);
    assert.deepEqual(found.value, { v: 1 });
    assert.ok(found.ageMs >= 120_000);
  }));

Deno.test("readCache and writeCache refuse keys that are not plain names", () =>
  withCacheDir(async () => {
    await assert.rejects(readCache("../x", { folder: "f" }), ValidationError);
    await assert.rejects(writeCache("a/b", 1, { folder: "f" }), ValidationError);
  }));

Deno.test("deleteCache deletes one folder's entries, or those with a key prefix", () =>
  withCacheDir(async () => {
    for (const key of ["aa1", "aa2", "bb1"]) await writeCache(key, key, { folder: "udf/one" });
    await writeCache("aa1", "kept", { folder: "udf/two" });
    assert.equal(await deleteCache({ folder: "udf/one", prefix: "aa" }), 2);
    assert.deepEqual(await readCache("aa1", { folder: "udf/one" }), { hit: false });
    assert.ok((await readCache("bb1", { folder: "udf/one" })).hit);
    assert.equal(await deleteCache({ folder: "udf/one" }), 1);
    assert.ok((await readCache("aa1", { folder: "udf/two" })).hit, "other folders are untouched");
    assert.equal(await deleteCache({ folder: "never/used" }), 0);
  }));

Deno.test("an entry whose folder is deleted while it is computed is still written whole", () =>
  withCacheDir(async () => {
    const value = await withCacheLock("gone", { folder: "udf/g" }, async () => {
      // A per-UDF clear meanwhile takes the entry's folder, lock and all; then the UDF's folder.
      assert.equal(await deleteCache({ folder: "udf/g" }), 1);
      await Deno.remove(cacheFolder({ folder: "udf/g" }), { recursive: true });
      await writeCache("gone", "made again", { folder: "udf/g" }); // makes the folders again
      return "made again";
    });
    assert.equal(value, "made again");
    const found = await readCache("gone", { folder: "udf/g" });
    assert.ok(found.hit && found.value === "made again");
  }));

Deno.test("a holder removes its lock only while it is still its own", () =>
  withCacheDir(async () => {
    const lock = join(cacheFolder({ folder: "f" }), "data_taken", "lock");
    const other = JSON.stringify({ pid: 1, host: "elsewhere", created: Date.now(), id: "other" });
    await withCacheLock("taken", { folder: "f" }, async () => {
      assert.ok(JSON.parse(await Deno.readTextFile(lock)).id, "the lock names its holder");
      await Deno.writeTextFile(lock, other); // broken as stale and taken by another meanwhile
    });
    assert.equal(await Deno.readTextFile(lock), other, "the other holder's lock is kept");
    await Deno.remove(lock);
    await withCacheLock("taken", { folder: "f" }, () => {});
    const left = [...Deno.readDirSync(join(cacheFolder({ folder: "f" }), "data_taken"))];
    assert.deepEqual(left, [], "its own lock is removed");
  }));

Deno.test("a contender gives up after its timeout with Fused's message", () =>
  withCacheDir(async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const holder = withCacheLock("busy", { folder: "f" }, () => held);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await assert.rejects(
      withCacheLock("busy", { folder: "f", timeoutMs: 200 }, () => "never"),
      (error: Error) =>
        error instanceof FusedError &&
        error.message.startsWith("Wait time exceeded concurrent_lock_timeout of 0.2s"),
    );
    release();
    await holder;
    assert.equal(
      await withCacheLock("busy", { folder: "f", timeoutMs: 200 }, () => "free"),
      "free",
    );
  }));

Deno.test("a lock left by a dead process is broken", () =>
  withCacheDir(async () => {
    const child = new Deno.Command(Deno.execPath(), { args: ["eval", ""] }).spawn();
    const deadPid = child.pid;
    await child.status;
    const dir = join(cacheFolder({ folder: "f" }), "data_dead");
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(
      join(dir, "lock"),
      JSON.stringify({ pid: deadPid, host: hostname(), created: Date.now(), id: "old" }),
    );
    const value = await withCacheLock("dead", { folder: "f", timeoutMs: 60_000 }, () => "ran");
    assert.equal(value, "ran");
    assert.deepEqual([...Deno.readDirSync(dir)], [], "the lock is removed afterwards");
  }));

Deno.test("a lock of another host not refreshed for longer than the timeout is broken", () =>
  withCacheDir(async () => {
    const dir = join(cacheFolder({ folder: "f" }), "data_old");
    await Deno.mkdir(dir, { recursive: true });
    const lock = join(dir, "lock");
    await Deno.writeTextFile(
      lock,
      JSON.stringify({ pid: 1, host: "elsewhere.example", created: 0, id: "old" }),
    );
    const old = new Date(Date.now() - 3600_000);
    await Deno.utime(lock, old, old);
    assert.equal(await withCacheLock("old", { folder: "f", timeoutMs: 60_000 }, () => 1), 1);
  }));

Deno.test("a fresh lock of another host is respected until the timeout", () =>
  withCacheDir(async () => {
    const dir = await Deno.makeTempDir();
    const lock = join(dir, "x.lock");
    await Deno.writeTextFile(lock, JSON.stringify({ pid: 1, host: "elsewhere.example", id: "z" }));
    await assert.rejects(withFileLock(lock, { timeoutMs: 100 }, () => 1), /Wait time exceeded/);
    assert.ok(Deno.statSync(lock).isFile, "a lock that is not stale stays");
    await Deno.remove(dir, { recursive: true });
  }));

Deno.test("two processes computing the same call run it once", () =>
  withCacheDir(async (dir) => {
    const work = await Deno.makeTempDir({ prefix: "fused_cache_procs_" });
    try {
      const markers = join(work, "markers");
      await Deno.mkdir(markers);
      const script = join(work, "compute.ts");
      await Deno.writeTextFile(
        script,
        `import { cache } from ${JSON.stringify(import.meta.resolve("./cache.ts"))};
async function slowDouble(n: number): Promise<number> {
  await Deno.writeTextFile(${JSON.stringify(markers)} + "/" + crypto.randomUUID(), "");
  await new Promise((resolve) => setTimeout(resolve, 400));
  return n * 2;
}
console.log(JSON.stringify(await cache(slowDouble, { cacheVerbose: false })(21)));
`,
      );
      const config = new URL("../deno.json", import.meta.url).pathname;
      const runs = Array.from({ length: 3 }, () =>
        new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", `--config=${config}`, script],
          env: { FUSED_CACHE_DIRECTORY: dir, FUSED_HOME: work },
          stdout: "piped",
          stderr: "piped",
        }).output());
      const outputs = await Promise.all(runs);
      for (const out of outputs) {
        assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
        assert.equal(new TextDecoder().decode(out.stdout).trim(), "42");
      }
      assert.equal([...Deno.readDirSync(markers)].length, 1, "computed by one process only");
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  }));

Deno.test('cacheStorage "object" with no service behind is refused at the call, naming what works', () =>
  withCacheDir(async (dir) => {
    const saved = { home: Deno.env.get("FUSED_HOME"), token: Deno.env.get("FUSED_AUTH_TOKEN") };
    Deno.env.set("FUSED_HOME", dir); // no stored credentials
    Deno.env.delete("FUSED_AUTH_TOKEN");
    try {
      const calls = counter();
      const square = cache(calls.square, { cacheStorage: "object" });
      await assert.rejects(
        () => square(3),
        (error: Error) =>
          error instanceof NotSupportedError && /not logged in/.test(error.message) &&
          /"mount"/.test(error.message),
      );
      assert.equal(calls.calls, 0, "nothing computed without the store it would be kept in");
    } finally {
      for (const [name, value] of [["FUSED_HOME", saved.home], ["FUSED_AUTH_TOKEN", saved.token]]) {
        if (value === undefined) Deno.env.delete(name!);
        else Deno.env.set(name!, value);
      }
    }
  }));

Deno.test("two processes writing to one cache folder stay under cacheMaxBytes together", () =>
  withCacheDir(async (dir) => {
    const work = await Deno.makeTempDir({ prefix: "fused_cache_limit_" });
    const limit = 2_000_000;
    try {
      const script = join(work, "write.ts");
      // Each process writes one entry (its first write measures the folder), waits until both
      // have, then writes 1.3 MB: each alone stays under the limit, the two together do not.
      await Deno.writeTextFile(
        script,
        `import { writeCache } from ${JSON.stringify(import.meta.resolve("./cache.ts"))};
import { options } from ${JSON.stringify(import.meta.resolve("./options.ts"))};
options.cacheMaxBytes = ${limit};
const [name] = Deno.args;
await writeCache(name + "-first", "x", { folder: "shared" });
await Deno.writeTextFile(${JSON.stringify(work)} + "/ready-" + name, "");
for (let i = 0; i < 600; i++) {
  if (await Deno.stat(${JSON.stringify(work)} + "/go").catch(() => null)) break;
  await new Promise((resolve) => setTimeout(resolve, 50));
}
for (let i = 0; i < 12; i++) {
  await writeCache(name + "-" + i, new Uint8Array(100_000).fill(i), { folder: "shared" });
}
`,
      );
      const config = new URL("../deno.json", import.meta.url).pathname;
      const runs = ["a", "b"].map((name) =>
        new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", `--config=${config}`, script, name],
          env: { FUSED_CACHE_DIRECTORY: dir, FUSED_HOME: work },
          stdout: "piped",
          stderr: "piped",
        }).output()
      );
      for (let i = 0; i < 600; i++) {
        const names = [...Deno.readDirSync(work)].map((e) => e.name);
        if (names.includes("ready-a") && names.includes("ready-b")) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await Deno.writeTextFile(join(work, "go"), "");
      for (const out of await Promise.all(runs)) {
        assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      }
      const values = (await listFiles(dir)).filter((path) => path.endsWith("value.bin"));
      const bytes = values.reduce((sum, path) => sum + Deno.statSync(path).size + 8192, 0);
      assert.ok(bytes <= limit, `the folder holds ${bytes} bytes, over the limit of ${limit}`);
      assert.ok(values.length >= 12, `${values.length} entries kept: eviction kept the newest`);
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  }));

Deno.test("past cacheMaxBytes the least recently used entries are deleted first", async () => {
  await withCacheDir(async () => {
    options.cacheMaxBytes = 3_200_000;
    const megabyte = (n: number) => new Uint8Array(1_000_000).fill(n);
    await writeCache("old", megabyte(1), { folder: "lru" });
    await writeCache("used", megabyte(2), { folder: "lru" });
    await writeCache("mid", megabyte(3), { folder: "lru" });
    // Entry times are the last use; make the order plain, then use "used" again.
    const base = cacheFolder({ folder: "lru" });
    for (const [key, seconds] of [["old", 30], ["used", 20], ["mid", 10]] as const) {
      const at = new Date(Date.now() - seconds * 1000);
      await Deno.utime(join(base, `data_${key}`), at, at);
    }
    assert.ok((await readCache("used", { folder: "lru" })).hit);
    await writeCache("new", megabyte(4), { folder: "lru" }); // 4 MB > 3.2 MB: evict down to 2.88 MB
    const kept = [];
    for (const key of ["old", "used", "mid", "new"]) {
      if ((await readCache(key, { folder: "lru" })).hit) kept.push(key);
    }
    assert.deepEqual(kept, ["used", "new"]);
  });
});

Deno.test("the cache sweep removes temporary files and locks of dead processes only", async () => {
  await withCacheDir(async () => {
    await writeCache("k", "value", { folder: "sweep" });
    const entry = join(cacheFolder({ folder: "sweep" }), "data_k");
    const dead = new Deno.Command("true").spawn();
    await dead.status;
    await Deno.writeTextFile(join(entry, `value.bin.${dead.pid}.abc.tmp`), "half");
    const legacy = join(entry, `value.bin.${crypto.randomUUID()}.tmp`);
    await Deno.writeTextFile(legacy, "half, from an older version");
    const hourAgo = new Date(Date.now() - 3600_000);
    await Deno.utime(legacy, hourAgo, hourAgo);
    await Deno.writeTextFile(
      join(entry, "lock"),
      JSON.stringify({ pid: dead.pid, host: hostname(), created: Date.now(), id: "x" }),
    );
    const swept = await cleanCache();
    assert.equal(swept.temporaries, 2);
    assert.equal(swept.locks, 1);
    assert.deepEqual([...Deno.readDirSync(entry)].map((e) => e.name), ["value.bin"]);
    assert.equal((await readCache("k", { folder: "sweep" })).hit, true);
  });
});

Deno.test("cache({ cacheMaxAge }) is a decorator factory, as fused-py's @fused.cache(...)", async () => {
  await withCacheDir(async () => {
    let calls = 0;
    const decorate = cache({ cacheMaxAge: "1h" });
    const square = decorate((n: number) => {
      calls++;
      return n * n;
    });
    assert.equal(await square(7), 49);
    assert.equal(await square(7), 49);
    assert.equal(calls, 1);
    const plain = cache()((n: number) => n + 1);
    assert.equal(await plain(1), 2);
    assert.throws(() => cache({ cacheMaxAge: "10 min" }), /Cannot parse/);
    assert.throws(() => cache(42 as unknown as () => void), /cache\(\) needs a function/);
  });
});
