/**
 * Helpers shared by the integration tests.
 *
 * @module
 */
import { options } from "../client/options.ts";

/** Runs `fn` with the SDK's cache in a fresh temp folder, removed afterwards. */
export async function withTempCache<T>(fn: () => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir();
  options.cacheDirectory = dir;
  try {
    return await fn();
  } finally {
    options.cacheDirectory = null;
    await Deno.remove(dir, { recursive: true });
  }
}
