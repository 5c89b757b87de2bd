/**
 * `%%fused NAME [flags]`: the cell body is a TypeScript UDF, or fused-py's Python; the cell defines a Udf named NAME,
 * binds it to NAME in the notebook (as fused-py's `%%udf NAME`), and on request runs, saves,
 * shares or maps it. The handler is a plain function over parsed arguments.
 *
 * @example
 * ```ts ignore
 * import { parseLine } from "./args.ts";
 * import { fusedCell } from "./fused_cell.ts";
 * import { FUSED_CELL } from "./spec.ts";
import { PUBLISH_RUN_KEY, publishRun } from "./runtime.ts";
 * const parsed = await parseLine(FUSED_CELL, "double --run n=21");
 * const value = await fusedCell(parsed, "export default function udf({ n = 1 }) { return n * 2 }", ctx);
 * ```
 *
 * @module
 */
import { FusedError, NotSupportedError, UdfRuntimeError } from "../client/errors.ts";
import { describeUdf } from "../client/run.ts";
import type { RunResponse } from "../client/engine_types.ts";
import { tileBounds } from "../client/tiles.ts";
import { detectLanguage, type Udf, udf as makeUdf } from "../client/udf.ts";
import { isGeoJson, map as mapDisplay } from "../display/map.ts";
import { checkUdf } from "../engine/check.ts";
import { isTileSignature } from "../engine/params.ts";
import type { ParsedCommand } from "./args.ts";
import {
  api,
  isNotLoggedIn,
  notebookUdfNames,
  requireIdentifier,
  type RunFlags,
  runWithFlags,
  udfCard,
} from "./_common.ts";
import { checkUdfSyntax } from "./_syntax.ts";
import { formatHelp } from "./help.ts";
import type { MagicContext } from "./registry.ts";
import { FUSED_CELL } from "./spec.ts";
import { PUBLISH_RUN_KEY, publishRun } from "./runtime.ts";

/** Flags of `%%fused`, as parsed (camelCase keys). */
export interface FusedCellFlags extends RunFlags {
  run?: Record<string, unknown>;
  save?: boolean;
  share?: boolean;
  map?: boolean;
  check?: boolean;
}

/** Options of {@linkcode fusedCell}. */
export interface FusedCellOptions {
  /** Cell line the body starts on, for syntax error positions (default 2: under `%%fused`). */
  bodyLine?: number;
}

/** Where the UDF was saved and shared. */
interface Published {
  savedAt?: string;
  token?: string;
  shareUrl?: string;
}

async function publish(udf: Udf, share: boolean, ctx: MagicContext): Promise<Published> {
  const client = await api();
  const record = await client.toFused(udf, { overwrite: true });
  const savedAt = `${record.slug ?? udf.name} (id ${record.id})`;
  ctx.print(`Saved UDF ${udf.name} as ${savedAt}\n`);
  if (!share) return { savedAt };
  // A page being published deletes the tokens of its run if it fails, and unpublishes them later.
  const run = publishRun();
  const token = await client.createAccessToken(
    udf,
    run ? { metadataJson: { [PUBLISH_RUN_KEY]: run.run } } : {},
  );
  const shareUrl = client.tokenFileUrl(token.token);
  ctx.print(
    `Shared ${udf.name} with token ${token.token}\n` +
      `  run:   ${shareUrl}\n` +
      `  tiles: ${client.tokenTileUrl(token.token)}\n`,
  );
  return { savedAt, token: token.token, shareUrl };
}

/** Whether the UDF is a tile UDF (it takes `bounds`, `tile` or `x, y, z`), which a map requests tile by tile. */
async function takesTile(udf: Udf): Promise<boolean> {
  return isTileSignature(await describeUdf(udf));
}

function isRasterLike(value: unknown): boolean {
  if (value === null || typeof value !== "object") return false;
  const v = value as Record<string, unknown>;
  return v.constructor?.name === "Raster" || (ArrayBuffer.isView(v.data) && "width" in v);
}

/**
 * A run-time error of the cell's own UDF, located in the cell as a syntax error is: "at line N of
 * the cell (line M of the UDF ...)", and a traceback that starts at that line. The engine counts
 * lines of the UDF's source; the `%%fused` line above it makes the cell's count one more.
 */
function locatedInCell(err: unknown, udf: Udf, body: string, firstLine: number): unknown {
  if (!(err instanceof UdfRuntimeError) || err.udfName !== udf.name || !err.lineno) return err;
  const line = err.lineno + firstLine - 1;
  err.message = err.message.replace(
    `failed (line ${err.lineno}`,
    `failed at line ${line} of the cell (line ${err.lineno} of the UDF`,
  );
  const text = body.split("\n")[err.lineno - 1] ?? "";
  err.stack = [
    `${err.exceptionClass} at line ${line}: ${err.message}`,
    `  ${line} | ${text}`,
    ...(err.stack ?? "").split("\n").slice(1),
  ].join("\n");
  return err;
}

/**
 * Runs the `%%fused` magic over parsed arguments and the cell body. Resolves to the cell's value:
 * the run's result when it ran, else the Udf (shown as a card).
 */
export async function fusedCell(
  parsed: ParsedCommand,
  body: string,
  ctx: MagicContext,
  options: FusedCellOptions = {},
): Promise<unknown> {
  if (parsed.help) {
    ctx.print(formatHelp(FUSED_CELL));
    return undefined;
  }
  const name = requireIdentifier(String(parsed.args.name), "The UDF name of %%fused NAME");
  const flags = parsed.flags as FusedCellFlags;
  if (flags.out !== undefined) requireIdentifier(flags.out, "--out");
  const firstLine = options.bodyLine ?? 2;
  // Python code (fused-py's `@fused.udf def udf(...)`) is parsed by its interpreter when it runs:
  // its SyntaxError comes back at its line, located in the cell as any run-time error.
  const python = detectLanguage(body) === "python";
  if (!python) checkUdfSyntax(body, firstLine);
  const udf = makeUdf(body, {
    name,
    ...(flags.cacheMaxAge !== undefined ? { cacheMaxAge: flags.cacheMaxAge } : {}),
  });
  if (flags.check) {
    if (python) {
      throw new NotSupportedError(
        "--check type-checks TypeScript UDFs; this cell is Python, whose errors show when it runs: drop --check",
      );
    }
    const { seconds } = await checkUdf(udf, {
      place: (d) =>
        d.inUdf
          ? `line ${d.line + firstLine - 1} of the cell (line ${d.line} of the UDF)`
          : `line ${d.line} of ${d.file}`,
    });
    ctx.print(`Type-checked ${name}: no errors (${seconds.toFixed(1)} s)\n`);
  }
  await ctx.bind(name, udf);
  notebookUdfNames().add(name);
  try {
    return await defineAndRun(udf, flags, ctx);
  } catch (err) {
    throw locatedInCell(err, udf, body, firstLine);
  }
}

/** What `%%fused` does once the Udf is bound: save, share, run and map it as the flags say. */
async function defineAndRun(
  udf: Udf,
  flags: FusedCellFlags,
  ctx: MagicContext,
): Promise<unknown> {
  let published: Published = {};
  if (flags.save || flags.share || flags.map) {
    // A live tile layer is served by the service through a share token.
    const tiled = flags.map ? await takesTile(udf) : false;
    if (flags.save || flags.share || tiled) {
      try {
        published = await publish(udf, flags.share || tiled, ctx);
      } catch (err) {
        if (!tiled || flags.save || flags.share || !isNotLoggedIn(err)) throw err;
        throw new FusedError(
          `UDF ${udf.name} is a tile UDF, and a live tile layer needs a service to serve its tiles: run %fused serve first (or log in to one with fused.api.login), or map one tile with --tile z/x/y`,
        );
      }
    }
  }
  const wantsRun = flags.run !== undefined || flags.out !== undefined || flags.tile !== undefined;
  let response: RunResponse | undefined;
  if (wantsRun || (flags.map && !published.token)) {
    response = await runWithFlags(udf, flags.run ?? {}, flags, ctx);
  }
  if (flags.map) {
    if (published.token) {
      const client = await api();
      // A sample tile tells raster from vector; without one, tile 0/0/0 is the sample.
      const sample = response ??
        await runWithFlags(udf, flags.run ?? {}, {
          ...flags,
          tile: { z: 0, x: 0, y: 0 },
          time: false,
        }, ctx);
      const raster = isRasterLike(sample.data);
      const url = client.tokenTileUrl(published.token, { format: raster ? "png" : "mvt" });
      const bounds = flags.tile ? tileBounds(flags.tile) : undefined;
      await ctx.display(
        mapDisplay(null, { tiles: { url, type: raster ? "raster" : "vector", bounds } }),
      );
    } else {
      await ctx.display(mapDisplay(response!.data));
    }
    // A GeoJSON value displays as a map itself: returning it would show the same map twice.
    return wantsRun && !isGeoJson(response!.data) ? response!.data : undefined;
  }
  if (response) return response.data;
  return udfCard(udf, { savedAt: published.savedAt, shareUrl: published.shareUrl });
}
