/**
 * The `fused` command line: `serve`, `run`, `kernel install|uninstall`, and `demo` (the main
 * job: the whole path on the embedded default, start to finish).
 *
 * ```sh
 * deno task fused run examples/countries.ts prefix=Ger --format csv
 * ```
 *
 * @module
 */
import type * as arrow from "apache-arrow";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import * as fused from "./mod.ts";
import { encodeResult, type ResultFormat } from "./client/formats/result.ts";

const HELP = `fused: the Fused UDF platform on Deno

Usage:
  fused demo                         run the main job end to end on the embedded service
  fused run UDF [key=value ...]      run a UDF (file, folder, zip, GitHub URL, saved name)
      --engine local|remote          where it runs (default local)
      --format json|csv|parquet|...  how the result is written (default: json for values, csv for tables)
      --out FILE                     write the result to FILE instead of stdout
      --tile Z/X/Y                   a tile run
      --no-cache                     ignore and do not write the cache
  fused ingest INPUT... --output DIR partition geodata into chunked GeoParquet
      --method rows|area|length|coords  what each file/chunk holds at most (default rows)
      --target-chunks N              about how many chunks (default 500)
      --lonlat LON,LAT               point columns of CSV / Parquet input
      --overwrite                    replace an existing output
  fused serve [--port N] [...]       the UDF service (see fused serve --help)
  fused kernel install|uninstall     the Jupyter kernel "Deno (Fused)" (see fused kernel --help)
  fused help                         this help`;

function parseValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

async function runCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      engine: { type: "string", default: "local" },
      format: { type: "string" },
      out: { type: "string" },
      tile: { type: "string" },
      "no-cache": { type: "boolean", default: false },
    },
  });
  const [source, ...pairs] = positionals;
  if (!source) {
    throw new fused.ValidationError("fused run needs a UDF: a .ts file, a folder or a name");
  }
  const parameters: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) {
      throw new fused.ValidationError(`Cannot read parameter "${pair}": write key=value`);
    }
    parameters[pair.slice(0, eq)] = parseValue(pair.slice(eq + 1));
  }
  let tile: { x?: number; y?: number; z?: number } = {};
  if (values.tile) {
    const m = /^(\d+)\/(\d+)\/(\d+)$/.exec(values.tile);
    if (!m) {
      throw new fused.ValidationError(
        `Cannot read --tile "${values.tile}": write Z/X/Y, e.g. 10/301/384`,
      );
    }
    tile = { z: Number(m[1]), x: Number(m[2]), y: Number(m[3]) };
  }
  if (values.engine !== "local" && values.engine !== "remote") {
    throw new fused.ValidationError(`Unknown --engine "${values.engine}": use local or remote`);
  }
  if (values.engine === "remote") await fused.api.login({});
  const data = await fused.run(source, {
    engine: values.engine,
    parameters,
    ...tile,
    cache: values["no-cache"] ? false : undefined,
  });
  const format = (values.format ?? (fused.formats.isTable(data) ? "csv" : undefined)) as
    | ResultFormat
    | undefined;
  const encoded = await encodeResult(data, { format });
  if (values.out) await Deno.writeFile(values.out, encoded.bytes);
  else await Deno.stdout.write(encoded.bytes);
  return 0;
}

async function ingestCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      output: { type: "string" },
      method: { type: "string", default: "rows" },
      "target-chunks": { type: "string" },
      lonlat: { type: "string" },
      overwrite: { type: "boolean", default: false },
    },
  });
  if (positionals.length === 0) {
    throw new fused.ValidationError("fused ingest needs an input: a file, a folder or a URL");
  }
  if (!values.output) throw new fused.ValidationError("fused ingest needs --output DIR");
  const lonlat = values.lonlat?.split(",");
  if (lonlat && lonlat.length !== 2) {
    throw new fused.ValidationError(`Cannot read --lonlat "${values.lonlat}": write LON,LAT`);
  }
  const target = values["target-chunks"] === undefined
    ? undefined
    : Number(values["target-chunks"]);
  const result = await fused.ingest(positionals.length === 1 ? positionals[0] : positionals, {
    output: values.output,
    partitioningMethod: values.method as fused.PartitioningMethod,
    targetNumChunks: target,
    lonlatCols: lonlat ? [lonlat[0], lonlat[1]] : undefined,
    overwrite: values.overwrite,
  });
  console.log(
    `Wrote ${result.rows} rows into ${result.files} files and ${result.chunks} chunks at ${result.path} in ${
      (result.timings.totalMs / 1000).toFixed(1)
    } s`,
  );
  return 0;
}

/** The main job: the whole path of the data on the embedded default, with timings. */
async function demo(): Promise<number> {
  const home = await Deno.makeTempDir({ prefix: "fused_demo_" });
  const { startServer } = await import("./server/mod.ts");
  const server = await startServer({ dataDir: `${home}/server`, port: 0, quiet: true });
  fused.options.cacheDirectory = `${home}/cache`;
  // The demo's login must not replace the user's own ~/.fused/credentials.
  Deno.env.set("FUSED_HOME", `${home}/fused_home`);
  const step = async <T>(label: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const value = await fn();
    console.log(`\n## ${label} (${(performance.now() - t0).toFixed(0)} ms)`);
    return value;
  };
  try {
    const path = fileURLToPath(new URL("./examples/countries.ts", import.meta.url));
    const countries = await step("Load examples/countries.ts", () => fused.load(path));
    const table = await step(
      "Run it locally in a sandboxed Worker",
      () => fused.run(countries, { prefix: "Ger", verbose: false }),
    ) as arrow.Table;
    console.log(table.toArray().map((r) => r.toJSON()));
    const again = await step(
      "Run it again: served from the cache",
      () => fused.runDetailed(countries, { prefix: "Ger", verbose: false }),
    );
    console.log(`cached: ${again.cached}`);
    const many = await step(
      "Fan out over 5 prefixes with fused.submit",
      () => fused.submit(countries, ["A", "B", "C", "D", "E"], { engine: "local" }),
    ) as arrow.Table;
    console.log(
      `${many.numRows} rows, columns ${many.schema.fields.map((f) => f.name).join(", ")}`,
    );
    await step(
      `Log in to the embedded service at ${server.baseUrl}`,
      () => fused.api.login({ token: server.adminToken, baseUrl: server.baseUrl }),
    );
    await step("Save it to the service", () => countries.toFused({ overwrite: true }));
    const token = await step(
      "Share it: a token URL anyone can call",
      () => countries.createAccessToken(),
    );
    const csvUrl = `${server.url}/${token.token}.csv?prefix=Fr`;
    const csv = await step(`GET ${csvUrl}`, async () => await (await fetch(csvUrl)).text());
    console.log(csv.trim());
    const remote = await step(
      "Run it on the service (engine: remote)",
      () => fused.run(countries, { engine: "remote", prefix: "It" }),
    ) as arrow.Table;
    console.log(remote.toArray().map((r) => r.toJSON()));
    console.log(
      "\nDone; the demo's service and its data are removed now. `deno task serve` runs one for good.",
    );
    return 0;
  } finally {
    await server.close();
    await Deno.remove(home, { recursive: true });
  }
}

/** Runs the command line; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  try {
    switch (command) {
      case "demo":
        return await demo();
      case "run":
        return await runCommand(rest);
      case "ingest":
        return await ingestCommand(rest);
      case "serve":
        return await (await import("./server/main.ts")).main(rest);
      case "kernel": {
        if (rest[0] !== "install" && rest[0] !== "uninstall") {
          const usage = "Usage: fused kernel install|uninstall [--prefix DIR]";
          if (rest[0] === "--help" || rest[0] === "-h") {
            console.log(usage);
            return 0;
          }
          console.error(usage);
          return 2;
        }
        const flags = rest[0] === "uninstall" ? ["--uninstall", ...rest.slice(1)] : rest.slice(1);
        return await (await import("./kernel/install.ts")).main(flags);
      }
      case undefined:
      case "help":
      case "--help":
      case "-h":
        console.log(HELP);
        return 0;
      default:
        console.error(`Unknown command "${command}"\n\n${HELP}`);
        return 2;
    }
  } catch (err) {
    if (err instanceof fused.FusedError || err instanceof TypeError) {
      console.error(`fused ${command}: ${(err as Error).message}`);
      return 1;
    }
    throw err;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
