/**
 * `fused publish`: runs a notebook in this checkout's Fused kernel against a lasting service
 * and stores the executed page there, where anyone opens it without a token.
 *
 * The kernel runs with that service as its UDF service (`FUSED_BASE_URL`, `FUSED_AUTH_TOKEN`)
 * and in publish mode (`FUSED_PUBLISH_SERVICE`, `FUSED_PUBLISH_RUN`): `%fused serve` then uses
 * that service instead of starting its own, and each share token a `%%fused --map/--share` cell
 * makes is marked with the run, so the page's layers are known and a failed run leaves none.
 *
 * @example
 * ```ts ignore
 * import { publishNotebook } from "./publish.ts";
 * const page = await publishNotebook("notebooks/main.ipynb", { service: "http://127.0.0.1:8783" });
 * console.log(page.url);
 * ```
 *
 * @module
 */
import { basename, dirname, join, resolve } from "node:path";
import { FusedError, ValidationError } from "../client/errors.ts";
import { udfNameProblem } from "../client/udf.ts";
import { type PublishedPage, publishPage } from "../client/api/pages.ts";
import { deleteUdfAccessToken, getUdfAccessTokens } from "../client/api/tokens.ts";
import { accessToken, whoami } from "../client/api/credentials.ts";
import { Transport } from "../client/api/transport.ts";
import { PUBLISH_RUN_KEY } from "../magics/runtime.ts";
import { JupyterError, kernelEnv, runJupyter } from "./nbconvert.ts";
import { notebookHtmlArgs } from "../display/notebook_html.ts";

/** Options of {@linkcode publishNotebook}. */
export interface PublishOptions {
  /** The lasting service's root URL (`http://host:8783`, or with `/v1`). */
  service: string;
  /** The page's name (default: the notebook's file name without `.ipynb`). */
  name?: string;
  /** An API token of that service (default `FUSED_AUTH_TOKEN`, else the stored login). */
  token?: string;
  /** Longest a cell may run, in seconds (default 600). */
  cellTimeout?: number;
  /** Where progress lines go (default `console.log`). */
  print?: (line: string) => void;
}

/** The service's root URL (no `/v1`, no trailing slash), checked. */
export function serviceRoot(service: string): string {
  let url: URL;
  try {
    url = new URL(service);
  } catch {
    throw new ValidationError(
      `--service "${service}" is not a URL: give the service's address, e.g. http://127.0.0.1:8783`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ValidationError(`--service "${service}" must be an http(s) URL`);
  }
  return `${url.origin}${url.pathname}`.replace(/\/+$/, "").replace(/\/v1$/, "");
}

/** The page name for a notebook: the given one, else its file name, checked. */
export function pageNameFor(notebook: string, name?: string): string {
  const chosen = name ?? basename(notebook).replace(/\.ipynb$/i, "");
  const problem = udfNameProblem(chosen);
  if (problem) {
    throw new ValidationError(
      `Cannot use "${chosen}" as the page name: ${problem}; choose one with --name`,
    );
  }
  return chosen;
}

/** A code cell of a notebook file. */
interface Cell {
  cell_type: string;
  source: string | string[];
  outputs?: unknown[];
}

function sourceOf(cell: Cell): string {
  return Array.isArray(cell.source) ? cell.source.join("") : cell.source;
}

/**
 * The failing cell named from nbconvert's report ("An error occurred while executing the
 * following cell: ---- SOURCE ---- ERROR"): its number among the code cells and the error.
 */
export function failedCell(stderr: string, cells: Cell[]): string {
  const match =
    /An error occurred while executing the following cell:\n-{10,}\n([^]*?)\n-{10,}\n([^]*)$/
      .exec(stderr);
  if (!match) return stderr.trim().split("\n").slice(-15).join("\n");
  const code = cells.filter((c) => c.cell_type === "code");
  const index = code.findIndex((c) => sourceOf(c).trim() === match[1].trim());
  const first = match[1].trim().split("\n")[0].slice(0, 70);
  // nbconvert follows the report with its own traceback lines; the kernel's error comes first.
  const error = match[2].trim().split("\n").filter((l) => l.trim() !== "").slice(0, 12).join(
    "\n",
  );
  return `${index >= 0 ? `Code cell ${index + 1}` : "A cell"} ("${first}") failed:\n${error}`;
}

/** Share tokens named by tile URLs in the notebook's outputs, by the service root they point at. */
export function tileTokens(text: string): Map<string, string[]> {
  const byOrigin = new Map<string, string[]>();
  const pattern = /(https?:\/\/[^\s"'<>\\]+?)\/(fsh_[0-9a-f]{16,128})\/run\/tiles\//g;
  for (const [, url, token] of text.matchAll(pattern)) {
    // Token routes live at the root and under /v1/realtime-shared (what the client writes).
    const root = url.replace(/\/v1\/realtime-shared$/, "");
    const list = byOrigin.get(root) ?? [];
    if (!list.includes(token)) list.push(token);
    byOrigin.set(root, list);
  }
  return byOrigin;
}

/**
 * Refuses a page that still loads something from the machine that exported it. The page is
 * written with our nbconvert template (display/notebook_html.ts), which loads no local script;
 * what is left would come from an output (an image or link to a local file).
 */
export function refuseLocalFiles(html: string): string {
  const left = /\b(?:src|href)\s*=\s*["'](file:[^"']*)/i.exec(html);
  if (left) {
    throw new FusedError(
      `The page still loads ${
        left[1]
      } from this machine: an output refers to a local file; embed it instead`,
    );
  }
  return html;
}

/** The share tokens this run made (marked with its id), newest last. */
async function tokensOfRun(run: string, transport: Transport): Promise<string[]> {
  const tokens = await getUdfAccessTokens({ transport, perRequest: 1000 });
  return tokens.filter((t) => t.metadata_json?.[PUBLISH_RUN_KEY] === run).map((t) => t.token);
}

async function deleteTokens(tokens: string[], transport: Transport): Promise<void> {
  for (const token of tokens) await deleteUdfAccessToken(token, { transport });
}

/**
 * Runs a notebook against a lasting service and publishes its page there: answers the page,
 * whose `url` anyone opens without a token. A cell that fails is reported and nothing is
 * published (the share tokens the run made are deleted).
 */
export async function publishNotebook(
  notebook: string,
  options: PublishOptions,
): Promise<PublishedPage> {
  const print = options.print ?? ((line: string) => console.log(line));
  const root = serviceRoot(options.service);
  const path = resolve(notebook);
  const name = pageNameFor(path, options.name);
  let cells: Cell[];
  try {
    cells = JSON.parse(await Deno.readTextFile(path)).cells;
  } catch (err) {
    throw new ValidationError(
      `Cannot read the notebook ${notebook}: ${(err as Error).message}; give an .ipynb file`,
    );
  }
  const token = options.token ?? await accessToken().catch(() => {
    throw new ValidationError(
      `No API token for ${root}: give --token, set FUSED_AUTH_TOKEN, or log in with fused.api.login({ token })`,
    );
  });
  const transport = new Transport({ baseUrl: `${root}/v1`, token });
  const user = await whoami({ transport });
  const run = crypto.randomUUID();
  const work = await Deno.makeTempDir({ prefix: "fused-publish-" });
  try {
    const env = {
      ...await kernelEnv(join(work, "kernel")),
      FUSED_BASE_URL: `${root}/v1`,
      FUSED_AUTH_TOKEN: token,
      FUSED_AUTH_TOKEN_TYPE: "Bearer",
      FUSED_PUBLISH_SERVICE: root,
      FUSED_PUBLISH_RUN: run,
    };
    print(`Executing ${path} in the kernel "Deno (Fused)" against ${root} as ${user.email}...`);
    const executed = join(work, "page.ipynb");
    try {
      await runJupyter([
        "nbconvert",
        "--to",
        "notebook",
        "--execute",
        `--ExecutePreprocessor.timeout=${options.cellTimeout ?? 600}`,
        "--output-dir",
        work,
        "--output",
        "page",
        path,
      ], { cwd: dirname(path), env });
    } catch (err) {
      await deleteTokens(await tokensOfRun(run, transport), transport);
      if (!(err instanceof JupyterError)) throw err;
      throw new FusedError(
        `Cannot publish ${basename(path)}: ${
          failedCell(err.stderr, cells)
        }\nNothing was published; fix the cell and publish again`,
      );
    }
    const made = await tokensOfRun(run, transport);
    const text = await Deno.readTextFile(executed);
    const shown = tileTokens(text);
    const elsewhere = [...shown.keys()].filter((origin) => origin !== root);
    if (elsewhere.length) {
      await deleteTokens(made, transport);
      throw new FusedError(
        `Cannot publish ${basename(path)}: its maps draw tiles from ${
          elsewhere.join(", ")
        }, not from ${root}; that service is not the one the page lives on (does the notebook log in elsewhere or set fused.options.baseUrl?). Nothing was published`,
      );
    }
    await runJupyter(
      ["nbconvert", ...notebookHtmlArgs(executed, { outDir: work, output: "page" })],
      {
        cwd: work,
        env,
      },
    );
    const html = refuseLocalFiles(await Deno.readTextFile(join(work, "page.html")));
    const layers = [...new Set([...made, ...(shown.get(root) ?? [])])];
    try {
      const page = await publishPage(name, html, {
        notebook: basename(path),
        layers,
        transport,
      });
      print(
        `Published ${basename(path)} as "${page.name}" (${layers.length} tile layer${
          layers.length === 1 ? "" : "s"
        }, ${
          (page.size_bytes / 1e6).toFixed(1)
        } MB); anyone can open it without a token:\n${page.url}`,
      );
      return page;
    } catch (err) {
      await deleteTokens(made, transport);
      throw err;
    }
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}
