/**
 * Finds and rewrites the module specifiers of a TypeScript/JavaScript module (static imports,
 * re-exports, side-effect imports, dynamic `import("x")` and type-level `import("x")`), skipping
 * strings, comments, template literals and regular expressions that only look like imports.
 *
 * A small lexer rather than `es-module-lexer`: that one reads JavaScript only, and a UDF is
 * TypeScript that nobody transpiled yet. Telling a specifier from any other string needs only the
 * token before it (`from`, `import`, or `import (`), so a full parser is not needed.
 *
 * @module
 */

/** A specifier string literal found in source code. */
export interface SpecifierLocation {
  /** The specifier text (between the quotes, escapes not decoded). */
  specifier: string;
  /** Offset of the first character after the opening quote. */
  start: number;
  /** Offset of the closing quote. */
  end: number;
}

// After these words a `/` starts a regular expression, after other words it divides.
const REGEX_AFTER_WORD = new Set([
  "return",
  "typeof",
  "instanceof",
  "in",
  "of",
  "new",
  "delete",
  "void",
  "throw",
  "case",
  "do",
  "else",
  "yield",
  "await",
]);

function isIdentStart(c: string): boolean {
  return /[A-Za-z_$]/.test(c) || c > "\x7f";
}

function isIdentPart(c: string): boolean {
  return /[\w$]/.test(c) || c > "\x7f";
}

/**
 * Lists the module specifiers of a module, in source order.
 *
 * @example
 * ```ts
 * import { findSpecifiers } from "./specifiers.ts";
 * const found = findSpecifiers(`import { f } from "utils"; const s = "from 'x'";`);
 * if (found.length !== 1 || found[0].specifier !== "utils") throw new Error("unexpected");
 * ```
 */
export function findSpecifiers(code: string): SpecifierLocation[] {
  const found: SpecifierLocation[] = [];
  // The last two significant tokens: words as themselves, punctuators as their character,
  // literals as a marker that cannot be mistaken for either.
  let prev = "";
  let prev2 = "";
  const push = (token: string): void => {
    prev2 = prev;
    prev = token;
  };
  const stack: ("brace" | "template")[] = [];
  let i = 0;
  const n = code.length;

  // Scans a template literal body from i (just after ` or }); stops after the closing ` or
  // after `${`, pushing the template on the stack.
  const scanTemplate = (): void => {
    while (i < n) {
      const c = code[i];
      if (c === "\\") {
        i += 2;
      } else if (c === "`") {
        i++;
        push("#template");
        return;
      } else if (c === "$" && code[i + 1] === "{") {
        i += 2;
        stack.push("template");
        push("{");
        return;
      } else {
        i++;
      }
    }
  };

  while (i < n) {
    const c = code[i];
    if (c === " " || c === "\t" || c === "\n" || c === "\r") {
      i++;
    } else if (c === "/" && code[i + 1] === "/") {
      const eol = code.indexOf("\n", i);
      i = eol === -1 ? n : eol;
    } else if (c === "/" && code[i + 1] === "*") {
      const close = code.indexOf("*/", i + 2);
      i = close === -1 ? n : close + 2;
    } else if (c === "'" || c === '"') {
      const start = i + 1;
      i = start;
      while (i < n && code[i] !== c && code[i] !== "\n") i += code[i] === "\\" ? 2 : 1;
      const end = i;
      i++;
      const isSpecifier = prev === "from" || prev === "import" ||
        (prev === "(" && prev2 === "import");
      if (isSpecifier) found.push({ specifier: code.slice(start, end), start, end });
      push("#string");
    } else if (c === "`") {
      i++;
      scanTemplate();
    } else if (isIdentStart(c)) {
      const start = i;
      while (i < n && isIdentPart(code[i])) i++;
      // `x.from "y"` cannot occur, but `.import` as a property name must not act as a keyword.
      const word = code.slice(start, i);
      push(prev === "." ? "name" : word);
    } else if (/[0-9]/.test(c) || (c === "." && /[0-9]/.test(code[i + 1] ?? ""))) {
      while (i < n && /[\w.]/.test(code[i])) i++;
      push("#number");
    } else if (c === "/") {
      // A punctuator other than a closing bracket, or one of a few keywords, precedes a regex;
      // a name, a literal or a closing bracket precedes a division.
      const isPunctuator = prev.length === 1 && !/[\w$]/.test(prev);
      const regex = prev === "" || REGEX_AFTER_WORD.has(prev) ||
        (isPunctuator && prev !== ")" && prev !== "]" && prev !== "}");
      i++;
      if (regex) {
        let inClass = false;
        while (i < n && code[i] !== "\n") {
          const r = code[i];
          if (r === "\\") i++;
          else if (r === "[") inClass = true;
          else if (r === "]") inClass = false;
          else if (r === "/" && !inClass) break;
          i++;
        }
        i++;
        while (i < n && isIdentPart(code[i])) i++;
        push("#regex");
      } else {
        push("/");
      }
    } else if (c === "{") {
      stack.push("brace");
      i++;
      push("{");
    } else if (c === "}") {
      i++;
      if (stack.pop() === "template") scanTemplate();
      else push("}");
    } else {
      i++;
      push(c);
    }
  }
  return found;
}

/**
 * Replaces module specifiers: `map` returns the new specifier, or undefined to keep one.
 * Positions of everything else, line breaks included, are unchanged, so line numbers still match.
 *
 * @example
 * ```ts
 * import { rewriteSpecifiers } from "./specifiers.ts";
 * const out = rewriteSpecifiers(`export * from "utils";`, (s) => s === "utils" ? "./utils.ts" : undefined);
 * if (out !== `export * from "./utils.ts";`) throw new Error(out);
 * ```
 */
export function rewriteSpecifiers(
  code: string,
  map: (specifier: string) => string | undefined,
): string {
  let out = "";
  let last = 0;
  for (const { specifier, start, end } of findSpecifiers(code)) {
    const replacement = map(specifier);
    if (replacement === undefined || replacement === specifier) continue;
    out += code.slice(last, start) + replacement;
    last = end;
  }
  return out + code.slice(last);
}
