/**
 * Completion inside a magic's argument line, from its declaration: subcommands, `--flags` (and
 * `-x` aliases), values of enum flags, and subcommand or option names where an argument asks for
 * them.
 *
 * @example
 * ```ts
 * import { completeArgs } from "./complete.ts";
 * import { FUSED_LINE } from "./spec.ts";
 * const c = await completeArgs(FUSED_LINE, "run double --eng", 16);
 * console.log(c.matches); // ["--engine"]
 * ```
 *
 * @module
 */
import { tokenize } from "./args.ts";
import type { CommandSpec, FlagSpec, MagicDeclaration } from "./spec.ts";
import { findCommand } from "./spec.ts";

/** Completion candidates replacing `args.slice(start, end)`. */
export interface ArgCompletion {
  /** Candidates, in declaration order. */
  matches: string[];
  /** Start of the replaced text (offset into the argument line). */
  start: number;
  /** End of the replaced text. */
  end: number;
}

function wordText(parts: { kind: string; text?: string; code?: string }[]): string {
  return parts.map((p) => p.kind === "text" ? p.text : `{${p.code}}`).join("");
}

function flagsOf(spec: CommandSpec, partial: string): string[] {
  const flags = spec.flags ?? [];
  const long = [...flags.map((f) => `--${f.name}`), "--help"];
  if (partial.startsWith("--") || partial === "-") return long.filter((f) => f.startsWith(partial));
  const short = [...flags.flatMap((f) => f.short ? [`-${f.short}`] : []), "-h"];
  return [...short, ...long].filter((f) => f.startsWith(partial));
}

function findFlag(spec: CommandSpec, written: string): FlagSpec | undefined {
  const long = written.startsWith("--");
  const bare = written.replace(/^-+/, "");
  return spec.flags?.find((f) => long ? f.name === bare : f.short === bare);
}

async function argChoices(
  magic: MagicDeclaration,
  command: CommandSpec,
  index: number,
): Promise<string[]> {
  const arg = command.args?.[index];
  if (!arg) return [];
  if (magic.subcommands && command.name === "help") return magic.subcommands.map((c) => c.name);
  if (magic.subcommands && command.name === "options" && index === 0) {
    // Loaded only when completing option names: the options module reads settings and env.
    const { OPTION_NAMES } = await import("../client/options.ts");
    return [...OPTION_NAMES];
  }
  if (Array.isArray(arg.type)) return [...arg.type];
  return [];
}

/**
 * Completes the argument line of a magic at `cursor` (an offset into `args`). Never throws: an
 * unclosed quote or an unknown subcommand gives no matches.
 */
export async function completeArgs(
  magic: MagicDeclaration,
  args: string,
  cursor: number,
): Promise<ArgCompletion> {
  const before = args.slice(0, cursor);
  let tokens;
  try {
    tokens = tokenize(before, { lenient: true });
  } catch {
    return { matches: [], start: cursor, end: cursor };
  }
  const last = tokens[tokens.length - 1];
  const atSpace = before === "" || /\s$/.test(before);
  // Inside an unclosed quote the trailing space belongs to the word.
  const current = last?.open || !atSpace ? last : undefined;
  const done = (current ? tokens.slice(0, -1) : tokens).map((t) => wordText(t.parts));
  const partial = current ? wordText(current.parts) : "";
  const start = current ? current.start : cursor;
  const result = (matches: string[], from = start): ArgCompletion => ({
    matches: matches.filter((m) => m.startsWith(partial.slice(from - start))),
    start: from,
    end: cursor,
  });
  if (current?.open) return { matches: [], start: cursor, end: cursor };
  let command: CommandSpec = magic;
  let rest = done;
  if (magic.subcommands) {
    if (done.length === 0) return result(magic.subcommands.map((c) => c.name));
    const found = findCommand(magic, done[0]);
    if (!found) return { matches: [], start: cursor, end: cursor };
    command = found;
    rest = done.slice(1);
  }
  // `--engine=lo|`: values of the flag after "=".
  const eq = partial.startsWith("--") ? partial.indexOf("=") : -1;
  if (eq > 0) {
    const flag = findFlag(command, partial.slice(0, eq));
    const values = flag && Array.isArray(flag.type) ? [...flag.type] : [];
    return result(values, start + eq + 1);
  }
  const previous = rest[rest.length - 1];
  const previousFlag = previous?.startsWith("-") ? findFlag(command, previous) : undefined;
  if (previousFlag && previousFlag.type !== "boolean" && previousFlag.type !== "params") {
    return result(Array.isArray(previousFlag.type) ? [...previousFlag.type] : []);
  }
  if (partial.startsWith("-")) return result(flagsOf(command, partial));
  // Which positional comes next: count words that are neither flags nor flag values.
  let index = 0;
  for (let i = 0; i < rest.length; i++) {
    const word = rest[i];
    if (word.startsWith("-")) {
      const flag = findFlag(command, word.split("=")[0]);
      if (flag && flag.type !== "boolean" && flag.type !== "params" && !word.includes("=")) i++;
      continue;
    }
    if (command.args?.[index]?.type !== "params") index++;
  }
  const choices = await argChoices(magic, command, index);
  if (choices.length > 0) return result(choices);
  const required = (command.args ?? []).filter((a) => !a.optional).length;
  // Once the required arguments are there, an empty word may be a flag.
  return index >= required && partial === "" ? result(flagsOf(command, "--")) : result([]);
}
