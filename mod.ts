/**
 * fused-ts: the Fused UDF platform in TypeScript on Deno. Define UDFs, run them locally in
 * sandboxed Workers or on a service, fan them out, cache them, and read every result as Arrow
 * tables, rasters, JSON or HTML.
 *
 * Importing this module installs the local engine (sandboxed Workers; the host needs
 * `--unstable-worker-options`).
 *
 * @example
 * ```ts ignore
 * import * as fused from "fused";
 * const hello = fused.udf(`export default function udf({ name = "world" }) {
 *   return "hello " + name;
 * }`);
 * console.log(await fused.run(hello, { name: "Deno" })); // "hello Deno"
 * ```
 *
 * @module
 */
import { setLocalEngine } from "./client/run.ts";
import { defaultEngine } from "./engine/mod.ts";

// Created on first run, not at import: importing "fused" must work anywhere, also inside a
// UDF's permission-less Worker (which cannot read TMPDIR to place the engine's folder).
setLocalEngine({
  run: (request) => defaultEngine().run(request),
  describe: (udf) => defaultEngine().describe(udf),
});

export { Udf, udf } from "./client/udf.ts";
export type { UdfHeader, UdfJson, UdfLanguage, UdfOptions } from "./client/udf.ts";
export { load, type LoadOptions } from "./client/load.ts";
export { run, runDetailed, type RunOptions, type RunResponse, type Tile } from "./client/run.ts";
export { submit, type SubmitOptions } from "./client/submit.ts";
export {
  JobPool,
  type JobPoolOptions,
  type PoolProgress,
  type TaskStatus,
} from "./client/job_pool.ts";
export { cache, cacheCall, type CacheOptions } from "./client/cache.ts";
export { options } from "./client/options.ts";
export { download } from "./client/download.ts";
export { filePath } from "./client/file_path.ts";
export { parseCacheMaxAge } from "./client/cache_max_age.ts";
export * from "./client/errors.ts";
export * as formats from "./client/formats/mod.ts";
export { Raster } from "./client/formats/mod.ts";
export * as tiles from "./client/tiles.ts";
export { LocalEngine } from "./engine/mod.ts";
export * as api from "./client/api/mod.ts";
export { chart, type ChartOptions } from "./display/chart.ts";
export { map, type MapOptions } from "./display/map.ts";
export { displayable, html } from "./display/mod.ts";
export * as core from "./client/api/core.ts";
