/**
 * Parsing a magic's argument line from its declaration (`spec.ts`): shell-like words (quotes,
 * backslash escapes), `{expr}` interpolation evaluated in the notebook, then subcommand, flags and
 * positional arguments, each converted by its declared type. A bad flag is an error that names
 * it, suggests the closest valid one and lists them all.
 *
 * The tokenizer is our own, not `shell-quote` or `string-argv`: completion needs each word's
 * offsets in the line, and `{ a: 1 }` must stay one word even with spaces inside; neither
 * package reports offsets, and `shell-quote` also expands `$VAR` and treats `|`, `>` as operators.
 *
 * @example
 * ```ts
 * import { parseLine } from "./args.ts";
 * import { FUSED_LINE } from "./spec.ts";
 * const parsed = await parseLine(FUSED_LINE, "run double n=3 --out six");
 * console.log(parsed.command, parsed.args, parsed.flags);
 * // "run" { nameOrPath: "double", params: { n: 3 } } { out: "six" }
 * ```
 *
 * @module
 */
import leven from "leven";
import { parseCacheMaxAge } from "../client/cache_max_age.ts";
import { ValidationError } from "../client/errors.ts";
import type { ArgSpec, CommandSpec, FlagSpec, MagicDeclaration, ValueType } from "./spec.ts";
import { findCommand } from "./spec.ts";

/** A piece of a word: literal text, or a `{expr}` to evaluate. */
export type WordPart = { kind: "text"; text: string } | { kind: "expr"; code: string };

/** A word of the line before interpolation, with its offsets in the line. */
export interface Token {
  /** Literal and expression pieces, quotes and escapes already removed. */
  parts: WordPart[];
  /** Offset of the word's first character in the line. */
  start: number;
  /** Offset just past the word. */
  end: number;
  /** The word as written (with quotes). */
  source: string;
  /** The word ends inside an unclosed quote or brace (only with `lenient`). */
  open?: boolean;
}

/** A word after interpolation. */
export interface Word {
  /** The text (an interpolated value is written as its string or JSON). */
  text: string;
  /**
   * Set when the word (or its part after `key=`) was exactly one `{expr}`: the value it evaluated
   * to, so `--run bbox={b}` passes the array itself, not its text.
   */
  value?: { of: unknown };
  /** Offset of the word in the line. */
  start: number;
  /** Offset just past the word. */
  end: number;
}

/** Options of {@linkcode tokenize}. */
export interface TokenizeOptions {
  /** Treat `{...}` as an expression (line magics); default true. */
  interpolate?: boolean;
  /** Accept an unclosed quote or brace at the end (for completion) instead of throwing. */
  lenient?: boolean;
}

function isSpace(ch: string): boolean {
  return ch === " " || ch === "\t" || ch === "\n" || ch === "\r";
}

/** Reads a balanced `{...}` starting at `open`; returns the index of its closing brace or -1. */
function closingBrace(line: string, open: number): number {
  let depth = 0;
  for (let i = open; i < line.length; i++) {
    const ch = line[i];
    if (ch === "'" || ch === '"' || ch === "`") {
      // Braces inside a JavaScript string do not count.
      for (i++; i < line.length && line[i] !== ch; i++) if (line[i] === "\\") i++;
      continue;
    }
    if (ch === "{") depth++;
    else if (ch === "}" && --depth === 0) return i;
  }
  return -1;
}

/**
 * Splits a line into words like a shell: whitespace separates, `'...'` is literal, `"..."` allows
 * `\"` and `\\`, a backslash outside quotes escapes the next character. With interpolation,
 * `{expr}` (outside single quotes) is an expression and `{{` / `}}` are literal braces.
 */
export function tokenize(line: string, options: TokenizeOptions = {}): Token[] {
  const interpolate = options.interpolate ?? true;
  const tokens: Token[] = [];
  let i = 0;
  const n = line.length;
  while (i < n) {
    while (i < n && isSpace(line[i])) i++;
    if (i >= n) break;
    const start = i;
    const parts: WordPart[] = [];
    let open = false;
    const text = (t: string) => {
      const last = parts[parts.length - 1];
      if (last?.kind === "text") last.text += t;
      else parts.push({ kind: "text", text: t });
    };
    const expr = (at: number): number => {
      const close = closingBrace(line, at);
      if (close < 0) {
        if (!options.lenient) {
          throw new ValidationError(
            `Unclosed { at column ${
              at + 1
            }: close the expression with }, or write {{ for a literal brace`,
          );
        }
        open = true;
        parts.push({ kind: "expr", code: line.slice(at + 1) });
        return n;
      }
      parts.push({ kind: "expr", code: line.slice(at + 1, close) });
      return close + 1;
    };
    while (i < n && !isSpace(line[i])) {
      const ch = line[i];
      if (ch === "'") {
        const close = line.indexOf("'", i + 1);
        if (close < 0) {
          if (!options.lenient) {
            throw new ValidationError(
              `Unclosed ' at column ${i + 1}: close the quote, or escape it as \\'`,
            );
          }
          text(line.slice(i + 1));
          open = true;
          i = n;
          break;
        }
        text(line.slice(i + 1, close));
        i = close + 1;
      } else if (ch === '"') {
        i++;
        let closed = false;
        while (i < n) {
          const c = line[i];
          if (c === '"') {
            closed = true;
            i++;
            break;
          }
          if (c === "\\" && (line[i + 1] === '"' || line[i + 1] === "\\")) {
            text(line[i + 1]);
            i += 2;
          } else if (interpolate && c === "{" && line[i + 1] === "{") {
            text("{");
            i += 2;
          } else if (interpolate && c === "}" && line[i + 1] === "}") {
            text("}");
            i += 2;
          } else if (interpolate && c === "{") {
            i = expr(i);
          } else {
            text(c);
            i++;
          }
        }
        if (!closed) {
          if (!options.lenient) {
            throw new ValidationError(
              `Unclosed " in the magic's arguments: close the quote, or escape it as \\"`,
            );
          }
          open = true;
        }
      } else if (ch === "\\" && i + 1 < n) {
        text(line[i + 1]);
        i += 2;
      } else if (interpolate && ch === "{" && line[i + 1] === "{") {
        text("{");
        i += 2;
      } else if (interpolate && ch === "}" && line[i + 1] === "}") {
        text("}");
        i += 2;
      } else if (interpolate && ch === "{") {
        i = expr(i);
      } else {
        text(ch);
        i++;
      }
    }
    tokens.push({ parts, start, end: i, source: line.slice(start, i), ...(open ? { open } : {}) });
  }
  return tokens;
}

/** Writes an interpolated value into text: strings as they are, others as JSON when possible. */
export function valueText(value: unknown): string {
  if (typeof value === "string") return value;
  if (value === undefined || typeof value === "function" || typeof value === "symbol") {
    return String(value);
  }
  if (typeof value === "bigint") return value.toString();
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

const KEY_PREFIX = /^[A-Za-z_][\w.-]*=$/;

/**
 * Evaluates the `{expr}` parts of words with `evaluate` (the notebook's scope). A word that is
 * exactly one expression, or `key=` plus one expression, keeps the value itself.
 */
export async function interpolate(
  tokens: Token[],
  evaluate: (code: string) => Promise<unknown>,
): Promise<Word[]> {
  const words: Word[] = [];
  for (const token of tokens) {
    let text = "";
    const values: unknown[] = [];
    for (const part of token.parts) {
      if (part.kind === "text") {
        text += part.text;
        continue;
      }
      let value: unknown;
      try {
        // Parentheses: `{ {a: 1} }` is an object, and a statement is a syntax error.
        value = await evaluate(`(${part.code})`);
      } catch (err) {
        throw new ValidationError(
          `Cannot evaluate {${part.code}} in the magic's arguments: ${
            err instanceof Error ? err.message : String(err)
          }`,
          { cause: err },
        );
      }
      values.push(value);
      text += valueText(value);
    }
    const word: Word = { text, start: token.start, end: token.end };
    const [first, second] = token.parts;
    if (token.parts.length === 1 && first.kind === "expr") word.value = { of: values[0] };
    else if (
      token.parts.length === 2 && first.kind === "text" && KEY_PREFIX.test(first.text) &&
      second.kind === "expr"
    ) word.value = { of: values[0] };
    words.push(word);
  }
  return words;
}

/** A parsed command line. */
export interface ParsedCommand {
  /** The subcommand (`run`), or the magic's name when it has no subcommands; "" when none given. */
  command: string;
  /** The spec of that command (the magic itself when it has no subcommands). */
  spec: CommandSpec;
  /** Positional arguments keyed by the camelCase of their names (`NAME_OR_PATH` → `nameOrPath`). */
  args: Record<string, unknown>;
  /** Flags keyed by the camelCase of their names (`cache-max-age` → `cacheMaxAge`). */
  flags: Record<string, unknown>;
  /** `--help`, `-h`, or a `?` after the command was given: show help instead of running. */
  help: boolean;
}

/** The key of a flag or argument in {@linkcode ParsedCommand}: camelCase of its name. */
export function keyOf(name: string): string {
  return name.toLowerCase().replace(/[-_]+([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** How a magic is written in messages: `%fused run`, `%%fused`. */
export function commandTitle(magic: MagicDeclaration, command?: string): string {
  const prefix = magic.kind === "cell" ? "%%" : "%";
  return command && command !== magic.name
    ? `${prefix}${magic.name} ${command}`
    : `${prefix}${magic.name}`;
}

/** How a flag is written in lists: `--out/-o`. */
export function flagLabel(flag: FlagSpec): string {
  return flag.short ? `--${flag.name}/-${flag.short}` : `--${flag.name}`;
}

/** The candidate closest to `word` by edit distance, if it is close enough to be a likely typo. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    // Equal distances: the candidate of the same length wins ("lgos" is "logs" swapped, not "ls").
    const d = c.startsWith(word) || word.startsWith(c)
      ? 0.5
      : leven(word, c) + Math.abs(c.length - word.length) / 10;
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return bestDistance < Math.max(2, Math.floor(word.length / 3)) + 1 ? best : undefined;
}

/** The error for an unknown flag: names it, suggests the closest one, lists the valid ones. */
export function unknownFlagError(
  magic: MagicDeclaration,
  spec: CommandSpec,
  written: string,
): ValidationError {
  const flags = spec.flags ?? [];
  const bare = written.replace(/^-+/, "");
  const long = written.startsWith("--");
  const names = long ? flags.map((f) => f.name) : flags.flatMap((f) => f.short ? [f.short] : []);
  let guess = closest(bare, names);
  // `-engine` (one dash) is a long flag written short.
  if (!guess && !long) guess = closest(bare, flags.map((f) => f.name));
  const valid = [...flags.map(flagLabel), "--help/-h"].join(", ");
  const hint = guess === undefined
    ? `; valid flags: ${valid}`
    : `: did you mean ${guess.length === 1 ? "-" : "--"}${guess}? Valid flags: ${valid}`;
  return new ValidationError(
    `Unknown flag ${written} for ${commandTitle(magic, spec.name)}${hint}`,
  );
}

function usageError(magic: MagicDeclaration, spec: CommandSpec, message: string): ValidationError {
  return new ValidationError(
    `${message} (see ${commandTitle(magic, spec.name)}? for help)`,
  );
}

/** Parses `Z/X/Y` into a tile, checking x and y against the zoom. */
export function parseTile(text: string): { z: number; x: number; y: number } {
  const m = text.trim().match(/^(\d+)\/(\d+)\/(\d+)$/);
  if (!m) {
    throw new ValidationError(`Cannot read tile "${text}": write it as Z/X/Y, e.g. 12/654/1583`);
  }
  const [z, x, y] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (z > 30) throw new ValidationError(`Tile zoom ${z} is too deep: use a zoom from 0 to 30`);
  const size = 2 ** z;
  if (x >= size || y >= size) {
    throw new ValidationError(
      `Tile ${text} does not exist: at zoom ${z}, x and y go from 0 to ${size - 1}`,
    );
  }
  return { z, x, y };
}

/** Reads a `key=value` value: JSON when it parses as JSON, else the text itself. */
export function parseParamValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Converts one word by its declared type; `what` names it in errors (`--tile`, `NAME`). */
export function convert(type: ValueType, word: Word, what: string): unknown {
  const text = word.text;
  if (Array.isArray(type)) {
    if (type.includes(text)) return text;
    const guess = closest(text, type);
    const valid = type.join(", ");
    throw new ValidationError(
      `Invalid value "${text}" for ${what}` +
        (guess ? `: did you mean "${guess}"? Use one of: ${valid}` : `: use one of: ${valid}`),
    );
  }
  switch (type) {
    case "value":
      return word.value ? word.value.of : text;
    case "string":
      return text;
    case "number":
    case "integer": {
      const n = word.value && typeof word.value.of === "number" ? word.value.of : Number(text);
      if (
        text.trim() === "" || !Number.isFinite(n) || (type === "integer" && !Number.isInteger(n))
      ) {
        throw new ValidationError(
          `Invalid value "${text}" for ${what}: use ${
            type === "integer" ? "a whole number" : "a number"
          }`,
        );
      }
      return n;
    }
    case "tile":
      return parseTile(text);
    case "age":
      return parseCacheMaxAge(
        word.value && typeof word.value.of === "number" ? word.value.of : text,
      );
    case "boolean":
      return true;
    case "params":
      return readParams([word], what);
  }
  throw new ValidationError(`Unknown value type for ${what}`);
}

const PARAM = /^([A-Za-z_][\w.-]*)=([\s\S]*)$/;

/** True for a word that is a `key=value` parameter. */
export function isParam(word: Word): boolean {
  return PARAM.test(word.text);
}

function readParams(words: Word[], what: string): Record<string, unknown> {
  const params: Record<string, unknown> = {};
  for (const word of words) {
    const m = word.text.match(PARAM);
    if (!m) {
      throw new ValidationError(
        `Expected key=value for ${what}, got "${word.text}": write parameters as name=value`,
      );
    }
    params[m[1]] = word.value ? word.value.of : parseParamValue(m[2]);
  }
  return params;
}

function isFlagWord(word: Word): boolean {
  return !word.value && /^-[A-Za-z-]/.test(word.text) && word.text !== "-";
}

/** Finds the command a line addresses: the first word for magics with subcommands. */
function pickCommand(
  magic: MagicDeclaration,
  words: Word[],
): { spec: CommandSpec; command: string; rest: Word[]; help: boolean } | undefined {
  if (!magic.subcommands) return { spec: magic, command: magic.name, rest: words, help: false };
  const first = words[0];
  if (!first || first.text === "?" || first.text === "--help" || first.text === "-h") {
    return undefined;
  }
  const help = first.text.endsWith("?");
  const name = help ? first.text.slice(0, -1) : first.text;
  const spec = findCommand(magic, name);
  if (!spec) {
    const names = magic.subcommands.map((c) => c.name);
    const guess = closest(name, names);
    const valid = names.join(", ");
    throw new ValidationError(
      `Unknown subcommand "${name}" for ${commandTitle(magic)}` +
        (guess ? `: did you mean "${guess}"? Subcommands: ${valid}` : `; subcommands: ${valid}`),
    );
  }
  return { spec, command: name, rest: words.slice(1), help };
}

/** Parses interpolated words against a magic's declaration. */
export function parseWords(magic: MagicDeclaration, words: Word[]): ParsedCommand {
  const picked = pickCommand(magic, words);
  if (!picked) return { command: "", spec: magic, args: {}, flags: {}, help: true };
  const { spec, command } = picked;
  const flags: Record<string, unknown> = {};
  const args: Record<string, unknown> = {};
  let help = picked.help;
  const positionals = spec.args ?? [];
  let nextArg = 0;
  let onlyPositional = false;
  const rest = picked.rest;
  for (let i = 0; i < rest.length; i++) {
    const word = rest[i];
    if (!onlyPositional && !word.value && word.text === "--") {
      onlyPositional = true;
      continue;
    }
    if (!onlyPositional && !word.value && word.text === "?" && i === rest.length - 1) {
      help = true;
      continue;
    }
    if (!onlyPositional && isFlagWord(word) && !/^-\d/.test(word.text)) {
      if (word.text === "--help" || word.text === "-h") {
        help = true;
        continue;
      }
      const long = word.text.startsWith("--");
      const eq = long ? word.text.indexOf("=") : -1;
      const written = eq > 0 ? word.text.slice(0, eq) : word.text;
      const bare = written.replace(/^-+/, "");
      const flag = (spec.flags ?? []).find((f) => long ? f.name === bare : f.short === bare);
      if (!flag) throw unknownFlagError(magic, spec, written);
      const key = keyOf(flag.name);
      const label = `--${flag.name}`;
      if (flag.type === "boolean") {
        if (eq > 0) throw usageError(magic, spec, `${label} is a switch and takes no value`);
        flags[key] = true;
        continue;
      }
      if (flag.type === "params") {
        const taken: Word[] = [];
        if (eq > 0) {
          taken.push({ ...word, text: word.text.slice(eq + 1) });
        }
        while (i + 1 < rest.length && isParam(rest[i + 1]) && !isFlagWord(rest[i + 1])) {
          taken.push(rest[++i]);
        }
        flags[key] = {
          ...(flags[key] as Record<string, unknown> ?? {}),
          ...readParams(taken, label),
        };
        continue;
      }
      let valueWord: Word;
      if (eq > 0) valueWord = { ...word, text: word.text.slice(eq + 1), value: undefined };
      else {
        const next = rest[i + 1];
        if (!next || (isFlagWord(next) && !/^-\d/.test(next.text))) {
          throw usageError(
            magic,
            spec,
            `${label} needs a value${flag.metavar ? ` (${flag.metavar})` : ""}`,
          );
        }
        valueWord = next;
        i++;
      }
      flags[key] = convert(flag.type, valueWord, label);
      continue;
    }
    const arg: ArgSpec | undefined = positionals[nextArg];
    if (!arg) {
      if (help) continue;
      const usage = positionals.map((a) => a.optional ? `[${a.name}]` : a.name).join(" ");
      throw usageError(
        magic,
        spec,
        `Unexpected argument "${word.text}": ${commandTitle(magic, spec.name)} takes ${
          usage || "no arguments"
        }`,
      );
    }
    if (arg.type === "params") {
      const taken = [word];
      while (i + 1 < rest.length && !isFlagWord(rest[i + 1])) taken.push(rest[++i]);
      args[keyOf(arg.name)] = readParams(taken, arg.name);
      nextArg++;
      continue;
    }
    args[keyOf(arg.name)] = convert(arg.type, word, arg.name);
    nextArg++;
  }
  if (!help) {
    const missing = positionals.slice(nextArg).find((a) => !a.optional);
    if (missing) {
      throw usageError(
        magic,
        spec,
        `${commandTitle(magic, spec.name)} needs ${missing.name}: ${missing.help}`,
      );
    }
  }
  return { command, spec, args, flags, help };
}

/** Options of {@linkcode parseLine}. */
export interface ParseLineOptions {
  /** Evaluates `{expr}` in the notebook; without it, `{...}` is an error. */
  evaluate?: (code: string) => Promise<unknown>;
}

/**
 * Parses a magic's argument line: words, `{expr}` interpolation (when `evaluate` is given), then
 * subcommand, flags and arguments by the declaration.
 */
export async function parseLine(
  magic: MagicDeclaration,
  line: string,
  options: ParseLineOptions = {},
): Promise<ParsedCommand> {
  const tokens = tokenize(line, { interpolate: true });
  const evaluate = options.evaluate ?? ((code: string): Promise<unknown> =>
    Promise.reject(
      new ValidationError(`{${code.slice(1, -1)}} needs a notebook to evaluate in`),
    ));
  const words = await interpolate(tokens, evaluate);
  return parseWords(magic, words);
}
