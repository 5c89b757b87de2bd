import assert from "node:assert/strict";
import { udf } from "../client/udf.ts";
import { checkUdf, UdfTypeError } from "./check.ts";

Deno.test("a UDF with a type error fails the check, naming its line and message", async () => {
  const bad = udf(
    "export default function udf({ n = 1 }: { n?: number }) {\n  const s: string = 1;\n  return s + n;\n}\n",
    { name: "bad" },
  );
  const err = await checkUdf(bad).catch((e) => e);
  assert.ok(err instanceof UdfTypeError, String(err));
  assert.equal(err.diagnostics.length, 1);
  assert.deepEqual(
    {
      line: err.diagnostics[0].line,
      code: err.diagnostics[0].code,
      inUdf: err.diagnostics[0].inUdf,
    },
    { line: 2, code: "TS2322", inUdf: true },
  );
  assert.match(
    err.message,
    /line 2 of the UDF bad: TS2322 Type 'number' is not assignable to type 'string'/,
  );
});

Deno.test("a correct UDF passes the check and says how long it took", async () => {
  const good = udf(
    "export default function udf({ n = 1 }: { n?: number }) {\n  const s: string = String(n);\n  return s;\n}\n",
    { name: "good" },
  );
  const { seconds } = await checkUdf(good);
  console.log(`checked in ${seconds.toFixed(2)} s, load average ${Deno.loadavg().join(" ")}`);
  assert.ok(seconds > 0);
});

Deno.test("a type error in a header names the header's file", async () => {
  const withHeader = udf(
    'import { half } from "utils";\nexport default function udf() {\n  return half(4);\n}\n',
    {
      name: "uses_header",
      headers: {
        utils:
          'export function half(n: number): number {\n  return n / 2;\n}\nconst x: number = "a";\n',
      },
    },
  );
  const err = await checkUdf(withHeader).catch((e) => e);
  assert.ok(err instanceof UdfTypeError, String(err));
  assert.equal(err.diagnostics[0].file, "utils.ts");
  assert.equal(err.diagnostics[0].line, 4);
  assert.match(err.message, /line 4 of utils\.ts: TS2322/);
});

Deno.test("a UDF that imports the SDK and zod passes: the SDK's own imports resolve", async () => {
  const sdk = udf(
    'import * as fused from "fused";\nimport { z } from "zod";\nexport default function udf() {\n  return [typeof fused.udf, z.string().parse("a")];\n}\n',
    { name: "sdk" },
  );
  const { seconds } = await checkUdf(sdk);
  console.log(`checked in ${seconds.toFixed(2)} s, load average ${Deno.loadavg().join(" ")}`);
});
