/**
 * The magics registry: `%name args` line magics and `%%name args` cell magics, IPython style.
 * A magic is one declaration (name, kind, help) plus a handler over the argument text and the
 * cell body; the kernel only routes cells here. Magics run inside the evaluator Worker, so a
 * handler can evaluate code in the notebook's scope and bind variables through `ctx`.
 *
 * @example
 * ```ts ignore
 * import { registerMagic } from "./registry.ts";
 * registerMagic({
 *   name: "upper",
 *   kind: "cell",
 *   help: "Prints the cell body in upper case.",
 *   run: (_args, body, ctx) => ctx.print(body.toUpperCase() + "\n"),
 * });
 * ```
 *
 * @module
 */

/** What a magic handler can do in the notebook. */
export interface MagicContext {
  /** Tag of the cell running the magic (output goes there). */
  readonly cell: string;
  /** Evaluates TypeScript in the notebook scope (REPL semantics); resolves to the last value. */
  evaluate(code: string): Promise<unknown>;
  /** Binds `name` to `value` in the notebook scope, as `const name = value` in a cell would. */
  bind(name: string, value: unknown): Promise<void>;
  /** Displays a value in the cell's output (see kernel/display.ts `display`). */
  display(
    value: unknown,
    options?: { raw?: boolean; displayId?: string; update?: boolean },
  ): Promise<void>;
  /** Writes text to the cell's stdout (or stderr). */
  print(text: string, stream?: "stdout" | "stderr"): void;
  /** Runs `fn`, capturing the cell's stdout, stderr and displays instead of showing them. */
  capture<T>(fn: () => Promise<T>): Promise<CapturedOutput<T>>;
  /**
   * Cell line (1-based) a cell magic's body starts on, for error positions; 2 (right under the
   * `%%name` line) when not given.
   */
  readonly bodyLine?: number;
}

/** Completion candidates replacing `code.slice(start, end)`. */
export interface MagicCompletion {
  /** Candidates. */
  matches: string[];
  /** Start of the replaced text (offset into the cell). */
  start: number;
  /** End of the replaced text. */
  end: number;
}

/** What {@linkcode MagicContext.capture} collected. */
export interface CapturedOutput<T> {
  /** The value `fn` resolved to. */
  value: T;
  /** Everything written to stdout. */
  stdout: string;
  /** Everything written to stderr. */
  stderr: string;
  /** Displays (MIME bundles' data), in order. */
  outputs: Record<string, unknown>[];
}

/** One magic's declaration. */
export interface MagicSpec {
  /** Name without the `%` signs. */
  name: string;
  /** `line` for `%name args`, `cell` for `%%name args` + body. */
  kind: "cell" | "line";
  /** One-paragraph help shown by `%lsmagic` and on errors. */
  help: string;
  /** The handler; its resolved value (if not undefined) becomes the cell's result. */
  run(args: string, body: string, ctx: MagicContext): unknown;
  /** Full help shown by `%name?` (default: `help`). */
  usage?(): string;
  /** Completes the argument text at `cursor` (offsets into `args`). */
  complete?(
    args: string,
    cursor: number,
  ): Promise<{ matches: string[]; start: number; end: number }>;
}

const REGISTRY_KEY = Symbol.for("fused.magics.registry");

function registry(): Map<string, MagicSpec> {
  const g = globalThis as Record<symbol, unknown>;
  let r = g[REGISTRY_KEY] as Map<string, MagicSpec> | undefined;
  if (!r) {
    r = new Map();
    g[REGISTRY_KEY] = r;
  }
  return r;
}

function key(kind: "cell" | "line", name: string): string {
  return `${kind}:${name}`;
}

/** Registers (or replaces) a magic. */
export function registerMagic(spec: MagicSpec): void {
  if (!/^[A-Za-z_][\w.-]*$/.test(spec.name)) {
    throw new Error(
      `Cannot register magic "${spec.name}": use a name of letters, digits, "_", "-" or "."`,
    );
  }
  const run = spec.run;
  registry().set(key(spec.kind, spec.name), {
    ...spec,
    // `%name?` (and `%%name?`) show the help instead of running, for every magic.
    run(args, body, ctx): unknown {
      if (args.trim() === "?") {
        ctx.print(
          spec.usage
            ? spec.usage()
            : `${spec.kind === "cell" ? "%%" : "%"}${spec.name}: ${spec.help}\n`,
        );
        return undefined;
      }
      return run.call(spec, args, body, ctx);
    },
  });
}

/** The magic of this kind and name, if registered. */
export function getMagic(kind: "cell" | "line", name: string): MagicSpec | undefined {
  return registry().get(key(kind, name));
}

/** All registered magics, sorted by kind then name. */
export function listMagics(): MagicSpec[] {
  return [...registry().values()].sort((a, b) =>
    a.kind === b.kind ? a.name.localeCompare(b.name) : a.kind === "line" ? -1 : 1
  );
}

/** `%lsmagic`-style listing of the registered magics. */
export function describeMagics(): string {
  const line = listMagics().filter((m) => m.kind === "line").map((m) => `%${m.name}`);
  const cell = listMagics().filter((m) => m.kind === "cell").map((m) => `%%${m.name}`);
  return `Available line magics:\n${line.join("  ") || "(none)"}\n\n` +
    `Available cell magics:\n${cell.join("  ") || "(none)"}\n`;
}

/** Error for an unknown magic, listing the known ones. */
export class UnknownMagicError extends Error {
  /** Creates the error. */
  constructor(kind: "cell" | "line", name: string) {
    const prefix = kind === "cell" ? "%%" : "%";
    const known = listMagics().filter((m) => m.kind === kind).map((m) => `${prefix}${m.name}`);
    super(
      `Unknown ${kind} magic ${prefix}${name}: known ${kind} magics are ${
        known.join(", ") || "(none)"
      }; %lsmagic lists all`,
    );
    this.name = "UsageError";
  }
}

/** A piece of a cell: TypeScript code, or one line magic. */
export type CellSegment =
  | { type: "code"; code: string; firstLine: number }
  | { type: "line_magic"; name: string; args: string; line: number };

/** How a cell is to be run. */
export type ParsedCell =
  | { type: "cell_magic"; name: string; args: string; body: string; bodyLine: number }
  | { type: "segments"; segments: CellSegment[] };

const CELL_MAGIC = /^\s*%%([A-Za-z_][\w.-]*)[ \t]*(.*)$/;
const LINE_MAGIC = /^[ \t]*%([A-Za-z_][\w.-]*)(\?)?(?:[ \t]+(.*))?$/;

/**
 * Splits a cell into code and line magics, or recognises a cell magic on its first line.
 * Code segments keep their line numbers (`firstLine`, 1-based) for error positions.
 */
export function parseCell(code: string): ParsedCell {
  const lines = code.split("\n");
  const firstContent = lines.findIndex((l) => l.trim() !== "");
  if (firstContent >= 0) {
    const m = lines[firstContent].match(CELL_MAGIC);
    if (m) {
      return {
        type: "cell_magic",
        name: m[1],
        args: m[2].trim(),
        body: lines.slice(firstContent + 1).join("\n"),
        bodyLine: firstContent + 2,
      };
    }
  }
  const segments: CellSegment[] = [];
  let buf: string[] = [];
  let bufStart = 1;
  let inTemplate = false;
  for (let i = 0; i < lines.length; i++) {
    const m = inTemplate ? null : lines[i].match(LINE_MAGIC);
    if (m) {
      if (buf.some((l) => l.trim() !== "")) {
        segments.push({ type: "code", code: buf.join("\n"), firstLine: bufStart });
      }
      const args = m[2] ? "?" : (m[3] ?? "").trim();
      segments.push({ type: "line_magic", name: m[1], args, line: i + 1 });
      buf = [];
      bufStart = i + 2;
    } else {
      buf.push(lines[i]);
      // A `%` line inside a multi-line template literal is text, not a magic.
      if (((lines[i].match(/`/g) ?? []).length % 2) === 1) inTemplate = !inTemplate;
    }
  }
  if (buf.some((l) => l.trim() !== "") || segments.length === 0) {
    segments.push({ type: "code", code: buf.join("\n"), firstLine: bufStart });
  }
  return { type: "segments", segments };
}

/**
 * Completes a magic line of a cell at `cursor`: magic names after `%` / `%%`, then the magic's
 * own arguments through its `complete`. Undefined when the cursor is not on a magic line, so
 * the caller completes code instead.
 */
export async function completeMagic(
  code: string,
  cursor: number,
): Promise<MagicCompletion | undefined> {
  const lineStart = code.lastIndexOf("\n", cursor - 1) + 1;
  const before = code.slice(lineStart, cursor);
  const m = before.match(/^(\s*)(%%?)([\w.-]*)(?:([ \t]+)([\s\S]*))?$/);
  if (!m) return undefined;
  const kind = m[2] === "%%" ? "cell" : "line";
  if (m[4] === undefined) {
    const matches = listMagics().filter((s) => s.kind === kind && s.name.startsWith(m[3]))
      .map((s) => s.name);
    return { matches, start: cursor - m[3].length, end: cursor };
  }
  const magic = getMagic(kind, m[3]);
  if (!magic?.complete) return { matches: [], start: cursor, end: cursor };
  const argsStart = lineStart + m[1].length + m[2].length + m[3].length + m[4].length;
  const lineEnd = code.indexOf("\n", cursor);
  const args = code.slice(argsStart, lineEnd < 0 ? code.length : lineEnd);
  const found = await magic.complete(args, cursor - argsStart);
  return { matches: found.matches, start: argsStart + found.start, end: argsStart + found.end };
}

function registerBuiltins(): void {
  registerMagic({
    name: "lsmagic",
    kind: "line",
    help: "Lists the available line and cell magics.",
    run(_args, _body, ctx) {
      ctx.print(describeMagics());
    },
  });
  registerMagic({
    name: "time",
    kind: "cell",
    help: "Runs the cell body and prints its wall time (like IPython's %%time).",
    async run(_args, body, ctx) {
      const t0 = performance.now();
      try {
        return await ctx.evaluate(body);
      } finally {
        ctx.print(`Wall time: ${formatDuration(performance.now() - t0)}\n`);
      }
    },
  });
  registerMagic({
    name: "time",
    kind: "line",
    help: "Runs the rest of the line and prints its wall time.",
    async run(args, _body, ctx) {
      const t0 = performance.now();
      try {
        return await ctx.evaluate(args);
      } finally {
        ctx.print(`Wall time: ${formatDuration(performance.now() - t0)}\n`);
      }
    },
  });
  registerMagic({
    name: "capture",
    kind: "cell",
    help: "%%capture [VAR]: runs the body and captures its stdout, stderr and displays into " +
      "VAR ({ stdout, stderr, outputs, value, show() }) instead of showing them.",
    async run(args, body, ctx) {
      const name = args.split(/\s+/).filter((a) => !a.startsWith("-"))[0];
      if (name !== undefined && !/^[A-Za-z_$][\w$]*$/.test(name)) {
        throw new Error(`%%capture takes a variable name, not "${name}": use e.g. %%capture out`);
      }
      const captured = await ctx.capture(() => ctx.evaluate(body));
      if (name !== undefined) {
        const result = {
          ...captured,
          show(): Promise<void> {
            if (captured.stdout) ctx.print(captured.stdout);
            if (captured.stderr) ctx.print(captured.stderr, "stderr");
            return captured.outputs.reduce<Promise<void>>(
              (p, o) => p.then(() => ctx.display(o, { raw: true })),
              Promise.resolve(),
            );
          },
        };
        await ctx.bind(name, result);
      }
    },
  });
}

/** Formats milliseconds like IPython: "12.3 ms", "1.52 s", "45 µs". */
export function formatDuration(ms: number): string {
  if (ms < 1) return `${(ms * 1000).toFixed(0)} µs`;
  if (ms < 1000) return `${ms.toFixed(1)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

registerBuiltins();
