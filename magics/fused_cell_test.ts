import assert from "node:assert/strict";
import { options } from "../client/options.ts";
import { cachingLocalEngine, installEngine } from "../client/run.ts";
import { tileBounds } from "../client/tiles.ts";
import { defaultEngine } from "../engine/mod.ts";
import { parseLine } from "./args.ts";
import { fusedCell } from "./fused_cell.ts";
import { FUSED_CELL } from "./spec.ts";
import { testContext } from "./_test_context.ts";
import { JUPYTER_DISPLAY } from "../display/mime.ts";

installEngine("local", cachingLocalEngine(defaultEngine()));
options.cacheDirectory = await Deno.makeTempDir({ prefix: "fused-magics-cache-" });

const DOUBLE = "export default function udf({ n = 1 }: { n?: number }) {\n  return n * 2;\n}\n";

async function cell(header: string, body: string, scope: Record<string, unknown> = {}) {
  const ctx = testContext(scope);
  const parsed = await parseLine(FUSED_CELL, header, { evaluate: ctx.evaluate });
  const value = await fusedCell(parsed, body, ctx);
  return { ctx, value };
}

Deno.test("%%fused NAME binds a Udf named NAME and shows its card", async () => {
  const { ctx, value } = await cell("double", DOUBLE);
  const udf = ctx.scope.double as { name: string; code: string };
  assert.equal(udf.name, "double");
  assert.equal(udf.code, DOUBLE);
  const data = await (value as { [JUPYTER_DISPLAY](): Promise<Record<string, unknown>> })
    [JUPYTER_DISPLAY]();
  assert.match(String(data["text/plain"]), /^Udf "double"/);
});

Deno.test("%%fused --run runs the UDF on the local engine with JSON parameters", async () => {
  const { ctx, value } = await cell("double --run n=21 --no-cache", DOUBLE);
  assert.equal(value, 42);
  assert.equal((ctx.scope.double as { name: string }).name, "double");
});

Deno.test("%%fused --out binds the result and --time prints the wall time", async () => {
  const { ctx, value } = await cell("double --run n=5 --out ten --time --no-cache", DOUBLE);
  assert.equal(ctx.scope.ten, 10);
  assert.equal(value, 10);
  assert.match(ctx.stdout, /^Wall time: \d/m);
});

Deno.test("--run parameters can come from the notebook through {expr}", async () => {
  const { value } = await cell("double --run n={base + 1} --no-cache", DOUBLE, { base: 9 });
  assert.equal(value, 20);
});

Deno.test("%%fused --tile runs for that tile, so the UDF receives its bounds", async () => {
  const body = "export default function udf({ bounds }: { bounds: number[] }) {\n" +
    "  return bounds;\n}\n";
  const { ctx, value } = await cell("tileb --tile 3/4/2 --out b --no-cache", body);
  const expected = tileBounds({ z: 3, x: 4, y: 2 });
  assert.equal((value as number[]).length, 4);
  (value as number[]).forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-9));
  assert.deepEqual(ctx.scope.b, value);
});

Deno.test("--cache-max-age sets the Udf's cache age", async () => {
  const { ctx } = await cell("aged --cache-max-age 2h", DOUBLE);
  assert.equal((ctx.scope.aged as { cacheMaxAge: number }).cacheMaxAge, 7200);
});

Deno.test("a syntax error fails the cell and names its line in the cell", async () => {
  const body = "export default function udf({ n = 1 }) {\n  const x = n +;\n  return x;\n}\n";
  const ctx = testContext();
  const parsed = await parseLine(FUSED_CELL, "broken");
  const err = await fusedCell(parsed, body, ctx).then(
    () => assert.fail("expected an error"),
    (e) => e,
  );
  assert.ok(err instanceof SyntaxError);
  // Body line 2 is cell line 3: the %%fused line is line 1.
  assert.match(err.message, /at line 3 of the cell/);
  assert.match(String(err.stack), /^SyntaxError at line 3: /);
  assert.match(String(err.stack), /3 \| {3}const x = n \+;/);
  assert.equal(ctx.scope.broken, undefined, "a broken UDF is not bound");
});

Deno.test("a JavaScript early error (duplicate declaration) is found too", async () => {
  const body = "export default function udf() {\n  let a = 1;\n  let a = 2;\n  return a;\n}\n";
  const parsed = await parseLine(FUSED_CELL, "dup");
  await assert.rejects(fusedCell(parsed, body, testContext()), /at line 4 of the cell/);
});

Deno.test("the body line given by the kernel shifts the reported line", async () => {
  const parsed = await parseLine(FUSED_CELL, "broken");
  await assert.rejects(
    fusedCell(parsed, "export default function udf() {\n  return );\n}\n", testContext(), {
      bodyLine: 4,
    }),
    /at line 5 of the cell/,
  );
});

Deno.test("--check fails the cell on a type error, naming its line in the cell", async () => {
  const body = "export default function udf() {\n  const s: string = 1;\n  return s;\n}\n";
  const ctx = testContext();
  const parsed = await parseLine(FUSED_CELL, "typed --check");
  const err = await fusedCell(parsed, body, ctx).then(
    () => assert.fail("expected a type error"),
    (e) => e,
  );
  assert.equal(err.name, "UdfTypeError");
  assert.match(
    err.message,
    /line 3 of the cell \(line 2 of the UDF\): TS2322 Type 'number' is not assignable to type 'string'/,
  );
  assert.equal(ctx.scope.typed, undefined, "a UDF with type errors is not bound");
});

Deno.test("--check passes a correct UDF, binds it and says how long the check took", async () => {
  const { ctx } = await cell("double --check", DOUBLE);
  assert.equal((ctx.scope.double as { name: string }).name, "double");
  assert.match(ctx.stdout, /^Type-checked double: no errors \(\d+\.\d s\)$/m);
});

Deno.test("a UDF that fails at run time fails the cell with the UDF's error", async () => {
  const body = "export default function udf() {\n  throw new Error('no data here');\n}\n";
  await assert.rejects(cell("fails --run --no-cache", body), /no data here/);
});

Deno.test("a syntax error and a run-time error on the same line name the same cell line", async () => {
  // Body line 3 is cell line 4 in both cases.
  const broken = "export default function udf() {\n  const a = 1;\n  const b = a +;\n}\n";
  const throws =
    "export default function udf() {\n  const a = 1;\n  throw new Error('no data');\n}\n";
  const syntax = await cell("broken", broken).then(
    () => assert.fail("expected an error"),
    (e) => e,
  );
  const runtime = await cell("throws --run --no-cache", throws).then(
    () => assert.fail("expected an error"),
    (e) => e,
  );
  assert.match(syntax.message, /at line 4 of the cell \(line 3 of the UDF, column 16\)/);
  assert.match(runtime.message, /at line 4 of the cell \(line 3 of the UDF: throw new Error/);
  assert.match(String(syntax.stack), /^SyntaxError at line 4: /);
  assert.match(String(runtime.stack), /^Error at line 4: .*no data/);
  assert.match(String(runtime.stack), /\n {2}4 \| {3}throw new Error\('no data'\);/);
});

Deno.test("a Python cell runs fused-py's code, its errors located in the cell", async () => {
  const body = "import pandas as pd\n\n@fused.udf\ndef udf(n: int = 1):\n" +
    "    return pd.DataFrame({'n': [n, n * 2]})\n";
  const { ctx, value } = await cell("frame --run n=21 --no-cache", body);
  assert.deepEqual((value as { toArray(): unknown[] }).toArray().map((r) => JSON.parse(`${r}`)), [
    { n: 21 },
    { n: 42 },
  ]);
  assert.equal((ctx.scope.frame as { language: string }).language, "python");
  const broken = "@fused.udf\ndef udf():\n    x = (1 +\n";
  const syntax = await cell("broken_py --run --no-cache", broken).then(
    () => assert.fail("expected an error"),
    (e) => e,
  );
  assert.equal(syntax.exceptionClass, "SyntaxError");
  assert.match(syntax.message, /at line \d of the cell \(line \d of the UDF/);
  await assert.rejects(cell("checked --check", body), /--check type-checks TypeScript UDFs/);
});

Deno.test("a NAME that is not an identifier is refused", async () => {
  await assert.rejects(cell("my-udf", DOUBLE), /must be a JavaScript identifier.*"my-udf"/);
});

Deno.test("--no-cache with a --cache-max-age is refused", async () => {
  await assert.rejects(
    cell("double --run --no-cache --cache-max-age 1h", DOUBLE),
    /either --no-cache or --cache-max-age/,
  );
});

Deno.test("%%fused --help prints the help and defines nothing", async () => {
  const { ctx, value } = await cell("--help", DOUBLE);
  assert.equal(value, undefined);
  assert.match(ctx.stdout, /^Usage: %%fused NAME/);
  assert.deepEqual(Object.keys(ctx.scope), []);
});

Deno.test("--map shows the result of a UDF without bounds on a map", async () => {
  const body = "export default function udf() {\n" +
    "  return { type: 'Point', coordinates: [2.35, 48.86] };\n}\n";
  const { ctx } = await cell("paris --map --no-cache", body);
  assert.equal(ctx.displays.length, 1);
  const data = await (ctx.displays[0] as { [JUPYTER_DISPLAY](): Promise<Record<string, unknown>> })
    [JUPYTER_DISPLAY]();
  assert.match(String(data["text/plain"]), /^Map: 1 point/);
});

Deno.test("--run --map of a GeoJSON result shows the map once and still binds --out", async () => {
  const body = "export default function udf() {\n" +
    "  return { type: 'Point', coordinates: [2.35, 48.86] };\n}\n";
  const { ctx, value } = await cell("pts --run --map --out p --no-cache", body);
  assert.equal(ctx.displays.length, 1);
  assert.equal(value, undefined);
  assert.deepEqual(ctx.scope.p, { type: "Point", coordinates: [2.35, 48.86] });
});

Deno.test("--map of a tile UDF without a service says a live tile layer needs %fused serve", async () => {
  const body = "export default function udf({ bounds }: { bounds: number[] }) {\n" +
    "  return { type: 'Point', coordinates: [bounds[0], bounds[1]] };\n}\n";
  await assert.rejects(
    cell("tiles_nowhere --map --no-cache", body),
    /live tile layer needs a service to serve its tiles: run %fused serve first/,
  );
});
