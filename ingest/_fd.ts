/**
 * `fd://` on the store of the service this client is logged in to, as ingest uses it: through
 * `fused.api` file calls, which inside a UDF go to its host and act as the UDF's caller. That is
 * every fd:// URL unless `options.fdPrefix` names a local folder (`localFdRoot()`); then ingest
 * reads and writes that folder as any other.
 *
 * Tables are built on this machine first (in a staging folder) and then published whole or not
 * at all, as readers see them: the data files are uploaded first and `_sample` last, since it
 * carries the chunk index every reader opens first; an ingest that fails removes what it
 * uploaded. The store has no rename, so a table being replaced (`overwrite`) is deleted before
 * the new one is uploaded: meanwhile readers find no table, never a mix of two.
 *
 * @module
 */
import { join } from "node:path";
import * as files from "../client/api/files.ts";
import type { ListDetails } from "../client/api/schemas.ts";
import { HttpError, ValidationError } from "../client/errors.ts";
import { resolveFdPath } from "../client/file_path.ts";
import { options } from "../client/options.ts";
import { udfHost } from "../client/host_channel.ts";
import { SAMPLE_FILE } from "./metadata.ts";

/** Whether `url` is fd:// on the service's store, not in a local folder named by fdPrefix. */
export function isServiceFd(url: string): boolean {
  return /^fd:\/\//i.test(url) && resolveFdPath(url) === null;
}

/** Whether an error says that a file or folder is not there (on every host: see _local_host). */
export function isMissing(error: unknown): boolean {
  return (error instanceof HttpError && error.status === 404) ||
    (error as Error | undefined)?.name === "FileNotFoundError";
}

/** `url` joined with a name by one `/`. */
export function fdJoin(url: string, name: string): string {
  return url.endsWith("/") ? url + name : `${url}/${name}`;
}

/** The entries of an fd:// folder with their sizes, or null when there is no such folder. */
export async function listFolder(url: string): Promise<ListDetails[] | null> {
  try {
    return await files.list(fdJoin(url, ""), { details: true });
  } catch (error) {
    if (isMissing(error)) return null;
    throw error;
  }
}

function nameOf(url: string): string {
  return url.replace(/\/+$/, "").split("/").at(-1) ?? "";
}

function parentOf(url: string): string {
  const rest = url.replace(/\/+$/, "").slice("fd://".length);
  return rest.includes("/") ? `fd://${rest.slice(0, rest.lastIndexOf("/"))}` : "fd://";
}

/**
 * The files an fd:// input names, sorted: the file itself, or every file under the folder,
 * leaving out names that start with "." or "_" (metadata such as `_sample`, as in local folders).
 * Null when nothing is there; `folder` says which it was.
 */
export async function filesUnder(
  url: string,
): Promise<{ files: string[]; folder: boolean } | null> {
  const entries = await listFolder(url);
  if (entries === null) {
    const bare = url.replace(/\/+$/, "");
    const self = (await listFolder(parentOf(bare)))?.find((e) => !e.is_directory && e.url === bare);
    return self ? { files: [bare], folder: false } : null;
  }
  const out: string[] = [];
  for (const entry of entries) {
    const name = nameOf(entry.url);
    if (name.startsWith(".") || name.startsWith("_")) continue;
    if (entry.is_directory) out.push(...(await filesUnder(entry.url))?.files ?? []);
    else out.push(entry.url);
  }
  return { files: out.sort(), folder: true };
}

/** Throws when an fd:// output holds files and `overwrite` is false (an empty folder is free). */
export async function refuseExistingFd(url: string, overwrite: boolean): Promise<void> {
  if (overwrite) return;
  const entries = await listFolder(url);
  if (entries !== null && entries.length > 0) {
    throw new ValidationError(
      `Output ${url} already exists and is not empty: pass overwrite: true to replace it, or choose another output`,
    );
  }
}

/**
 * A new folder to build tables in before they are uploaded: inside a UDF, in its data folder (the
 * one folder its host streams uploads from), else in `options.tempDirectory`. The caller removes
 * it.
 */
export async function makeStagingDir(): Promise<string> {
  const root = udfHost()?.folders.dataDir ?? options.tempDirectory;
  const dir = join(root, ".fused-ingest", crypto.randomUUID());
  await Deno.mkdir(dir, { recursive: true });
  return dir;
}

/** A table built in a local folder, and the fd:// URL it is published to. */
export interface StagedTable {
  /** The local folder. */
  dir: string;
  /** Where it goes. */
  url: string;
}

async function removeFolder(url: string): Promise<void> {
  await files.delete(url, { maxDeletionDepth: "unlimited" });
}

/**
 * Uploads staged tables, in order, whole or not at all: every data file of every table first,
 * then the `_sample` files in the order of `tables` (give the main table last). With `overwrite`
 * the old folders are deleted first. On failure the folders are removed and the error rethrown.
 */
export async function publishTables(tables: StagedTable[], overwrite: boolean): Promise<void> {
  if (overwrite) { for (const table of tables) await removeFolder(table.url); }
  try {
    const last: [string, string][] = [];
    for (const table of tables) {
      const names: string[] = [];
      for await (const entry of Deno.readDir(table.dir)) names.push(entry.name);
      for (const name of names.sort()) {
        const pair: [string, string] = [join(table.dir, name), fdJoin(table.url, name)];
        if (name === SAMPLE_FILE) last.push(pair);
        else await files.upload(...pair);
      }
    }
    for (const pair of last) await files.upload(...pair);
  } catch (error) {
    for (const table of tables) await removeFolder(table.url).catch(() => {});
    throw error;
  }
}
