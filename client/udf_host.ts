/**
 * The SDK inside a UDF: a UDF runs in a sandboxed process with no network, no environment and
 * only its own folders, so the SDK calls that need more (nested runs, saved UDFs loaded by name,
 * downloads, `fd://` files) go to the process's host, which carries them out as the UDF's caller.
 *
 * Two sides, one vocabulary:
 * - in the UDF's process, the executor's runner installs a `UdfHost` (`host_channel.ts`);
 *   `download`, `fused.api` file calls, `load` of a saved UDF or an http(s) URL and the engine
 *   table (through {@linkcode hostEngine}) then forward to it;
 * - on the host, a `CallerContext` (`engine_types.ts`) travels with every run and names who the
 *   run acts as and the `HostHandler` that answers its calls (the notebook's own SDK, or the
 *   service acting as the requesting user). This module holds what travels between the two.
 *
 * @module
 */
import { FusedError, type UdfLogs } from "./errors.ts";
import { type PackedResult, unpackResult } from "./formats/packed.ts";
import { fromTransferable } from "./formats/transfer.ts";
import type {
  EngineCall,
  EngineName,
  NestedRun,
  RunResponse,
  UdfEngine,
  UdfSignatureLike,
} from "./engine_types.ts";
import type { UdfHost } from "./host_channel.ts";
import type { Udf } from "./udf.ts";
import type { UdfJson } from "./udf_json.ts";

/**
 * A nested run as it travels to the host: the UDF as its JSON, or its code alone (`{ code, name }`:
 * the host makes the UDF as `udf(code)` does), or a saved UDF's reference; the host checks it.
 * `tables: "columns"` asks for a table result column by column (engine/_py_result.ts), for a
 * Python UDF, which has no Arrow reader.
 */
export type NestedRunMessage = Omit<NestedRun, "udf"> & {
  udf: UdfJson | { code: string; name?: string } | string;
  tables?: "columns";
};

/** The answer to a nested "run" call: the result's bytes are the reply's body. */
export interface NestedRunReply {
  /** The result, packed against the reply's body. */
  result: PackedResult;
  /** Output of the nested run. */
  logs: UdfLogs;
  /** Whether it came from the cache. */
  cached: boolean;
  /** Its wall time, in milliseconds. */
  timeTakenMs: number;
}

/**
 * The engine table's row inside a UDF's process: every run goes to the host, which runs it as
 * the UDF's caller, one level deeper. Batch jobs cannot be started from inside a UDF.
 */
export function hostEngine(host: UdfHost, row: EngineName): UdfEngine {
  return {
    async run(target: Udf | string, call: EngineCall): Promise<RunResponse> {
      if (row === "batch") {
        throw new FusedError(
          "A UDF cannot start a batch job from inside its run: start it from a notebook or script (udf.job(params).runBatch())",
        );
      }
      const request: NestedRunMessage = {
        udf: typeof target === "string" ? target : target.toJSON(),
        engine: row,
        parameters: call.parameters,
        tile: call.tile,
        cacheMaxAge: call.cacheMaxAge,
      };
      const { value, body } = await host.call("run", [request]);
      const reply = value as NestedRunReply;
      const data = await fromTransferable(unpackResult(reply.result, body));
      return {
        data,
        udf: typeof target === "string" ? null : target,
        logs: reply.logs,
        cached: reply.cached,
        timeTakenMs: reply.timeTakenMs,
      };
    },
    async describe(udf: Udf): Promise<UdfSignatureLike> {
      const { value } = await host.call("describe", [udf.toJSON()]);
      return value as UdfSignatureLike;
    },
  };
}
