import assert from "node:assert/strict";
import {
  displayableBundle,
  escapeHtml,
  formatBytes,
  hasDisplayHook,
  jsonForScript,
  JUPYTER_DISPLAY,
  toBase64,
} from "./mime.ts";

Deno.test("HTML escaping covers the five special characters", () => {
  assert.equal(
    escapeHtml(`<a href="x" title='y'>&</a>`),
    "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;",
  );
});

Deno.test("JSON for scripts cannot end the script element and still parses back", () => {
  const value = { s: "</script><!-- & \u2028" };
  const text = jsonForScript(value);
  assert.doesNotMatch(text, /<\/script|<!--/);
  assert.deepEqual(JSON.parse(text), value);
});

Deno.test("base64 matches the platform encoder", () => {
  const bytes = Uint8Array.from({ length: 70_000 }, (_, i) => i % 251);
  assert.equal(toBase64(bytes), btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join("")));
  assert.equal(toBase64(new Uint8Array([1, 2, 3])), "AQID");
  assert.equal(toBase64(bytes.subarray(1, 4)), btoa(String.fromCharCode(1, 2, 3)));
});

Deno.test("byte counts are formatted with units", () => {
  assert.equal(formatBytes(512), "512 B");
  assert.equal(formatBytes(1536), "1.5 KB");
  assert.equal(formatBytes(50 * 1024 * 1024), "50 MB");
});

Deno.test("a displayable bundle builds once and exposes the Jupyter hook", async () => {
  let builds = 0;
  const d = displayableBundle(() => {
    builds++;
    return { data: { "text/plain": "x" }, metadata: { "text/plain": { a: 1 } } };
  }, "X");
  assert.equal(hasDisplayHook(d), true);
  assert.deepEqual(await d[JUPYTER_DISPLAY](), { "text/plain": "x" });
  assert.deepEqual((await d.toMimeBundle()).metadata, { "text/plain": { a: 1 } });
  assert.equal(builds, 1);
  assert.equal(String(d), "X");
});
