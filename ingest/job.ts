/**
 * What `fused.ingest(...)` and `fused.ingestNongeospatial(...)` return, as fused-py's do: the
 * ingest, described and not yet started. `.run()` runs it in this process (inside a UDF, in the
 * UDF's process, its fd:// files through its host as its caller); `.runBatch()` starts it as a
 * batch job on the service's workers, as the caller, and returns the `BatchJob`.
 *
 * The job is also a promise of `.run()`'s result, started once when first awaited, so
 * `await fused.ingest(...)` ingests here as it did before the job object existed.
 *
 * A batch job runs {@linkcode INGEST_UDF_SOURCE}, a UDF that calls the same ingest with the
 * job's input and options as parameters, on whichever worker takes the job. So its input must
 * be reachable from there (http(s) or fd:// URLs, or GeoJSON objects sent along) and its
 * outputs must be fd:// on the service's store; a local path is refused before anything starts.
 *
 * @module
 */
import type * as arrow from "apache-arrow";
import { basename } from "node:path";
import { type BatchJob, type RunBatchOptions, startJob } from "../client/api/jobs.ts";
import { FusedError, ValidationError } from "../client/errors.ts";
import { resolveFdPath } from "../client/file_path.ts";
import { isTable } from "../client/formats/types.ts";
import { udf } from "../client/udf.ts";
import { udfHost } from "../client/host_channel.ts";
import {
  checkOptionNames,
  type IngestKind,
  type IngestNongeospatialOptions,
  type IngestOptions,
  type IngestResult,
} from "./options.ts";
import type { IngestInput } from "./read.ts";

/** The UDF a batch ingest job runs: the ingest of its parameters, in the worker's process. */
export const INGEST_UDF_SOURCE = `import * as fused from "fused";

export default async function udf({ kind = "ingest", input, options = {} }) {
  const job = kind === "ingestNongeospatial"
    ? fused.ingestNongeospatial(input, options)
    : fused.ingest(input, options);
  return await job.run();
}
`;

/** Runs an ingest in this process (mod.ts's, given so this module does not import it). */
export type IngestRunner = (
  input: IngestInput,
  options: IngestOptions | IngestNongeospatialOptions,
) => Promise<IngestResult>;

/**
 * An ingest to run here (`.run()`, or by awaiting it) or on the service's workers
 * (`.runBatch()`).
 *
 * @example
 * ```ts ignore
 * import * as fused from "fused";
 * const job = fused.ingest("https://example.com/parcels.geojson", { output: "fd://tables/parcels" });
 * const batch = await job.runBatch({ instanceType: "large" });
 * await batch.waitForJob();
 * console.log(await batch.getResult()); // what run() returns: files, chunks, rows, ...
 * ```
 */
export class IngestJob implements Promise<IngestResult> {
  /** Which ingest. */
  readonly kind: IngestKind;
  /** What is ingested. */
  readonly input: IngestInput;
  /** Its options. */
  readonly options: IngestOptions | IngestNongeospatialOptions;
  /** What `Object.prototype.toString` names it (a Promise needs one). */
  readonly [Symbol.toStringTag] = "IngestJob";
  readonly #runner: IngestRunner;
  #awaited: Promise<IngestResult> | undefined;

  /** Describes an ingest; nothing runs until `run()`, `runBatch()` or an await. */
  constructor(
    kind: IngestKind,
    input: IngestInput,
    options: IngestOptions | IngestNongeospatialOptions,
    runner: IngestRunner,
  ) {
    this.kind = kind;
    this.input = input;
    this.options = options;
    this.#runner = runner;
  }

  /** Runs the ingest in this process and returns what it wrote (each call runs it again). */
  async run(): Promise<IngestResult> {
    checkOptionNames(this.kind, this.options);
    return await this.#runner(this.input, this.options);
  }

  /** fused-py's name of `run()`. */
  execute(): Promise<IngestResult> {
    return this.run();
  }

  /**
   * Starts the ingest as a batch job on the service this client is logged in to (instance type
   * `small` unless given), as this client's user; returns the job, whose result is what
   * `run()` would return.
   */
  async runBatch(opts: RunBatchOptions = {}): Promise<BatchJob> {
    if (udfHost()) {
      throw new FusedError(
        "A UDF cannot start a batch job: call .run() to ingest inside this UDF, or start the job from a notebook or script",
      );
    }
    checkOptionNames(this.kind, this.options);
    const { signal: _signal, ...options } = this.options;
    const parameters = {
      kind: this.kind,
      input: batchInput(this.input),
      options: {
        ...options,
        output: batchOutput(options.output, "output"),
        ...(options.outputMetadata == null
          ? {}
          : { outputMetadata: batchOutput(options.outputMetadata, "outputMetadata") }),
      },
    };
    return await startJob(udf(INGEST_UDF_SOURCE, { name: "ingest" }), {
      ...opts,
      name: opts.name ?? this.kind,
      parameters,
    });
  }

  /** Old name of `runBatch`, kept as Fused keeps `run_remote`. */
  runRemote(opts: RunBatchOptions = {}): Promise<BatchJob> {
    return this.runBatch(opts);
  }

  /** Runs the ingest here once (the first await starts it) and settles with its result. */
  then<A = IngestResult, B = never>(
    onfulfilled?: ((value: IngestResult) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    this.#awaited ??= this.run();
    return this.#awaited.then(onfulfilled, onrejected);
  }

  /** As a promise's `catch`, on the run that awaiting starts. */
  catch<B = never>(
    onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<IngestResult | B> {
    return this.then(undefined, onrejected);
  }

  /** As a promise's `finally`, on the run that awaiting starts. */
  finally(onfinally?: (() => void) | null): Promise<IngestResult> {
    this.#awaited ??= this.run();
    return this.#awaited.finally(onfinally);
  }
}

function localFix(item: string): string {
  return `upload it first (await fused.api.upload(${JSON.stringify(item)}, "fd://inputs/${
    basename(item.replace(/\/+$/, "")) || "data"
  }")) and ingest the fd:// path, or call .run() to ingest here`;
}

/** The input as the batch job's parameter, refused when the workers could not read it. */
function batchInput(input: IngestInput): unknown {
  if (isTable(input as arrow.Table)) {
    throw new ValidationError(
      `Cannot send an Arrow table to a batch job: upload it as Parquet first (await fused.api.upload(table, "fd://inputs/table.parquet")) and ingest the fd:// path, or call .run() to ingest here`,
    );
  }
  if (typeof input === "string" || input instanceof URL) return reachable(String(input));
  if (Array.isArray(input)) return input.map((item) => reachable(String(item)));
  return input; // a GeoJSON object travels as the job's parameter
}

function reachable(item: string): string {
  if (/^https?:\/\//i.test(item)) return item;
  if (/^fd:\/\//i.test(item)) {
    if (resolveFdPath(item) === null) return item;
    throw new ValidationError(
      `Cannot run the ingest of "${item}" as a batch job: options.fdPrefix makes fd:// a folder of this machine, which the service's workers cannot read; set options.fdPrefix = null and ${
        localFix(item)
      }`,
    );
  }
  throw new ValidationError(
    `Cannot run the ingest of "${item}" as a batch job: it is a local path, which the service's workers cannot read; ${
      localFix(item)
    }`,
  );
}

function batchOutput(output: string | URL, what: string): string {
  const text = String(output);
  if (/^fd:\/\//i.test(text) && resolveFdPath(text) === null) return text;
  throw new ValidationError(
    `A batch job cannot write ${what} to "${text}": the service's workers write to its store; give an fd:// ${what} (e.g. "fd://tables/name"), or call .run() to write here`,
  );
}
