import assert from "node:assert/strict";
import { join } from "node:path";
import { decode } from "fast-png";
import {
  findPerl,
  installKernelspec,
  jupyterDataDir,
  kernelspec,
  kernelspecDir,
  main,
} from "./install.ts";

function launcherPath(): string {
  return new URL("./_launch.pl", import.meta.url).pathname;
}

Deno.test("the kernelspec goes into a prefix with message interrupts, NO_COLOR and logos", async () => {
  const prefix = await Deno.makeTempDir();
  try {
    const dir = await installKernelspec({ prefix });
    assert.equal(dir, join(prefix, "share", "jupyter", "kernels", "fused"));
    const spec = JSON.parse(await Deno.readTextFile(join(dir, "kernel.json")));
    assert.equal(spec.display_name, "Deno (Fused)");
    assert.equal(spec.language, "typescript");
    assert.equal(spec.interrupt_mode, "message");
    assert.deepEqual(spec.env, { NO_COLOR: "1" });
    // On Linux with perl, the socket launcher runs first and execs Deno.
    const perl = findPerl();
    if (perl) assert.deepEqual(spec.argv.slice(0, 2), [perl, launcherPath()]);
    assert.equal(spec.argv[perl ? 2 : 0], Deno.execPath());
    assert.equal(spec.argv.at(-1), "{connection_file}");
    const main = spec.argv.at(-2);
    assert.ok(main.endsWith("/kernel/main.ts") && (await Deno.stat(main)).isFile);
    const config = spec.argv[spec.argv.indexOf("--config") + 1];
    assert.ok(config.endsWith("/deno.json") && (await Deno.stat(config)).isFile);
    for (const size of [32, 64]) {
      const png = decode(await Deno.readFile(join(dir, `logo-${size}x${size}.png`)));
      assert.equal(png.width, size);
      assert.equal(png.height, size);
    }
  } finally {
    await Deno.remove(prefix, { recursive: true });
  }
});

Deno.test("installing twice replaces the spec and --uninstall removes it", async () => {
  const prefix = await Deno.makeTempDir();
  const log = console.log;
  const printed: string[] = [];
  console.log = (m: string) => void printed.push(m);
  try {
    assert.equal(await main(["--prefix", prefix]), 0);
    assert.equal(await main(["--prefix", prefix]), 0);
    const kernels = join(prefix, "share", "jupyter", "kernels");
    assert.deepEqual([...Deno.readDirSync(kernels)].map((e) => e.name), ["fused"]);
    assert.equal(await main(["--prefix", prefix, "--uninstall"]), 0);
    assert.deepEqual([...Deno.readDirSync(kernels)], []);
    assert.equal(await main(["--prefix", prefix, "--uninstall"]), 0);
    assert.match(printed.at(-1)!, /was not installed/);
  } finally {
    console.log = log;
    await Deno.remove(prefix, { recursive: true });
  }
});

Deno.test("without a prefix the spec goes into JUPYTER_DATA_DIR when it is set", () => {
  const before = Deno.env.get("JUPYTER_DATA_DIR");
  try {
    Deno.env.set("JUPYTER_DATA_DIR", "/tmp/some-jupyter-data");
    assert.equal(jupyterDataDir(), "/tmp/some-jupyter-data");
    assert.equal(kernelspecDir(), "/tmp/some-jupyter-data/kernels/fused");
  } finally {
    if (before === undefined) Deno.env.delete("JUPYTER_DATA_DIR");
    else Deno.env.set("JUPYTER_DATA_DIR", before);
  }
});

Deno.test("without perl the spec runs Deno directly, and perl is looked up on PATH", () => {
  const argv = kernelspec({ perlPath: false }).argv as string[];
  assert.equal(argv[0], Deno.execPath());
  assert.ok(!argv.some((a) => a.endsWith("_launch.pl")));
  const withPerl = kernelspec({ perlPath: "/opt/perl" }).argv as string[];
  assert.deepEqual(withPerl.slice(0, 3), ["/opt/perl", launcherPath(), Deno.execPath()]);
  const path = Deno.env.get("PATH");
  try {
    Deno.env.set("PATH", "relative:/nonexistent-folder");
    assert.equal(findPerl(), undefined);
  } finally {
    if (path === undefined) Deno.env.delete("PATH");
    else Deno.env.set("PATH", path);
  }
});
