/**
 * Cell code transforms for the evaluator: TypeScript to JavaScript (types stripped in place, so
 * lines and columns stay those of the cell), top-level `import` declarations to `await import()`
 * bindings that persist across cells, and an interrupt check at the start of every loop body and
 * function body so that a busy loop can be stopped without losing the notebook's state.
 *
 * @module
 */

import { transformSync } from "amaro";
import * as acorn from "acorn";
import { applyEdits, type Edit, FUNCTIONS, interruptCheckEdits } from "./interrupt_checks.ts";

/** Name of the global function the transform calls in loops and functions to check for interrupts. */
export const TICK_NAME = "$__fusedTick";

/**
 * Name of the global function every top-level `await` goes through. It races the awaited value
 * against the cell's interrupt signal, so an interrupted cell stops at its pending await instead
 * of leaving a REPL evaluation pending (a Worker terminated with one pending crashes V8).
 */
export const AWAIT_NAME = "$__fusedAwait";

/** A syntax error in a cell, with a 1-based line and 0-based column in the cell's text. */
export class CellSyntaxError extends SyntaxError {
  /** 1-based line in the cell. */
  line: number;
  /** 0-based column in the line. */
  column: number;
  /** Creates the error. */
  constructor(message: string, line: number, column: number) {
    super(message);
    this.name = "SyntaxError";
    this.line = line;
    this.column = column;
  }
}

/** Result of {@linkcode transformCell}. */
export interface TransformedCell {
  /** JavaScript for `Runtime.evaluate` in REPL mode. */
  js: string;
  /** False when the TypeScript needed a full transform (enums, namespaces): lines may differ. */
  linesExact: boolean;
}

/** Options of {@linkcode transformCell}. */
export interface TransformOptions {
  /** Directory that relative import specifiers resolve against (the notebook's cwd). */
  cwd?: string;
  /** Insert interrupt checks in loops and functions (default true). */
  interruptChecks?: boolean;
}

interface AmaroError {
  code?: string;
  message: string;
  startLine?: number;
  startColumn?: number;
}

/**
 * Tokens without which code cannot contain TypeScript syntax: every annotation, assertion,
 * generic and declaration needs one of them. Code with none is already JavaScript, and skipping
 * the stripper saves most of a trivial cell's transform (`1 + 1`).
 */
const TYPESCRIPT_HINT =
  /[:<!]|\b(as|satisfies|type|interface|enum|declare|namespace|module|implements|abstract|readonly|private|protected|public|override|keyof|infer|is)\b/;

/** Strips TypeScript types; throws {@linkcode CellSyntaxError} with the cell position on bad syntax. */
export function stripTypes(code: string): { js: string; linesExact: boolean } {
  if (!TYPESCRIPT_HINT.test(code)) return { js: code, linesExact: true };
  try {
    return { js: transformSync(code, { mode: "strip-only" }).code, linesExact: true };
  } catch (e) {
    const err = e as AmaroError;
    if (err.code === "UnsupportedSyntax") {
      // enum, namespace, parameter properties: need a real transform; lines may move.
      try {
        return { js: transformSync(code, { mode: "transform" }).code, linesExact: false };
      } catch (e2) {
        throw toCellSyntaxError(e2 as AmaroError);
      }
    }
    throw toCellSyntaxError(err);
  }
}

function toCellSyntaxError(err: AmaroError): CellSyntaxError | Error {
  if (typeof err.startLine === "number") {
    return new CellSyntaxError(err.message, err.startLine, err.startColumn ?? 0);
  }
  return err instanceof Error ? err : new Error(String(err.message ?? err));
}

// deno-lint-ignore no-explicit-any
type Node = any;

/** Parses JavaScript as a module (imports allowed), then as a script (sloppy mode features). */
function parseJs(js: string): Node {
  const base = {
    ecmaVersion: "latest" as const,
    allowAwaitOutsideFunction: true,
    allowImportExportEverywhere: true,
    allowHashBang: true,
    locations: true,
  };
  try {
    return acorn.parse(js, { ...base, sourceType: "module" });
  } catch (moduleError) {
    try {
      return acorn.parse(js, { ...base, sourceType: "script", allowReturnOutsideFunction: false });
    } catch {
      const e = moduleError as SyntaxError & { loc?: { line: number; column: number } };
      const message = e.message.replace(/ \(\d+:\d+\)$/, "");
      throw new CellSyntaxError(message, e.loc?.line ?? 1, e.loc?.column ?? 0);
    }
  }
}

/** Resolves an import specifier the way a notebook file in `cwd` would. */
export function resolveSpecifier(specifier: string, cwd: string): string {
  if (specifier.startsWith("./") || specifier.startsWith("../")) {
    const base = cwd.endsWith("/") ? cwd : cwd + "/";
    return new URL(specifier, "file://" + encodeURI(base)).href;
  }
  if (specifier.startsWith("/")) return new URL("file://" + encodeURI(specifier)).href;
  return specifier;
}

function importToAwait(node: Node, js: string, cwd: string): string {
  const spec = JSON.stringify(resolveSpecifier(node.source.value, cwd));
  const attrs = node.attributes?.length
    ? `, { with: { ${node.attributes.map((a: Node) => js.slice(a.start, a.end)).join(", ")} } }`
    : "";
  const call = `await ${AWAIT_NAME}(import(${spec}${attrs}))`;
  const specs: Node[] = node.specifiers ?? [];
  if (specs.length === 0) return `${call};`;
  const parts: string[] = [];
  const named: string[] = [];
  let namespace: string | undefined;
  for (const s of specs) {
    if (s.type === "ImportNamespaceSpecifier") namespace = s.local.name;
    else if (s.type === "ImportDefaultSpecifier") named.push(`default: ${s.local.name}`);
    else {
      const imported = s.imported.type === "Literal"
        ? JSON.stringify(s.imported.value)
        : s.imported.name;
      named.push(imported === s.local.name ? imported : `${imported}: ${s.local.name}`);
    }
  }
  if (namespace !== undefined) {
    parts.push(`const ${namespace} = ${call};`);
    if (named.length) parts.push(`const { ${named.join(", ")} } = ${namespace};`);
  } else {
    parts.push(`const { ${named.join(", ")} } = ${call};`);
  }
  return parts.join(" ");
}

/** Keeps the line count of a replaced range, so later lines keep their numbers. */
function padLines(original: string, text: string): string {
  const lines = original.split("\n").length - 1;
  return text + "\n".repeat(lines);
}

/** Walks nodes outside function bodies (where `await` belongs to the cell itself). */
function walkTopLevel(node: Node, visit: (n: Node) => void): void {
  if (!node || typeof node.type !== "string") return;
  if (FUNCTIONS.has(node.type)) return;
  visit(node);
  for (const key of Object.keys(node)) {
    if (key === "loc" || key === "start" || key === "end") continue;
    const child = node[key];
    if (Array.isArray(child)) {
      for (const c of child) if (c && typeof c === "object") walkTopLevel(c, visit);
    } else if (child && typeof child === "object" && typeof child.type === "string") {
      walkTopLevel(child, visit);
    }
  }
}

/** Transforms one cell of TypeScript into JavaScript for REPL-mode evaluation. */
export function transformCell(code: string, options: TransformOptions = {}): TransformedCell {
  const cwd = options.cwd ?? Deno.cwd();
  const { js, linesExact } = stripTypes(code);
  const ast = parseJs(js);
  const edits: Edit[] = [];
  for (const stmt of ast.body) {
    if (stmt.type === "ImportDeclaration") {
      const original = js.slice(stmt.start, stmt.end);
      edits.push({
        start: stmt.start,
        end: stmt.end,
        text: padLines(original, importToAwait(stmt, js, cwd)),
      });
    } else if (stmt.type === "ExportNamedDeclaration" || stmt.type === "ExportDefaultDeclaration") {
      if (stmt.declaration && stmt.type === "ExportNamedDeclaration") {
        // `export const x = 1` in a notebook means `const x = 1`.
        edits.push({ start: stmt.start, end: stmt.declaration.start, text: "" });
      } else if (stmt.type === "ExportNamedDeclaration") {
        edits.push({
          start: stmt.start,
          end: stmt.end,
          text: padLines(js.slice(stmt.start, stmt.end), ""),
        });
      } else {
        edits.push({ start: stmt.start, end: stmt.declaration.start, text: "" });
      }
    } else if (stmt.type === "ExportAllDeclaration") {
      edits.push({
        start: stmt.start,
        end: stmt.end,
        text: padLines(js.slice(stmt.start, stmt.end), ""),
      });
    }
  }
  if (options.interruptChecks !== false) {
    walkTopLevel(ast, (n) => {
      if (n.type === "AwaitExpression") {
        edits.push({ start: n.argument.start, end: n.argument.start, text: `${AWAIT_NAME}(` });
        edits.push({ start: n.argument.end, end: n.argument.end, text: ")" });
      }
    });
    edits.push(...interruptCheckEdits(ast, TICK_NAME));
  }
  return { js: applyEdits(js, edits), linesExact };
}

/** Result of {@linkcode checkComplete}. */
export interface CompletenessResult {
  /** Jupyter is_complete status. */
  status: "complete" | "incomplete" | "invalid";
  /** Indent for the next line when incomplete. */
  indent?: string;
}

/** Tells whether code is a complete cell, needs more lines, or cannot be valid. */
export function checkComplete(code: string): CompletenessResult {
  if (/^\s*%/.test(code)) return { status: "complete" };
  const trimmed = code.trimEnd();
  if (trimmed === "") return { status: "complete" };
  try {
    transformCell(code, { interruptChecks: false, cwd: "/" });
    return { status: "complete" };
  } catch (e) {
    if (!(e instanceof CellSyntaxError)) return { status: "invalid" };
    const offset = offsetOf(code, e.line, e.column);
    if (
      offset >= trimmed.length ||
      /got '<eof>'|unterminated|unexpected eof|end of input/i.test(e.message)
    ) {
      const lastLine = trimmed.slice(trimmed.lastIndexOf("\n") + 1);
      const indent = (lastLine.match(/^\s*/)?.[0] ?? "") + (/[{([]\s*$/.test(trimmed) ? "  " : "");
      return { status: "incomplete", indent };
    }
    return { status: "invalid" };
  }
}

function offsetOf(code: string, line: number, column: number): number {
  let offset = 0;
  for (let l = 1; l < line; l++) {
    const nl = code.indexOf("\n", offset);
    if (nl < 0) return code.length;
    offset = nl + 1;
  }
  return offset + column;
}
