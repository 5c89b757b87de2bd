/**
 * What the magics need from the layers above them: installing the engines behind `fused.run`,
 * ingesting geodata for `%fused ingest`, starting an embedded service for `%fused serve`, and
 * publishing a notebook for `%fused publish`. The kernel (which may import every layer)
 * installs these; magics import only client/ and display/.
 *
 * @module
 */
import { FusedError } from "../client/errors.ts";

/** An embedded UDF service, as `startServer` returns it. */
export interface StartedService {
  /** Root URL (share-token URLs live here). */
  url: string;
  /** API base URL (`.../v1`). */
  baseUrl: string;
  /** The port listened on. */
  port: number;
  /** The admin's API token. */
  adminToken: string;
  /** The state folder. */
  dataDir: string;
  /** Stops it. */
  close(): Promise<void>;
}

/** What `%fused ingest` reports (the ingest layer's result, in short). */
export interface IngestSummary {
  /** The local folder written. */
  path: string;
  /** Files, chunks and rows written. */
  files: number;
  /** Chunks (row groups) in all files. */
  chunks: number;
  /** Rows written. */
  rows: number;
  /** Timings in milliseconds. */
  timings: { totalMs: number };
}

/** What `%fused publish` asks for. */
export interface PublishRequest {
  /** The lasting service's root URL. */
  service: string;
  /** The page's name (default: the notebook's). */
  name?: string;
  /** An API token of that service (default: FUSED_AUTH_TOKEN or the login). */
  token?: string;
  /** Where progress lines go. */
  print(line: string): void;
}

/** The services magics call on. */
export interface MagicRuntime {
  /** Installs the local engine and the API client's remote runner (idempotent). */
  installEngines(): Promise<void>;
  /** Partitions geodata into a chunked GeoParquet table (`fused.ingest`). */
  ingest(
    input: string,
    options: {
      output: string;
      partitioningMethod?: "rows" | "area" | "length" | "coords";
      targetNumChunks?: number;
      lonlatCols?: [string, string];
      overwrite?: boolean;
    },
  ): Promise<IngestSummary>;
  /** Runs a notebook against a lasting service and publishes it there; answers its address. */
  publish(notebook: string, request: PublishRequest): Promise<{ url: string }>;
  /** Starts an embedded UDF service. */
  startService(
    options: { port?: number; dataDir?: string; quiet?: boolean },
  ): Promise<StartedService>;
}

/** The metadata key marking the share tokens a `fused publish` run made, with the run's id. */
export const PUBLISH_RUN_KEY = "fused:publish_run";

/** A `fused publish` run this kernel executes for: the lasting service and the run's id. */
export interface PublishRun {
  /** The service the page will live on (root URL). */
  service: string;
  /** The run's id, kept in the metadata of the share tokens it makes. */
  run: string;
}

/** The `fused publish` run this kernel executes for (`FUSED_PUBLISH_*`), if any. */
export function publishRun(): PublishRun | undefined {
  const service = Deno.env.get("FUSED_PUBLISH_SERVICE");
  const run = Deno.env.get("FUSED_PUBLISH_RUN");
  return service && run ? { service, run } : undefined;
}

let runtime: MagicRuntime | undefined;

/** Installs what magics call on (the kernel's evaluator does this once). */
export function setMagicRuntime(value: MagicRuntime): void {
  runtime = value;
}

/** What magics call on; a clear error outside a kernel that installed it. */
export function magicRuntime(): MagicRuntime {
  if (!runtime) {
    throw new FusedError(
      "The magics need the kernel's runtime (engines, embedded service): run them in the Deno (Fused) kernel, or call setMagicRuntime first",
    );
  }
  return runtime;
}
