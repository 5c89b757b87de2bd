/** Helpers shared by the executor's tests: an engine over a temporary data folder, UDFs, errors. */
import assert from "node:assert/strict";
import { UdfRuntimeError } from "../client/errors.ts";
import { type Udf, udf } from "../client/udf.ts";
import { LocalEngine, type LocalEngineOptions } from "./mod.ts";

export async function withEngine(
  options: LocalEngineOptions,
  fn: (engine: LocalEngine, dataDir: string) => Promise<void>,
): Promise<void> {
  const dataDir = await Deno.makeTempDir({ prefix: "engine_test_" });
  const engine = new LocalEngine({ dataDir, ...options });
  try {
    await fn(engine, dataDir);
  } finally {
    await engine.close();
    await Deno.remove(dataDir, { recursive: true });
  }
}

export function ts(code: string, name = "t"): Udf {
  return udf(code, { name });
}

export async function runtimeError(promise: Promise<unknown>): Promise<UdfRuntimeError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof UdfRuntimeError, `expected UdfRuntimeError, got ${err}`);
    return err;
  }
  throw new Error("the run did not fail");
}
