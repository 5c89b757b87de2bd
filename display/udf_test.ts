import assert from "node:assert/strict";
import { udf } from "../client/udf.ts";
import { isUdf, udfToMimeBundle } from "./udf.ts";

const CODE = `export default function udf({ n = 10, name = "x" }) {\n  return n;\n}\n`;

Deno.test("a UDF shows its name, parameters, where it is saved and shared, and numbered code", () => {
  const u = udf(CODE, { name: "count", defaultParameters: { n: 5 } });
  const b = udfToMimeBundle(u, {
    savedAt: "/tmp/udfs/count",
    shareUrl: "http://127.0.0.1:8000/t/abc",
  });
  const plain = String(b.data["text/plain"]);
  assert.match(plain, /^Udf "count" \(typescript, entrypoint default\)/);
  assert.match(plain, /parameters: n=5/);
  assert.match(plain, /saved: \/tmp\/udfs\/count/);
  assert.match(plain, /shared: http:\/\/127\.0\.0\.1:8000\/t\/abc/);
  assert.match(plain, /\n\s+2 {4}return n;/);
  const html = String(b.data["text/html"]);
  assert.match(html, /<span class="ln">2<\/span> {4}return n;/);
  assert.match(html, /<a href="http:\/\/127\.0\.0\.1:8000\/t\/abc"/);
});

Deno.test("UDF code is HTML-escaped", () => {
  const u = udf(
    `export default function udf() {\n  return "</pre><script>alert(1)</script>";\n}\n`,
    { name: "x" },
  );
  const html = String(udfToMimeBundle(u).data["text/html"]);
  assert.doesNotMatch(html, /<script>alert/);
  assert.match(html, /&lt;\/pre&gt;&lt;script&gt;/);
});

Deno.test("long UDF code is cut with a count of the hidden lines", () => {
  const code = "export default function udf() {\n" + "  const a = 1;\n".repeat(300) + "}\n";
  const plain = String(
    udfToMimeBundle(udf(code, { name: "long" }), { maxLines: 10 }).data["text/plain"],
  );
  assert.match(plain, /… 292 more lines/);
});

Deno.test("Udf objects are recognised and plain objects are not", () => {
  assert.equal(isUdf(udf(CODE, { name: "a" })), true);
  assert.equal(isUdf({ name: "a", code: "" }), false);
});
