/**
 * The virtual TypeScript document that type-aware completion asks Deno's language server about:
 * the notebook's successfully executed cells in order, then the cell being edited, as one module.
 *
 * A notebook is not one file: a REPL lets a later cell redeclare a `const`, `function` or import
 * of an earlier cell, which in one module is an error and leaves the name with the type of its
 * first declaration. So a binding of an earlier cell that a later cell (or the current one)
 * declares again is renamed (`x` becomes `x__fusedShadow3`): the latest declaration owns the name,
 * as at run time. Names are found by stripping types in place (positions kept) and parsing with
 * acorn; a cell that needs a full TypeScript transform (enum, namespace) keeps its names as they
 * are. References to a renamed name inside its own earlier cell then see the latest declaration:
 * wrong only for that earlier code, which nobody completes in.
 *
 * Magic lines become blank lines of the same length (offsets stay), cell magics are left out, and
 * relative import specifiers become absolute `file:` URLs resolved against the notebook's cwd,
 * since the document lives beside the project's deno.json (so its import map applies).
 *
 * @module
 */

import * as acorn from "acorn";
import { parseCell } from "../magics/registry.ts";
import { resolveSpecifier, stripTypes } from "./_transform.ts";

/** A document and the cursor's LSP position in it (0-based line, UTF-16 character). */
export interface TypeDocument {
  /** The whole module's text. */
  text: string;
  /** 0-based line of the cursor. */
  line: number;
  /** 0-based UTF-16 column of the cursor. */
  character: number;
}

/** Options of {@linkcode buildTypeDocument}. */
export interface TypeDocumentOptions {
  /** Directory that relative imports of cells resolve against. */
  cwd: string;
}

interface Edit {
  start: number;
  end: number;
  text: string;
}

interface Binding {
  name: string;
  start: number;
  end: number;
  /** `import { a }` or `const { a } = o`: the name is also the imported key, keep it. */
  shorthand?: "import" | "property";
}

interface Bindings {
  names: Set<string>;
  /** Positions of the binding identifiers, when the cell's positions are exact. */
  ids?: Binding[];
}

/** Blanks magic lines (same length, so offsets stay); undefined for a cell magic. */
function codeOfCell(code: string): string | undefined {
  const parsed = parseCell(code);
  if (parsed.type === "cell_magic") return undefined;
  const magicLines = new Set(
    parsed.segments.filter((s) => s.type === "line_magic").map((s) => s.line),
  );
  if (magicLines.size === 0) return code;
  return code.split("\n").map((l, i) => magicLines.has(i + 1) ? " ".repeat(l.length) : l).join(
    "\n",
  );
}

// deno-lint-ignore no-explicit-any
type Node = any;

function patternBindings(node: Node, out: Binding[], shorthand?: "property"): void {
  if (!node) return;
  switch (node.type) {
    case "Identifier":
      out.push({ name: node.name, start: node.start, end: node.end, shorthand });
      return;
    case "ObjectPattern":
      for (const p of node.properties) {
        if (p.type === "RestElement") patternBindings(p.argument, out);
        else patternBindings(p.value, out, p.shorthand ? "property" : undefined);
      }
      return;
    case "ArrayPattern":
      for (const e of node.elements) patternBindings(e, out);
      return;
    case "RestElement":
      patternBindings(node.argument, out);
      return;
    case "AssignmentPattern":
      patternBindings(node.left, out, shorthand);
      return;
  }
}

function declarationBindings(stmt: Node, out: Binding[]): void {
  switch (stmt.type) {
    case "VariableDeclaration":
      for (const d of stmt.declarations) patternBindings(d.id, out);
      return;
    case "FunctionDeclaration":
    case "ClassDeclaration":
      if (stmt.id) patternBindings(stmt.id, out);
      return;
    case "ImportDeclaration":
      for (const s of stmt.specifiers) {
        const same = s.type === "ImportSpecifier" && s.imported.start === s.local.start;
        out.push({
          name: s.local.name,
          start: s.local.start,
          end: s.local.end,
          shorthand: same ? "import" : undefined,
        });
      }
      return;
    case "ExportNamedDeclaration":
    case "ExportDefaultDeclaration":
      if (stmt.declaration) declarationBindings(stmt.declaration, out);
      return;
  }
}

const DECLARATION_RE =
  /^[ \t]*(?:export[ \t]+)?(?:(?:const|let|var|class|(?:async[ \t]+)?function\*?)[ \t]+([A-Za-z_$][\w$]*)|import[ \t]+(?:\*[ \t]+as[ \t]+)?([A-Za-z_$][\w$]*))/gm;

/** Top-level names a cell declares, with positions when types strip in place and it parses. */
function topLevelBindings(code: string): Bindings {
  try {
    const { js, linesExact } = stripTypes(code);
    const ast = acorn.parse(js, {
      ecmaVersion: "latest",
      sourceType: "module",
      allowAwaitOutsideFunction: true,
      allowHashBang: true,
    });
    const ids: Binding[] = [];
    for (const stmt of ast.body) declarationBindings(stmt, ids);
    return { names: new Set(ids.map((b) => b.name)), ids: linesExact ? ids : undefined };
  } catch {
    // Incomplete code (the cell being typed): names from declaration lines are enough.
    const names = new Set<string>();
    for (const m of code.matchAll(DECLARATION_RE)) names.add(m[1] ?? m[2]);
    return { names };
  }
}

const RELATIVE_IMPORT_RE = /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s*)(["'])(\.\.?\/[^"'\n]*)\2/g;

function relativeImportEdits(code: string, cwd: string): Edit[] {
  const edits: Edit[] = [];
  for (const m of code.matchAll(RELATIVE_IMPORT_RE)) {
    const start = m.index + m[1].length + 1;
    const end = start + m[3].length;
    edits.push({ start, end, text: resolveSpecifier(m[3], cwd) });
  }
  return edits;
}

function applyEdits(code: string, edits: Edit[]): string {
  let out = "";
  let at = 0;
  for (const e of [...edits].sort((a, b) => a.start - b.start)) {
    if (e.start < at) continue; // overlapping edits: keep the first
    out += code.slice(at, e.start) + e.text;
    at = e.end;
  }
  return out + code.slice(at);
}

/** Where `offset` lands after `edits` (edits ending at or before it shift it). */
function mapOffset(offset: number, edits: Edit[]): number {
  let shift = 0;
  for (const e of edits) {
    if (e.end <= offset) shift += e.text.length - (e.end - e.start);
  }
  return offset + shift;
}

/**
 * Builds the document for completing `code` at `cursorPos` after the executed `cells`; undefined
 * when the cursor is in a magic (the magics' own completer answers there).
 */
export function buildTypeDocument(
  cells: readonly string[],
  code: string,
  cursorPos: number,
  options: TypeDocumentOptions,
): TypeDocument | undefined {
  const current = codeOfCell(code);
  if (current === undefined) return undefined;
  const lineStart = code.lastIndexOf("\n", cursorPos - 1) + 1;
  if (/^[ \t]*%/.test(code.slice(lineStart))) return undefined;

  const earlier = cells.map(codeOfCell).filter((c): c is string => c !== undefined);
  const declaredLater = new Set(topLevelBindings(current).names);
  const parts: string[] = [];
  for (let i = earlier.length - 1; i >= 0; i--) {
    const cell = earlier[i];
    const bindings = topLevelBindings(cell);
    const edits = relativeImportEdits(cell, options.cwd);
    for (const b of bindings.ids ?? []) {
      if (!declaredLater.has(b.name)) continue;
      const renamed = `${b.name}__fusedShadow${i}`;
      edits.push({
        start: b.start,
        end: b.end,
        text: b.shorthand === "import"
          ? `${b.name} as ${renamed}`
          : b.shorthand === "property"
          ? `${b.name}: ${renamed}`
          : renamed,
      });
    }
    for (const n of bindings.names) declaredLater.add(n);
    // `;` on its own line: a cell ending in an expression must not run into the next cell's `(`.
    parts.unshift(applyEdits(cell, edits) + "\n;\n");
  }
  const edits = relativeImportEdits(current, options.cwd).filter((e) =>
    e.end <= cursorPos || e.start >= cursorPos
  );
  const cursor = mapOffset(cursorPos, edits);
  const cellText = applyEdits(current, edits);
  const prefix = parts.join("");
  const before = cellText.slice(0, cursor);
  const prefixLines = prefix.split("\n").length - 1;
  const cellLines = before.split("\n");
  return {
    text: prefix + cellText,
    line: prefixLines + cellLines.length - 1,
    character: cellLines[cellLines.length - 1].length,
  };
}
