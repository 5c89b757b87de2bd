/**
 * `notebooks/main.ipynb` executed twice on one kernel by nbclient, as Run All twice in a
 * notebook: the second pass must run every cell again without an error (`%fused serve` keeps or
 * moves the service it started the first time).
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { PYTHON, sharedKernelEnv } from "./_jupyter.ts";

const ROOT = new URL("..", import.meta.url).pathname;

// nbclient's setup_kernel keeps one kernel for both passes; any cell error raises.
const DRIVER = `
import json, sys
import nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
client = NotebookClient(nb, timeout=240, kernel_name="fused", resources={"metadata": {"path": sys.argv[2]}})
outputs = []
with client.setup_kernel():
    for _ in range(2):
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        serve = next(c for c in nb.cells if c.get("id") == "serve")
        outputs.append("".join(o.get("text", "") for o in serve.outputs))
print(json.dumps(outputs))
`;

Deno.test("notebooks/main.ipynb runs twice on one kernel: the second %fused serve keeps or moves the service", async () => {
  const env = await sharedKernelEnv("fused-main-rerun");
  const out = await new Deno.Command(PYTHON, {
    args: ["-c", DRIVER, join(ROOT, "notebooks", "main.ipynb"), join(ROOT, "notebooks")],
    cwd: ROOT,
    env,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(500_000),
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `the second Run All failed:\n${stderr.slice(-3000)}`);
  const [first, second] = JSON.parse(
    new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!,
  );
  assert.match(first, /^Embedded Fused service at/);
  assert.match(second, /^(Kept the running service|Moved the embedded service)/);
});
