/**
 * Writes a UDF as module files its process can import: `<dataDir>/udfs/<code version>-<tag>/<name>.ts` with
 * its headers beside it, once per version, atomically (a folder built aside, then renamed).
 *
 * Specifiers are rewritten so that a UDF resolves the same wherever its file lives and whatever
 * deno.json the host process found: header names (`"utils"`) become `"./utils.ts"`, and the bare
 * names mapped in this project's deno.json (`"apache-arrow"`, `"zod"`) become their `npm:` targets.
 * (Deno applies an import map only to modules inside the workspace that declares it; a UDF file
 * under /tmp fails with `Import "zod" not a dependency` otherwise.)
 *
 * A UDF that imports other npm packages gets them in a `node_modules` folder inside its module
 * folder (engine/_deps.ts), so the folder's name also carries a hash of that folder's lock.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { exists, writeDirectoryAtomic, writeFileAtomic } from "../client/atomic_write.ts";
import { ValidationError } from "../client/errors.ts";
import type { Udf } from "../client/udf.ts";
import denoConfig from "../deno.json" with { type: "json" };
import { rewriteSpecifiers } from "./specifiers.ts";

const CONFIG_URL = new URL("../deno.json", import.meta.url);

/** Bare name → absolute target, from the project's import map. */
const IMPORT_MAP: Map<string, string> = new Map(
  Object.entries(denoConfig.imports as Record<string, string>).map(([name, target]) => [
    name,
    target.startsWith("./") || target.startsWith("../") ? new URL(target, CONFIG_URL).href : target,
  ]),
);

/**
 * Bumped whenever the way module files are written changes (specifier rewriting, inserted
 * checks), so files written by an older engine are not reused.
 */
const MODULE_FORMAT = 4;

const MODULE_TAG = createHash("sha256")
  .update(JSON.stringify([MODULE_FORMAT, [...IMPORT_MAP]]))
  .digest("hex")
  .slice(0, 12);

/** Resolves a bare specifier through the project's import map (`zod/mini` too), or undefined. */
function mapSpecifier(specifier: string): string | undefined {
  const direct = IMPORT_MAP.get(specifier);
  if (direct) return direct;
  // "pkg/sub" or "@scope/pkg/sub": the package part is mapped, the subpath follows it.
  const parts = specifier.split("/");
  const pkgLength = specifier.startsWith("@") ? 2 : 1;
  if (parts.length <= pkgLength) return undefined;
  const target = IMPORT_MAP.get(parts.slice(0, pkgLength).join("/"));
  return target ? `${target}/${parts.slice(pkgLength).join("/")}` : undefined;
}

/**
 * Whether an `npm:` specifier names a package of the SDK's own import map at the SDK's version
 * (`npm:apache-arrow@21.2.0`, or a subpath of it): such imports load the SDK's copy, so that a
 * UDF's Arrow table or zod schema is the very class the SDK checks against.
 */
export function isSdkPackage(specifier: string): boolean {
  for (const target of IMPORT_MAP.values()) {
    if (!target.startsWith("npm:")) continue;
    const base = target.endsWith("/") ? target.slice(0, -1) : target;
    if (specifier === base || specifier.startsWith(`${base}/`)) return true;
  }
  return false;
}

/**
 * Folder name of a UDF's module files. The files depend on more than the code: bare names are
 * rewritten to this checkout's absolute paths and pinned versions, so two checkouts (or two
 * versions of the import map) sharing a data folder must not share module files. A UDF with npm
 * packages of its own passes the hash of their lock: its folder holds them too.
 */
export function moduleFolderName(udf: Udf, lockHash?: string): string {
  const name = `${udf.codeVersion.slice(0, 40)}-${MODULE_TAG}`;
  return lockHash ? `${name}-${lockHash.slice(0, 16)}` : name;
}

/** The file name of a UDF's main module: `<name>.ts`, or `<name>.py` for Python code. */
export function mainModuleFile(udf: Udf): string {
  return `${fileName(udf.name, "UDF")}.${udf.language === "python" ? "py" : "ts"}`;
}

/**
 * The source of each module file of a UDF, keyed by file name, with specifiers rewritten. A
 * Python UDF's files are its code as written, headers as `<module>.py` (`import utils`).
 */
export function udfModuleFiles(udf: Udf): Record<string, string> {
  const python = udf.language === "python";
  const headerNames = new Set(udf.headers.map((h) => h.module_name));
  const rewrite = (code: string): string =>
    python
      ? code
      : rewriteSpecifiers(code, (s) => (headerNames.has(s) ? `./${s}.ts` : mapSpecifier(s)));
  const main = mainModuleFile(udf);
  const files: Record<string, string> = { [main]: rewrite(udf.code) };
  for (const h of udf.headers) {
    const module = python ? h.module_name.replace(/\.py$/, "") : h.module_name;
    const file = `${fileName(module, "Header")}.${python ? "py" : "ts"}`;
    if (file === main) {
      throw new ValidationError(
        `Header "${h.module_name}" has the same name as the UDF: rename the header or the UDF`,
      );
    }
    if (h.source_code === null || h.source_code === undefined) {
      throw new ValidationError(
        `Header "${h.module_name}" has no source code (only ${
          h.source_file ?? "a file name"
        }): load the UDF with its header files`,
      );
    }
    files[file] = rewrite(h.source_code);
  }
  return files;
}

/** A name used as a file name: a slug, never a path (checked here too, not only at the edge). */
function fileName(name: string, what: string): string {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(name) || name.includes("..")) {
    throw new ValidationError(
      `${what} name "${name}" cannot name a module file: use letters, digits, _ - and . (no slashes)`,
    );
  }
  return name;
}

/**
 * Writes the UDF's module files into `dir` unless that version is already there; returns the
 * main module's path.
 */
export async function writeUdfModule(udf: Udf, dir: string): Promise<string> {
  const main = join(dir, mainModuleFile(udf));
  if (await exists(main)) return main;
  const files = udfModuleFiles(udf);
  try {
    if (await exists(dir)) {
      // Same code and headers under another UDF name: the version (a content hash) leaves the
      // name out, so only the main file is missing.
      await writeFileAtomic(main, files[mainModuleFile(udf)]);
    } else {
      await writeDirectoryAtomic(dir, files);
    }
  } catch (err) {
    // Another run (or process) wrote the same version first: its files are identical.
    if (!(await exists(main))) throw err;
  }
  return main;
}
