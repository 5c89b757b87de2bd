/**
 * The set-up behind `./fused`: `.ci/setup` installs what is missing and skips what is there (here
 * the kernelspec, in a temporary Jupyter data dir, which another checkout's kernel keeps: the apt packages, Deno and the npm
 * dependencies are present on a machine that runs the tests), and CI runs exactly the README's
 * test command.
 */
import assert from "node:assert/strict";
import { join } from "node:path";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const dec = new TextDecoder();

async function setup(jupyterDir: string): Promise<string> {
  const out = await new Deno.Command("bash", {
    args: [join(ROOT, ".ci", "setup")],
    env: { JUPYTER_DATA_DIR: jupyterDir },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(300_000),
  }).output();
  const text = dec.decode(out.stdout) + dec.decode(out.stderr);
  assert.equal(out.code, 0, text);
  return text;
}

Deno.test(".ci/setup installs a missing kernelspec, then skips it when it is there", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fused-setup-test-" });
  try {
    const first = await setup(dir);
    assert.match(first, /Installed the kernelspec "fused"/);
    const spec = join(dir, "kernels", "fused", "kernel.json");
    const argv = JSON.parse(await Deno.readTextFile(spec)).argv as string[];
    assert.ok(argv.includes(join(ROOT, "kernel", "main.ts")), argv.join(" "));
    const before = (await Deno.stat(spec)).mtime?.getTime();
    assert.equal(await setup(dir), "", "a second run has nothing to install and says nothing");
    assert.equal((await Deno.stat(spec)).mtime?.getTime(), before);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test(".ci/setup keeps another checkout's kernelspec, names it, and re-points only when asked", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fused-setup-test-" });
  try {
    const spec = join(dir, "kernels", "fused", "kernel.json");
    await Deno.mkdir(join(dir, "kernels", "fused"), { recursive: true });
    const other = "/elsewhere/fused-ts";
    const theirs = JSON.stringify({ argv: ["deno", "run", `${other}/kernel/main.ts`] });
    await Deno.writeTextFile(spec, theirs);
    const said = await setup(dir);
    assert.equal(await Deno.readTextFile(spec), theirs, "the other checkout's spec is left alone");
    const lines = said.trim().split("\n");
    assert.equal(lines.length, 1, said);
    assert.match(lines[0], new RegExp(`runs the checkout ${other}, not this one`));
    assert.ok(lines[0].includes(`${join(ROOT, "fused")} kernel install`), lines[0]);
    const out = await new Deno.Command(join(ROOT, "fused"), {
      args: ["kernel", "install"],
      env: { JUPYTER_DATA_DIR: dir },
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(300_000),
    }).output();
    assert.equal(out.code, 0, dec.decode(out.stderr));
    const argv = JSON.parse(await Deno.readTextFile(spec)).argv as string[];
    assert.ok(argv.includes(join(ROOT, "kernel", "main.ts")), argv.join(" "));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("CI runs exactly the README's test command, which is the second of its two", async () => {
  const readme = await Deno.readTextFile(join(ROOT, "README.md"));
  const block = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? "";
  const commands = block.split("\n").filter((l) => l.trim()).map((l) => l.split("#")[0].trim());
  assert.deepEqual(commands, ["./fused demo", "./fused test"]);
  const ci = (await Deno.readTextFile(join(ROOT, ".ci", "run"))).split("\n")
    .filter((l) => l.trim() && !l.startsWith("#") && !l.startsWith("set ") && !l.startsWith("cd "));
  assert.deepEqual(ci, ["./fused test"]);
});
