/**
 * What the magics call on, installed by the kernel (the layer allowed to import every other):
 * the engines behind `fused.run` and the embedded service behind `%fused serve`, each loaded
 * only when a magic first needs it.
 *
 * @module
 */
import { type MagicRuntime, setMagicRuntime } from "../magics/runtime.ts";

/** The kernel's runtime for magics. */
export const kernelMagicRuntime: MagicRuntime = {
  async installEngines() {
    await import("../mod.ts"); // installs the local engine (lazily created)
  },
  async ingest(input, options) {
    const { ingest } = await import("../ingest/mod.ts");
    return await ingest(input, options);
  },
  async publish(notebook, request) {
    const { publishNotebook } = await import("./publish.ts");
    return await publishNotebook(notebook, request);
  },
  async startService(options) {
    // The service is large (registry, storage, routes): loaded only when asked for.
    const { startServer } = await import("../server/mod.ts");
    return await startServer(options);
  },
};

let engines: Promise<void> | undefined;

/**
 * Installs the local engine and the API client once per Worker, so `%%fused` and `%fused` work
 * as the first cell of a fresh kernel, without a prior `import "fused"`: the magics read a UDF's
 * parameters through the engine before they run it. Loaded on the first magic that needs it, so
 * plain TypeScript cells never pay for the engine.
 */
export function ensureEngines(): Promise<void> {
  engines ??= (async () => {
    await kernelMagicRuntime.installEngines();
    await import("../client/api/mod.ts");
  })();
  // A failed load (a syntax error while developing the engine) is retried by the next magic.
  engines.catch(() => engines = undefined);
  return engines;
}

/** Installs the kernel's runtime for magics (the evaluator Worker does this once). */
export function installMagicRuntime(): void {
  setMagicRuntime(kernelMagicRuntime);
}
