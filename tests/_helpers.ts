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

/** This test process's folder of {@linkcode testTempDir}'s folders, made on first use. */
let testRoot: string | undefined;

/**
 * A new temp folder inside one folder of this test process, which is removed when the process
 * ends: for tests that hand a folder to code under test and would otherwise leave it behind.
 */
export async function testTempDir(): Promise<string> {
  if (testRoot === undefined) {
    const root = testRoot = await Deno.makeTempDir({ prefix: "fused-test-" });
    globalThis.addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));
  }
  return await Deno.makeTempDir({ dir: testRoot });
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
