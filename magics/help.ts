/**
 * Help text of a magic, generated from its declaration (`spec.ts`) the way IPython shows
 * `%magic?`: a usage line, the description, then tables of arguments and flags.
 *
 * @example
 * ```ts
 * import { formatHelp } from "./help.ts";
 * import { FUSED_LINE } from "./spec.ts";
 * console.log(formatHelp(FUSED_LINE, "run"));
 * ```
 *
 * @module
 */
import { commandTitle } from "./args.ts";
import type { CommandSpec, FlagSpec, MagicDeclaration, ValueType } from "./spec.ts";
import { findCommand } from "./spec.ts";

const NAME_WIDTH = 26;

/** The placeholder of a value of this type in help: `Z/X/Y`, `{local,remote}`, `AGE`. */
export function metavarOf(type: ValueType, given?: string): string {
  if (given) return given;
  if (Array.isArray(type)) return `{${type.join(",")}}`;
  switch (type) {
    case "tile":
      return "Z/X/Y";
    case "age":
      return "AGE";
    case "number":
    case "integer":
      return "N";
    case "params":
      return "[key=value ...]";
    default:
      return "VALUE";
  }
}

function flagUsage(flag: FlagSpec): string {
  return flag.type === "boolean"
    ? `--${flag.name}`
    : `--${flag.name} ${metavarOf(flag.type, flag.metavar)}`;
}

/** The usage line: `%fused run NAME_OR_PATH [PARAMS ...] [--engine {local,remote}] ...`. */
export function usageLine(magic: MagicDeclaration, spec: CommandSpec): string {
  const parts = [commandTitle(magic, spec.name)];
  for (const arg of spec.args ?? []) {
    const name = arg.type === "params" ? `${arg.name} ...` : arg.name;
    parts.push(arg.optional ? `[${name}]` : name);
  }
  for (const flag of spec.flags ?? []) parts.push(`[${flagUsage(flag)}]`);
  return parts.join(" ");
}

function row(name: string, help: string): string {
  const pad = "  " + name;
  return pad.length < NAME_WIDTH
    ? pad.padEnd(NAME_WIDTH) + help
    : `${pad}\n${" ".repeat(NAME_WIDTH)}${help}`;
}

function commandHelp(magic: MagicDeclaration, spec: CommandSpec): string {
  const lines = [`Usage: ${usageLine(magic, spec)}`, "", spec.description ?? spec.summary];
  if (magic.kind === "cell" && spec === magic && magic.body) {
    lines.push("", `Cell body: ${magic.body}`);
  }
  const args = spec.args ?? [];
  if (args.length > 0) {
    lines.push("", "Positional arguments:");
    for (const arg of args) {
      lines.push(row(arg.name, `${arg.help}${arg.optional ? " (optional)" : ""}`));
    }
  }
  lines.push("", "Flags:");
  for (const flag of spec.flags ?? []) {
    const names = flag.short ? `-${flag.short}, ${flagUsage(flag)}` : flagUsage(flag);
    lines.push(row(names, flag.help));
  }
  lines.push(row("-h, --help", "Shows this help"));
  if (spec.examples?.length) {
    lines.push("", "Examples:");
    for (const example of spec.examples) {
      lines.push(...example.split("\n").map((l) => `  ${l}`), "");
    }
    if (lines[lines.length - 1] === "") lines.pop();
  }
  return lines.join("\n") + "\n";
}

function overviewHelp(magic: MagicDeclaration): string {
  const title = commandTitle(magic);
  const lines = [`Usage: ${title} SUBCOMMAND [ARGS] [FLAGS]`, "", magic.summary];
  if (magic.description) lines.push("", magic.description);
  lines.push("", "Subcommands:");
  for (const sub of magic.subcommands ?? []) lines.push(row(sub.name, sub.summary));
  lines.push(
    "",
    `${title} SUBCOMMAND? (or ${title} help SUBCOMMAND) shows the arguments and flags of one.`,
  );
  return lines.join("\n") + "\n";
}

/**
 * The help of a magic, or of one of its subcommands. Throws for an unknown subcommand (the
 * parser reports those first, with a suggestion).
 */
export function formatHelp(magic: MagicDeclaration, command?: string): string {
  if (!magic.subcommands) return commandHelp(magic, magic);
  if (!command) return overviewHelp(magic);
  const spec = findCommand(magic, command);
  if (!spec) {
    throw new Error(
      `Unknown subcommand "${command}" for ${commandTitle(magic)}: subcommands are ${
        magic.subcommands.map((c) => c.name).join(", ")
      }`,
    );
  }
  return commandHelp(magic, spec);
}
