/**
 * Declarations of magics: one {@linkcode MagicDeclaration} per magic names its subcommands,
 * positional arguments and flags once, and everything else derives from it: parsing
 * (`args.ts`), `%fused?` help (`help.ts`), completion (`complete.ts`) and the error for a bad
 * flag. Handlers never mention a flag's type, alias or help again.
 *
 * @example
 * ```ts
 * import { FUSED_LINE, findCommand } from "./spec.ts";
 * const run = findCommand(FUSED_LINE, "run");
 * console.log(run?.flags?.map((f) => f.name)); // ["engine", "tile", "out", ...]
 * ```
 *
 * @module
 */

/**
 * How a flag's or argument's text becomes a value:
 * - `boolean`: a switch that takes no value;
 * - `string`, `number`, `integer`: one value;
 * - `tile`: `Z/X/Y` → `{ z, x, y }`;
 * - `age`: a cache age (`"48h"`, `"90d"`, seconds) → seconds;
 * - `params`: any number of `key=value` words → a record, values parsed as JSON when they are JSON;
 * - `value`: one value kept as is (a `{expr}` stays the JavaScript value it evaluated to);
 * - a list of strings: one of these words.
 */
export type ValueType =
  | "boolean"
  | "string"
  | "number"
  | "integer"
  | "tile"
  | "age"
  | "params"
  | "value"
  | readonly string[];

/** A `--flag`. */
export interface FlagSpec {
  /** Long name without dashes (`cache-max-age`); parsed flags are keyed by its camelCase. */
  name: string;
  /** One-letter alias (`o` for `-o`). */
  short?: string;
  /** How its value is read. */
  type: ValueType;
  /** Placeholder of the value in help (`VAR`); derived from the type unless given. */
  metavar?: string;
  /** One-line help. */
  help: string;
}

/** A positional argument. */
export interface ArgSpec {
  /** Placeholder in help and the key of the parsed value (`NAME` → `name`). */
  name: string;
  /** How its text is read (`params` takes all remaining `key=value` words). */
  type: Exclude<ValueType, "boolean">;
  /** One-line help. */
  help: string;
  /** Whether it may be left out. */
  optional?: boolean;
}

/** A command: a magic itself, or one of its subcommands. */
export interface CommandSpec {
  /** Name (`run`). */
  name: string;
  /** One line for listings. */
  summary: string;
  /** Paragraph(s) shown under the usage line; the summary is used when absent. */
  description?: string;
  /** Positional arguments, in order. */
  args?: readonly ArgSpec[];
  /** Flags. */
  flags?: readonly FlagSpec[];
  /** Examples shown at the end of the help. */
  examples?: readonly string[];
}

/** A magic: its kind, and either arguments and flags or subcommands. */
export interface MagicDeclaration extends CommandSpec {
  /** `line` for `%name args`, `cell` for `%%name args` + body. */
  kind: "line" | "cell";
  /** What the cell body is (cell magics), for help. */
  body?: string;
  /** Subcommands (`%fused run ...`); then the first word picks one. */
  subcommands?: readonly CommandSpec[];
}

/** The subcommand of a magic with this name, if any. */
export function findCommand(magic: MagicDeclaration, name: string): CommandSpec | undefined {
  return magic.subcommands?.find((c) => c.name === name);
}

const ENGINE: FlagSpec = {
  name: "engine",
  short: "e",
  type: ["local", "remote"],
  help: "Where to run: local (sandboxed processes here) or remote (the service); default " +
    "fused.options.defaultUdfRunEngine",
};
const TILE: FlagSpec = {
  name: "tile",
  short: "t",
  type: "tile",
  help: "Runs for one XYZ tile, so the UDF receives its bounds, tile or x, y, z (as it declares)",
};
const OUT: FlagSpec = {
  name: "out",
  short: "o",
  type: "string",
  metavar: "VAR",
  help: "Binds the result to this variable in the notebook",
};
const CACHE_MAX_AGE: FlagSpec = {
  name: "cache-max-age",
  type: "age",
  help: 'How long results stay cached ("48h", "90d", seconds; 0 never caches)',
};
const NO_CACHE: FlagSpec = {
  name: "no-cache",
  type: "boolean",
  help: "Runs without reading or writing the cache",
};
const TIME: FlagSpec = { name: "time", type: "boolean", help: "Prints how long the run took" };

/** `%%fused NAME [flags]`: defines a UDF from the cell body. */
export const FUSED_CELL: MagicDeclaration = {
  kind: "cell",
  name: "fused",
  summary:
    "Defines a UDF from the cell (TypeScript) and binds it to NAME; can run, save, share, map",
  description: "The rest of the cell is the TypeScript source of a UDF (export default " +
    "function udf({ ... }) { ... }). The cell defines a Udf named NAME and binds it to NAME in " +
    "the notebook, as fused-py's %%udf NAME does. A syntax error in the UDF fails the cell and " +
    "names its line in the cell. With --run (or --out or --tile) the UDF also runs and the " +
    "result is the cell's value.",
  body: "TypeScript source of the UDF",
  args: [{
    name: "NAME",
    type: "string",
    help: "Name of the UDF and of the variable it is bound to",
  }],
  flags: [
    {
      name: "run",
      short: "r",
      type: "params",
      help: "Runs the UDF after defining it, with these parameters (values are JSON when they " +
        "parse as JSON, else strings)",
    },
    ENGINE,
    CACHE_MAX_AGE,
    NO_CACHE,
    TILE,
    OUT,
    {
      name: "save",
      short: "s",
      type: "boolean",
      help: "Saves the UDF to the service (replacing a saved UDF of the same name)",
    },
    {
      name: "share",
      type: "boolean",
      help: "Saves the UDF and creates a share token, then prints its run and tile URLs",
    },
    {
      name: "map",
      short: "m",
      type: "boolean",
      help:
        "Shows the UDF on a map; a UDF taking bounds, tile or x, y, z becomes a live tile layer",
    },
    {
      name: "check",
      type: "boolean",
      help: "Type-checks the UDF first (deno check: about 1 s, 10 s when it imports fused): type " +
        "errors fail the cell at their lines, and the UDF is not bound",
    },
    TIME,
  ],
  examples: [
    "%%fused double --run n=21\nexport default function udf({ n = 1 }: { n?: number }) {\n  return n * 2;\n}",
    "%%fused roads --tile 12/654/1583 --out tile_roads",
  ],
};

/** `%%udf NAME [flags]`: fused-py's name of the cell magic, the same as `%%fused`. */
export const UDF_CELL: MagicDeclaration = {
  ...FUSED_CELL,
  name: "udf",
  summary: "Alias of %%fused (fused-py's %%udf NAME): defines a UDF from the cell",
  examples: FUSED_CELL.examples?.map((e) => e.replace(/^%%fused /, "%%udf ")),
};

/** `%fused SUBCOMMAND ...`: runs, loads and manages UDFs, files, jobs and the service. */
export const FUSED_LINE: MagicDeclaration = {
  kind: "line",
  name: "fused",
  summary: "Runs and loads UDFs, manages fd:// files, jobs, the embedded service and options",
  description: "The first word picks a subcommand; %fused SUBCOMMAND? shows its flags. " +
    "{expr} in the line is evaluated in the notebook (write {{ for a literal brace).",
  subcommands: [
    {
      name: "run",
      summary: "Runs a UDF (a notebook variable, a path, a URL or a saved name)",
      args: [
        {
          name: "NAME_OR_PATH",
          type: "value",
          help: "A Udf variable, a .ts file or folder, a URL, or a saved UDF name or token",
        },
        { name: "PARAMS", type: "params", optional: true, help: "UDF parameters as key=value" },
      ],
      flags: [ENGINE, TILE, OUT, CACHE_MAX_AGE, NO_CACHE, TIME],
      examples: ["%fused run double n=3 --out six", "%fused run ./udfs/roads --tile 12/654/1583"],
    },
    {
      name: "load",
      summary: "Loads a UDF and shows it (or binds it with --as)",
      args: [{
        name: "SOURCE",
        type: "string",
        help: "A .ts file, UDF folder, zip, URL, GitHub URL, or saved UDF name or token",
      }],
      flags: [{
        name: "as",
        short: "a",
        type: "string",
        metavar: "VAR",
        help: "Binds the loaded Udf to this variable",
      }],
    },
    {
      name: "ls",
      summary: "Lists an fd:// folder on the service",
      args: [{ name: "PATH", type: "string", optional: true, help: "Folder (default fd://)" }],
    },
    {
      name: "cp",
      summary: "Copies a file to or from the service (local path ↔ fd://)",
      args: [
        { name: "SRC", type: "string", help: "Source: a local path or fd:// path" },
        { name: "DST", type: "string", help: "Destination: a local path or fd:// path" },
      ],
    },
    {
      name: "rm",
      summary: "Deletes an fd:// file or folder",
      args: [{ name: "PATH", type: "string", help: "The fd:// path" }],
      flags: [{
        name: "max-depth",
        type: "integer",
        metavar: "N",
        help: "Deepest folder tree deleted (default 3), a guard against deleting too much",
      }],
    },
    {
      name: "sign",
      summary: "Prints a signed URL that reads an fd:// file without a token",
      args: [{ name: "PATH", type: "string", help: "The fd:// path" }],
      flags: [{
        name: "expiration",
        type: "integer",
        metavar: "S",
        help: "Lifetime of the URL in seconds (service default one hour)",
      }],
    },
    {
      name: "ingest",
      summary: "Partitions geodata into a chunked GeoParquet table (Fused's layout)",
      args: [{ name: "INPUT", type: "string", help: "A file, folder, URL or fd:// path" }],
      flags: [
        {
          name: "output",
          type: "string",
          metavar: "DIR",
          help: "Where the table is written (a folder or fd:// path); required",
        },
        {
          name: "method",
          type: ["rows", "area", "length", "coords"],
          help: "What each file and chunk holds at most (default rows)",
        },
        {
          name: "target-chunks",
          type: "integer",
          metavar: "N",
          help: "About how many chunks to make (default 500)",
        },
        {
          name: "lonlat",
          type: "string",
          metavar: "LON,LAT",
          help: "Point columns of CSV or Parquet input",
        },
        { name: "overwrite", type: "boolean", help: "Replaces an existing output" },
        OUT,
      ],
    },
    { name: "jobs", summary: "Lists the batch jobs on the service" },
    {
      name: "logs",
      summary: "Prints a job's logs",
      args: [{ name: "JOB_ID", type: "string", help: "The job's id" }],
      flags: [{
        name: "follow",
        short: "f",
        type: "boolean",
        help: "Keeps printing new logs until the job stops",
      }],
    },
    {
      name: "cancel",
      summary: "Cancels a batch job",
      args: [{ name: "JOB_ID", type: "string", help: "The job's id" }],
    },
    {
      name: "serve",
      summary: "Starts the embedded service in the kernel (or shows the running one)",
      flags: [
        {
          name: "port",
          short: "p",
          type: "integer",
          metavar: "N",
          help: "Port to listen on (0 picks a free one; default 8783)",
        },
        {
          name: "data-dir",
          type: "string",
          metavar: "DIR",
          help: "State folder (registry, files); default $FUSED_SERVER_DIR, else ~/.fused/server",
        },
        { name: "stop", type: "boolean", help: "Stops the embedded service" },
      ],
    },
    {
      name: "publish",
      summary:
        "Runs a notebook against a lasting service and publishes it there as a page anyone opens without a token",
      args: [{ name: "NOTEBOOK", type: "string", help: "The .ipynb file to run and publish" }],
      flags: [
        {
          name: "service",
          type: "string",
          metavar: "URL",
          help: "The lasting service (default: the one logged in to; not the embedded one)",
        },
        {
          name: "name",
          type: "string",
          metavar: "N",
          help: "The page's name (default: the notebook's); publishing again updates it",
        },
        {
          name: "token",
          type: "string",
          metavar: "T",
          help: "An API token of the service (default: FUSED_AUTH_TOKEN or the login)",
        },
      ],
      examples: ["%fused publish main.ipynb --service http://127.0.0.1:8783"],
    },
    {
      name: "login",
      summary: "Logs in to the service with an API token",
      flags: [{
        name: "token",
        type: "string",
        metavar: "T",
        help: "The API token (default: the embedded service's admin token)",
      }],
    },
    { name: "whoami", summary: "Shows the logged-in user" },
    {
      name: "options",
      summary: "Shows fused.options, or one option, or sets one",
      args: [
        { name: "KEY", type: "string", optional: true, help: "Option name (camelCase)" },
        { name: "VALUE", type: "value", optional: true, help: "New value (JSON when it parses)" },
      ],
      examples: ["%fused options", "%fused options runTimeout 60"],
    },
    {
      name: "help",
      summary: "Shows help for %fused or one subcommand",
      args: [{ name: "SUBCOMMAND", type: "string", optional: true, help: "A subcommand" }],
    },
  ],
};

/** `%%capture [flags] [VAR]`, as IPython's. */
export const CAPTURE_CELL: MagicDeclaration = {
  kind: "cell",
  name: "capture",
  summary: "Runs the cell and captures its stdout, stderr and displays instead of showing them",
  description: "With VAR, binds { stdout, stderr, outputs, value, show() } to VAR; " +
    "VAR.show() shows what was captured.",
  body: "TypeScript code",
  args: [{ name: "VAR", type: "string", optional: true, help: "Variable for the captured output" }],
  flags: [
    { name: "no-stdout", type: "boolean", help: "Lets stdout through instead of capturing it" },
    { name: "no-stderr", type: "boolean", help: "Lets stderr through instead of capturing it" },
    {
      name: "no-display",
      type: "boolean",
      help: "Lets displays through instead of capturing them",
    },
  ],
};

/** Every declaration this folder registers. */
export const DECLARATIONS: readonly MagicDeclaration[] = [
  FUSED_CELL,
  UDF_CELL,
  FUSED_LINE,
  CAPTURE_CELL,
];
