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
import type { CallerPolicy } from "../client/engine_types.ts";
import { DEFAULT_PORT, defaultDataDir, startServer } from "./serve.ts";
import { BackendUnavailableError } from "./backend_errors.ts";

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
                      (default $FUSED_DATABASE_URL; without it, SQLite in the data folder)
  --storage URL       fd:// store: s3://BUCKET/PREFIX or a folder (default $FUSED_STORAGE_URL,
                      else the data folder); S3 reads AWS_ENDPOINT_URL, AWS_REGION and the keys
  --udf-network NET   what UDFs' downloads may reach: public (default), none, or HOST[:PORT],...
  --allow-private-network
                      let UDFs' downloads reach loopback, link-local and private addresses
                      (this machine's database, storage, cloud metadata): only on a trusted team
  --max-download-mb N largest file a UDF downloads (default 4096)
  --npm-allow NAME    npm packages UDFs may import (repeatable; @scope/* for a scope; default any)
  --npm-deny NAME     npm packages UDFs may not import (repeatable; wins over --npm-allow)
  -h, --help          this help`;

type Flags = Record<string, string | boolean | string[] | undefined>;

/** The policy of users' runs from the flags, or the message of a bad flag. */
export function udfPolicy(flags: Flags): Partial<CallerPolicy> | string {
  const policy: Partial<CallerPolicy> = {};
  const net = flags["udf-network"];
  if (typeof net === "string") {
    const hosts = net.split(",").map((host) => host.trim()).filter((host) => host !== "");
    if (net === "public") policy.net = true;
    else if (net === "none") policy.net = false;
    else if (
      hosts.length > 0 &&
      hosts.every((h) => /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/.test(h))
    ) {
      policy.net = hosts;
    } else {
      return `Invalid --udf-network "${net}": use public, none, or a list such as example.com,data.example.org:8443`;
    }
  }
  if (flags["allow-private-network"] === true) policy.privateNetwork = "always";
  const mb = flags["max-download-mb"];
  if (typeof mb === "string") {
    const value = Number(mb);
    if (!(Number.isInteger(value) && value > 0)) {
      return `Invalid --max-download-mb "${mb}": use a whole number of megabytes above 0`;
    }
    policy.maxDownloadBytes = value * 1024 ** 2;
  }
  const names = (key: string): string[] | undefined => {
    const list = flags[key];
    return Array.isArray(list) ? list : undefined;
  };
  const allow = names("npm-allow");
  const deny = names("npm-deny");
  for (const name of [...(allow ?? []), ...(deny ?? [])]) {
    if (!/^(@[a-z0-9][a-z0-9._-]*\/)?([a-z0-9][a-z0-9._-]*|\*)$/.test(name)) {
      return `Invalid npm package name "${name}" in --npm-allow/--npm-deny: use a name such as h3-js, @turf/turf or @turf/*`;
    }
  }
  if (allow || deny) policy.npm = { allow, deny };
  return policy;
}

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
        "udf-network": { type: "string" },
        "allow-private-network": { type: "boolean" },
        "max-download-mb": { type: "string" },
        "npm-allow": { type: "string", multiple: true },
        "npm-deny": { type: "string", multiple: true },
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
  const policy = udfPolicy(parsed);
  if (typeof policy === "string") {
    console.error(policy);
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
      udfPolicy: policy,
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
