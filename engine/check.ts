/**
 * Type-checks a UDF: its module files, written as the engine writes them
 * (engine/_module_files.ts, bare names already rewritten to `npm:` targets and header files),
 * checked by `deno check` with this project's deno.json. A UDF runs without type checking (a
 * `const s: string = 1` runs); this is the opt-in check.
 *
 * The project's config, not `--no-config` as the UDF's process runs: a UDF that imports "fused"
 * gets this checkout's mod.ts, whose own bare imports resolve only through deno.json; with
 * `--no-config` that gave 208 errors in the SDK and none useful (measured). The UDF's files sit
 * in a temporary folder outside the workspace, so the import map does not apply to them: their
 * specifiers resolve as in the UDF's process.
 *
 * A function, not a `Udf.check()` method nor a `udf(code, { check: true })` option: `udf()` is
 * synchronous and a check starts a process, and `client/` (the lower layer) must not import the
 * engine that writes the module files.
 *
 * Measured on 2 cores: 1.2 to 1.4 s for a five-line UDF without imports (load average 3 to 3.5);
 * 7.6 to 13 s for one that imports "fused" and "zod" (load average 2.8 to 3.5), which checks
 * the whole SDK.
 *
 * @example
 * ```ts
 * import { udf } from "../client/udf.ts";
 * import { checkUdf } from "./check.ts";
 * const double = udf(`export default function udf({ n = 1 }: { n?: number }) { return n * 2 }`);
 * const { seconds } = await checkUdf(double);
 * if (!(seconds > 0)) throw new Error("unexpected");
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { ValidationError } from "../client/errors.ts";
import type { Udf } from "../client/udf.ts";
import { udfModuleFiles } from "./_module_files.ts";

const CONFIG = new URL("../deno.json", import.meta.url).pathname;

/** One type error of a UDF. */
export interface UdfDiagnostic {
  /** The module file it is in: the UDF's own (`NAME.ts`) or a header's. */
  file: string;
  /** Whether the file is the UDF's own source (not a header). */
  inUdf: boolean;
  /** 1-based line in that file's source. */
  line: number;
  /** 1-based column. */
  column: number;
  /** TypeScript's code, e.g. `TS2322`. */
  code: string;
  /** TypeScript's message. */
  message: string;
}

/** What a passing check reports. */
export interface UdfCheckResult {
  /** How long the check took, in seconds. */
  seconds: number;
}

/** Options of {@linkcode checkUdf}. */
export interface UdfCheckOptions {
  /** Stops the check. */
  signal?: AbortSignal;
  /**
   * Formats a diagnostic's place in the error message; default `line N of the UDF NAME`
   * (`%%fused` says `line N of the cell`).
   */
  place?: (diagnostic: UdfDiagnostic) => string;
}

/** The UDF has type errors: each one is in `diagnostics`, and listed in the message. */
export class UdfTypeError extends ValidationError {
  /** Every type error, in the order `deno check` reported them. */
  readonly diagnostics: UdfDiagnostic[];
  /** Creates the error from its message and diagnostics. */
  constructor(message: string, diagnostics: UdfDiagnostic[]) {
    super(message);
    this.name = "UdfTypeError";
    this.diagnostics = diagnostics;
  }
}

/**
 * Type-checks the UDF's module files; resolves with the time it took, or rejects with a
 * {@linkcode UdfTypeError} listing each type error at its line of the UDF.
 *
 * @example
 * ```ts
 * import { udf } from "../client/udf.ts";
 * import { checkUdf, UdfTypeError } from "./check.ts";
 * const bad = udf(`export default function udf() {\n  const s: string = 1;\n  return s;\n}`);
 * const err = await checkUdf(bad).catch((e) => e);
 * if (!(err instanceof UdfTypeError) || err.diagnostics[0].line !== 2) throw new Error("unexpected");
 * ```
 */
export async function checkUdf(udf: Udf, options: UdfCheckOptions = {}): Promise<UdfCheckResult> {
  const t0 = performance.now();
  const files = udfModuleFiles(udf);
  const main = `${udf.name}.ts`;
  const dir = await Deno.makeTempDir({ prefix: "fused-check-" });
  try {
    for (const [file, source] of Object.entries(files)) {
      await Deno.writeTextFile(join(dir, file), source);
    }
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--config", CONFIG, "--quiet", main],
      cwd: dir,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
      signal: options.signal,
    }).output();
    const seconds = (performance.now() - t0) / 1000;
    if (out.success) return { seconds };
    const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
    const diagnostics = parseDiagnostics(text, dir, main);
    if (diagnostics.length === 0) {
      throw new ValidationError(`Cannot type-check UDF ${udf.name}: ${text.trim()}`);
    }
    const place = options.place ??
      ((d: UdfDiagnostic) =>
        d.inUdf ? `line ${d.line} of the UDF ${udf.name}` : `line ${d.line} of ${d.file}`);
    const list = diagnostics.map((d) => `  ${place(d)}: ${d.code} ${d.message}`);
    throw new UdfTypeError(
      `UDF ${udf.name} has ${diagnostics.length} type error${
        diagnostics.length === 1 ? "" : "s"
      } (checked in ${seconds.toFixed(1)} s):\n${list.join("\n")}`,
      diagnostics,
    );
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/**
 * Reads `deno check`'s report: each error starts `TS2322 [ERROR]: message` and ends with its
 * place, `at file:///dir/NAME.ts:2:9`.
 */
function parseDiagnostics(text: string, dir: string, main: string): UdfDiagnostic[] {
  const diagnostics: UdfDiagnostic[] = [];
  const blocks = text.split(/^(?=TS\d+ \[ERROR\]: )/m);
  const prefix = new URL(`file://${dir}/`).href;
  for (const block of blocks) {
    const head = /^(TS\d+) \[ERROR\]: ([^\n]*)/.exec(block);
    const at = /^\s+at (file:\/\/\S+):(\d+):(\d+)\s*$/m.exec(block);
    if (!head || !at) continue;
    const file = at[1].startsWith(prefix) ? decodeURIComponent(at[1].slice(prefix.length)) : at[1];
    diagnostics.push({
      file,
      inUdf: file === main,
      line: Number(at[2]),
      column: Number(at[3]),
      code: head[1],
      message: head[2].trim(),
    });
  }
  return diagnostics;
}
