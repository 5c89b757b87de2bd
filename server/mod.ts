/**
 * The Fused UDF service: Fused-shaped HTTP routes over a registry (SQLite), file storage (a
 * local folder) and the local engine.
 *
 * @example
 * ```ts ignore
 * import { startServer } from "./mod.ts";
 * const server = await startServer({ port: 0, dataDir: await Deno.makeTempDir() });
 * console.log(server.baseUrl, server.adminToken);
 * await server.close();
 * ```
 *
 * @module
 */
export { createApp, type AppOptions } from "./app.ts";
export { type RunningServer, type ServeOptions, startServer, DEFAULT_PORT, defaultDataDir } from "./serve.ts";
export type { Registry, User, UdfRecord, ShareToken, JobRecord, JobStatus } from "./registry.ts";
export { SqliteRegistry } from "./registry.ts";
export { LocalStorage, parseFdPath, type Storage, type FileInfo } from "./storage.ts";
export { RunService, type UdfRunner, type UdfRunnerOptions, type RunSpec, type RunAnswer } from "./runs.ts";
