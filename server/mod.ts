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
export { type AppOptions, createApp, toErrorResponse } from "./app.ts";
export * from "./serve.ts";
export * from "./registry/mod.ts";
export { SqliteRegistry } from "./registry/sqlite.ts";
export * from "./storage.ts";
export * from "./runs.ts";
export * from "./signing.ts";
export { localRunner } from "./runner.ts";
export type { AppEnv } from "./_http.ts";
