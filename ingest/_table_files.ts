/**
 * The files of an ingested table, wherever it is: a local folder (a path, `file://`, or `fd://`
 * in the folder `options.fdPrefix` names), `fd://` on the store of the service this client is
 * logged in to (through `fused.api`; inside a UDF, its host), or an http(s) base URL. Local and
 * fd:// files are read by byte range, so a chunk is read without the rest of its file; over
 * http(s) whole files are read.
 *
 * @module
 */
import { join } from "node:path";
import * as files from "../client/api/files.ts";
import { FusedError, ValidationError } from "../client/errors.ts";
import { fdJoin, isMissing, listFolder } from "./_fd.ts";
import { localPath } from "./read.ts";

/** A byte range, both ends included. */
export interface Range {
  /** First byte. */
  start: number;
  /** Last byte. */
  end: number;
}

/** The files of one table. */
export interface TableFiles {
  /** Whether {@linkcode TableFiles.read} reads a range alone (false: read whole files). */
  readonly ranged: boolean;
  /** A file's size in bytes, or null when it is missing (ranged tables only). */
  size(name: string): Promise<number | null>;
  /** A file's bytes, or only `range`; throws `Deno.errors.NotFound` when it is missing. */
  read(name: string, range?: Range): Promise<Uint8Array>;
  /**
   * The names of the `{file_id}.parquet` files of a local folder (ValidationError when there is
   * none), or null where the table is what its index names.
   */
  dataFiles(): Promise<string[] | null>;
}

function missing(name: string): Deno.errors.NotFound {
  return new Deno.errors.NotFound(name);
}

/** The files of the table at `url`. */
export function tableFiles(url: string | URL): TableFiles {
  const text = String(url).replace(/\/+$/, "");
  if (/^https?:\/\//i.test(text)) return httpTable(text);
  const path = localPath(text);
  return path === null ? serviceTable(text) : localTable(path, text);
}

function isDataFile(name: string): boolean {
  return name.endsWith(".parquet") && !name.startsWith("_");
}

function localTable(dir: string, url: string): TableFiles {
  return {
    ranged: true,
    async size(name) {
      try {
        return (await Deno.stat(join(dir, name))).size;
      } catch (err) {
        if (err instanceof Deno.errors.NotFound) return null;
        throw err;
      }
    },
    async read(name, range) {
      const path = join(dir, name);
      if (!range) return await Deno.readFile(path);
      using file = await Deno.open(path);
      return await readAt(file, range.start, range.end - range.start + 1);
    },
    async dataFiles() {
      const names: string[] = [];
      try {
        for await (const e of Deno.readDir(dir)) {
          if (e.isFile && isDataFile(e.name)) names.push(e.name);
        }
      } catch (err) {
        if (err instanceof Deno.errors.NotFound) {
          throw new ValidationError(`Table ${url} does not exist: check the URL`);
        }
        throw err;
      }
      return names;
    },
  };
}

async function readAt(file: Deno.FsFile, offset: number, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  await file.seek(offset, Deno.SeekMode.Start);
  let at = 0;
  while (at < length) {
    const n = await file.read(out.subarray(at));
    if (n === null) {
      throw new FusedError(
        `Unexpected end of file after ${
          offset + at
        } bytes: the file is truncated; ingest the data again`,
      );
    }
    at += n;
  }
  return out;
}

/** fd:// on the service's store: sizes from one listing of the folder, bytes by range. */
function serviceTable(url: string): TableFiles {
  let sizes: Promise<Map<string, number> | null> | undefined;
  const listing = () =>
    sizes ??= listFolder(url).then((entries) =>
      entries && new Map(
        entries.filter((e) => !e.is_directory).map((e) => [
          e.url.split("/").at(-1)!,
          e.size ?? 0,
        ]),
      )
    );
  return {
    ranged: true,
    async size(name) {
      return (await listing())?.get(name) ?? null;
    },
    async read(name, range) {
      try {
        return await files.get(fdJoin(url, name), { range });
      } catch (err) {
        if (isMissing(err)) throw missing(name);
        throw err;
      }
    },
    // The table is what its index names: files without one are not (yet) part of it.
    dataFiles: () => Promise.resolve(null),
  };
}

function httpTable(url: string): TableFiles {
  return {
    ranged: false,
    size: () => Promise.resolve(null),
    async read(name) {
      const response = await fetch(`${url}/${name}`);
      if (response.status === 404) {
        await response.body?.cancel();
        throw missing(name);
      }
      if (!response.ok) {
        await response.body?.cancel();
        throw new FusedError(
          `Cannot read ${url}/${name}: HTTP ${response.status}; check the URL`,
        );
      }
      return new Uint8Array(await response.arrayBuffer());
    },
    dataFiles: () => Promise.resolve(null),
  };
}
