/**
 * The runner the service uses by default: `runDetailed` from client/run.ts on the local engine
 * (sandboxed Workers from engine/).
 *
 * @module
 */
import {
  cachingLocalEngine,
  installEngine,
  type LocalEngineLike,
  runDetailed,
} from "../client/run.ts";
import { defaultEngine } from "../engine/mod.ts";
import type { UdfRunner } from "./runs.ts";

/**
 * The local runner. Installs `engine` (default: the process-wide engine) as client/run.ts's
 * local engine, which is one per process: the service and notebook runs share it.
 */
export function localRunner(options: { engine?: LocalEngineLike } = {}): UdfRunner {
  installEngine("local", cachingLocalEngine(options.engine ?? defaultEngine()));
  return function runLocally(udf, runOptions) {
    return runDetailed(udf, { ...runOptions } as Parameters<typeof runDetailed>[1]);
  };
}
