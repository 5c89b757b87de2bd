/**
 * What a UDF process may read besides its own folders: the SDK's source (so a UDF can
 * `import * as fused from "fused"`) and the npm packages (some, like parquet-wasm, read their
 * .wasm files at load time). Nothing of the user's lives there.
 *
 * @module
 */
import { join } from "node:path";

function envOrUndefined(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // the host may run without --allow-env
  }
}

/** Deno's cache folder, as Deno itself picks it. */
export function denoDir(): string {
  const explicit = envOrUndefined("DENO_DIR");
  if (explicit) return explicit;
  const home = envOrUndefined("HOME") ?? envOrUndefined("USERPROFILE") ?? "/tmp";
  if (Deno.build.os === "darwin") return join(home, "Library", "Caches", "deno");
  if (Deno.build.os === "windows") {
    return join(envOrUndefined("LOCALAPPDATA") ?? home, "deno");
  }
  return join(envOrUndefined("XDG_CACHE_HOME") ?? join(home, ".cache"), "deno");
}

const rootsOf = new Map<string, string[]>();

/** The SDK's folders and files under the project root, and the npm packages (computed once). */
export function sdkReadRoots(projectRoot: string): string[] {
  let roots = rootsOf.get(projectRoot);
  if (!roots) {
    roots = computeRoots(projectRoot);
    rootsOf.set(projectRoot, roots);
  }
  return roots;
}

function computeRoots(projectRoot: string): string[] {
  // Only the layers a UDF's `import "fused"` loads: not kernel/, server/, tests/ or notebooks/.
  const roots = ["client", "engine", "ingest", "display", "mod.ts", "deno.json", "node_modules"]
    .map((name) => join(projectRoot, name));
  roots.push(join(denoDir(), "npm"));
  return roots;
}
