/**
 * End-to-end tests of the real kernel (protocol loop + evaluator Worker) driven by Debian's
 * jupyter_client, jupyter_kernel_test and nbconvert, with the kernelspec installed into a
 * temporary prefix. Every Python run has its own timeout and is killed on ours.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { PYTHON, sharedKernelEnv } from "./_jupyter.ts";

const HERE = new URL(".", import.meta.url).pathname;
const ROOT = new URL("..", import.meta.url).pathname;
const dec = new TextDecoder();

/** Environment that points Jupyter at a temp prefix with the kernelspec (once per test run). */
function jupyterEnv(): Promise<Record<string, string>> {
  return sharedKernelEnv("fused-kernel-e2e");
}

async function run(
  cmd: string,
  args: string[],
  options: { timeoutMs: number; cwd?: string },
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(cmd, {
    args,
    cwd: options.cwd ?? ROOT,
    env: await jupyterEnv(),
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(options.timeoutMs),
  }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Runs one scenario of tests/kernel_driver.py and returns its JSON report. */
async function scenario(name: string): Promise<Record<string, unknown>> {
  const r = await run(PYTHON, [join(HERE, "kernel_driver.py"), name], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, `driver ${name} failed:\n${r.stderr}`);
  const last = r.stdout.trim().split("\n").at(-1)!;
  return JSON.parse(last);
}

Deno.test("jupyter_client gets kernel_info, heartbeats and the result 2 for 1+1", async () => {
  const r = await scenario("basics");
  assert.equal(r.heartbeat, true);
  assert.equal(r.language, "typescript");
  assert.equal(r.implementation, "fused-ts");
  assert.equal(r.protocol_version, "5.3");
  assert.equal(r.status, "ok");
  assert.equal(r.result, "2");
  assert.deepEqual(r.order, ["status", "execute_input", "execute_result", "status"]);
});

for (
  const [name, what] of [
    ["interrupt_await", "an awaiting cell"],
    ["interrupt_sync", "a synchronous loop"],
  ] as const
) {
  Deno.test(`interrupting ${what} ends it, keeps state, and the kernel answers within 2 s`, async () => {
    const r = await scenario(name);
    assert.equal(r.reply_status, "error");
    assert.equal(r.ename, "KeyboardInterrupt");
    assert.ok(
      (r.interrupt_to_reply_s as number) < 2,
      `cell ended ${r.interrupt_to_reply_s} s after`,
    );
    assert.ok((r.kernel_info_s as number) < 2, `kernel_info took ${r.kernel_info_s} s`);
    assert.equal(r.next_status, "ok");
    assert.equal(r.next_result, "42", "state from before the interrupt was lost");
  });
}

Deno.test("a frontend-opened comm gets messages with buffers while a cell awaits", async () => {
  const r = await scenario("comm");
  assert.equal(r.setup_status, "ok");
  assert.deepEqual(r.echo_data, { echo: { ping: 1 }, buffers: 1 });
  assert.deepEqual(r.echo_buffers, ["010203"]);
  assert.deepEqual(r.comm_info, { "comm-from-frontend": { target_name: "fused.test" } });
  assert.equal(r.cell_done_before_stop, false, "the cell should still be awaiting");
  assert.equal(r.cell_status, "ok");
  // got = [open data, {ping}, {stop}]: the stop message released the awaiting cell.
  assert.equal(r.cell_result, '"released after 3"');
});

Deno.test("output of a timer lands in the cell that started it, not in the running one", async () => {
  const r = await scenario("async_output");
  assert.equal(r.first_status, "ok");
  assert.equal(r.first_streams, "late\n");
  assert.equal(r.second_streams, "");
  assert.equal(r.second_result, '"B"');
});

Deno.test("%fused serve and a run through it print no Deno notice into the cells", async () => {
  const r = await scenario("serve_quiet");
  assert.deepEqual(r.statuses, ["ok", "ok", "ok"], JSON.stringify(r));
  assert.equal(r.result, "1", "the run went through the embedded service");
  const streams = r.streams as { name: string; text: string }[];
  assert.deepEqual(streams.filter((s) => s.name === "stderr"), [], "nothing on stderr");
  assert.ok(!streams.some((s) => /legacy behavior|request\.signal/.test(s.text)));
});

Deno.test("restart starts a fresh kernel process with empty state", async () => {
  const r = await scenario("restart");
  assert.equal(r.before, "42");
  assert.equal(r.new_process, true);
  assert.equal(r.after, '"undefined"');
  assert.equal(r.works, "2");
});

Deno.test("prompt() asks the frontend on stdin and the cell gets the answer", async () => {
  const r = await scenario("stdin");
  assert.equal(r.prompt, "Your name?");
  assert.equal(r.parent_is_cell, true);
  assert.equal(r.result, '"hello Ada"');
});

Deno.test("Debian's jupyter_kernel_test suite passes in full", async () => {
  const r = await run(PYTHON, ["-m", "unittest", "-v", "kernel_conformance"], {
    cwd: HERE,
    timeoutMs: 300_000,
  });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /Ran 12 tests/);
  assert.match(r.stderr, /\nOK\n/);
  assert.doesNotMatch(r.stderr, /skipped/);
});

Deno.test("nbconvert executes notebooks/kernel_basics.ipynb with the kernel", async () => {
  const out = await Deno.makeTempDir({ prefix: "fused-nbconvert-" });
  try {
    const r = await run("jupyter", [
      "nbconvert",
      "--to",
      "notebook",
      "--execute",
      "--ExecutePreprocessor.timeout=60",
      "--output-dir",
      out,
      join(ROOT, "notebooks", "kernel_basics.ipynb"),
    ], { timeoutMs: 180_000 });
    assert.equal(r.code, 0, r.stderr);
    const nb = JSON.parse(await Deno.readTextFile(join(out, "kernel_basics.ipynb")));
    const code = nb.cells.filter((c: { cell_type: string }) => c.cell_type === "code");
    const texts = code.map((c: { outputs: Record<string, unknown>[] }) =>
      c.outputs.map((o) =>
        o.output_type === "stream"
          ? (o.text as string[]).join("")
          : ((o.data as Record<string, string[]>)["text/html"] ??
            (o.data as Record<string, string[]>)["text/plain"]).join("")
      ).join("|")
    );
    assert.deepEqual(texts, [
      '"HELLO FROM TYPESCRIPT"',
      "console.log goes to stdout\n|console.error goes to stderr\n",
      "<b>Rich output</b>: this is <code>text/html</code>",
      "42",
      '"data/tiles/42.png"',
      "84",
      '"declared again"',
    ]);
    assert.ok(
      code.every((c: { outputs: { output_type: string }[] }) =>
        c.outputs.every((o) => o.output_type !== "error")
      ),
    );
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
