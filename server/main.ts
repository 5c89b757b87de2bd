/**
 * `fused serve`: runs the UDF service until SIGINT or SIGTERM.
 *
 * ```sh
 * deno task serve --port 8783 --data-dir ~/.fused/server
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { FusedError } from "../client/errors.ts";
import { options } from "../client/options.ts";
import { quotaBytes, UDF_POLICY_HELP, UDF_POLICY_OPTIONS, udfPolicy } from "./udf_policy_flags.ts";
import { DEFAULT_PORT, defaultDataDir, startServer } from "./serve.ts";
import { BackendUnavailableError } from "./backend_errors.ts";
import { OPS_OPTIONS, type OpsFlags, opsFlags, opsHelp } from "./ops_flags.ts";

const HELP = `fused serve: the Fused UDF service on this machine

Options:
  --port N            port to listen on (default ${DEFAULT_PORT}; 0 picks a free one)
  --host NAME         interface (default 127.0.0.1; anything else is reachable from other machines)
  --data-dir PATH     state folder (default $FUSED_SERVER_DIR or ~/.fused/server)
  --run-timeout SEC   longest UDF run in seconds (default 130)
  --public-url URL    API base URL as clients see it, for signed file URLs (behind a proxy)
  --rate-limit N      most requests a minute per share token on public routes (default: no limit)
  --cors-origin URL   a web page origin allowed to call the authenticated API (repeatable; share
                      tokens and signed URLs answer any origin)
  --database URL      shared registry and job queue, postgres://USER:PASSWORD@HOST:PORT/DB
                      (default $FUSED_DATABASE_URL; without it, SQLite in the data folder);
                      needs --storage, the store every service and worker shares
  --storage URL       fd:// store: s3://BUCKET/PREFIX or a folder (default $FUSED_STORAGE_URL,
                      else the data folder); S3 reads AWS_ENDPOINT_URL, AWS_REGION and the keys
${opsHelp("service")}
${UDF_POLICY_HELP}
  --python PATH       Python interpreter of Python UDFs (default /usr/bin/python3); a venv's
                      bin/python is bound read-only into each UDF's namespaces
  -h, --help          this help`;

/** Parses the command line and serves until a signal arrives. */
export async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        port: { type: "string" },
        host: { type: "string" },
        "data-dir": { type: "string" },
        "run-timeout": { type: "string" },
        "public-url": { type: "string" },
        "rate-limit": { type: "string" },
        "cors-origin": { type: "string", multiple: true },
        database: { type: "string" },
        storage: { type: "string" },
        python: { type: "string" },
        ...OPS_OPTIONS,
        ...UDF_POLICY_OPTIONS,
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }).values;
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (parsed.help) {
    console.log(HELP);
    return 0;
  }
  const port = parsed.port === undefined ? DEFAULT_PORT : Number(parsed.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`Invalid --port "${parsed.port}": use a whole number from 0 to 65535`);
    return 2;
  }
  const timeout = parsed["run-timeout"] === undefined ? 130 : Number(parsed["run-timeout"]);
  if (!(timeout > 0)) {
    console.error(
      `Invalid --run-timeout "${parsed["run-timeout"]}": use a number of seconds above 0`,
    );
    return 2;
  }
  const rateLimit = parsed["rate-limit"] === undefined ? undefined : Number(parsed["rate-limit"]);
  if (rateLimit !== undefined && !(Number.isInteger(rateLimit) && rateLimit > 0)) {
    console.error(
      `Invalid --rate-limit "${
        parsed["rate-limit"]
      }": use a whole number of requests a minute above 0`,
    );
    return 2;
  }
  if (parsed.python !== undefined) {
    const python = parsed.python;
    const file = python.startsWith("/") ? await Deno.stat(python).catch(() => null) : null;
    if (!file?.isFile) {
      console.error(
        `Invalid --python "${python}": give the absolute path of a Python interpreter (such as /usr/bin/python3 or /opt/venv/bin/python)`,
      );
      return 2;
    }
    options.pythonPath = python;
  }
  const policy = udfPolicy(parsed);
  const ops = opsFlags(parsed, "service");
  for (const problem of [policy, ops]) {
    if (typeof problem === "string") {
      console.error(problem);
      return 2;
    }
  }
  const quota = quotaBytes(parsed);
  if (typeof quota === "string") {
    console.error(quota);
    return 2;
  }
  let server;
  try {
    server = await startServer({
      port,
      hostname: parsed.host,
      dataDir: parsed["data-dir"] ?? defaultDataDir(),
      runTimeoutMs: timeout * 1000,
      publicUrl: parsed["public-url"],
      corsOrigins: parsed["cors-origin"],
      rateLimitPerMinute: rateLimit,
      databaseUrl: parsed.database,
      storageUrl: parsed.storage,
      udfPolicy: policy as Exclude<typeof policy, string>,
      ...ops as OpsFlags,
      quotaBytes: quota,
    });
  } catch (err) {
    // A busy data folder or port: the message says what to do; a stack trace would not help.
    if (!(err instanceof FusedError) && !(err instanceof BackendUnavailableError)) throw err;
    console.error(`fused serve: ${err.message}`);
    return 1;
  }
  const { promise: stopped, resolve } = Promise.withResolvers<string>();
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => resolve(signal));
  }
  const signal = await stopped;
  console.error(`Received ${signal}: finishing running requests and stopping`);
  await server.close();
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
