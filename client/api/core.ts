/**
 * `fused.core`: run saved UDFs by owner and name, or shared UDFs by token, and get their results;
 * `download` is `fused.download`, as fused-py's `fused.core.download`.
 *
 * @example
 * ```ts ignore
 * import * as core from "./core.ts";
 * const rows = await core.runSharedFile("fsh_0123456789abcdef", { n: 3 });
 * const tile = await core.runTile("admin@localhost", "tiles", { x: 1, y: 1, z: 1 });
 * ```
 *
 * @module
 */
export { type CoreRunOptions, runFile, runSharedFile, runSharedTile, runTile } from "./realtime.ts";
export { download, type DownloadOptions } from "../download.ts";
