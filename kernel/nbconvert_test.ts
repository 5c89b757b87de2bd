import assert from "node:assert/strict";
import { join } from "node:path";
import { JupyterError, kernelEnv, runJupyter } from "./nbconvert.ts";

Deno.test("kernelEnv installs this checkout's kernelspec under the prefix and puts it first", async () => {
  const prefix = await Deno.makeTempDir({ prefix: "fused-kernelenv-" });
  try {
    const env = await kernelEnv(prefix);
    const first = env.JUPYTER_PATH.split(":")[0];
    assert.equal(first, join(prefix, "share", "jupyter"));
    const spec = JSON.parse(
      await Deno.readTextFile(join(first, "kernels", "fused", "kernel.json")),
    );
    assert.equal(spec.display_name, "Deno (Fused)");
  } finally {
    await Deno.remove(prefix, { recursive: true });
  }
});

Deno.test("a failed jupyter command throws a JupyterError with what it wrote to stderr", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fused-nbconvert-" });
  try {
    const err = await runJupyter(["nbconvert", "--to", "html", join(dir, "missing.ipynb")], {
      cwd: dir,
      env: {},
    }).then(() => undefined, (e) => e);
    assert.ok(err instanceof JupyterError, String(err));
    assert.match(err.message, /^jupyter nbconvert failed:/);
    assert.match(err.stderr, /missing\.ipynb/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
