/**
 * A caller's disk quota inside the UDF's process: each file it writes is capped at the quota
 * (RLIMIT_FSIZE), a caller at its quota may read and delete but write nothing, and under a quota
 * the temp folder is a tmpfs of at most the quota (inside the OS wall).
 */
import assert from "node:assert/strict";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CallerContext } from "../client/engine_types.ts";
import type { QuotaUsage } from "../client/errors.ts";
import { udf } from "../client/udf.ts";
import { localCaller } from "./_local_host.ts";
import { runtimeError, ts, withEngine } from "./_engine_test_util.ts";
import type { LocalEngine } from "./mod.ts";

const LIMIT = 1024 * 1024;

const WRITER = ts(
  `import * as fused from "fused";
export default async function udf({ to = "data", bytes = 0, name = "f.bin" }) {
  const path = to === "tmp" ? fused.options.tempDirectory + "/" + name : fused.filePath(name);
  if (bytes < 0) {
    await Deno.remove(path);
    return "removed";
  }
  await Deno.writeFile(path, new Uint8Array(bytes));
  return (await Deno.stat(path)).size;
}`,
  "writer",
);

/** A caller of its own folders whose usage is what `usage` says when asked. */
async function quotaCaller(engine: LocalEngine, usage: QuotaUsage): Promise<CallerContext> {
  const root = await Deno.makeTempDir({ prefix: "engine_quota_" });
  return {
    ...localCaller(engine),
    id: "quota-user",
    dataDir: join(root, "data"),
    cacheDir: join(root, "cache"),
    quota: { limitBytes: LIMIT, usage: () => Promise.resolve({ ...usage }) },
  };
}

function run(engine: LocalEngine, caller: CallerContext, parameters: Record<string, unknown>) {
  return engine.run({ udf: WRITER, parameters, caller, timeoutMs: 30_000 });
}

Deno.test("a UDF under a quota writes files up to it, and is stopped by a larger one, naming quota and usage", async () => {
  await withEngine({ maxWorkers: 1 }, async (engine) => {
    const usage = { store: 1000, folders: 24 };
    const caller = await quotaCaller(engine, usage);
    assert.equal((await run(engine, caller, { bytes: 4096 })).value, 4096);
    const err = await runtimeError(run(engine, caller, { bytes: 2 * LIMIT, name: "big.bin" }));
    assert.equal(err.exceptionClass, "QuotaExceededError");
    assert.match(err.message, /Writing a file larger than the user's disk quota is refused/);
    assert.match(err.message, /quota of 1 MiB \(1048576 bytes\); used 1024 bytes/);
    // Nothing past the cap reached the disk.
    assert.ok((await Deno.stat(join(caller.dataDir, "big.bin"))).size <= LIMIT);
    // The next run gets a new process and works.
    assert.equal((await run(engine, caller, { bytes: 10, name: "small.bin" })).value, 10);
  });
});

Deno.test("a UDF of a caller at its quota may read and delete, but writing a byte stops it", async () => {
  await withEngine({ maxWorkers: 1 }, async (engine) => {
    const usage = { store: 0, folders: 0 };
    const caller = await quotaCaller(engine, usage);
    assert.equal((await run(engine, caller, { bytes: 100 })).value, 100);
    usage.folders = LIMIT;
    const err = await runtimeError(run(engine, caller, { bytes: 1, name: "one.bin" }));
    assert.equal(err.exceptionClass, "QuotaExceededError");
    assert.match(err.message, /while the user holds their whole disk quota/);
    assert.match(err.message, /used 1 MiB \(1048576 bytes\)/);
    assert.equal((await run(engine, caller, { bytes: -1 })).value, "removed");
    usage.folders = 0;
    assert.equal((await run(engine, caller, { bytes: 5 })).value, 5);
  });
});

Deno.test("under a quota a UDF's temp folder is full at the quota, and nothing of it reaches the host's disk", async () => {
  await withEngine({ maxWorkers: 1, wall: "os" }, async (engine) => {
    const caller = await quotaCaller(engine, { store: 0, folders: 0 });
    // Files under the per-file cap, together past the tmpfs: the tmpfs is what stops them.
    const half = LIMIT / 2 + 4096;
    assert.equal((await run(engine, caller, { to: "tmp", bytes: half, name: "a" })).value, half);
    const err = await runtimeError(run(engine, caller, { to: "tmp", bytes: half, name: "b" }));
    assert.match(err.message, /No space left on device/);
    assert.match(err.message, /temp folder is memory/);
    // The host's temp folders of this engine's processes stayed empty: the files were in memory.
    for await (const entry of Deno.readDir(tmpdir())) {
      if (!entry.name.startsWith(`fused-udf-${Deno.pid}-`)) continue;
      for await (const file of Deno.readDir(join(tmpdir(), entry.name, "tmp"))) {
        assert.fail(`${file.name} was written to the host's disk`);
      }
    }
  });
});

Deno.test("a Python UDF of a caller at its quota still runs (its files are never written), and writing a byte fails", async () => {
  await withEngine({ maxWorkers: 2, wall: "os" }, async (engine) => {
    const caller = await quotaCaller(engine, { store: 0, folders: LIMIT });
    const python = (body: string, name: string) =>
      udf(
        `from helper import twice\n\n@fused.udf\ndef udf(n: int = 2):\n${body}\n`,
        { name, headers: { helper: "def twice(n):\n    return 2 * n\n" } },
      );
    const read = await engine.run({ udf: python(`    return twice(n)`, "reader"), caller });
    assert.equal(read.value, 4);
    const err = await runtimeError(engine.run({
      udf: python(
        `    with open(fused.file_path("one.bin"), "wb") as f:\n        f.write(b"x")`,
        "py_writer",
      ),
      caller,
      timeoutMs: 30_000,
    }));
    // Python ignores SIGXFSZ: the file cap is an error of the write, not a stopped process.
    assert.equal(err.exceptionClass, "OSError");
    assert.match(err.message, /File too large \(the caller's disk quota caps each file/);
    assert.equal((await Deno.stat(join(caller.dataDir, "one.bin"))).size, 0);
  });
});
