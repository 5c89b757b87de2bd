import assert from "node:assert/strict";
import { startEvaluator } from "../kernel/evaluator.ts";
import type { EvaluatorEvent, ExecuteOutcome } from "../kernel/evaluator_types.ts";
import { getMagic } from "./mod.ts";

Deno.test("importing magics/mod.ts registers %%fused and %fused with their help", () => {
  const cell = getMagic("cell", "fused");
  const line = getMagic("line", "fused");
  assert.ok(cell && line);
  assert.match(cell.usage?.() ?? "", /^Usage: %%fused NAME/);
  assert.match(line.usage?.() ?? "", /^Usage: %fused SUBCOMMAND/);
});

Deno.test("a %%fused cell runs through the real evaluator: defines, binds, runs and fails at the right line", async () => {
  const cacheDir = await Deno.makeTempDir({ prefix: "fused-magics-eval-" });
  const ev = await startEvaluator();
  const events: EvaluatorEvent[] = [];
  ev.onEvent((e) => events.push(e));
  let n = 0;
  const run = (code: string): Promise<ExecuteOutcome> =>
    ev.execute(code, {
      cell: `c${++n}`,
      silent: false,
      allowStdin: false,
      requestInput: () => Promise.reject(new Error("no stdin in this test")),
    });
  const stdout = (cell: string) =>
    events.filter((e) => e.kind === "stream" && e.cell === cell)
      .map((e) => (e as { text: string }).text).join("");
  try {
    const set = await run(`%fused options cacheDirectory "${cacheDir}"`);
    assert.equal(set.status, "ok", JSON.stringify(set));
    const defined = await run(
      "%%fused double --run n=21 --out answer\n" +
        "export default function udf({ n = 1 }: { n?: number }) {\n  return n * 2;\n}\n",
    );
    assert.equal(defined.status, "ok", JSON.stringify(defined));
    assert.equal(defined.status === "ok" && defined.result?.data["text/plain"], "42");
    const bound = await run("[double.name, answer]");
    assert.equal(bound.status === "ok" && bound.result?.data["text/plain"], '[ "double", 42 ]');
    const again = await run("%fused run double n={answer} --no-cache");
    assert.equal(again.status === "ok" && again.result?.data["text/plain"], "84");
    const broken = await run(
      "%%fused broken\nexport default function udf() {\n  return 1 +;\n}\n",
    );
    assert.equal(broken.status, "error");
    assert.equal(broken.status === "error" && broken.ename, "SyntaxError");
    assert.match(
      broken.status === "error" ? broken.traceback.join("\n") : "",
      /SyntaxError at line 3: /,
    );
    // The same line fails at run time: the cell names it the same way.
    const throws = await run(
      "%%fused throws --run\nexport default function udf() {\n  throw new Error('no');\n}\n",
    );
    assert.equal(throws.status, "error");
    assert.match(
      throws.status === "error" ? throws.traceback.join("\n") : "",
      /^Error at line 3: UDF "throws" failed at line 3 of the cell \(line 2 of the UDF/,
    );
    const help = await run("%fused run?");
    assert.equal(help.status, "ok");
    assert.match(stdout(`c${n}`), /^Usage: %fused run NAME_OR_PATH/);
    const badFlag = await run("%fused run double --engin local");
    assert.equal(badFlag.status, "error");
    assert.match(
      badFlag.status === "error" ? badFlag.evalue : "",
      /Unknown flag --engin for %fused run: did you mean --engine\?/,
    );
  } finally {
    await ev.shutdown();
  }
});

Deno.test("%%udf NAME, fused-py's magic, defines and runs a UDF as %%fused NAME does", async () => {
  const { testContext } = await import("./_test_context.ts");
  const { options } = await import("../client/options.ts");
  options.cacheDirectory = await Deno.makeTempDir({ prefix: "fused-magics-udf-" });
  const ctx = testContext();
  const udf = getMagic("cell", "udf");
  assert.ok(udf, "%%udf is registered");
  const value = await udf.run(
    "double --run n=21",
    "export default function udf({ n = 1 }: { n?: number }) {\n  return n * 2;\n}\n",
    ctx,
  );
  assert.equal(value, 42);
  assert.equal((ctx.scope.double as { name: string }).name, "double");
  assert.match(udf.usage?.() ?? "", /^Usage: %%udf NAME/);
  await assert.rejects(
    async () => await udf.run("double --rnu n=1", "export default () => 1", ctx),
    /Unknown flag --rnu for %%udf: did you mean --run\?/,
  );
});
