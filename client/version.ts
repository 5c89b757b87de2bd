/**
 * The version of this SDK, as fused-py's `fused.__version__`.
 *
 * @module
 */
import denoConfig from "../deno.json" with { type: "json" };

/**
 * The version of fused-ts (from its `deno.json`), as fused-py's `fused.__version__`.
 *
 * @example
 * ```ts
 * import { version } from "./version.ts";
 * console.log(`fused-ts ${version}`);
 * ```
 */
export const version: string = denoConfig.version;
