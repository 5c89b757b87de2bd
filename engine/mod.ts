/**
 * The UDF executor: runs TypeScript UDFs on this machine in a pool of sandboxed Deno processes
 * (one wall per UDF version, permission set and caller), with parameter coercion, captured logs,
 * memory limits, timeouts and cancellation. The host needs permission to run `deno` (`-A`).
 *
 * @example
 * ```ts
 * import { udf } from "../client/udf.ts";
 * import { LocalEngine } from "./mod.ts";
 * const engine = new LocalEngine();
 * const hello = udf(`export default function udf({ name = "world" }) { return "hello " + name }`);
 * const { value } = await engine.run({ udf: hello, parameters: { name: "deno" } });
 * await engine.close();
 * if (value !== "hello deno") throw new Error("unexpected");
 * ```
 *
 * @module
 */
import { LocalEngine } from "./local_engine.ts";

export { LocalEngine } from "./local_engine.ts";
export type {
  LocalEngineOptions,
  LocalEngineStats,
  LocalRunRequest,
  LocalRunResult,
} from "./local_engine.ts";
export type { UdfParameter, UdfSignature } from "./params.ts";
export { unrunnableReason } from "./_run_errors.ts";

let shared: LocalEngine | undefined;

/**
 * The process-wide engine, created on first use and closed when the program unloads. Idle
 * processes do not keep the program alive.
 */
export function defaultEngine(): LocalEngine {
  if (!shared) {
    const engine = new LocalEngine();
    shared = engine;
    globalThis.addEventListener("unload", () => void engine.close());
  }
  return shared;
}
