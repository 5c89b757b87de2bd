import assert from "node:assert/strict";
import denoConfig from "../deno.json" with { type: "json" };
import * as fused from "../mod.ts";

Deno.test("fused.version is the package's version, as fused-py's fused.__version__", () => {
  assert.equal(fused.version, denoConfig.version);
  assert.match(fused.version, /^\d+\.\d+\.\d+/);
});
