/**
 * A small notebook for handler tests: a scope object that `evaluate` reads (as cell code would)
 * and `bind` writes, with printed text and displays recorded.
 *
 * @module
 */
import type { CapturedOutput, MagicContext } from "./registry.ts";
import { installMagicRuntime } from "../kernel/magic_runtime.ts";

// Handler tests run the magics with the kernel's runtime, as a notebook does.
installMagicRuntime();

/** A magic context over a plain scope object, recording what the handler shows. */
export interface TestContext extends MagicContext {
  /** The notebook's variables. */
  scope: Record<string, unknown>;
  /** Everything printed to stdout. */
  stdout: string;
  /** Everything printed to stderr. */
  stderr: string;
  /** Values passed to display, in order. */
  displays: unknown[];
}

/** Creates a test notebook with the given variables. */
export function testContext(scope: Record<string, unknown> = {}): TestContext {
  const ctx: TestContext = {
    cell: "test-cell",
    scope,
    stdout: "",
    stderr: "",
    displays: [],
    evaluate(code: string): Promise<unknown> {
      // `with` gives the expression the scope's variables, as the notebook's globals would.
      return Promise.resolve(new Function("scope", `with (scope) { return ${code}; }`)(scope));
    },
    bind(name: string, value: unknown): Promise<void> {
      scope[name] = value;
      return Promise.resolve();
    },
    display(value: unknown): Promise<void> {
      ctx.displays.push(value);
      return Promise.resolve();
    },
    print(text: string, stream: "stdout" | "stderr" = "stdout"): void {
      if (stream === "stdout") ctx.stdout += text;
      else ctx.stderr += text;
    },
    async capture<T>(fn: () => Promise<T>): Promise<CapturedOutput<T>> {
      const before = { stdout: ctx.stdout, stderr: ctx.stderr, n: ctx.displays.length };
      const value = await fn();
      const captured = {
        value,
        stdout: ctx.stdout.slice(before.stdout.length),
        stderr: ctx.stderr.slice(before.stderr.length),
        outputs: ctx.displays.splice(before.n) as Record<string, unknown>[],
      };
      ctx.stdout = before.stdout;
      ctx.stderr = before.stderr;
      return captured;
    },
  };
  return ctx;
}
