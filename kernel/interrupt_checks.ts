/**
 * Cooperative interrupts for code that may spin: a call to a tick function is inserted at the
 * start of every loop body and function body, and the tick throws once its flag is set.
 *
 * Why: Deno 2.9.6 cannot stop a Worker that spins in synchronous code. `worker.terminate()`
 * returns, but the isolate keeps running a full core and keeps the process alive (measured; the
 * same holds for the inspector's terminateExecution). A tick that throws unwinds the spin, after
 * which terminate works. The evaluator inserts these checks into notebook cells, so a cell's
 * `while (true) {}` stops without losing the notebook's state. (UDFs no longer need them: they
 * run in processes that are SIGKILLed.)
 *
 * @module
 */

/** A text edit at offsets of the source. */
export interface Edit {
  /** Start offset (UTF-16 code units). */
  start: number;
  /** End offset; equal to start for an insertion. */
  end: number;
  /** Replacement text. */
  text: string;
}

// deno-lint-ignore no-explicit-any
type Node = any;

const LOOPS = new Set([
  "ForStatement",
  "ForInStatement",
  "ForOfStatement",
  "WhileStatement",
  "DoWhileStatement",
]);

/** Node types of functions (their bodies get a tick, and they start a new await scope). */
export const FUNCTIONS: ReadonlySet<string> = new Set([
  "FunctionDeclaration",
  "FunctionExpression",
  "ArrowFunctionExpression",
]);

/** Visits every node of an acorn AST. */
export function walk(node: Node, visit: (n: Node) => void): void {
  if (!node || typeof node.type !== "string") return;
  visit(node);
  for (const key of Object.keys(node)) {
    if (key === "loc" || key === "start" || key === "end") continue;
    const child = node[key];
    if (Array.isArray(child)) {
      for (const c of child) if (c && typeof c === "object") walk(c, visit);
    } else if (child && typeof child === "object" && typeof child.type === "string") {
      walk(child, visit);
    }
  }
}

/** The edits that call `tick()` at the start of every loop body and function body. */
export function interruptCheckEdits(ast: Node, tick: string): Edit[] {
  const edits: Edit[] = [];
  const call = `${tick}();`;
  walk(ast, (n) => {
    if (!LOOPS.has(n.type) && !FUNCTIONS.has(n.type)) return;
    const body = n.body;
    if (body.type === "BlockStatement") {
      edits.push({ start: body.start + 1, end: body.start + 1, text: call });
    } else if (LOOPS.has(n.type)) {
      edits.push({ start: body.start, end: body.start, text: `{${call}` });
      edits.push({ start: body.end, end: body.end, text: "}" });
    } else {
      // An arrow function with an expression body.
      edits.push({ start: body.start, end: body.start, text: `(${tick}(), (` });
      edits.push({ start: body.end, end: body.end, text: "))" });
    }
  });
  return edits;
}

/** Applies edits (by position; equal positions keep their order); nested replacements are skipped. */
export function applyEdits(source: string, edits: Edit[]): string {
  const indexed = edits.map((e, i) => ({ ...e, i }));
  indexed.sort((a, b) => a.start - b.start || a.end - b.end || a.i - b.i);
  let out = "";
  let pos = 0;
  for (const e of indexed) {
    if (e.start < pos) continue;
    out += source.slice(pos, e.start) + e.text;
    pos = e.end;
  }
  return out + source.slice(pos);
}
