/**
 * Checks a UDF body's syntax before it becomes a Udf, so a typo fails the cell at its line instead
 * of failing later inside the engine. Positions count from the cell's first line (the `%%fused`
 * line is line 1).
 *
 * @module
 */
import * as acorn from "acorn";
import { transformSync } from "amaro";

interface AmaroError {
  code?: string;
  message: string;
  startLine?: number;
  startColumn?: number;
}

/** A syntax error in a cell magic's body, with its line in the cell and a caret under it. */
function syntaxError(
  body: string,
  message: string,
  bodyLine: number,
  column: number,
  firstLine: number,
): SyntaxError {
  const line = bodyLine + firstLine - 1;
  const text = body.split("\n")[bodyLine - 1] ?? "";
  const err = new SyntaxError(
    `${message} at line ${line} of the cell (line ${bodyLine} of the UDF, column ${column + 1})`,
  );
  const gutter = " ".repeat(String(line).length);
  // The kernel shows `stack` as the traceback: the source line says more than our frames.
  err.stack = [
    `SyntaxError at line ${line}: ${message}`,
    `  ${line} | ${text}`,
    `  ${gutter} | ${" ".repeat(Math.max(0, column))}^`,
  ].join("\n");
  return err;
}

/**
 * Throws a SyntaxError naming the cell line when `body` is not valid TypeScript module code.
 * `firstLine` is the cell line the body starts on (2 under a `%%fused` line).
 */
export function checkUdfSyntax(body: string, firstLine: number): void {
  let js: string;
  try {
    js = transformSync(body, { mode: "strip-only" }).code;
  } catch (e) {
    const err = e as AmaroError;
    if (err.code === "UnsupportedSyntax") return; // enums, namespaces: valid, need a transform.
    if (typeof err.startLine === "number") {
      throw syntaxError(body, err.message, err.startLine, err.startColumn ?? 0, firstLine);
    }
    throw e;
  }
  try {
    // amaro (swc) only strips types; acorn also reports JavaScript's early errors.
    acorn.parse(js, { ecmaVersion: "latest", sourceType: "module", locations: true });
  } catch (e) {
    const err = e as SyntaxError & { loc?: { line: number; column: number } };
    if (!err.loc) throw e;
    const message = err.message.replace(/\s*\(\d+:\d+\)$/, "");
    throw syntaxError(body, message, err.loc.line, err.loc.column, firstLine);
  }
}
