/**
 * `%fused SUBCOMMAND ...` line magics: run, load, ls / cp / rm / sign for `fd://` files, jobs,
 * logs, cancel, serve, login / whoami, options and help. Each subcommand is a plain function
 * over parsed arguments (see {@linkcode FUSED_LINE_HANDLERS}).
 *
 * @example
 * ```ts ignore
 * import { parseLine } from "./args.ts";
 * import { fusedLine } from "./fused_line.ts";
 * import { FUSED_LINE } from "./spec.ts";
 * await fusedLine(await parseLine(FUSED_LINE, "options runTimeout 60"), ctx);
 * ```
 *
 * @module
 */
import { resolve } from "node:path";
import { setGlobalTransport, Transport } from "../client/api/transport.ts";
import { ValidationError } from "../client/errors.ts";
import { load } from "../client/load.ts";
import { OPTION_NAMES, type OptionName, options } from "../client/options.ts";
import type { Udf } from "../client/udf.ts";
import { filesToMimeBundle } from "../display/files.ts";
import { displayableBundle } from "../display/mime.ts";
import { closest, type ParsedCommand, parseParamValue } from "./args.ts";
import {
  api,
  type EmbeddedService,
  embeddedService,
  ensureRuntime,
  isNotLoggedIn,
  isUdfLike,
  notebookUdfNames,
  requireIdentifier,
  type RunFlags,
  runWithFlags,
  setEmbeddedService,
  udfCard,
} from "./_common.ts";
import { formatHelp } from "./help.ts";
import { formatDuration, type MagicContext } from "./registry.ts";
import { FUSED_LINE } from "./spec.ts";
import { magicRuntime, publishRun } from "./runtime.ts";

/** A subcommand's handler: parsed arguments and flags in, the cell's value (if any) out. */
export type SubcommandHandler = (
  args: Record<string, unknown>,
  flags: Record<string, unknown>,
  ctx: MagicContext,
) => Promise<unknown>;

function text(value: unknown, what: string): string {
  if (typeof value !== "string" || value === "") {
    throw new ValidationError(`${what} must be text, got ${typeof value}`);
  }
  return value;
}

/** A notebook variable holding a Udf, if `name` is one. */
async function notebookUdf(name: string, ctx: MagicContext): Promise<Udf | undefined> {
  if (!/^[A-Za-z_$][\w$]*$/.test(name)) return undefined;
  const value = await ctx.evaluate(`typeof ${name} === "undefined" ? undefined : ${name}`);
  return isUdfLike(value) ? value : undefined;
}

async function runCommand(
  args: Record<string, unknown>,
  flags: Record<string, unknown>,
  ctx: MagicContext,
): Promise<unknown> {
  const target = args.nameOrPath;
  let udf: Udf | string;
  if (isUdfLike(target)) udf = target;
  else if (typeof target === "string") udf = await notebookUdf(target, ctx) ?? target;
  else {
    throw new ValidationError(
      `%fused run needs a Udf, a path or a saved UDF name, got ${
        target === null ? "null" : typeof target
      }`,
    );
  }
  const run = flags as RunFlags;
  if (run.out !== undefined) requireIdentifier(run.out, "--out");
  try {
    const response = await runWithFlags(
      udf,
      (args.params ?? {}) as Record<string, unknown>,
      run,
      ctx,
    );
    return response.data;
  } catch (err) {
    // A bare name that is no notebook Udf is looked up on the service; with none, say so.
    if (typeof udf !== "string" || !/^[\w-]+$/.test(udf) || !isNotLoggedIn(err)) throw err;
    throw await noUdfNamed(udf, ctx);
  }
}

/** The error for `%fused run NAME` when NAME is no notebook Udf and no service can look it up. */
async function noUdfNamed(name: string, ctx: MagicContext): Promise<ValidationError> {
  const known: string[] = [];
  for (const candidate of notebookUdfNames()) {
    if (await notebookUdf(candidate, ctx)) known.push(candidate);
  }
  const guess = closest(name, known);
  return new ValidationError(
    `No UDF named ${name}${guess ? ` (did you mean ${guess}?)` : ""}: ${
      known.length ? `the notebook's UDFs are ${known.join(", ")}` : "the notebook defines no UDF"
    } (define one with %%fused ${name}), and saved UDFs need a service: run %fused serve, or log in with fused.api.login`,
  );
}

async function loadCommand(
  args: Record<string, unknown>,
  flags: Record<string, unknown>,
  ctx: MagicContext,
): Promise<unknown> {
  await ensureRuntime();
  const udf = await load(text(args.source, "SOURCE"));
  if (flags.as !== undefined) {
    await ctx.bind(requireIdentifier(String(flags.as), "--as"), udf);
  }
  return udfCard(udf);
}

async function lsCommand(args: Record<string, unknown>): Promise<unknown> {
  const client = await api();
  const path = typeof args.path === "string" ? args.path : "fd://";
  const entries = await client.list(path, { details: true });
  return displayableBundle(
    () => filesToMimeBundle(entries),
    `${entries.length} entries in ${path}`,
  );
}

async function cpCommand(
  args: Record<string, unknown>,
  _flags: Record<string, unknown>,
  ctx: MagicContext,
): Promise<unknown> {
  const client = await api();
  const src = text(args.src, "SRC");
  const dst = text(args.dst, "DST");
  const remote = (p: string) => p.startsWith("fd://");
  if (remote(src) && remote(dst)) {
    await client.upload(
      await client.get(src),
      dst.endsWith("/") ? dst + src.split("/").pop() : dst,
    );
  } else if (remote(src)) {
    await client.download(src, dst);
  } else if (remote(dst)) {
    await client.upload(src, dst);
  } else {
    throw new ValidationError(
      `%fused cp copies to or from the service: one of "${src}" and "${dst}" must be an fd:// path (for local copies use Deno.copyFile)`,
    );
  }
  ctx.print(`Copied ${src} to ${dst}\n`);
  return undefined;
}

async function rmCommand(
  args: Record<string, unknown>,
  flags: Record<string, unknown>,
  ctx: MagicContext,
): Promise<unknown> {
  const client = await api();
  const path = text(args.path, "PATH");
  const deleted = await client.delete(path, {
    ...(flags.maxDepth !== undefined ? { maxDeletionDepth: flags.maxDepth as number } : {}),
  });
  ctx.print(deleted ? `Deleted ${path}\n` : `Nothing to delete at ${path}\n`);
  return undefined;
}

async function signCommand(
  args: Record<string, unknown>,
  flags: Record<string, unknown>,
  ctx: MagicContext,
): Promise<unknown> {
  const client = await api();
  const url = await client.signUrl(text(args.path, "PATH"), {
    ...(flags.expiration !== undefined ? { expiration: flags.expiration as number } : {}),
  });
  ctx.print(`${url}\n`);
  return undefined;
}

async function ingestCommand(
  args: Record<string, unknown>,
  flags: Record<string, unknown>,
  ctx: MagicContext,
): Promise<unknown> {
  if (flags.output === undefined) {
    throw new ValidationError("%fused ingest needs --output DIR: where the table is written");
  }
  const out = flags.out === undefined ? undefined : requireIdentifier(String(flags.out), "--out");
  const lonlat = flags.lonlat === undefined ? undefined : String(flags.lonlat).split(",");
  if (lonlat && lonlat.length !== 2) {
    throw new ValidationError(`Cannot read --lonlat "${flags.lonlat}": write LON,LAT`);
  }
  const result = await magicRuntime().ingest(text(args.input, "INPUT"), {
    output: String(flags.output),
    partitioningMethod: flags.method as "rows" | "area" | "length" | "coords" | undefined,
    targetNumChunks: flags.targetChunks as number | undefined,
    lonlatCols: lonlat ? [lonlat[0].trim(), lonlat[1].trim()] : undefined,
    overwrite: flags.overwrite === true,
  });
  ctx.print(
    `Wrote ${result.rows} rows into ${result.files} files and ${result.chunks} chunks at ${result.path} (${
      formatDuration(result.timings.totalMs)
    })\n`,
  );
  if (out !== undefined) await ctx.bind(out, result);
  return undefined;
}

async function jobsCommand(
  _args: Record<string, unknown>,
  _flags: Record<string, unknown>,
  ctx: MagicContext,
): Promise<unknown> {
  const client = await api();
  const jobs = await client.getJobs();
  if (jobs.length === 0) {
    ctx.print("No jobs\n");
    return undefined;
  }
  const rows = jobs.map((j) => [
    j.id,
    j.job_status ?? "",
    j.instance_type ?? "",
    j.creation_date ?? "",
  ]);
  const header = ["JOB_ID", "STATUS", "INSTANCE", "CREATED"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
  ctx.print([line(header), ...rows.map(line)].join("\n") + "\n");
  return undefined;
}

async function logsCommand(
  args: Record<string, unknown>,
  flags: Record<string, unknown>,
  ctx: MagicContext,
): Promise<unknown> {
  const client = await api();
  const id = text(args.jobId, "JOB_ID");
  const write = (line: string) => ctx.print(`${line}\n`);
  if (flags.follow) await client.jobTailLogs(id, { write });
  else await client.jobPrintLogs(id, { write });
  return undefined;
}

async function cancelCommand(
  args: Record<string, unknown>,
  _flags: Record<string, unknown>,
  ctx: MagicContext,
): Promise<unknown> {
  const client = await api();
  const id = text(args.jobId, "JOB_ID");
  const status = await client.jobCancel(id);
  ctx.print(`Job ${id}: ${status.job_status ?? status.status ?? "cancel requested"}\n`);
  return undefined;
}

function describeService(): string {
  const s = embeddedService();
  if (!s) return "No embedded service is running: %fused serve starts one\n";
  return `Embedded Fused service at ${s.baseUrl} (data in ${s.dataDir})\n` +
    `fused.options.baseUrl points at it and requests use its admin token.\n`;
}

/** Stops the embedded service and gives `fused.options.baseUrl` and the transport back. */
async function stopService(running: EmbeddedService): Promise<void> {
  await running.close();
  setEmbeddedService(undefined);
  setGlobalTransport(undefined);
  options.baseUrl = running.previousBaseUrl;
}

/**
 * Why `%fused serve` flags ask for another service than the running one (another port, other
 * than 0, or another data folder), or undefined when the running one is what they ask for.
 */
function movedBy(running: EmbeddedService, flags: Record<string, unknown>): string | undefined {
  const port = flags.port as number | undefined;
  const reasons = [];
  if (port !== undefined && port !== 0 && port !== running.port) reasons.push(`port ${port}`);
  if (flags.dataDir !== undefined && resolve(String(flags.dataDir)) !== resolve(running.dataDir)) {
    reasons.push(`data in ${flags.dataDir}`);
  }
  return reasons.length ? reasons.join(", ") : undefined;
}

/**
 * `%fused serve`: starts the embedded service; run again (a second Run All), it is never an
 * error: it keeps the running service when the flags fit it, else moves it, and says which.
 */
async function serveCommand(
  _args: Record<string, unknown>,
  flags: Record<string, unknown>,
  ctx: MagicContext,
): Promise<unknown> {
  await ensureRuntime();
  const publishing = publishRun();
  if (publishing) {
    // The page's tile layers must outlive this kernel: they use the service it is published to.
    ctx.print(
      `Publishing to ${publishing.service}: %fused serve uses that service instead of starting its own\n`,
    );
    return undefined;
  }
  const running = embeddedService();
  if (flags.stop) {
    if (!running) {
      ctx.print("No embedded service is running\n");
      return undefined;
    }
    await stopService(running);
    ctx.print(`Stopped the embedded service at ${running.baseUrl}\n`);
    return undefined;
  }
  if (running) {
    const moved = movedBy(running, flags);
    if (!moved) {
      ctx.print(`Kept the running service. ${describeService()}`);
      return undefined;
    }
    await stopService(running);
    ctx.print(`Moved the embedded service from ${running.baseUrl} to ${moved}.\n`);
  }
  const server = await magicRuntime().startService({
    ...(flags.port !== undefined ? { port: flags.port as number } : {}),
    ...(flags.dataDir !== undefined ? { dataDir: String(flags.dataDir) } : {}),
    quiet: true,
  });
  const previousBaseUrl = options.baseUrl;
  options.baseUrl = server.baseUrl;
  setGlobalTransport(new Transport({ token: server.adminToken }));
  setEmbeddedService({
    baseUrl: server.baseUrl,
    url: server.url,
    port: server.port,
    adminToken: server.adminToken,
    dataDir: server.dataDir,
    close: () => server.close(),
    previousBaseUrl,
  });
  ctx.print(describeService());
  return undefined;
}

/**
 * `%fused publish NOTEBOOK`: runs the notebook in a fresh Fused kernel against a lasting service
 * and publishes the page there. The embedded service stops with this kernel, so it is refused.
 */
async function publishCommand(
  args: Record<string, unknown>,
  flags: Record<string, unknown>,
  ctx: MagicContext,
): Promise<unknown> {
  await ensureRuntime();
  const publishing = publishRun();
  if (publishing) {
    throw new ValidationError(
      `%fused publish cannot run inside a notebook being published (to ${publishing.service}): publish each notebook on its own`,
    );
  }
  const embedded = embeddedService();
  const baseUrl = Array.isArray(options.baseUrl) ? options.baseUrl[0] : options.baseUrl;
  const service = flags.service !== undefined ? String(flags.service) : baseUrl;
  if (embedded && service.replace(/\/v1\/?$/, "") === embedded.url) {
    throw new ValidationError(
      `%fused publish needs a lasting service: the embedded one at ${embedded.url} stops with this kernel, and the page's tile layers with it; give --service URL of a service started with fused serve`,
    );
  }
  await magicRuntime().publish(text(args.notebook, "NOTEBOOK"), {
    service,
    ...(flags.name !== undefined ? { name: String(flags.name) } : {}),
    ...(flags.token !== undefined ? { token: String(flags.token) } : {}),
    print: (line) => ctx.print(`${line}\n`),
  });
  return undefined;
}

async function loginCommand(
  _args: Record<string, unknown>,
  flags: Record<string, unknown>,
  ctx: MagicContext,
): Promise<unknown> {
  const client = await api();
  const service = embeddedService();
  const token = flags.token !== undefined ? String(flags.token) : service?.adminToken;
  const result = await client.login({ ...(token !== undefined ? { token } : {}) });
  ctx.print(
    `Logged in to ${options.baseUrl}${result.user ? ` as ${result.user.email}` : ""} ` +
      `(credentials in ${result.path})\n`,
  );
  return undefined;
}

async function whoamiCommand(
  _args: Record<string, unknown>,
  _flags: Record<string, unknown>,
  ctx: MagicContext,
): Promise<unknown> {
  const client = await api();
  const user = await client.whoami();
  const extra = [user.handle ? `handle ${user.handle}` : "", user.team ? `team ${user.team}` : ""]
    .filter(Boolean).join(", ");
  ctx.print(`${user.email}${extra ? ` (${extra})` : ""} on ${options.baseUrl}\n`);
  return undefined;
}

function optionName(key: string): OptionName {
  if ((OPTION_NAMES as readonly string[]).includes(key)) return key as OptionName;
  const guess = closest(key, OPTION_NAMES);
  throw new ValidationError(
    `Unknown option "${key}"` +
      (guess ? `: did you mean "${guess}"? Options: ` : "; options: ") + OPTION_NAMES.join(", "),
  );
}

function optionsCommand(
  args: Record<string, unknown>,
  _flags: Record<string, unknown>,
  ctx: MagicContext,
): Promise<unknown> {
  if (args.key === undefined) {
    ctx.print(Deno.inspect(options, { colors: false }) + "\n");
    return Promise.resolve(undefined);
  }
  const name = optionName(String(args.key));
  if ("value" in args) {
    const raw = args.value;
    options.update({ [name]: typeof raw === "string" ? parseParamValue(raw) : raw });
  }
  const source = options.sourceOf(name);
  ctx.print(
    `${name}: ${Deno.inspect(options[name], { colors: false })}${
      source === "default" ? "" : `  (${source})`
    }\n`,
  );
  return Promise.resolve(undefined);
}

function helpCommand(
  args: Record<string, unknown>,
  _flags: Record<string, unknown>,
  ctx: MagicContext,
): Promise<unknown> {
  const sub = typeof args.subcommand === "string" ? args.subcommand.replace(/\?$/, "") : undefined;
  if (sub !== undefined && !FUSED_LINE.subcommands?.some((c) => c.name === sub)) {
    const names = FUSED_LINE.subcommands?.map((c) => c.name) ?? [];
    const guess = closest(sub, names);
    throw new ValidationError(
      `Unknown subcommand "${sub}" for %fused` +
        (guess ? `: did you mean "${guess}"? Subcommands: ` : "; subcommands: ") +
        names.join(", "),
    );
  }
  ctx.print(formatHelp(FUSED_LINE, sub));
  return Promise.resolve(undefined);
}

/** The handler of each `%fused` subcommand, by name. */
export const FUSED_LINE_HANDLERS: Readonly<Record<string, SubcommandHandler>> = {
  run: runCommand,
  load: loadCommand,
  ls: lsCommand,
  cp: cpCommand,
  rm: rmCommand,
  sign: signCommand,
  ingest: ingestCommand,
  jobs: jobsCommand,
  logs: logsCommand,
  cancel: cancelCommand,
  serve: serveCommand,
  publish: publishCommand,
  login: loginCommand,
  whoami: whoamiCommand,
  options: optionsCommand,
  help: helpCommand,
};

/** Runs a parsed `%fused` line: help when asked (or no subcommand), else the subcommand. */
export async function fusedLine(parsed: ParsedCommand, ctx: MagicContext): Promise<unknown> {
  if (parsed.help || parsed.command === "") {
    ctx.print(formatHelp(FUSED_LINE, parsed.command || undefined));
    return undefined;
  }
  const handler = FUSED_LINE_HANDLERS[parsed.command];
  if (!handler) {
    throw new ValidationError(`%fused ${parsed.command} has no handler yet`);
  }
  return await handler(parsed.args, parsed.flags, ctx);
}
