/**
 * `%%capture [--no-stdout] [--no-stderr] [--no-display] [VAR]`, as IPython's: runs the cell and
 * keeps its output out of sight, binding `{ stdout, stderr, outputs, value, show() }` to VAR.
 *
 * @example
 * ```ts ignore
 * import { parseLine } from "./args.ts";
 * import { captureCell } from "./capture.ts";
 * import { CAPTURE_CELL } from "./spec.ts";
 * await captureCell(await parseLine(CAPTURE_CELL, "out"), "console.log(1)", ctx);
 * ```
 *
 * @module
 */
import type { ParsedCommand } from "./args.ts";
import { requireIdentifier } from "./_common.ts";
import { formatHelp } from "./help.ts";
import type { CapturedOutput, MagicContext } from "./registry.ts";
import { CAPTURE_CELL } from "./spec.ts";

/** What `%%capture VAR` binds. */
export interface CapturedCell extends CapturedOutput<unknown> {
  /** Shows the captured output in the current cell. */
  show(): Promise<void>;
}

async function replay(
  ctx: MagicContext,
  part: { stdout?: string; stderr?: string; outputs?: Record<string, unknown>[] },
): Promise<void> {
  if (part.stdout) ctx.print(part.stdout);
  if (part.stderr) ctx.print(part.stderr, "stderr");
  for (const output of part.outputs ?? []) await ctx.display(output, { raw: true });
}

/** Runs `%%capture` over parsed arguments and the cell body. */
export async function captureCell(
  parsed: ParsedCommand,
  body: string,
  ctx: MagicContext,
): Promise<undefined> {
  if (parsed.help) {
    ctx.print(formatHelp(CAPTURE_CELL));
    return undefined;
  }
  const name = parsed.args.var === undefined
    ? undefined
    : requireIdentifier(String(parsed.args.var), "The variable of %%capture VAR");
  const captured = await ctx.capture(() => ctx.evaluate(body));
  // What is not to be captured is shown after the cell ran (capture cannot split streams live).
  await replay(ctx, {
    stdout: parsed.flags.noStdout ? captured.stdout : undefined,
    stderr: parsed.flags.noStderr ? captured.stderr : undefined,
    outputs: parsed.flags.noDisplay ? captured.outputs : undefined,
  });
  if (name !== undefined) {
    const kept: CapturedOutput<unknown> = {
      value: captured.value,
      stdout: parsed.flags.noStdout ? "" : captured.stdout,
      stderr: parsed.flags.noStderr ? "" : captured.stderr,
      outputs: parsed.flags.noDisplay ? [] : captured.outputs,
    };
    const result: CapturedCell = { ...kept, show: () => replay(ctx, kept) };
    await ctx.bind(name, result);
  }
  return undefined;
}
