/**
 * The executor's walls, tried as an attacker would: each hostile UDF fails with an error that
 * names the cause, the next run works, and no process of it is left (checked in /proc).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { UdfRuntimeError, UdfTimeoutError } from "../client/errors.ts";
import { options } from "../client/options.ts";
import { udf } from "../client/udf.ts";
import { LocalEngine } from "./mod.ts";
import { moduleFolderName } from "./_module_files.ts";
import type { Udf } from "../client/udf.ts";

/** Pids of live UDF processes whose command line mentions `marker`. */
function processesWith(marker: string): number[] {
  const found: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`);
      const state = Deno.readTextFileSync(`/proc/${entry.name}/stat`).split(" ")[2];
      if (cmdline.includes("_child.ts") && cmdline.includes(marker) && state !== "Z") {
        found.push(Number(entry.name));
      }
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}

/** The cgroup folders UDF processes of host `pid` had. */
function staleCgroups(pid: number): string[] {
  const found: string[] = [];
  const own = Deno.readTextFileSync("/proc/self/cgroup").split("\n");
  for (const line of own) {
    const [, controllers, path] = line.split(":");
    if (controllers !== "memory" && controllers !== "pids") continue;
    try {
      for (const entry of Deno.readDirSync(join("/sys/fs/cgroup", controllers, path))) {
        if (entry.name.startsWith(`fused-udf-${pid}-`)) found.push(entry.name);
      }
    } catch {
      // no such hierarchy here
    }
  }
  return found;
}

async function waitGone(marker: string): Promise<number[]> {
  for (let i = 0; i < 100; i++) {
    const left = processesWith(marker);
    if (left.length === 0) return left;
    await new Promise((r) => setTimeout(r, 50));
  }
  return processesWith(marker);
}

/** The UDF's process (its command line names its module folder) is gone, not spinning on. */
async function assertGone(u: Udf): Promise<void> {
  assert.deepEqual(await waitGone(moduleFolderName(u)), [], `a process of ${u.name} is left`);
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error("the run did not fail");
}

const root = await Deno.makeTempDir({ prefix: "sandbox_test_" });
const dataDir = join(root, "data");
options.update({ dataDirectory: dataDir, cacheDirectory: join(root, "cache") });
const engine = new LocalEngine({ dataDir: join(root, "engine"), maxWorkers: 2 });
const healthy = udf("export default function udf({ n = 1 }) { return n + 1 }", { name: "healthy" });

async function stillServes(): Promise<void> {
  assert.equal((await engine.run({ udf: healthy, parameters: { n: 41 } })).value, 42);
}

Deno.test({
  name: "hostile UDFs fail with their cause and leave the engine serving",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    await t.step("a spinning eval is killed at its timeout, and its process is gone", async () => {
      const spin = udf(`export default function udf() { eval("while (true) {}") }`, {
        name: "spin_eval",
      });
      const err = await failure(engine.run({ udf: spin, timeoutMs: 1000 }));
      assert.ok(err instanceof UdfTimeoutError, String(err));
      await assertGone(spin);
      await stillServes();
    });

    await t.step("a catastrophic regex in a module with an enum is killed too", async () => {
      const regex = udf(
        `enum Mode { A }\nexport default function udf() { return Mode.A + Number(/^(a+)+$/.test("a".repeat(40) + "b")) }`,
        { name: "regex_enum" },
      );
      const err = await failure(engine.run({ udf: regex, timeoutMs: 1000 }));
      assert.ok(err instanceof UdfTimeoutError, String(err));
      await assertGone(regex);
      await stillServes();
    });

    await t.step("runaway JS heap growth fails as out of memory", async () => {
      const hog = udf(
        `export default function udf() { const a = []; while (true) a.push(new Array(20_000_000).fill(1.5)); }`,
        { name: "heap_hog" },
      );
      const err = await failure(engine.run({ udf: hog, memoryLimitMb: 256, timeoutMs: 60_000 }));
      assert.ok(err instanceof UdfRuntimeError, String(err));
      assert.equal(err.exceptionClass, "MemoryLimitError");
      assert.match(err.message, /ran out of memory \(limit 256 MB\)/);
      await assertGone(hog);
      await stillServes();
    });

    await t.step("ArrayBuffers count against the memory limit", async () => {
      const buffers = udf(
        `export default function udf() { const keep = []; for (let i = 0; i < 16; i++) keep.push(new Uint8Array(256 * 2 ** 20).fill(1)); return keep.length }`,
        { name: "buffer_hog" },
      );
      const err = await failure(
        engine.run({ udf: buffers, memoryLimitMb: 512, timeoutMs: 60_000 }),
      );
      assert.ok(err instanceof UdfRuntimeError, String(err));
      assert.ok(
        err.exceptionClass === "MemoryLimitError" || err.exceptionClass === "RangeError",
        err.message,
      );
      assert.match(err.message, /out of memory|allocation failed/i);
      await assertGone(buffers);
      await stillServes();
    });

    await t.step("three 256 MiB strings as a result kill only the UDF's process", async () => {
      const strings = udf(
        `export default function udf() { const s = "x".repeat(2 ** 28); return [s, s, s]; }`,
        { name: "huge_strings" },
      );
      const err = await failure(
        engine.run({ udf: strings, memoryLimitMb: 1024, timeoutMs: 60_000 }),
      );
      assert.ok(err instanceof UdfRuntimeError, String(err));
      assert.match(err.message, /out of memory|Invalid string length|over the .* limit/);
      await stillServes();
    });

    await t.step("a result over maxResultBytes is refused naming the option", async () => {
      const small = new LocalEngine({ dataDir: join(root, "engine_small") });
      options.maxResultBytes = 1024;
      try {
        const big = udf("export default function udf() { return new Uint8Array(4096) }", {
          name: "big_result",
        });
        const err = await failure(small.run({ udf: big }));
        assert.match(err.message, /4096 bytes, over the limit of 1024 \(options\.maxResultBytes\)/);
      } finally {
        options.maxResultBytes = 256 * 2 ** 20;
        await small.close();
      }
    });

    await t.step("Deno.exit fails the run at once with the exit code", async () => {
      const exits = udf("export default function udf() { Deno.exit(3) }", { name: "exits" });
      const err = await failure(engine.run({ udf: exits, timeoutMs: 60_000 }));
      assert.ok(err instanceof UdfRuntimeError);
      assert.equal(err.exceptionClass, "ProcessExit");
      assert.match(err.message, /its process exited with code 3/);
      await assertGone(exits);
      await stillServes();
    });

    await t.step("the environment, /proc and other folders are out of reach", async () => {
      const probes = {
        environ: `return Deno.readTextFileSync("/proc/self/environ")`,
        env: `return Deno.env.toObject().HOME ?? Deno.env.get("PATH")`,
        parent: `return [...Deno.readDirSync(new URL("..", import.meta.url))].length`,
        engine: `return [...Deno.readDirSync(${JSON.stringify(join(root, "engine"))})].length`,
        passwd: `return Deno.readTextFileSync("/etc/passwd")`,
        spawn: `return (await new Deno.Command("/usr/bin/id").output()).code`,
        symlink: `Deno.symlinkSync("/etc", "escape"); return 1`,
        net: `return (await fetch("http://127.0.0.1:8783/v1/user/self")).status`,
        tcp: `return (await Deno.connect({ hostname: "127.0.0.1", port: 5432 })).localAddr`,
      };
      for (const [name, body] of Object.entries(probes)) {
        const probe = udf(`export default async function udf() { ${body} }`, { name: `p_${name}` });
        const err = await failure(engine.run({ udf: probe, timeoutMs: 30_000 }));
        assert.ok(err instanceof UdfRuntimeError, `${name}: ${err}`);
        assert.equal(err.exceptionClass, "NotCapable", `${name}: ${err.message}`);
      }
      await stillServes();
    });

    await t.step("a Worker bomb stops at the task limit", async () => {
      const bomb = udf(
        `export default function udf() { const ws = []; for (let i = 0; i < 300; i++) ws.push(new Worker("data:text/javascript,setInterval(() => {}, 1000)", { type: "module" })); return ws.length }`,
        { name: "worker_bomb" },
      );
      const err = await failure(engine.run({ udf: bomb, timeoutMs: 60_000 }));
      assert.ok(err instanceof UdfRuntimeError, String(err));
      await stillServes();
    });

    await t.step("a 10,000,000-line log is kept at its start and end", async () => {
      const chatty = udf(
        `export default function udf() { for (let i = 0; i < 10_000_000; i++) console.log("line", i); return "done" }`,
        { name: "chatty" },
      );
      const { value, logs } = await engine.run({ udf: chatty, timeoutMs: 120_000 });
      assert.equal(value, "done");
      assert.ok(logs.stdout.length < 2 * 2 ** 20, `${logs.stdout.length} characters kept`);
      assert.match(logs.stdout, /^line 0\n/);
      assert.match(logs.stdout, /characters of output cut/);
      assert.match(logs.stdout, /line 9999999\n$/);
      await stillServes();
    });

    await t.step("when the host is killed, its spinning UDF's process dies with it", async () => {
      const marker = join(root, `orphan-${crypto.randomUUID()}`);
      const script = join(root, "host.ts");
      const url = (path: string) => new URL(path, import.meta.url).href;
      await Deno.writeTextFile(
        script,
        `import { udf } from ${JSON.stringify(url("../client/udf.ts"))};
import { options } from ${JSON.stringify(url("../client/options.ts"))};
import { LocalEngine } from ${JSON.stringify(url("./mod.ts"))};
options.dataDirectory = ${JSON.stringify(marker)};
const engine = new LocalEngine({ dataDir: ${JSON.stringify(join(root, "engine_orphan"))} });
void engine.run({ udf: udf("export default function udf() { while (true) {} }", { name: "orphan" }) });
setInterval(() => {}, 1000);
`,
      );
      const host = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          `--config=${new URL("../deno.json", import.meta.url).pathname}`,
          script,
        ],
        stdout: "null",
        stderr: "null",
      }).spawn();
      let spinning: number[] = [];
      for (let i = 0; i < 300 && spinning.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
        spinning = processesWith(marker);
      }
      assert.equal(spinning.length, 1, "the UDF's process did not start");
      host.kill("SIGKILL");
      await host.status;
      assert.deepEqual(await waitGone(marker), [], "the orphaned UDF process kept spinning");
      // Its cgroups are left behind by the dead host; the next host that starts removes them.
      const cgroups = staleCgroups(host.pid);
      if (cgroups.length > 0) {
        await Deno.writeTextFile(
          script,
          (await Deno.readTextFile(script)).replace(
            "while (true) {}",
            "return 1",
          ).replace("void engine.run", "await engine.run").replace(
            "setInterval(() => {}, 1000);",
            "await engine.close();",
          ),
        );
        const next = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            `--config=${new URL("../deno.json", import.meta.url).pathname}`,
            script,
          ],
          stdout: "null",
          stderr: "inherit",
        }).output();
        assert.ok(next.success);
        assert.deepEqual(staleCgroups(host.pid), []);
      }
    });

    await t.step("after close no UDF process is left", async () => {
      await engine.close();
      assert.deepEqual(await waitGone(dataDir), []);
      await Deno.remove(root, { recursive: true });
      options.reset();
    });
  },
});
