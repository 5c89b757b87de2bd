import assert from "node:assert/strict";
import { parseLine } from "./args.ts";
import { captureCell, type CapturedCell } from "./capture.ts";
import { CAPTURE_CELL } from "./spec.ts";
import { testContext } from "./_test_context.ts";

/** A body that prints to both streams and displays once, through the context like cell code. */
function noisyContext() {
  const ctx = testContext();
  ctx.evaluate = async () => {
    ctx.print("out\n");
    ctx.print("err\n", "stderr");
    await ctx.display({ "text/plain": "shown" });
    return 7;
  };
  return ctx;
}

Deno.test("%%capture VAR keeps everything out of sight and binds it", async () => {
  const ctx = noisyContext();
  await captureCell(await parseLine(CAPTURE_CELL, "out"), "body", ctx);
  assert.equal(ctx.stdout + ctx.stderr, "");
  assert.equal(ctx.displays.length, 0);
  const out = ctx.scope.out as CapturedCell;
  assert.equal(out.stdout, "out\n");
  assert.equal(out.stderr, "err\n");
  assert.equal(out.value, 7);
  await out.show();
  assert.equal(ctx.stdout, "out\n");
  assert.equal(ctx.displays.length, 1);
});

Deno.test("%%capture --no-stderr --no-display lets those through", async () => {
  const ctx = noisyContext();
  await captureCell(await parseLine(CAPTURE_CELL, "--no-stderr --no-display out"), "body", ctx);
  assert.equal(ctx.stdout, "");
  assert.equal(ctx.stderr, "err\n");
  assert.equal(ctx.displays.length, 1);
  const out = ctx.scope.out as CapturedCell;
  assert.equal(out.stdout, "out\n");
  assert.equal(out.stderr, "");
  assert.deepEqual(out.outputs, []);
});

Deno.test("%%capture with a bad flag suggests the right one", async () => {
  await assert.rejects(
    parseLine(CAPTURE_CELL, "--no-stdot out"),
    /Unknown flag --no-stdot for %%capture: did you mean --no-stdout\?/,
  );
});
