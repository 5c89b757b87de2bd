/**
 * Writing a UDF's folder files as a directory or a zip, atomically.
 *
 * @module
 */
import { strToU8, zipSync } from "fflate";
import { ValidationError } from "./errors.ts";
import { basename, dirname } from "node:path";
import { exists, removeStaleTemps, writeDirectoryAtomic, writeFileAtomic } from "./atomic_write.ts";
import type { UdfFiles } from "./udf_layout.ts";

/** Options of `toDirectory` / `toFile`. */
export interface WriteUdfOptions {
  /** Replace an existing directory or file (default false). */
  overwrite?: boolean;
}

/** Writes the files as a folder at `path`. */
export async function writeUdfDirectory(
  files: UdfFiles,
  path: string,
  options: WriteUdfOptions = {},
): Promise<void> {
  if (/\.(zip|ts|py)$/i.test(path)) {
    throw new ValidationError(
      `toDirectory wants a folder path without an extension, got "${path}": use toFile for a .zip`,
    );
  }
  try {
    await writeDirectoryAtomic(path, files, options);
  } catch (err) {
    if (err instanceof Deno.errors.AlreadyExists) throw new ValidationError(err.message);
    throw err;
  }
}

/** Writes the files as a zip (files at the zip's root, as Fused does) at `path`. */
export async function writeUdfZip(
  files: UdfFiles,
  path: string,
  options: WriteUdfOptions = {},
): Promise<void> {
  if (!options.overwrite && await exists(path)) {
    throw new ValidationError(`${path} already exists: pass { overwrite: true } to replace it`);
  }
  await removeStaleTemps(dirname(path), basename(path));
  const entries = Object.fromEntries(
    Object.entries(files).map(([name, text]) => [name, strToU8(text)]),
  );
  await writeFileAtomic(path, zipSync(entries, { level: 6 }));
}
