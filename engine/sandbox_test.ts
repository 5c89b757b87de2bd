/**
 * The executor's walls, tried as an attacker would: each hostile UDF fails with an error that
 * names the cause, the next run works, and no process of it is left (checked in /proc). The OS
 * wall (namespaces) is tried on its own too, behind Deno flags that allow everything it hides.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { UdfRuntimeError, UdfTimeoutError } from "../client/errors.ts";
import { options } from "../client/options.ts";
import { udf } from "../client/udf.ts";
import { LocalEngine } from "./mod.ts";
import { moduleFolderName } from "./_module_files.ts";
import { denoDir } from "./_roots.ts";
import { processesWith } from "./_engine_test_util.ts";
import { type SandboxPermissions, type SandboxProcess, spawnSandbox } from "./_sandbox.ts";
import type { Udf } from "../client/udf.ts";

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
      // Inside namespaces: bubblewrap, its pid namespace's first process, and Deno.
      assert.ok(spinning.length >= 1, "the UDF's process did not start");
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

const DENO = Deno.realPathSync(Deno.execPath());

/** The pids of `pid`'s descendants, nearest first. */
function descendants(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      // The command name may hold spaces: the parent pid is the 2nd field after its ")".
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry.name)]);
    } catch {
      // it ended while we looked
    }
  }
  const found: number[] = [];
  for (let i = -1; i < found.length; i++) {
    found.push(...(parents.get(i < 0 ? pid : found[i]) ?? []));
  }
  return found;
}

/** The Deno process of a sandboxed process: itself, or one inside its namespaces. */
function denoOf(proc: SandboxProcess): number {
  const deno = [proc.pid, ...descendants(proc.pid)].find((pid) => {
    try {
      return Deno.readLinkSync(`/proc/${pid}/exe`) === DENO;
    } catch {
      return false;
    }
  });
  assert.ok(deno, "no Deno process in the sandbox");
  return deno;
}

/** The first line a process prints. */
async function firstLine(stream: ReadableStream<Uint8Array>): Promise<string> {
  let text = "";
  const decoder = new TextDecoder();
  for await (const chunk of stream) {
    text += decoder.decode(chunk, { stream: true });
    if (text.includes("\n")) break;
  }
  return text.split("\n")[0];
}

const wallRoot = await Deno.makeTempDir({ prefix: "sandbox_wall_" });

/**
 * Runs `body` (which fills `result`) in a sandboxed process, then lets `inspect` look at the
 * still running Deno process from the host, then kills it. Returns the result and the process.
 */
async function sandboxed(
  body: string,
  permissions: Partial<SandboxPermissions> = {},
  options: { wall?: "os" | "deno"; inspect?: (deno: number) => void } = {},
): Promise<{ result: Record<string, unknown>; proc: SandboxProcess }> {
  const dir = await Deno.makeTempDir({ dir: wallRoot, prefix: "script_" });
  const script = join(dir, "probe.ts");
  await Deno.writeTextFile(
    script,
    `const result: Record<string, unknown> = {};
const attempt = (name: string, fn: () => unknown) => {
  try {
    result[name] = fn();
  } catch (err) {
    result[name] = (err as Error).name;
  }
};
${body}
console.log(JSON.stringify(result));
await new Promise((r) => setTimeout(r, 60_000));
`,
  );
  const proc = spawnSandbox({
    script,
    args: [],
    cwd: dir,
    denoDir: denoDir(),
    permissions: {
      read: [dir, ...(permissions.read ?? [])],
      write: permissions.write ?? [],
      net: permissions.net ?? false,
    },
    limits: { memoryMb: 512, maxTasks: 64 },
    wall: options.wall,
  });
  const stderr = new Response(proc.child.stderr).text();
  try {
    const line = await firstLine(proc.child.stdout);
    if (!line) throw new Error(`the process ended without a result: ${await stderr}`);
    options.inspect?.(denoOf(proc));
    return { result: JSON.parse(line), proc };
  } finally {
    proc.kill();
    await proc.status;
    proc.cleanup();
  }
}

Deno.test({
  name: "the OS wall hides what Deno's flags would allow",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const readAll = `for (const path of ["/etc/shadow", "/etc/passwd", "/etc/hostname", ${
      JSON.stringify(new URL(import.meta.url).pathname)
    }]) attempt(path, () => Deno.readTextFileSync(path).length);`;

    await t.step("with read of / it finds no host file it was not given", async () => {
      const { result, proc } = await sandboxed(readAll, { read: ["/"] });
      assert.equal(proc.wall, "namespaces");
      for (const [path, outcome] of Object.entries(result)) {
        assert.equal(outcome, "NotFound", path);
      }
      // The same flags without the namespaces read them: the wall above is the OS's.
      const bare = await sandboxed(readAll, { read: ["/"] }, { wall: "deno" });
      assert.equal(bare.proc.wall, "deno flags");
      assert.equal(typeof bare.result["/etc/passwd"], "number");
    });

    await t.step("a symlink in its data folder to a host file outside leads nowhere", async () => {
      const data = await Deno.makeTempDir({ dir: wallRoot, prefix: "data_" });
      const outside = await Deno.makeTempDir({ prefix: "sandbox_outside_" });
      await Deno.writeTextFile(join(outside, "secret.txt"), "host secret");
      await Deno.symlink(join(outside, "secret.txt"), join(data, "link"));
      const body = `attempt("link", () => Deno.readTextFileSync(${
        JSON.stringify(join(data, "link"))
      }));`;
      try {
        const { result } = await sandboxed(body, { read: ["/"], write: [data] });
        assert.equal(result.link, "NotFound");
        const bare = await sandboxed(body, { read: ["/"], write: [data] }, { wall: "deno" });
        assert.equal(bare.result.link, "host secret"); // what the OS wall closes
      } finally {
        await Deno.remove(outside, { recursive: true });
      }
    });

    await t.step(
      "it is uid 65534 in its own pid namespace and sees only its own /proc",
      async () => {
        let seen: { uidMap: string; nsPid: string; procs: number[]; pidNs: string } | undefined;
        const { result, proc } = await sandboxed(`result.pid = Deno.pid;`, {}, {
          inspect: (deno) => {
            seen = {
              uidMap: Deno.readTextFileSync(`/proc/${deno}/uid_map`).trim(),
              nsPid: /^NSpid:\s*(.*)$/m.exec(Deno.readTextFileSync(`/proc/${deno}/status`))![1],
              // Its root, as it sees it: the /proc mounted there is the one it can list.
              procs: [...Deno.readDirSync(`/proc/${deno}/root/proc`)]
                .filter((e) => /^\d+$/.test(e.name))
                .map((e) => Number(e.name)),
              pidNs: Deno.readLinkSync(`/proc/${deno}/ns/pid`),
            };
          },
        });
        assert.ok(seen);
        assert.match(seen.uidMap, new RegExp(`^65534\\s+${Deno.uid()}\\s+1$`));
        assert.notEqual(seen.pidNs, Deno.readLinkSync("/proc/self/ns/pid"));
        assert.ok((result.pid as number) <= 3, `pid ${result.pid} inside`);
        assert.equal(Number(seen.nsPid.split(/\s+/).at(-1)), result.pid);
        assert.ok(seen.procs.every((p) => p <= 3), `it sees processes ${seen.procs}`);
        // Killed from the host: the whole sandbox goes, and the kill is reported as a signal.
        assert.equal((await proc.status).signal, "SIGKILL");
      },
    );

    await t.step("without a network host it has its own empty loopback", async () => {
      const server = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const { port } = server.addr as Deno.NetAddr;
      const accepted: Deno.Conn[] = [];
      const accepting = (async () => {
        for await (const conn of server) accepted.push(conn);
      })();
      const connect = `try {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: ${port} });
  conn.close();
  result.tcp = "connected";
} catch (err) {
  result.tcp = (err as Error).name;
}`;
      const listening = (deno: number) =>
        Deno.readTextFileSync(`/proc/${deno}/net/tcp`).includes(
          `0100007F:${port.toString(16).toUpperCase().padStart(4, "0")} 00000000:0000 0A`,
        );
      try {
        let sees: boolean | undefined;
        const walled = await sandboxed(connect, { net: ["unix:/nowhere"] }, {
          inspect: (deno) => {
            sees = listening(deno);
            assert.notEqual(
              Deno.readLinkSync(`/proc/${deno}/ns/net`),
              Deno.readLinkSync("/proc/self/ns/net"),
            );
          },
        });
        assert.equal(walled.result.tcp, "NotCapable");
        assert.equal(sees, false, "the host's listening socket is in its network namespace");
        assert.equal(accepted.length, 0);
        const allowed = await sandboxed(connect, { net: [`127.0.0.1:${port}`] }, {
          inspect: (deno) => (sees = listening(deno)),
        });
        assert.equal(allowed.result.tcp, "connected");
        assert.equal(sees, true);
        assert.equal(accepted.length, 1);
      } finally {
        server.close();
        await accepting.catch(() => {});
        for (const conn of accepted) conn.close();
      }
    });

    await t.step("what it writes in its data folder is the host's to read and remove", async () => {
      const data = await Deno.makeTempDir({ dir: wallRoot, prefix: "data_" });
      const out = join(data, "out.txt");
      await sandboxed(`Deno.writeTextFileSync(${JSON.stringify(out)}, "written inside");`, {
        write: [data],
      });
      assert.equal(await Deno.readTextFile(out), "written inside");
      assert.equal((await Deno.stat(out)).uid, Deno.uid());
      await Deno.remove(out);
    });

    await t.step("without bubblewrap it runs behind Deno's flags, with one notice", async () => {
      // A host that finds no bwrap: /usr/bin/bwrap is /dev/null in its mount namespace.
      const script = join(wallRoot, "no_bwrap_host.ts");
      await Deno.writeTextFile(
        script,
        `import { spawnSandbox } from ${
          JSON.stringify(new URL("./_sandbox.ts", import.meta.url).href)
        };
await Deno.writeTextFile(${JSON.stringify(join(wallRoot, "pid.ts"))}, "console.log(Deno.pid)");
for (let i = 0; i < 2; i++) {
  const proc = spawnSandbox({
    script: ${JSON.stringify(join(wallRoot, "pid.ts"))},
    args: [],
    cwd: ${JSON.stringify(wallRoot)},
    denoDir: ${JSON.stringify(denoDir())},
    permissions: { read: [${JSON.stringify(wallRoot)}], write: [], net: false },
    limits: { memoryMb: 256, maxTasks: 64 },
  });
  const [pid] = await Promise.all([new Response(proc.child.stdout).text(), proc.status]);
  proc.cleanup();
  console.log(proc.wall, Number(pid) === proc.pid);
}
`,
      );
      const bwrap = ["/usr/bin/bwrap", "--dev-bind", "/", "/", "--ro-bind", "/dev/null"];
      const host = await new Deno.Command(bwrap[0], {
        args: [...bwrap.slice(1), "/usr/bin/bwrap", DENO, "run", "-A", script],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const err = new TextDecoder().decode(host.stderr);
      assert.ok(host.success, err);
      assert.equal(new TextDecoder().decode(host.stdout), "deno flags true\ndeno flags true\n");
      assert.equal(err.match(/without their own namespaces/g)?.length, 1, err);
      assert.match(err, /bubblewrap \(bwrap\) is not installed.*apt-get install bubblewrap/);
    });

    await t.step(
      "FUSED_UDF_WALL=deno chooses Deno's flags, and a bad value is refused",
      async () => {
        try {
          Deno.env.set("FUSED_UDF_WALL", "deno");
          const { result, proc } = await sandboxed(`result.pid = Deno.pid;`);
          assert.equal(proc.wall, "deno flags");
          assert.equal(result.pid, proc.pid);
          Deno.env.set("FUSED_UDF_WALL", "namespaces");
          await assert.rejects(
            sandboxed(""),
            /FUSED_UDF_WALL must be "os" or "deno", got "namespaces"/,
          );
        } finally {
          Deno.env.delete("FUSED_UDF_WALL");
        }
      },
    );

    await t.step(
      "the engine runs UDFs inside the wall, and behind Deno's flags alone",
      async () => {
        const pid = udf("export default function udf() { return Deno.pid }", { name: "own_pid" });
        const walled = new LocalEngine({ dataDir: join(wallRoot, "engine") });
        const bare = new LocalEngine({ dataDir: join(wallRoot, "engine"), wall: "deno" });
        options.update({
          dataDirectory: join(wallRoot, "data"),
          cacheDirectory: join(wallRoot, "cache"),
        });
        try {
          assert.ok(((await walled.run({ udf: pid })).value as number) <= 3);
          assert.ok(((await bare.run({ udf: pid })).value as number) > 3);
        } finally {
          await walled.close();
          await bare.close();
          options.reset();
        }
        await Deno.remove(wallRoot, { recursive: true });
      },
    );
  },
});
