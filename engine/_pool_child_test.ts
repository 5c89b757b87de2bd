/**
 * The folders of UDF processes (engine/_pool_child.ts): named with their host's pid, so the next
 * host removes those a killed host left, and never those of a host still running.
 */
import assert from "node:assert/strict";
import { join } from "node:path";

const PROJECT = new URL("..", import.meta.url).pathname;

/** A host in its own process: runs one UDF, says so, then stays (or exits when `exit`). */
function hostScript(root: string, exit: boolean): string {
  return `import { options } from "${PROJECT}client/options.ts";
import { udf } from "${PROJECT}client/udf.ts";
import { LocalEngine } from "${PROJECT}engine/mod.ts";
options.update({ dataDirectory: "${join(root, "data")}", cacheDirectory: "${
    join(root, "cache")
  }" });
const engine = new LocalEngine({ dataDir: "${join(root, "engine")}", maxWorkers: 1 });
const { value } = await engine.run({ udf: udf("export default () => 1", { name: "one" }) });
console.log("ran", value);
${exit ? "await engine.close();" : "await new Promise(() => {});"}
`;
}

interface Host {
  process: Deno.ChildProcess;
  pid: number;
}

/** Starts a host with `tmp` as its temp folder and waits until its UDF has run. */
async function startHost(root: string, tmp: string, name: string, exit: boolean): Promise<Host> {
  const script = join(root, `${name}.ts`);
  await Deno.writeTextFile(script, hostScript(root, exit));
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-worker-options", "--config", `${PROJECT}deno.json`, script],
    cwd: PROJECT,
    env: { TMPDIR: tmp },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = process.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!out.includes("ran 1")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`host ${name} ended before its run: ${out}`);
    out += value;
  }
  reader.releaseLock();
  return { process, pid: process.pid };
}

async function folders(tmp: string): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(tmp)) {
    if (entry.name.startsWith("fused-udf-")) out.push(entry.name);
  }
  return out.sort();
}

Deno.test("the next host removes the UDF folders of a killed host and keeps a live host's", async () => {
  const root = await Deno.makeTempDir({ prefix: "fused-pool-child-" });
  const tmp = join(root, "tmp");
  await Deno.mkdir(tmp);
  let live: Host | undefined;
  try {
    const killed = await startHost(root, tmp, "killed", false);
    const left = await folders(tmp);
    assert.ok(left.length > 0, "the host's UDF process has a folder");
    for (const name of left) assert.match(name, new RegExp(`^fused-udf-${killed.pid}-`));
    killed.process.kill("SIGKILL");
    await killed.process.status;
    await killed.process.stdout.cancel().catch(() => {});
    assert.deepEqual(await folders(tmp), left, "a killed host leaves its folders");

    live = await startHost(root, tmp, "live", false);
    const kept = (await folders(tmp)).filter((name) => !left.includes(name));
    assert.ok(kept.length > 0, "the live host's UDF process has a folder");
    for (const name of kept) assert.match(name, new RegExp(`^fused-udf-${live.pid}-`));

    const next = await startHost(root, tmp, "next", true);
    assert.equal((await next.process.status).code, 0);
    await next.process.stdout.cancel().catch(() => {});
    // engine.close() does not wait for the processes to end: the folders of a host that exits
    // right after it may stay, until the next host sweeps them too.
    const after = (await folders(tmp)).filter((name) => !name.startsWith(`fused-udf-${next.pid}-`));
    assert.deepEqual(after.filter((name) => left.includes(name)), [], "the killed host's stay");
    assert.deepEqual(after, kept, "only the live host's folders remain");
  } finally {
    if (live) {
      live.process.kill("SIGKILL");
      await live.process.status;
      await live.process.stdout.cancel().catch(() => {});
    }
    await Deno.remove(root, { recursive: true });
  }
});
