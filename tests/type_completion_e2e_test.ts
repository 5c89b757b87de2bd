/**
 * Type-aware completion end to end: Debian's jupyter_client starts the installed kernel, runs a
 * cell, and asks complete_request until the language server (cold at first) has answered.
 */
import assert from "node:assert/strict";
import { KERNEL_NAME } from "../kernel/install.ts";
import { installedKernelEnv, PYTHON } from "./_jupyter.ts";

const DRIVER = `
import json, signal, time
from jupyter_client.manager import start_new_kernel
signal.alarm(100)
km, kc = start_new_kernel(kernel_name=${JSON.stringify(KERNEL_NAME)}, startup_timeout=60)
try:
    r = kc.execute_interactive(
        "function f(): { alpha: number; beta: string } { return null as any }", timeout=30)
    assert r["content"]["status"] == "ok", r["content"]
    first = None
    reply = None
    deadline = time.time() + 60
    for attempt in range(120):
        reply = kc.complete("f().", 4, reply=True, timeout=15)["content"]
        if first is None:
            first = reply
        if "alpha" in reply["matches"] or time.time() > deadline:
            break
        time.sleep(0.5)
    print(json.dumps({"first": first, "last": reply}))
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=False)
`;

Deno.test("jupyter_client completes a member known only from its TypeScript type", async () => {
  const prefix = await Deno.makeTempDir({ prefix: "fused-type-completion-e2e-" });
  try {
    const out = await new Deno.Command(PYTHON, {
      args: ["-c", DRIVER],
      cwd: new URL("..", import.meta.url).pathname,
      env: await installedKernelEnv(prefix),
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(120_000),
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    const report = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
    // Whatever the cold server managed, the first reply is a valid one.
    assert.equal(report.first.status, "ok");
    const last = report.last;
    assert.ok(last.matches.includes("alpha") && last.matches.includes("beta"), last.matches);
    assert.equal(last.cursor_start, 4);
    const types = last.metadata._jupyter_types_experimental;
    assert.equal(types.find((t: { text: string }) => t.text === "alpha").type, "property");
  } finally {
    await Deno.remove(prefix, { recursive: true });
  }
});
