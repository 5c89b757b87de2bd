/**
 * The `Udf` model: a user-defined function as TypeScript source plus its options, in the same
 * JSON shape the Fused service uses (`name`, `code`, `entrypoint`, `headers`, `parameters`,
 * `metadata`, `cache_max_age`, ...), so one object travels from a notebook cell to disk, to a zip,
 * to the service's registry and into a run request unchanged.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { parseCacheMaxAge } from "./cache_max_age.ts";
import { FusedError, ValidationError } from "./errors.ts";
import type { SavedUdf, UdfAccessToken } from "./api/schemas.ts";
import {
  type HeaderJson,
  HeaderSchema,
  PYTHON_UDF_TYPE,
  TYPESCRIPT_UDF_TYPE,
  type UdfJson,
  UdfJsonSchema,
} from "./udf_json.ts";
import { udfToFiles } from "./udf_layout.ts";
import { writeUdfDirectory, writeUdfZip } from "./_udf_write.ts";

export {
  type HeaderJson,
  HeaderSchema,
  PYTHON_UDF_TYPE,
  TYPESCRIPT_UDF_TYPE,
  type UdfJson,
  UdfJsonSchema,
};

/**
 * The metadata key of a UDF's npm lock: the exact versions (and integrity hashes) of the npm
 * packages it imports, dependencies included, in Deno's `deno.lock` format. The executor sets it
 * when it first resolves them (engine/_deps.ts) and installs exactly it afterwards; it travels
 * with the metadata wherever the UDF is saved (`toFused`, `toDirectory`'s meta.json, `toFile`).
 */
export const NPM_LOCK_METADATA_KEY = "fused:npm";

/** The language a UDF's code is written in. */
export type UdfLanguage = "typescript" | "python";

/** A header given to `udf()`: a module name and its TypeScript source. */
export interface UdfHeader {
  /** The name the UDF imports it by (`utils` → `import { f } from "utils"`). */
  moduleName: string;
  /** The module's source code. */
  sourceCode: string;
}

/** Options of `udf()`, named as in the Fused docs (camelCase). */
export interface UdfOptions {
  /** Name of the UDF; defaults to the function's name, else "udf". */
  name?: string;
  /** How long runs stay cached: `"48h"`, `"90d"`, seconds, or 0 for never. */
  cacheMaxAge?: string | number;
  /** Where it runs by default: "realtime" or a batch instance type such as "small" or "large". */
  instanceType?: string;
  /** Disk size for batch runs. */
  diskSizeGb?: number;
  /** Region for batch runs. */
  region?: string;
  /** Parameter values used when a run does not give them. */
  defaultParameters?: Record<string, unknown>;
  /**
   * Extra modules the UDF can import by name: `{ utils: "export function f() {}" }`, or a list
   * of `{ moduleName, sourceCode }` and file paths (`"utils.ts"` is the module `utils`, as
   * fused-py's `headers=["utils.py"]`).
   */
  headers?: Record<string, string> | (UdfHeader | string)[];
  /** Free-form metadata (`fused:description`, ...). */
  metadata?: Record<string, unknown>;
  /** Name of the exported function to run; "default" (the default export) unless given. */
  entrypoint?: string;
}

const PYTHON_MARKERS = [/^\s*@(fused\.)?udf\b/m, /^\s*def\s+\w+\s*\(/m, /^\s*import\s+fused\s*$/m];
const TS_MARKERS = [/\bexport\s+(default|function|const|async)\b/, /=>/];

/** Guesses whether source code is Python (a Fused Python UDF) or TypeScript. */
export function detectLanguage(code: string): UdfLanguage {
  if (TS_MARKERS.some((re) => re.test(code))) return "typescript";
  return PYTHON_MARKERS.some((re) => re.test(code)) ? "python" : "typescript";
}

/** Finds the entrypoint of Python UDF code: the decorated function, or the one named `udf`. */
function pythonEntrypoint(code: string): string {
  const decorated = [...code.matchAll(/^@(?:fused\.)?udf\b[^\n]*\n(?:@[^\n]*\n)*def\s+(\w+)/gm)]
    .map((m) => m[1]);
  if (decorated.length === 1) return decorated[0];
  if (decorated.includes("udf")) return "udf";
  const defs = [...code.matchAll(/^def\s+(\w+)/gm)].map((m) => m[1]);
  return defs.includes("udf") ? "udf" : decorated[0] ?? defs[0] ?? "udf";
}

/** Finds the entrypoint of TypeScript UDF code: the default export, else an export named `udf`. */
function typescriptEntrypoint(code: string): string {
  if (/\bexport\s+default\b/.test(code)) return "default";
  if (/\bexport\s+(async\s+)?function\s+udf\b|\bexport\s+const\s+udf\b/.test(code)) return "udf";
  throw new ValidationError(
    "The UDF has no entrypoint: add `export default function udf({ ... }) { ... }` or name the exported function with the entrypoint option",
  );
}

/** A header given as a file path (fused-py's `headers=["utils.py"]`): named after the file. */
function headerFromFile(path: string): UdfHeader {
  let sourceCode: string;
  try {
    sourceCode = Deno.readTextFileSync(path);
  } catch (err) {
    throw new ValidationError(
      `Cannot read header file "${path}" (${
        (err as Error).message
      }): give a readable file path or { moduleName, sourceCode }`,
    );
  }
  const moduleName = (path.split(/[\\/]/).pop() ?? path).replace(/\.[^.]*$/, "");
  return { moduleName, sourceCode };
}

function normalizeHeaders(headers: UdfOptions["headers"]): HeaderJson[] {
  if (!headers) return [];
  const list: unknown[] = Array.isArray(headers)
    ? headers
    : Object.entries(headers).map(([moduleName, sourceCode]) => ({ moduleName, sourceCode }));
  return list.map((given) => {
    const h = typeof given === "string" ? headerFromFile(given) : given as UdfHeader;
    if (h === null || typeof h !== "object") {
      throw new ValidationError(
        `A header is a file path or { moduleName, sourceCode }, got ${
          h === null ? "null" : typeof h
        }`,
      );
    }
    const parsed = HeaderSchema.safeParse({
      module_name: h.moduleName,
      source_code: h.sourceCode,
      source_file: `${h.moduleName}.ts`,
    });
    if (!parsed.success) {
      const problems = parsed.error.issues.map((i) => i.message);
      throw new ValidationError(
        `Header "${String(h.moduleName)}": ${
          problems.join("; ")
        } (a header is a file path or { moduleName, sourceCode })`,
      );
    }
    return parsed.data;
  });
}

/** Converts a function to the source of a module whose default export is that function. */
function functionToModule(fn: (...args: never[]) => unknown): string {
  const text = fn.toString();
  if (/^class\b/.test(text)) {
    throw new ValidationError("A UDF must be a function, not a class");
  }
  // Methods (`{ f() {} }`) and native functions cannot be turned back into a standalone module.
  if (/\[native code\]/.test(text)) {
    throw new ValidationError("A built-in function cannot be a UDF: pass your own function");
  }
  const isFunctionSyntax = /^(async\s+)?function\b/.test(text) ||
    /^(async\s*)?(\([^)]*\)|\w+)\s*=>/.test(text);
  if (!isFunctionSyntax) {
    throw new ValidationError(
      "This function cannot be turned into a UDF (a method?): pass a function declaration, an arrow function or the source code",
    );
  }
  return `export default ${text};\n`;
}

/**
 * A UDF with the parameters of one batch job (`udf.job(params)`). The API client makes it
 * (`UdfJob` in api/jobs.ts) and declares its methods into this interface (`runBatch`,
 * `runRemote`, `toJobConfig`), so this module imports nothing of the HTTP client.
 */
export interface UdfJobHandle {
  /** The UDF. */
  readonly udf: Udf;
  /** Parameters of the run. */
  readonly parameters: Record<string, unknown>;
}

/** Service operations of a Udf, installed by client/api/mod.ts (so this module needs no HTTP). */
export interface UdfServiceHooks {
  /** Saves the UDF on the service. */
  toFused(udf: Udf, options: { overwrite?: boolean }): Promise<SavedUdf>;
  /** Creates a share token for a saved UDF. */
  createAccessToken(udf: Udf): Promise<UdfAccessToken>;
  /** Lists a saved UDF's share tokens. */
  getAccessTokens(udf: Udf): Promise<UdfAccessToken[]>;
  /** Deletes a saved UDF. */
  deleteSaved(udf: Udf): Promise<void>;
  /** Clears the service's cached results of a saved UDF. */
  deleteCache(udf: Udf): Promise<void>;
  /** Deletes the caller's `cacheStorage: "object"` entries of one cache folder on the store. */
  deleteObjectCache(folder: string): Promise<boolean>;
  /** Web link of a saved UDF, or null. */
  catalogUrl(udf: Udf): string | null;
  /** This UDF with the parameters of a batch job. */
  job(udf: Udf, parameters: Record<string, unknown>): UdfJobHandle;
}

let serviceHooks: UdfServiceHooks | undefined;

/** Installs the service operations of Udf (client/api/mod.ts does). */
export function setUdfServiceHooks(hooks: UdfServiceHooks): void {
  serviceHooks = hooks;
}

function service(): UdfServiceHooks {
  if (!serviceHooks) {
    throw new FusedError('Saving and sharing UDFs needs the API client: import "fused" (mod.ts)');
  }
  return serviceHooks;
}

/**
 * The rule of a UDF name (a slug): up to 128 letters, digits, `_`, `-` or `.`, not starting with
 * `-` or `.`. A name becomes a file name on disk and a path segment in URLs, so nothing else is
 * allowed (no `/`, no `..`, no spaces).
 */
export const UDF_NAME_PATTERN: RegExp = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** The slug rule in words, for error messages. */
export const UDF_NAME_RULE =
  "a UDF name is up to 128 letters, digits, '_', '-' or '.', not starting with '-' or '.'";

/** Why a UDF name breaks the slug rule, or null when it is a valid name. */
export function udfNameProblem(name: unknown): string | null {
  if (typeof name !== "string") return `a UDF name is text, got ${typeof name}`;
  return UDF_NAME_PATTERN.test(name) ? null : UDF_NAME_RULE;
}

/** Throws a ValidationError naming the problem when `name` is not a valid UDF name. */
export function checkUdfName(name: unknown): string {
  const problem = udfNameProblem(name);
  if (problem) {
    const shown = typeof name === "string" ? JSON.stringify(name.slice(0, 200)) : String(name);
    throw new ValidationError(`Invalid UDF name ${shown}: ${problem}`);
  }
  return name as string;
}

/** A user-defined function: code plus options, runnable with `fused.run`. */
export class Udf {
  #name: string;
  #codeVersion?: string;
  /** The whole source of the UDF module. */
  readonly code: string;
  /** The exported function that runs: "default" or an export name (Python: the def's name). */
  readonly entrypoint: string;
  /** Extra modules importable by name. */
  readonly headers: readonly HeaderJson[];
  /** Parameter values used when a run does not give them (Fused's `parameters`). */
  parameters: Record<string, unknown>;
  /**
   * Metadata (`fused:id`, `fused:description`, `fused:npm`: the lock of its npm packages, see
   * {@linkcode NPM_LOCK_METADATA_KEY}); null for a UDF defined here and not run yet.
   */
  metadata: Record<string, unknown> | null;
  /** Cache age in seconds for runs of this UDF; null means the default (90 days). */
  cacheMaxAge: number | null;
  /** Default instance type ("realtime" or a batch type). */
  instanceType: string | null;
  /** Disk size for batch runs. */
  diskSizeGb: number | null;
  /** Region for batch runs. */
  region: string | null;
  /** Fused `type`: `deno_v1` for TypeScript, `geopandas_v2` for Python. */
  readonly type: string;
  /** Fields of the JSON this UDF came from that this model does not know; kept on save. */
  readonly extra: Record<string, unknown>;

  /** Builds a Udf from its JSON form (validated). Prefer `udf()` or `Udf.fromJSON`. */
  constructor(json: UdfJson) {
    const {
      name,
      type,
      code,
      entrypoint,
      headers,
      metadata,
      parameters,
      cache_max_age,
      instance_type,
      disk_size_gb,
      region,
      ...extra
    } = json;
    this.#name = checkUdfName(name);
    this.type = type;
    this.code = code;
    this.entrypoint = entrypoint;
    this.headers = headers;
    this.metadata = metadata ?? null;
    this.parameters = parameters;
    this.cacheMaxAge = cache_max_age ?? null;
    this.instanceType = instance_type ?? null;
    this.diskSizeGb = disk_size_gb ?? null;
    this.region = region ?? null;
    this.extra = extra;
  }

  /** The UDF's name (a slug); also its file name on disk and its name in the registry. */
  get name(): string {
    return this.#name;
  }

  /** Renames the UDF; a name that is not a valid slug throws a ValidationError. */
  set name(value: string) {
    this.#name = checkUdfName(value);
  }

  /** Parses and validates Udf JSON (an object or a JSON string). */
  static fromJSON(json: unknown): Udf {
    const value = typeof json === "string" ? JSON.parse(json) : json;
    const parsed = UdfJsonSchema.safeParse(value);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) =>
        `${i.path.join(".") || "(root)"}: ${i.message}`
      );
      throw new ValidationError(`Invalid UDF JSON: ${issues.join("; ")}`);
    }
    return new Udf(parsed.data);
  }

  /** Whether the code is TypeScript (runs here) or Python (needs the Fused Python runtime). */
  get language(): UdfLanguage {
    return this.type === PYTHON_UDF_TYPE ? "python" : "typescript";
  }

  /** The Fused Udf JSON. */
  toJSON(): UdfJson {
    return {
      ...this.extra,
      name: this.name,
      type: this.type,
      code: this.code,
      entrypoint: this.entrypoint,
      headers: this.headers.map((h) => ({ ...h })),
      metadata: this.metadata,
      parameters: this.parameters,
      cache_max_age: this.cacheMaxAge,
      instance_type: this.instanceType,
      disk_size_gb: this.diskSizeGb,
      region: this.region,
    };
  }

  /**
   * A content hash of the code alone (code, entrypoint, headers), without default parameters:
   * what a Worker loads. Runs that differ only in defaults share warm Workers and module files.
   */
  get codeVersion(): string {
    // Computed once: what it hashes is readonly, and the executor asks for it several times a
    // run (a sha256 each time was 6% of a service's CPU under load).
    this.#codeVersion ??= sha256(JSON.stringify([
      this.type,
      this.code,
      this.entrypoint,
      this.headers.map((h) => [h.module_name, h.source_code ?? ""]),
    ]));
    return this.#codeVersion;
  }

  /**
   * A content hash of what decides a run's result: the code version and the default
   * parameters. Cache entries are keyed on it.
   */
  get version(): string {
    return sha256(JSON.stringify([this.codeVersion, canonicalJson(this.parameters)]));
  }

  /** The source of a header module by name. */
  header(moduleName: string): string | undefined {
    return this.headers.find((h) => h.module_name === moduleName)?.source_code ?? undefined;
  }

  /** The folder files of this UDF: `meta.json`, `<name>.ts`, header files and README.md. */
  toFiles(): Record<string, string> {
    return udfToFiles(this.toJSON());
  }

  /**
   * Writes the UDF as a folder (`meta.json`, `<name>.ts`, headers, README.md), at `path` or, as
   * fused-py does without one, at a folder named after the UDF in the working directory; refuses
   * to replace an existing one unless `overwrite` is true.
   */
  async toDirectory(path?: string, options: { overwrite?: boolean } = {}): Promise<void> {
    await writeUdfDirectory(this.toFiles(), path ?? this.name, options);
  }

  /** Writes the same files as `toDirectory` into a zip at `path`. */
  async toFile(path: string, options: { overwrite?: boolean } = {}): Promise<void> {
    await writeUdfZip(this.toFiles(), path, options);
  }

  /**
   * Deletes the cached results of this UDF's local runs (its cache folder, `udf/<name>`); from a
   * notebook or script logged in to a service, also the caller's `cacheStorage: "object"` entries
   * of that folder on the service's shared store (those of every machine); and, when it is saved
   * on a service, the service's cached results. Resolves to how many local entries were deleted.
   */
  async deleteCache(): Promise<number> {
    // Imported on use so that code which only defines UDFs does not load the cache's formats.
    const { deleteCache, loggedInToService } = await import("./cache.ts");
    const folder = udfCacheFolder(this.name);
    const deleted = await deleteCache({ folder });
    if (await loggedInToService()) await service().deleteObjectCache(folder);
    if (this.metadata?.["fused:id"] && serviceHooks) await serviceHooks.deleteCache(this);
    return deleted;
  }

  /** Saves this UDF on the service; sets `fused:id` and `fused:slug` in its metadata. */
  toFused(options: { overwrite?: boolean } = {}): Promise<SavedUdf> {
    return service().toFused(this, options);
  }

  /** Creates a share token for this saved UDF. */
  createAccessToken(): Promise<UdfAccessToken> {
    return service().createAccessToken(this);
  }

  /** The share tokens of this saved UDF. */
  getAccessTokens(): Promise<UdfAccessToken[]> {
    return service().getAccessTokens(this);
  }

  /** Deletes this UDF from the service. */
  deleteSaved(): Promise<void> {
    return service().deleteSaved(this);
  }

  /**
   * This UDF with the parameters of one batch job (Python's `job = udf(arg=...)`); start it with
   * `.runBatch({ instanceType })`, which returns its `fused.api.BatchJob`.
   */
  job(parameters: Record<string, unknown> = {}): UdfJobHandle {
    return service().job(this, parameters);
  }

  /** Web link of the saved UDF, or null when it is not saved. */
  get catalogUrl(): string | null {
    return serviceHooks?.catalogUrl(this) ?? null;
  }

  /** A copy of this UDF with other default parameters merged over the current ones. */
  withParameters(parameters: Record<string, unknown>): Udf {
    return new Udf({ ...this.toJSON(), parameters: { ...this.parameters, ...parameters } });
  }
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** The cache folder of a UDF's local runs, by UDF name. */
export function udfCacheFolder(name: string): string {
  return `udf/${name}`;
}

/** JSON text with object keys sorted, so equal values hash equally whatever their key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v) => {
    if (v && typeof v === "object" && !Array.isArray(v) && !ArrayBuffer.isView(v)) {
      return Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    if (typeof v === "bigint") return v.toString();
    return v;
  });
}

/**
 * Defines a UDF from TypeScript source (a module with `export default function udf(...)`) or
 * from a function.
 *
 * @example
 * ```ts
 * import { udf } from "./udf.ts";
 * const hello = udf(`export default function udf({ name = "world" }) { return "hello " + name }`, {
 *   name: "hello",
 *   cacheMaxAge: "1h",
 * });
 * console.log(hello.toJSON().cache_max_age); // 3600
 * ```
 */
export function udf(
  source: string | ((...args: never[]) => unknown),
  options: UdfOptions = {},
): Udf {
  let code: string;
  let name = options.name;
  if (typeof source === "function") {
    code = functionToModule(source);
    name ??= source.name && source.name !== "default" ? source.name : undefined;
  } else if (typeof source === "string") {
    code = source;
  } else {
    throw new ValidationError(
      `A UDF is TypeScript source or a function, got ${source === null ? "null" : typeof source}`,
    );
  }
  const language = detectLanguage(code);
  const entrypoint = options.entrypoint ??
    (language === "python" ? pythonEntrypoint(code) : typescriptEntrypoint(code));
  name ??= entrypoint === "default" ? "udf" : entrypoint;
  checkUdfName(name);
  return Udf.fromJSON({
    name,
    type: language === "python" ? PYTHON_UDF_TYPE : TYPESCRIPT_UDF_TYPE,
    code,
    entrypoint,
    headers: normalizeHeaders(options.headers),
    metadata: options.metadata ?? null,
    parameters: options.defaultParameters ?? {},
    cache_max_age: options.cacheMaxAge === undefined ? null : parseCacheMaxAge(options.cacheMaxAge),
    instance_type: options.instanceType ?? null,
    disk_size_gb: options.diskSizeGb ?? null,
    region: options.region ?? null,
  });
}
