/**
 * `fused.options`: the global settings of the SDK, typed by one zod schema.
 *
 * Every value comes from four layers, later ones winning: the defaults below, the settings file
 * (`~/.fused/settings.toml`, written by `options.save()`), `FUSED_*` environment variables (the
 * Fused name in upper case: `FUSED_REQUEST_TIMEOUT=60`, `FUSED_BASE_URL=...`), then assignments at
 * run time (`fused.options.requestTimeout = 60`). Every assignment is validated; a bad value
 * throws a {@linkcode ValidationError} and leaves the old value in place.
 *
 * The settings file uses Fused's snake_case names, so it can be shared with the Python SDK: keys
 * this SDK does not know are kept as they are when it saves.
 *
 * Options of the Python SDK with no meaning here (`auth`, `promptToLogin`, `noLogin`,
 * `pyodideAsyncRequests`, `gcsSecret`, `gcsFilename`, `gcpProjectName`, `logging`,
 * `defaultValidateImports`, `defaultSendStatusEmail`, `show`) throw a NotSupportedError that says
 * why and what to use instead, on reading and on setting ({@linkcode UNSUPPORTED_OPTIONS});
 * `show.enable_tqdm` is `showProgress` here.
 *
 * @module
 */
import { udfHost } from "./host_channel.ts";
import { isAbsolute, join } from "node:path";
import { tmpdir } from "node:os";
import { parse as parseToml, stringify as stringifyToml } from "smol-toml";
import { z } from "zod";
import { NotSupportedError, ValidationError } from "./errors.ts";

/** Where the embedded UDF service listens by default (`fused serve`), as Fused's `dev` env. */
export const LOCAL_BASE_URL = "http://127.0.0.1:8783/v1";

const absolutePath = z.string().refine(isAbsolute, { message: "expected an absolute path" });
const seconds = z.number().positive();

/** Where cached data and files are stored (Fused's `StorageStr`): "auto", "local", "mount", "object". */
export type Storage = "auto" | "local" | "mount" | "object";

const StorageSchema = z.enum(["auto", "local", "mount", "object"] as const satisfies Storage[]);

/** `requestTimeout`: seconds, fused-py's `(connect, read)` pair of seconds, or `null` for none. */
export type RequestTimeout = number | [number, number] | null;

/**
 * The longest wait a timer can have (2^31 - 1 ms, about 24.8 days): `requestTimeout: null`
 * ("no timeout", as in fused-py) waits this long, since `AbortSignal.timeout` needs a number.
 */
const NO_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * The time one request may take, in milliseconds, for a `requestTimeout` value. A `(connect,
 * read)` pair allows their sum: `fetch` has one deadline for the whole request, not two.
 *
 * @example
 * ```ts
 * import { requestTimeoutMs } from "./options.ts";
 * if (requestTimeoutMs([3, 27]) !== 30_000 || requestTimeoutMs(5) !== 5_000) throw new Error();
 * ```
 */
export function requestTimeoutMs(value: RequestTimeout): number {
  if (value === null) return NO_TIMEOUT_MS;
  const s = Array.isArray(value) ? value[0] + value[1] : value;
  return Math.min(s * 1000, NO_TIMEOUT_MS);
}

const serviceUrl = z.url({ protocol: /^https?$/ }).transform((url) => url.replace(/\/+$/, ""));

/** The schema of every option; the Fused (Python) name of each is in {@linkcode FUSED_NAMES}. */
export const OptionsSchema = z.object({
  /**
   * URL of the Fused API; the embedded local service by default. A list of URLs of services on
   * one shared database spreads requests over them in turn (each run stays on one service).
   */
  baseUrl: z.union([
    serviceUrl,
    z.array(serviceUrl).min(1, { message: "a list of base URLs needs at least one" }),
  ]),
  /** URL that share tokens run under; `null` means `{baseUrl}/realtime-shared`. */
  sharedUdfBaseUrl: z.url({ protocol: /^https?$/ }).nullable(),
  /** Timeout of management requests: seconds, a `[connect, read]` pair, or `null` for none. */
  requestTimeout: z.union([seconds, z.tuple([seconds, seconds]), z.null()]),
  /** How many times a request answered 502/503 is retried. */
  requestMaxRetries: z.number().int().nonnegative(),
  /** Base delay of the exponential backoff between retries, in seconds. */
  requestRetryBaseDelay: z.number().nonnegative(),
  /** Timeout of UDF run requests (and of polling for their result), in seconds. */
  runTimeout: seconds,
  /** Timeout of file metadata requests, in seconds. */
  metadataRequestTimeout: seconds,
  /** Most runs or requests in flight at once (JobPool, `submit`). */
  maxWorkers: z.number().int().positive(),
  /** Realtime instance to run on; `null` asks the service for the preferred one. */
  realtimeClientId: z.string().min(1).nullable(),
  /** Deepest nesting of UDFs calling UDFs before a run is refused. */
  maxRecursionFactor: z.number().int().positive(),
  /** Where `run` executes a UDF when not told: on this machine or on the service. */
  defaultUdfRunEngine: z.enum(["local", "remote"]),
  /** Save per-user settings (such as the chosen realtime instance) to the settings file. */
  saveUserSettings: z.boolean(),
  /** Base directory of `fused.cache` results; `null` picks one from the cache storage. */
  cacheDirectory: absolutePath.nullable(),
  /** The `/mount` of this machine: files of `filePath`, `download` and the `fd://` root. */
  dataDirectory: absolutePath,
  /** Directory for temporary files (and the "local" storage). */
  tempDirectory: absolutePath,
  /** Default storage of `fused.cache`. */
  cacheStorage: StorageSchema,
  /** Most bytes the disk cache keeps per base folder; the least recently used go first. */
  cacheMaxBytes: z.number().int().positive(),
  /** Largest result a local UDF run may return, in bytes (the executor refuses larger ones). */
  maxResultBytes: z.number().int().positive(),
  /** The Python interpreter of local Python UDF runs (a venv's `bin/python` is bound read-only). */
  pythonPath: absolutePath,
  /** Never import UDF code when loading UDFs. */
  neverImport: z.boolean(),
  /** Print the logs of UDF runs. */
  verboseUdfRuns: z.boolean(),
  /** Print a line when a `fused.cache` function returns a cached result. */
  verboseCachedFunctions: z.boolean(),
  /** Cache UDF runs of the local engine. */
  localEngineCache: z.boolean(),
  /** Show progress bars and live job views. */
  showProgress: z.boolean(),
  /** Headers sent with every request to the service. */
  defaultRunHeaders: z.record(z.string(), z.string()),
  /** Transfer format of tables returned by remote runs. */
  defaultDtypeOutVector: z.string().min(1),
  /** Transfer format of rasters returned by remote runs. */
  defaultDtypeOutRaster: z.string().min(1),
  /**
   * Where `fd://` URLs point: `null`, the store of the service at `baseUrl`; or a local folder
   * (see `localFdRoot()`).
   */
  fdPrefix: z.string().min(1).nullable(),
});

/** The value of every option. */
export type OptionValues = z.output<typeof OptionsSchema>;

/** The name of one option. */
export type OptionName = keyof OptionValues;

/** The Fused (Python SDK) name of each option, used in the settings file and `FUSED_*` env vars. */
export const FUSED_NAMES: Readonly<Record<OptionName, string>> = {
  baseUrl: "base_url",
  sharedUdfBaseUrl: "shared_udf_base_url",
  requestTimeout: "request_timeout",
  requestMaxRetries: "request_max_retries",
  requestRetryBaseDelay: "request_retry_base_delay",
  runTimeout: "run_timeout",
  metadataRequestTimeout: "metadata_request_timeout",
  maxWorkers: "max_workers",
  realtimeClientId: "realtime_client_id",
  maxRecursionFactor: "max_recursion_factor",
  defaultUdfRunEngine: "default_udf_run_engine",
  saveUserSettings: "save_user_settings",
  cacheDirectory: "cache_directory",
  dataDirectory: "data_directory",
  tempDirectory: "temp_directory",
  cacheStorage: "cache_storage",
  cacheMaxBytes: "cache_max_bytes",
  maxResultBytes: "max_result_bytes",
  pythonPath: "python_path",
  neverImport: "never_import",
  verboseUdfRuns: "verbose_udf_runs",
  verboseCachedFunctions: "verbose_cached_functions",
  localEngineCache: "local_engine_cache",
  showProgress: "enable_tqdm",
  defaultRunHeaders: "default_run_headers",
  defaultDtypeOutVector: "default_dtype_out_vector",
  defaultDtypeOutRaster: "default_dtype_out_raster",
  fdPrefix: "fd_prefix",
};

/** Every option name, in schema order. */
export const OPTION_NAMES: readonly OptionName[] = Object.keys(OptionsSchema.shape) as OptionName[];

/**
 * fused-py options with no meaning here, by their camelCase name: why, and what to use instead.
 * Reading or setting one throws a NotSupportedError with this text.
 */
export const UNSUPPORTED_OPTIONS: Readonly<Record<string, string>> = {
  auth: "credentials are a token in ~/.fused/credentials: log in with " +
    "fused.api.login({ token }) or set FUSED_AUTH_TOKEN",
  promptToLogin: "there is no interactive login (no OAuth): log in with fused.api.login({ token })",
  noLogin: "nothing logs in automatically here, so there is nothing to turn off: requests " +
    "without a token fail until fused.api.login({ token })",
  baseWebUrl: "the local service has no web workbench; udf.catalogUrl links to the service's host",
  defaultValidateImports: "a UDF's imports are resolved when it runs, and a missing package " +
    "fails that run with its name; run it once locally to check them",
  defaultSendStatusEmail: "the service sends no e-mail: follow a batch job with " +
    "job.tailLogs() or job.waitForJob()",
  logging: "the SDK has no logger to switch on: use verboseUdfRuns and verboseCachedFunctions " +
    "for run and cache messages",
  pyodideAsyncRequests: "this SDK runs on Deno, not Pyodide, and its requests are always async",
  gcsSecret: "fd:// is a local folder or S3-compatible storage here, not Google Cloud Storage",
  gcsFilename: "fd:// is a local folder or S3-compatible storage here, not Google Cloud Storage",
  gcpProjectName: "fd:// is a local folder or S3-compatible storage here, not Google Cloud Storage",
  show: "results display themselves in notebooks; showProgress is show.enable_tqdm",
};

/** The NotSupportedError for a fused-py option that has no meaning here. */
function unsupportedOption(name: string): NotSupportedError {
  const snake = name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  return new NotSupportedError(
    `Option ${name} (fused-py's ${snake}) is not supported here: ${UNSUPPORTED_OPTIONS[name]}`,
  );
}

/** Where the current value of an option came from. */
export type OptionSource = "default" | "settings" | "env" | "set";

/** How to create a {@linkcode FusedOptions}; everything is read from the process by default. */
export interface FusedOptionsInit {
  /**
   * The settings home (`~/.fused`); `FUSED_HOME` or `$HOME/.fused` unless given, `null` for none
   * (no settings file). Tests give a temporary folder so they never touch the real one.
   */
  home?: string | null;
  /** Environment to read `FUSED_*` from; the process environment (if permitted) unless given. */
  env?: Record<string, string | undefined>;
}

/** Reads an environment variable when this context may, and `undefined` otherwise. */
function readEnv(name: string): string | undefined {
  try {
    // Options are imported inside permission-less Workers too: never prompt or throw there.
    if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") {
      return undefined;
    }
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

function mayRead(path: string): boolean {
  try {
    return Deno.permissions.querySync({ name: "read", path }).state === "granted";
  } catch {
    return false;
  }
}

function defaultTempDirectory(): string {
  try {
    if (Deno.permissions.querySync({ name: "env" }).state === "granted") return tmpdir();
  } catch {
    // Fall through: no permission API (or no permission) in this context.
  }
  return Deno.build.os === "windows" ? "C:\\Windows\\Temp" : "/tmp";
}

function defaultHome(env: (name: string) => string | undefined): string | null {
  const explicit = env("FUSED_HOME");
  if (explicit) return explicit;
  const home = env("HOME") ?? env("USERPROFILE");
  return home ? join(home, ".fused") : null;
}

/** The default of every option, given the settings home and the temp directory. */
export function defaultOptionValues(home: string | null, tempDirectory: string): OptionValues {
  return {
    baseUrl: LOCAL_BASE_URL,
    sharedUdfBaseUrl: null,
    requestTimeout: 5,
    requestMaxRetries: 5,
    requestRetryBaseDelay: 1,
    runTimeout: 130,
    metadataRequestTimeout: 60,
    maxWorkers: 16,
    realtimeClientId: null,
    maxRecursionFactor: 5,
    defaultUdfRunEngine: "local",
    saveUserSettings: true,
    cacheDirectory: null,
    dataDirectory: home ? join(home, "data") : join(tempDirectory, "fused_data"),
    tempDirectory,
    cacheStorage: "auto",
    cacheMaxBytes: 5 * 1024 ** 3,
    maxResultBytes: 256 * 1024 ** 2,
    pythonPath: "/usr/bin/python3",
    neverImport: false,
    verboseUdfRuns: true,
    verboseCachedFunctions: true,
    localEngineCache: true,
    showProgress: true,
    // Fused sends {"X-Fused-Cache-Disable": "true"}; the local service caches by cacheMaxAge.
    defaultRunHeaders: {},
    defaultDtypeOutVector: "parquet",
    defaultDtypeOutRaster: "tiff",
    fdPrefix: null,
  };
}

function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  const where = issue.path.length ? ` at ${issue.path.join(".")}` : "";
  return `${issue.message.replace(/^Invalid input: /, "")}${where}`;
}

function validate(name: OptionName, value: unknown): { ok: true; value: unknown } | {
  ok: false;
  reason: string;
} {
  const result = OptionsSchema.shape[name].safeParse(value);
  return result.success
    ? { ok: true, value: result.data }
    : { ok: false, reason: describeIssue(result.error) };
}

/** Turns the text of an environment variable into a value of the option's type. */
function parseEnvValue(name: OptionName, text: string): unknown {
  const direct = validate(name, text);
  if (direct.ok) return direct.value;
  const lower = text.trim().toLowerCase();
  const words: Record<string, unknown> = { yes: true, on: true, no: false, off: false, "": null };
  let candidate: unknown = lower in words ? words[lower] : undefined;
  if (candidate === undefined) {
    try {
      candidate = JSON.parse(text);
    } catch {
      candidate = text;
    }
  }
  if (typeof candidate === "number" && OptionsSchema.shape[name].safeParse(true).success) {
    candidate = candidate !== 0; // "1"/"0" for booleans
  }
  const parsed = validate(name, candidate);
  if (parsed.ok) return parsed.value;
  const envName = `FUSED_${FUSED_NAMES[name].toUpperCase()}`;
  throw new ValidationError(
    `Cannot use ${envName}="${text}": ${parsed.reason}; fix or unset that environment variable`,
  );
}

/**
 * The global options, one typed property per option (see {@linkcode OptionsSchema}).
 *
 * @example
 * ```ts
 * import { FusedOptions } from "./options.ts";
 * const options = new FusedOptions({ home: null, env: {} });
 * options.requestTimeout = 60;
 * options.toJSON().requestTimeout; // 60
 * ```
 */
// Declaration merging gives the class one typed property per option; the accessors themselves
// are generated from the schema in the static block, so no option is written down twice.
export interface FusedOptions extends OptionValues {}

/** The global options, one typed, validated property per option. */
export class FusedOptions {
  /** The settings home (`~/.fused`), or `null` when there is none. */
  readonly home: string | null;
  #values: OptionValues;
  #sources = new Map<OptionName, OptionSource>();
  #defaults: OptionValues;
  #env: (name: string) => string | undefined;

  static {
    for (const name of OPTION_NAMES) {
      Object.defineProperty(this.prototype, name, {
        enumerable: true,
        get(this: FusedOptions): unknown {
          return this.#values[name];
        },
        set(this: FusedOptions, value: unknown): void {
          this.#assign(name, value);
        },
      });
    }
    for (const name of Object.keys(UNSUPPORTED_OPTIONS)) {
      Object.defineProperty(this.prototype, name, {
        get(): never {
          throw unsupportedOption(name);
        },
        set(): never {
          throw unsupportedOption(name);
        },
      });
    }
  }

  /** Creates options from the defaults, the settings file and the environment. */
  constructor(init: FusedOptionsInit = {}) {
    const given = init.env;
    this.#env = given ? (name) => given[name] : readEnv;
    this.home = init.home !== undefined ? init.home : defaultHome(this.#env);
    this.#defaults = defaultOptionValues(this.home, defaultTempDirectory());
    // Inside a UDF's process: its own folders, the only ones it may use.
    const inside = udfHost();
    if (inside) {
      this.#defaults.dataDirectory = inside.folders.dataDir;
      this.#defaults.cacheDirectory = inside.folders.cacheDir;
      this.#defaults.tempDirectory = inside.folders.tempDir;
    }
    this.#values = structuredClone(this.#defaults);
    this.#load();
    // Assigning an unknown name (a typo like `requestTimout`) throws instead of being ignored.
    Object.preventExtensions(this);
  }

  /** Path of the settings file, or `null` when there is no settings home. */
  get settingsPath(): string | null {
    return this.home === null ? null : join(this.home, "settings.toml");
  }

  /** Where the current value of an option came from. */
  sourceOf(name: OptionName): OptionSource {
    return this.#sources.get(name) ?? "default";
  }

  /** The default value of an option (before the settings file and the environment). */
  defaultOf<K extends OptionName>(name: K): OptionValues[K] {
    return this.#defaults[name];
  }

  /**
   * Sets several options at once; nothing changes if any value is invalid.
   *
   * @example
   * ```ts
   * import { FusedOptions } from "./options.ts";
   * const options = new FusedOptions({ home: null, env: {} });
   * options.update({ runTimeout: 300, maxWorkers: 4 });
   * ```
   */
  update(values: Partial<OptionValues>): void {
    const checked: [OptionName, unknown][] = [];
    for (const [name, value] of Object.entries(values)) {
      checked.push([this.#checkName(name), this.#check(name as OptionName, value)]);
    }
    for (const [name, value] of checked) this.#put(name, value, "set");
  }

  /** Drops every assignment made at run time: back to the settings file and the environment. */
  reset(): void {
    this.#values = structuredClone(this.#defaults);
    this.#sources.clear();
    this.#load();
  }

  /** A plain copy of every value. */
  toJSON(): OptionValues {
    return structuredClone(this.#values);
  }

  /**
   * Writes the options that differ from their defaults to `settings.toml` in the settings home,
   * atomically, keeping keys of that file this SDK does not know (the Python SDK's, for example).
   *
   * @example
   * ```ts ignore
   * import { options } from "./options.ts";
   * options.requestTimeout = 60;
   * await options.save(); // ~/.fused/settings.toml now holds request_timeout = 60
   * ```
   */
  async save(): Promise<string> {
    const path = this.settingsPath;
    if (path === null || this.home === null) {
      throw new ValidationError(
        "Cannot save options: there is no settings home; set FUSED_HOME or HOME",
      );
    }
    const kept: Record<string, unknown> = {};
    const known = new Set(Object.values(FUSED_NAMES));
    for (const [key, value] of Object.entries(await readSettingsFile(path))) {
      if (!known.has(key)) kept[key] = value;
    }
    for (const name of OPTION_NAMES) {
      const value = this.#values[name];
      if (value !== null && !sameValue(value, this.#defaults[name])) {
        kept[FUSED_NAMES[name]] = value;
      }
    }
    await Deno.mkdir(this.home, { recursive: true });
    const temp = `${path}.${crypto.randomUUID()}.tmp`;
    try {
      await Deno.writeTextFile(temp, stringifyToml(kept) + "\n");
      await Deno.rename(temp, path);
    } catch (error) {
      await Deno.remove(temp).catch(() => {});
      throw error;
    }
    return path;
  }

  /** A readable listing: one option per line, with where non-default values came from. */
  [Symbol.for("Deno.customInspect")](inspect: (value: unknown) => string): string {
    const lines = OPTION_NAMES.map((name) => {
      const source = this.sourceOf(name);
      const from = source === "default"
        ? ""
        : source === "env"
        ? `  (env FUSED_${FUSED_NAMES[name].toUpperCase()})`
        : source === "settings"
        ? `  (${this.settingsPath})`
        : "  (set)";
      return `  ${name}: ${inspect(this.#values[name])}${from}`;
    });
    return `FusedOptions {\n${lines.join("\n")}\n}`;
  }

  #checkName(name: string): OptionName {
    if ((OPTION_NAMES as readonly string[]).includes(name)) return name as OptionName;
    if (name in UNSUPPORTED_OPTIONS) throw unsupportedOption(name);
    throw new ValidationError(
      `Unknown option "${name}": use one of ${OPTION_NAMES.join(", ")}`,
    );
  }

  #check(name: OptionName, value: unknown): unknown {
    const result = validate(name, value);
    if (result.ok) return result.value;
    throw new ValidationError(
      `Cannot set fused.options.${name} to ${
        JSON.stringify(value) ?? String(value)
      }: ${result.reason}`,
    );
  }

  #assign(name: OptionName, value: unknown): void {
    this.#put(name, this.#check(name, value), "set");
  }

  #put(name: OptionName, value: unknown, source: OptionSource): void {
    (this.#values as Record<OptionName, unknown>)[name] = value;
    this.#sources.set(name, source);
  }

  #load(): void {
    const path = this.settingsPath;
    if (path !== null && mayRead(path)) {
      let text: string | undefined;
      try {
        text = Deno.readTextFileSync(path);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
      if (text !== undefined) this.#loadSettings(path, text);
    }
    for (const name of OPTION_NAMES) {
      const text = this.#env(`FUSED_${FUSED_NAMES[name].toUpperCase()}`);
      if (text !== undefined) this.#put(name, parseEnvValue(name, text), "env");
    }
  }

  #loadSettings(path: string, text: string): void {
    let table: Record<string, unknown>;
    try {
      table = parseToml(text);
    } catch (error) {
      throw new ValidationError(
        `Cannot read ${path}: it is not valid TOML (${
          (error as Error).message.split("\n")[0]
        }); fix or delete the file`,
      );
    }
    for (const name of OPTION_NAMES) {
      const key = FUSED_NAMES[name];
      if (!(key in table)) continue;
      const result = validate(name, table[key]);
      if (!result.ok) {
        throw new ValidationError(
          `Cannot use ${key} in ${path}: ${result.reason}; fix or delete that line`,
        );
      }
      this.#put(name, result.value, "settings");
    }
  }
}

async function readSettingsFile(path: string): Promise<Record<string, unknown>> {
  try {
    return parseToml(await Deno.readTextFile(path));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return {};
    throw new ValidationError(
      `Cannot update ${path}: ${(error as Error).message.split("\n")[0]}; fix or delete the file`,
    );
  }
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The options of this process: `fused.options`.
 *
 * @example
 * ```ts
 * import { options } from "./options.ts";
 * options.verboseCachedFunctions = false;
 * options.reset();
 * ```
 */
export const options: FusedOptions = new FusedOptions();
