/**
 * Type-aware completion through the real evaluator and a real `deno lsp`. Tests that need the
 * server's answer give it a long budget (a cold server loads the npm types first); the default
 * budgets are for interactive use and are exercised by the broken-server tests.
 */
import assert from "node:assert/strict";
import { startEvaluator, type TypeCompletionOptions } from "./evaluator.ts";
import type { Evaluator, ExecuteOutcome } from "./evaluator_types.ts";
import { within } from "./_evaluator_harness.ts";

const PATIENT: TypeCompletionOptions = { firstBudgetMs: 60_000, budgetMs: 60_000 };

let cellCounter = 0;

function run(ev: Evaluator, code: string): Promise<ExecuteOutcome> {
  return ev.execute(code, {
    cell: `lsp-cell-${++cellCounter}`,
    silent: false,
    allowStdin: false,
    requestInput: () => Promise.reject(new Error("no stdin in this test")),
  });
}

async function withEvaluator(
  typeCompletion: TypeCompletionOptions,
  fn: (ev: Evaluator) => Promise<void>,
): Promise<void> {
  const ev = await startEvaluator({ typeCompletion });
  try {
    await fn(ev);
  } finally {
    await ev.shutdown();
  }
}

async function ok(ev: Evaluator, code: string): Promise<void> {
  const outcome = await run(ev, code);
  assert.equal(outcome.status, "ok", JSON.stringify(outcome));
}

async function complete(ev: Evaluator, code: string): Promise<string[]> {
  return (await ev.complete(code, code.length)).matches;
}

/** Command lines of this process's child processes (from /proc). */
function childCommands(): string[] {
  const out: string[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid !== Deno.pid) continue;
      out.push(Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).split("\0").join(" "));
    } catch {
      // The process exited while we looked.
    }
  }
  return out;
}

Deno.test("completion knows a function's declared return type without calling it", async () => {
  await withEvaluator(PATIENT, async (ev) => {
    await ok(
      ev,
      "let calls = 0;\nfunction f(): { alpha: number; beta: string } { calls++; return null as any }",
    );
    const matches = await complete(ev, "f().");
    assert.ok(matches.includes("alpha") && matches.includes("beta"), matches.join(","));
    assert.deepEqual(await complete(ev, "f().al"), ["alpha"]);
    const calls = await run(ev, "calls");
    assert.equal(calls.status === "ok" ? calls.result?.data["text/plain"] : calls, "0");
  });
});

Deno.test("completion offers an npm package's exports after its import cell ran", async () => {
  await withEvaluator(PATIENT, async (ev) => {
    await ok(ev, 'import * as arrow from "apache-arrow";');
    const r = await ev.complete("const t = arrow.tableFrom", 25);
    assert.ok(r.matches.includes("tableFromArrays"), r.matches.join(","));
    assert.ok(r.matches.includes("tableFromIPC"), r.matches.join(","));
    assert.equal(r.cursorStart, 16);
  });
});

Deno.test("completion of fused. lists run, submit and udf with their kinds from the types", async () => {
  await withEvaluator(PATIENT, async (ev) => {
    await ok(ev, 'import * as fused from "fused";');
    const r = await ev.complete("const u = fused.", 16);
    for (const name of ["run", "submit", "udf"]) assert.ok(r.matches.includes(name), name);
    // The kinds come from the language server only; runtime names have no kind.
    const types = (r.metadata as {
      _jupyter_types_experimental: { text: string; type: string; start: number }[];
    })._jupyter_types_experimental;
    assert.equal(types.length, r.matches.length);
    assert.equal(types.find((t) => t.text === "run")?.type, "function");
    assert.equal(types[0].start, 16);
  });
});

Deno.test("a name redeclared in a later cell has the later cell's type", async () => {
  await withEvaluator(PATIENT, async (ev) => {
    await ok(ev, "function g(): { old: number } { return { old: 1 }; }");
    await ok(ev, "function g(): { fresh: number } { return { fresh: 1 }; }");
    const matches = await complete(ev, "g().");
    assert.ok(matches.includes("fresh"), matches.join(","));
    assert.ok(!matches.includes("old"), matches.join(","));
  });
});

Deno.test("a failed cell does not reach the typed document", async () => {
  await withEvaluator(PATIENT, async (ev) => {
    const failed = await run(ev, "function h(): { never: 1 } { return null as any }\nthrow 1;");
    assert.equal(failed.status, "error");
    await ok(ev, "function h2(): { kept: 1 } { return null as any }");
    assert.ok((await complete(ev, "h2().")).includes("kept"));
    assert.deepEqual(await complete(ev, "h().ne"), []);
  });
});

Deno.test("a language server binary that does not exist leaves runtime completion working", async () => {
  await withEvaluator({ command: ["/nonexistent/deno-for-lsp", "lsp"] }, async (ev) => {
    await ok(ev, "const myObject = { alpha: 1 };");
    const r = await within(ev.complete("myObject.al", 11), 10_000, "completion");
    assert.deepEqual(r.matches, ["alpha"]);
    assert.ok((await complete(ev, "myOb")).includes("myObject"));
  });
});

Deno.test("a language server that never answers leaves runtime completion working and is killed", async () => {
  const token = "4242.5";
  await withEvaluator({ command: ["sleep", token] }, async (ev) => {
    await ok(ev, "const myObject = { alpha: 1 };");
    const r = await within(ev.complete("myObject.al", 11), 10_000, "completion");
    assert.deepEqual(r.matches, ["alpha"]);
    assert.ok(childCommands().some((c) => c.includes(token)), "the server was started");
  });
  assert.ok(!childCommands().some((c) => c.includes(token)), "the server was killed");
});

Deno.test("restart and shutdown stop the language server", async () => {
  const ev = await startEvaluator({ typeCompletion: PATIENT });
  try {
    await ok(ev, "function f(): { alpha: number } { return null as any }");
    assert.ok((await complete(ev, "f().")).includes("alpha"));
    const isLsp = (c: string) => c.includes(Deno.execPath()) && c.endsWith(" lsp ");
    assert.equal(childCommands().filter(isLsp).length, 1);
    await ev.restart();
    assert.equal(childCommands().filter(isLsp).length, 0);
    // After the restart the old cells are gone from the typed document too.
    assert.deepEqual(await complete(ev, "f().al"), []);
    assert.equal(childCommands().filter(isLsp).length, 1);
  } finally {
    await ev.shutdown();
  }
  assert.equal(childCommands().filter((c) => c.endsWith(" lsp ")).length, 0);
});
