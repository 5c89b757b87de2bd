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

/** A notebook (nbformat 4.5) of the Fused kernel whose code cells hold `cells`, not yet run. */
export function notebookJson(cells: string[]): string {
  return JSON.stringify({
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { name: "fused", display_name: "Deno (Fused)", language: "typescript" },
    },
    cells: cells.map((source, i) => ({
      cell_type: "code",
      id: `c${i}`,
      metadata: {},
      source,
      outputs: [],
      execution_count: null,
    })),
  });
}
