/**
 * The notebook's magics: the registry (`%lsmagic`, `%%time`), `%%capture` with IPython's flags, and Fused's
 * `%%fused NAME [flags]` cell magic and `%fused SUBCOMMAND` line magics. Importing this module
 * registers them; the kernel imports it instead of `registry.ts`.
 *
 * Registration is cheap: only the declarations load here. A handler's module (and through it the
 * client, engines and service) is imported the first time the magic runs.
 *
 * @example
 * ```ts ignore
 * import { getMagic } from "./mod.ts";
 * console.log(getMagic("cell", "fused")?.help);
 * ```
 *
 * @module
 */
import { completeArgs } from "./complete.ts";
import { formatHelp } from "./help.ts";
import { type MagicContext, registerMagic } from "./registry.ts";
import { CAPTURE_CELL, FUSED_CELL, FUSED_LINE, type MagicDeclaration, UDF_CELL } from "./spec.ts";

export * from "./registry.ts";
export { completeArgs } from "./complete.ts";
export { formatHelp } from "./help.ts";
export { type ParsedCommand, parseLine } from "./args.ts";
export * from "./spec.ts";

/** Registers a declared magic whose handler is loaded on first use. */
function registerDeclared(
  decl: MagicDeclaration,
  handle: (args: string, body: string, ctx: MagicContext) => Promise<unknown>,
): void {
  registerMagic({
    name: decl.name,
    kind: decl.kind,
    help: decl.summary,
    usage: () => formatHelp(decl),
    complete: (args, cursor) => completeArgs(decl, args, cursor),
    run: handle,
  });
}

/**
 * Registers `%%fused` (and its alias `%%udf`) and `%fused` (done on import; call again after
 * another module replaced them).
 */
export function registerFusedMagics(): void {
  // `%%udf` is fused-py's name for the same cell magic.
  for (const decl of [FUSED_CELL, UDF_CELL]) {
    registerDeclared(decl, async (args, body, ctx) => {
      const [{ parseLine }, { fusedCell }] = await Promise.all([
        import("./args.ts"),
        import("./fused_cell.ts"),
      ]);
      const parsed = await parseLine(decl, args, { evaluate: ctx.evaluate });
      return await fusedCell(parsed, body, ctx, { bodyLine: ctx.bodyLine });
    });
  }
  registerDeclared(FUSED_LINE, async (args, _body, ctx) => {
    const [{ parseLine }, { fusedLine }] = await Promise.all([
      import("./args.ts"),
      import("./fused_line.ts"),
    ]);
    const parsed = await parseLine(FUSED_LINE, args, { evaluate: ctx.evaluate });
    return await fusedLine(parsed, ctx);
  });
}

/** Registers `%%capture` with IPython's flags (replacing the registry's plain one). */
export function registerCaptureMagic(): void {
  registerDeclared(CAPTURE_CELL, async (args, body, ctx) => {
    const [{ parseLine }, { captureCell }] = await Promise.all([
      import("./args.ts"),
      import("./capture.ts"),
    ]);
    const parsed = await parseLine(CAPTURE_CELL, args, { evaluate: ctx.evaluate });
    return await captureCell(parsed, body, ctx);
  });
}

registerFusedMagics();
registerCaptureMagic();
