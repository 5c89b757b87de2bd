/**
 * The process of one batch job: `deno run` of this file with the path of its `spec.json`. The
 * job runner starts it with only the permissions it needs (read and write of its run folder, its
 * result folder and its engine folder, read of the npm packages) and the V8 heap of its instance
 * type. It runs each UDF step on the local engine, writes each result as a file in storage
 * (`fd://jobs/<id>/<step>.<ext>`), prints log records to stdout (a file: see _protocol.ts), and
 * writes `exit.json` last.
 *
 * Its UDFs run as the job's owner, in that user's folders of the service: their nested runs stay
 * on this process's engine, and the saved UDFs they load or run by name are asked of the service
 * that runs the job, which answers as the owner (_saved_calls.ts), as are their `fused.cache`
 * entries with cacheStorage "object", and, when the service serves `fd://` from a bucket or
 * another folder (`--storage`), their `fd://` files. This process holds no credential: not the
 * owner's, never the admin's, nor the bucket's.
 *
 * @module
 */
import { cachingLocalEngine } from "../../client/run.ts";
import { Udf } from "../../client/udf.ts";
import { LocalEngine } from "../../engine/mod.ts";
import { serviceCallers } from "../runner.ts";
import { DEFAULT_FORMAT, encodeForFormats } from "../runs.ts";
import { LocalStorage } from "../storage.ts";
import { type ChildExit, type ChildSpec, formatLogRecord } from "./_protocol.ts";
import {
  jobFinder,
  jobLedger,
  jobObjectCache,
  jobStorage,
  type JobTokens,
} from "./_saved_calls.ts";
import { UserQuotas } from "../quota.ts";
import { formatDuration } from "./instance_types.ts";

const encoder = new TextEncoder();
let lastTimestamp = 0;

/** Writes log lines synchronously, so they are in the file in order even if the process dies. */
function log(text: string): void {
  for (const line of text.replace(/\n$/, "").split("\n")) {
    lastTimestamp = Math.max(Date.now(), lastTimestamp + 1);
    Deno.stdout.writeSync(encoder.encode(formatLogRecord(lastTimestamp, line)));
  }
}

async function writeExit(path: string, exit: ChildExit): Promise<void> {
  const temp = `${path}.tmp`;
  await Deno.writeTextFile(temp, JSON.stringify(exit));
  await Deno.rename(temp, path);
}

async function main(specPath: string): Promise<number> {
  const spec: ChildSpec = JSON.parse(await Deno.readTextFile(specPath));
  Deno.addSignalListener("SIGTERM", () => {
    log("Stopping: the job was cancelled or ran out of time (SIGTERM)");
    Deno.exit(143);
  });
  const { limits } = spec;
  log(
    `Job ${spec.jobId} started on instance type ${spec.instanceType} (pid ${Deno.pid}, V8 heap ${limits.heapMb} MB, wall-clock limit ${
      formatDuration(limits.wallClockMs)
    })`,
  );
  const started = Date.now();
  const engine = new LocalEngine({ dataDir: spec.engineDir, maxWorkers: 1 });
  const files = new LocalStorage(spec.filesDir);
  // The UDFs' fd://: the service's store, through the runner when that is not filesDir.
  const store = spec.filesViaRunner ? jobStorage(spec.callsDir) : files;
  // The job's fd:// uploads count against their writers' quotas: the service keeps the record.
  const quotas = spec.quota && new UserQuotas({
    registry: jobLedger(spec.callsDir, {
      id: spec.ownerId,
      storedBytes: spec.quota.ownerStoredBytes,
    }),
    storage: store,
    limitBytes: spec.quota.limitBytes,
    usersRoot: spec.callersDir,
  });
  // Share tokens its runs went through: their questions (saved UDFs, cache) act as their owners.
  const tokens: JobTokens = new Map();
  const callerOf = serviceCallers({
    engine: cachingLocalEngine(engine),
    dataDir: spec.callersDir,
    storage: store,
    find: jobFinder(spec.callsDir, spec.ownerId, tokens),
    // fused.cache's cacheStorage "object": the service's entries, asked of the runner.
    objectCache: jobObjectCache(spec.callsDir, spec.ownerId, tokens),
    policy: spec.policy,
    quotas,
  });
  const results: ChildExit["results"] = [];
  try {
    for (const [index, step] of spec.steps.entries()) {
      const udf = Udf.fromJSON(step.udf);
      log(`Running UDF "${udf.name}" (step ${index + 1} of ${spec.steps.length})`);
      const left = limits.wallClockMs - (Date.now() - started);
      // The UDF's output goes to the job's log as it is written (the engine streams it).
      const output = await engine.run({
        udf,
        parameters: step.parameters,
        timeoutMs: Math.max(1, left),
        env: spec.env,
        caller: callerOf(spec.ownerId),
        onOutput: ({ stdout, stderr }) => {
          if (stdout) log(stdout);
          if (stderr) log(stderr);
        },
      });
      const encoded = await encodeForFormats(output.value, DEFAULT_FORMAT);
      const name = `${index}.${encoded.extension}`;
      // Written straight to the store, so a job ends while no service runs; the runner records
      // the results for the job's owner when it sees the end.
      await files.write(`${spec.resultPrefix}/${name}`, ReadableStream.from([encoded.bytes]));
      results.push({
        name,
        key: `${spec.resultPrefix}/${name}`,
        contentType: encoded.contentType,
        // Raster bounds do not fit in an npy file: they travel as x-fused-metadata, as in a run.
        ...(encoded.metadata ? { metadata: { ...encoded.metadata } } : {}),
      });
      log(
        `UDF "${udf.name}" finished in ${
          Math.round(output.timeMs)
        } ms; result written to fd://${spec.resultPrefix}/${name} (${encoded.bytes.byteLength} bytes)`,
      );
    }
    await writeExit(spec.exitPath, { status: "succeeded", error: null, results });
    log("Job succeeded");
    return 0;
  } catch (err) {
    const message = (err as Error)?.message ?? String(err);
    // "ERROR" ends a tail of the logs, as Fused's tail_logs does.
    log(`ERROR: ${message}`);
    await writeExit(spec.exitPath, { status: "failed", error: message, results });
    return 1;
  } finally {
    await engine.close();
  }
}

if (import.meta.main) {
  const specPath = Deno.args[0];
  if (!specPath) {
    console.error("Usage: _job_child.ts SPEC_JSON (started by the service's job runner)");
    Deno.exit(2);
  }
  Deno.exit(await main(specPath));
}
