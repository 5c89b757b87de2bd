/**
 * What the `%fused` and `%%fused` handlers share: loading the runtime (engines, API client) on
 * first use, running a UDF from parsed flags, showing values, and the embedded service's state.
 *
 * @module
 */
import type { RunOptions } from "../client/run.ts";
import type { RunResponse } from "../client/engine_types.ts";
import { runDetailed } from "../client/run.ts";
import type { Udf } from "../client/udf.ts";
import { ValidationError } from "../client/errors.ts";
import { type Displayable, displayableBundle } from "../display/mime.ts";
import { type UdfDisplayOptions, udfToMimeBundle } from "../display/udf.ts";
import { describeUdf } from "../client/run.ts";
import type { MagicContext } from "./registry.ts";
import { formatDuration } from "./registry.ts";
import { magicRuntime } from "./runtime.ts";

/**
 * Makes sure the engines are installed: the kernel's runtime installs the local engine and the
 * API client installs the remote runner and the saved-UDF loader. Loaded lazily so a kernel that
 * never runs a UDF never loads them.
 */
export async function ensureRuntime(): Promise<void> {
  await magicRuntime().installEngines();
  await import("../client/api/mod.ts");
}

/** The API client, loaded on first use. */
export async function api(): Promise<typeof import("../client/api/mod.ts")> {
  await ensureRuntime();
  return await import("../client/api/mod.ts");
}

/** Run flags shared by `%fused run` and `%%fused`, as parsed (camelCase keys). */
export interface RunFlags {
  engine?: "local" | "remote";
  tile?: { z: number; x: number; y: number };
  cacheMaxAge?: number;
  noCache?: boolean;
  time?: boolean;
  out?: string;
}

/** Runs a UDF (or a saved name or path) with parameters and the run flags. */
export async function runWithFlags(
  target: Udf | string,
  parameters: Record<string, unknown>,
  flags: RunFlags,
  ctx: MagicContext,
): Promise<RunResponse> {
  await ensureRuntime();
  const options: RunOptions & Record<string, unknown> = { parameters };
  if (flags.engine) options.engine = flags.engine;
  if (flags.tile) Object.assign(options, flags.tile);
  if (flags.noCache) {
    if (flags.cacheMaxAge !== undefined && flags.cacheMaxAge !== 0) {
      throw new ValidationError("Give either --no-cache or --cache-max-age, not both");
    }
    options.cache = false;
  } else if (flags.cacheMaxAge !== undefined) options.cacheMaxAge = flags.cacheMaxAge;
  const started = performance.now();
  try {
    const response = await runDetailed(target, options);
    if (flags.out) await ctx.bind(flags.out, response.data);
    return response;
  } finally {
    if (flags.time) ctx.print(`Wall time: ${formatDuration(performance.now() - started)}\n`);
  }
}

/** Whether an error says no service is there to ask (no embedded service, not logged in). */
export function isNotLoggedIn(err: unknown): boolean {
  return err instanceof Error && /^Not logged in\b/.test(err.message);
}

const UDF_NAMES_KEY = Symbol.for("fused.magics.udfNames");

/** Names `%%fused NAME` bound in this notebook, for "did you mean" (kept per process). */
export function notebookUdfNames(): Set<string> {
  const g = globalThis as Record<symbol, unknown>;
  return (g[UDF_NAMES_KEY] ??= new Set<string>()) as Set<string>;
}

/** Checks that `name` can be a notebook variable. */
export function requireIdentifier(name: string, what: string): string {
  if (!/^[A-Za-z_$][\w$]*$/.test(name)) {
    throw new ValidationError(
      `${what} must be a JavaScript identifier (letters, digits, _ and $, not starting with a digit), got "${name}"`,
    );
  }
  return name;
}

/**
 * A Udf shown as its card (name, parameters with types and defaults, where it is saved, code).
 * The parameters are read from the code by the local engine; a UDF it cannot read (Python)
 * shows its default parameters only.
 */
export function udfCard(udf: Udf, options: UdfDisplayOptions = {}): Displayable {
  return displayableBundle(async () => {
    const signature = options.signature ??
      await describeUdf(udf).then((s) => s.parameters, () => undefined);
    return udfToMimeBundle(udf, { ...options, signature });
  }, `Udf "${udf.name}"`);
}

/** True for a Udf (duck-typed: a Udf may come from another copy of the module). */
export function isUdfLike(value: unknown): value is Udf {
  if (value === null || typeof value !== "object") return false;
  const v = value as Record<string, unknown>;
  return typeof v.name === "string" && typeof v.code === "string" &&
    typeof v.entrypoint === "string" && typeof v.toJSON === "function";
}

/** The embedded service started by `%fused serve`, kept per process. */
export interface EmbeddedService {
  /** API base URL (`.../v1`). */
  baseUrl: string;
  /** Root URL. */
  url: string;
  /** Port. */
  port: number;
  /** Admin token. */
  adminToken: string;
  /** State folder. */
  dataDir: string;
  /** Stops it. */
  close(): Promise<void>;
  /** `fused.options.baseUrl` before the service took over. */
  previousBaseUrl: string | string[];
}

const SERVICE_KEY = Symbol.for("fused.magics.service");

/** The embedded service, if `%fused serve` started one. */
export function embeddedService(): EmbeddedService | undefined {
  return (globalThis as Record<symbol, unknown>)[SERVICE_KEY] as EmbeddedService | undefined;
}

/** Records (or forgets) the embedded service. */
export function setEmbeddedService(service: EmbeddedService | undefined): void {
  (globalThis as Record<symbol, unknown>)[SERVICE_KEY] = service;
}
