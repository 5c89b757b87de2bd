/**
 * Where an ingest writes its tables (`output`, and `outputMetadata` for the chunk index as a
 * table): a local folder is written in place (built beside it and renamed in: write.ts); an
 * `fd://` output on the service's store is built in a staging folder on this machine and then
 * uploaded, data files first and `_sample` last (see `_fd.ts`), the staging folder removed
 * whatever happens. Existing outputs are refused before any work unless `overwrite` is set.
 *
 * @module
 */
import * as arrow from "apache-arrow";
import { join } from "node:path";
import { writeDirectoryAtomic } from "../client/atomic_write.ts";
import { NotSupportedError, ValidationError } from "../client/errors.ts";
import { withGeoMetadata } from "../client/formats/mod.ts";
import { boxesVector } from "./_columns.ts";
import { makeStagingDir, publishTables, refuseExistingFd } from "./_fd.ts";
import { chunkIndexTable, type ChunkStats } from "./metadata.ts";
import { localPath } from "./read.ts";
import { refuseExisting, writeRowGroups } from "./write.ts";

/** One table an ingest writes. */
export interface OutputTarget {
  /** The local folder the table is written to (a staging folder for fd:// outputs). */
  path: string;
  /** The fd:// URL it is then uploaded to, or null when `path` is the output itself. */
  url: string | null;
  /** Whether an existing table at `path` is replaced. */
  replace: boolean;
}

/** The tables of one ingest. */
export interface Outputs {
  /** The chunked table (`output`). */
  main: OutputTarget;
  /** The chunk index as a table (`outputMetadata`), or null. */
  metadata: OutputTarget | null;
  /** Replace what is at the outputs. */
  overwrite: boolean;
  /** The staging folder of fd:// outputs, or null when every output is local. */
  staging: string | null;
}

function outputText(output: string | URL, what: string): string {
  const text = String(output).replace(/\/+$/, "");
  if (/^https?:\/\//i.test(text)) {
    throw new NotSupportedError(
      `Cannot write ${what} to "${text}": ingest writes local folders and fd:// URLs; use one of those`,
    );
  }
  return text;
}

/**
 * Resolves the outputs and refuses existing ones (unless `overwrite`) before any work is done.
 *
 * @example
 * ```ts ignore
 * const outputs = await openOutputs("fd://tables/t", null, false);
 * try { ...; await publishOutputs(outputs); } finally { await closeOutputs(outputs); }
 * ```
 */
export async function openOutputs(
  output: string | URL,
  outputMetadata: string | URL | null | undefined,
  overwrite: boolean,
): Promise<Outputs> {
  const mainText = outputText(output, "the table");
  const metaText = outputMetadata == null ? null : outputText(outputMetadata, "outputMetadata");
  const made = { staging: null as string | null };
  const target = async (text: string, name: string): Promise<OutputTarget> => {
    const local = localPath(text);
    if (local !== null) {
      await refuseExisting(local, overwrite);
      return { path: local, url: null, replace: overwrite };
    }
    await refuseExistingFd(text, overwrite);
    made.staging ??= await makeStagingDir();
    return { path: join(made.staging, name), url: text, replace: false };
  };
  try {
    const main = await target(mainText, "table");
    if (metaText !== null && (localPath(metaText) ?? metaText) === location(main)) {
      throw new ValidationError(`outputMetadata must differ from output (${mainText})`);
    }
    const metadata = metaText === null ? null : await target(metaText, "metadata");
    return { main, metadata, overwrite, staging: made.staging };
  } catch (error) {
    await closeOutputs({ staging: made.staging });
    throw error;
  }
}

/** Writes the chunk index, with bbox polygons, as a one-file table (`0.parquet`). */
export async function writeIndexTable(
  target: OutputTarget,
  stats: readonly ChunkStats[],
): Promise<void> {
  const index = chunkIndexTable(stats);
  const columns: Record<string, arrow.Vector> = {};
  for (const f of index.schema.fields) columns[f.name] = index.getChild(f.name)!;
  columns.geometry = boxesVector(stats);
  const table = withGeoMetadata(new arrow.Table(columns), "geometry");
  await writeDirectoryAtomic(target.path, { "0.parquet": writeRowGroups(table) }, {
    overwrite: target.replace,
  });
}

/** Uploads the fd:// outputs, the main table last. */
export async function publishOutputs(outputs: Outputs): Promise<void> {
  const staged = [outputs.metadata, outputs.main].filter((t) => t !== null && t.url !== null);
  if (staged.length === 0) return;
  await publishTables(
    staged.map((t) => ({ dir: t!.path, url: t!.url! })),
    outputs.overwrite,
  );
}

/** Removes the staging folder, if any. */
export async function closeOutputs(outputs: Pick<Outputs, "staging">): Promise<void> {
  if (outputs.staging !== null) {
    await Deno.remove(outputs.staging, { recursive: true }).catch(() => {});
  }
}

/** Where a table ended up: its fd:// URL, else its local folder. */
export function location(target: OutputTarget): string {
  return target.url ?? target.path;
}
