/**
 * The `fused` command line: `serve`, `run`, `ingest`, `kernel install|uninstall`, and `demo` (the
 * main job: the main notebook executed in the Fused kernel, as an HTML page).
 *
 * ```sh
 * deno task fused run examples/countries.ts prefix=Ger --format csv
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { join, resolve } from "node:path";
import * as fused from "./mod.ts";
import { encodeResult, type ResultFormat } from "./client/formats/result.ts";
import { notebookHtmlArgs } from "./display/notebook_html.ts";

const HELP = `fused: the Fused UDF platform on Deno

Usage:
  fused demo [--out DIR] [--serve]   the main job: notebooks/main.ipynb executed in the Fused
                                     kernel, written as DIR/main.html (default ~/.fused/demo);
                                     --serve keeps its service up for the page's live tiles
  fused publish NOTEBOOK --service URL [--name N] [--token T]
                                     run NOTEBOOK in the Fused kernel against that lasting service
                                     (even where it does %fused serve) and store the executed page
                                     there; prints the address anyone opens without a token.
                                     Again with the same --name updates it; --list lists yours
  fused unpublish NAME --service URL [--token T]
                                     remove the page NAME and its tile layers' share tokens
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
      --database URL --storage URL   shared PostgreSQL and store: N services, one platform
  fused worker --database URL ...    takes batch jobs from the shared queue (see fused worker --help)
  fused admin user|token ...         users and API tokens (expiring, revocable) straight in the
                                     registry, e.g. of a scale-out (see fused admin --help)
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

/** A code cell of an executed notebook, as nbconvert writes it. */
interface NotebookCell {
  cell_type: string;
  id?: string;
  source: string | string[];
  outputs?: {
    output_type: string;
    name?: string;
    text?: string | string[];
    data?: Record<string, unknown>;
    ename?: string;
    evalue?: string;
  }[];
}

function joined(text: unknown): string {
  return Array.isArray(text) ? text.join("") : String(text ?? "");
}

/** One line per code cell: its first source line and what it showed. */
function summarize(cells: NotebookCell[]): string[] {
  return cells.filter((c) => c.cell_type === "code").map((cell, i) => {
    const first = joined(cell.source).split("\n")[0];
    const outputs = cell.outputs ?? [];
    const rich = outputs.filter((o) => o.data !== undefined || o.output_type === "error");
    // A cell that only printed shows its first line; a table its size, others their summary.
    const shown = (rich.length ? rich : outputs.slice(0, 1)).map((o) => {
      if (o.output_type === "error") return `error ${o.ename}: ${o.evalue}`;
      const lines = joined(o.data?.["text/plain"] ?? o.text).trim()
        .split("\n");
      const text = /^\[.* rows? × .*\]$/.test(lines.at(-1)!) ? `table ${lines.at(-1)}` : lines[0];
      return text.length > 70 ? `${text.slice(0, 69)}…` : text;
    });
    return `  [${i + 1}] ${first.padEnd(44).slice(0, 44)}  ${shown.join("; ") || "-"}`;
  });
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** The file that marks DIR/work as made by `fused demo` (so a later run may replace it). */
const DEMO_MARK = ".fused-demo";

/**
 * The main job: notebooks/main.ipynb (magics, a UDF's table, a chart, a map, a live tile layer)
 * executed in the Fused kernel by nbconvert and written as one HTML page, with a summary.
 */
async function demo(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { out: { type: "string" }, serve: { type: "boolean", default: false } },
  });
  const root = fileURLToPath(new URL(".", import.meta.url));
  const notebook = join(root, "notebooks", "main.ipynb");
  const home = Deno.env.get("FUSED_HOME") ?? join(Deno.env.get("HOME") ?? ".", ".fused");
  const outDir = resolve(values.out ?? join(home, "demo"));
  // The notebook's service, settings, cache and temp files live in DIR/work, fresh each time (the
  // page's tile layer uses the token made by this run). Only a folder the demo made (it holds
  // DEMO_MARK) is removed: never a folder of the user's.
  const workDir = join(outDir, "work");
  const entries = await Array.fromAsync(Deno.readDir(workDir)).catch(() => []);
  if (entries.length > 0 && !entries.some((e) => e.name === DEMO_MARK)) {
    throw new fused.ValidationError(
      `Cannot use ${outDir} for the demo: its "work" folder was not made by fused demo; give another --out DIR`,
    );
  }
  await Deno.remove(workDir, { recursive: true }).catch(() => {});
  const serviceDir = join(workDir, "service");
  for (const sub of ["service", "home", "tmp"]) {
    await Deno.mkdir(join(workDir, sub), { recursive: true });
  }
  await Deno.writeTextFile(
    join(workDir, DEMO_MARK),
    "made by fused demo; removed by the next run\n",
  );
  // The demo runs this checkout's kernel from a kernelspec of its own.
  const { kernelEnv, runJupyter: jupyter } = await import("./kernel/nbconvert.ts");
  const port = freePort();
  const env = {
    ...await kernelEnv(join(workDir, "kernel")),
    FUSED_DEMO_SERVER_DIR: serviceDir,
    FUSED_DEMO_PORT: String(port),
    // The notebook's login, cache and temp files stay in the demo's folder, not in ~/.fused.
    FUSED_HOME: join(workDir, "home"),
    TMPDIR: join(workDir, "tmp"),
  };
  console.log(`Executing ${notebook} in the kernel "Deno (Fused)" (jupyter nbconvert)...`);
  const t0 = performance.now();
  await jupyter([
    "nbconvert",
    "--to",
    "notebook",
    "--execute",
    "--ExecutePreprocessor.timeout=300",
    "--output-dir",
    outDir,
    "--output",
    "main",
    notebook,
  ], { cwd: join(root, "notebooks"), env });
  const executeSeconds = (performance.now() - t0) / 1000;
  const executed = join(outDir, "main.ipynb");
  await jupyter(["nbconvert", ...notebookHtmlArgs(executed, { outDir, output: "main" })], {
    cwd: outDir,
    env,
  });
  const html = join(outDir, "main.html");
  const cells = JSON.parse(await Deno.readTextFile(executed)).cells as NotebookCell[];
  console.log(`\nThe notebook ran in ${executeSeconds.toFixed(1)} s; each code cell showed:`);
  for (const line of summarize(cells)) console.log(line);
  const serviceUrl = `http://127.0.0.1:${port}`;
  console.log(
    values.serve
      ? `\nThe live tile layer loads its tiles from ${serviceUrl}, served again below until Ctrl-C.`
      : `
The live tile layer loads its tiles from the service the notebook started at ${serviceUrl};
it stopped with the kernel. To see the tiles in the page, serve them again:
  ./fused serve --port ${port} --data-dir ${serviceDir}
(or run ./fused demo --serve, which keeps the service running after the demo).`,
  );
  console.log(`
Open the notebook in Jupyter:
  jupyter notebook ${notebook}

The executed notebook as one self-contained HTML page:
${html}`);
  if (!values.serve) return 0;
  const { startServer } = await import("./server/mod.ts");
  const server = await startServer({ port, dataDir: serviceDir, quiet: true });
  console.log(`\nServing the tiles at ${server.url} until Ctrl-C`);
  await new Promise<void>((resolveStop) => {
    const stop = () => resolveStop();
    Deno.addSignalListener("SIGINT", stop);
    Deno.addSignalListener("SIGTERM", stop);
  });
  await server.close();
  return 0;
}

/** The options `publish` and `unpublish` share: the service and a token of it. */
const SERVICE_OPTIONS = {
  service: { type: "string" },
  token: { type: "string" },
} as const;

function requireService(service: string | undefined, command: string): string {
  if (!service) {
    throw new fused.ValidationError(
      `fused ${command} needs --service URL: the lasting service the page lives on (e.g. http://127.0.0.1:8783, started with fused serve)`,
    );
  }
  return service;
}

async function publishCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { ...SERVICE_OPTIONS, name: { type: "string" }, list: { type: "boolean" } },
  });
  const service = requireService(values.service, "publish");
  const { publishNotebook, serviceRoot } = await import("./kernel/publish.ts");
  if (values.list) {
    const root = serviceRoot(service);
    const transport = new fused.api.Transport({ baseUrl: `${root}/v1`, token: values.token });
    const pages = await fused.api.listPages({ transport });
    if (pages.length === 0) console.log(`No published pages on ${root}`);
    for (const page of pages) {
      console.log(`${page.name}  ${page.published_at}  ${page.notebook}  ${page.url}`);
    }
    return 0;
  }
  if (positionals.length !== 1) {
    throw new fused.ValidationError(
      "fused publish needs one notebook: fused publish NOTEBOOK.ipynb --service URL",
    );
  }
  await publishNotebook(positionals[0], { service, name: values.name, token: values.token });
  return 0;
}

async function unpublishCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: SERVICE_OPTIONS,
  });
  const service = requireService(values.service, "unpublish");
  if (positionals.length !== 1) {
    throw new fused.ValidationError(
      "fused unpublish needs the page's name: fused unpublish NAME --service URL",
    );
  }
  const { serviceRoot } = await import("./kernel/publish.ts");
  const transport = new fused.api.Transport({
    baseUrl: `${serviceRoot(service)}/v1`,
    token: values.token,
  });
  const page = await fused.api.unpublishPage(positionals[0], { transport });
  console.log(
    `Unpublished ${page.url} and deleted its ${page.layers.length} share token${
      page.layers.length === 1 ? "" : "s"
    }`,
  );
  return 0;
}

/** Runs the command line; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  try {
    switch (command) {
      case "demo":
        return await demo(rest);
      case "run":
        return await runCommand(rest);
      case "publish":
        return await publishCommand(rest);
      case "unpublish":
        return await unpublishCommand(rest);
      case "ingest":
        return await ingestCommand(rest);
      case "worker":
        return await (await import("./server/worker.ts")).main(rest);
      case "admin":
        return await (await import("./server/admin.ts")).main(rest);
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
