/**
 * `fused.load`: a UDF from a `.ts` file, a UDF folder, a zip, raw code or a GitHub URL. Saved
 * UDFs (`owner/name`, `team/name`, share tokens, ids) are loaded from the service by the API
 * client, which registers itself here.
 *
 * Inside a UDF (a sandboxed process without network or credentials) a saved UDF's reference and
 * an http(s) URL go to the UDF's host (the `load` host call), which loads it as the UDF's caller:
 * the notebook's SDK on this machine, the registry's sharing rules on the service, the job's
 * owner in a batch job; a URL is fetched with the run's network scope. Code and paths stay in
 * the UDF: it reads its own folders. So inside a UDF a bare `name` is always a saved UDF; a
 * folder is loaded by its path (`./name`).
 *
 * @module
 */
import { strFromU8, unzipSync } from "fflate";
import { basename, dirname, extname, join, resolve } from "node:path";
import { FusedError, ValidationError } from "./errors.ts";
import { Udf, udf } from "./udf.ts";
import { type UdfHost, udfHost } from "./host_channel.ts";
import { udfFromFiles } from "./udf_layout.ts";

/** Options of `load`. */
export interface LoadOptions {
  /**
   * Base of raw file URLs for GitHub URLs (default `https://raw.githubusercontent.com`); tests
   * serve a fixture repository from 127.0.0.1 through it.
   */
  rawBaseUrl?: string;
  /** Aborts network reads. */
  signal?: AbortSignal;
  /** Timeout of each network read in milliseconds (default 30000). */
  timeoutMs?: number;
  /**
   * Makes the network reads (default the global `fetch`): a UDF's host passes one that checks
   * each URL against the run's network scope.
   */
  fetch?: (url: string, init: { signal: AbortSignal }) => Promise<Response>;
}

/** Loads a UDF saved in a service (`owner/name`, `team/name`, token, id). */
export type RemoteUdfLoader = (ref: string, options: LoadOptions) => Promise<Udf>;

let remoteLoader: RemoteUdfLoader | undefined;

/** Lets the API client resolve saved UDFs; called once by the client module. */
export function setRemoteUdfLoader(loader: RemoteUdfLoader): void {
  remoteLoader = loader;
}

const GITHUB_TREE = /^https:\/\/github\.com\/([^/]+)\/([^/]+)\/(tree|blob)\/([^/]+)\/?(.*?)\/?$/;

async function statOrNull(path: string, savedRef: boolean): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.stat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    // A name that may not be read here is not a local file: it may still be a saved UDF.
    const denied = err instanceof Deno.errors.NotCapable ||
      err instanceof Deno.errors.PermissionDenied;
    if (denied && savedRef) return null;
    throw err;
  }
}

const URL_SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;
const PATH_LIKE = /^[./]|\.(ts|js|py|zip)$/;

/**
 * Whether `text` reads as a saved UDF's reference (`name`, `owner/name`, `team/name`, an id, a
 * share token: no spaces) rather than code, a URL or a path (`./x`, `/x`, `x.ts`, `x.zip`).
 *
 * @example
 * ```ts
 * import { isSavedReference } from "./load.ts";
 * console.log(isSavedReference("alice@example.com/roads")); // true
 * console.log(isSavedReference("./roads")); // false
 * ```
 */
export function isSavedReference(text: string): boolean {
  const ref = text.trim();
  return ref !== "" && !/\s/.test(ref) && !URL_SCHEME.test(ref) && !PATH_LIKE.test(ref) &&
    !isUdfCode(ref);
}

/** How code begins: an export or import, a function, a Python UDF's def or decorator. */
const CODE_START =
  /^\s*(?:(?:export|import)\b|(?:async\s+)?function\b|(?:const|let)\s|def\s+\w+\s*\(|@(?:fused\.)?udf\b)/;

/**
 * Whether `text` is UDF code, one line or more, rather than a path, a URL or a saved name:
 * `export default () => 1` must never be looked up as a name.
 *
 * @example
 * ```ts
 * import { isUdfCode } from "./load.ts";
 * console.log(isUdfCode("export default () => 1")); // true
 * console.log(isUdfCode("alice@example.com/roads")); // false
 * ```
 */
export function isUdfCode(text: string): boolean {
  return text.includes("\n") || CODE_START.test(text) ||
    (text.includes("=>") && !URL_SCHEME.test(text.trim()));
}

/**
 * Loads a saved UDF (`name`, `owner/name`, `team/name`, id, share token) through the API client:
 * from the service this process is logged in to, as its user. Never reads a local file.
 *
 * @example
 * ```ts ignore
 * import "./api/mod.ts"; // registers the API client
 * const roads = await loadSaved("alice@example.com/roads");
 * ```
 */
export async function loadSaved(ref: string, options: LoadOptions = {}): Promise<Udf> {
  if (!remoteLoader) {
    throw new FusedError(
      `Cannot load "${ref}": it is neither a local file nor code, and loading saved UDFs needs the API client (import "fused" or client/api)`,
    );
  }
  return await remoteLoader(ref, options);
}

/** Loads a saved UDF or a URL through the UDF's host, as the UDF's caller. */
async function loadThroughHost(host: UdfHost, ref: string): Promise<Udf> {
  const { value } = await host.call("load", [ref]);
  return Udf.fromJSON(value);
}

async function readTextOrUndefined(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}

function loadZipBytes(bytes: Uint8Array, where: string): Promise<Udf> {
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(bytes);
  } catch (err) {
    throw new ValidationError(`${where} is not a valid zip: ${(err as Error).message}`);
  }
  // Fused writes the files at the zip's root; zips made by hand often have one top folder.
  let prefix = "";
  if (!("meta.json" in entries)) {
    const nested = Object.keys(entries).filter((k) => /^[^/]+\/meta\.json$/.test(k));
    if (nested.length === 1) prefix = nested[0].slice(0, -"meta.json".length);
  }
  return udfFromFiles((name) => {
    const entry = entries[prefix + name];
    return Promise.resolve(entry ? strFromU8(entry) : undefined);
  }, where).then((json) => new Udf(json));
}

async function fetchText(url: string, options: LoadOptions): Promise<string | undefined> {
  const signals = [AbortSignal.timeout(options.timeoutMs ?? 30_000)];
  if (options.signal) signals.push(options.signal);
  const response = await (options.fetch ?? fetch)(url, { signal: AbortSignal.any(signals) });
  if (response.status === 404) {
    await response.body?.cancel();
    return undefined;
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new FusedError(`Cannot read ${url}: HTTP ${response.status} ${response.statusText}`);
  }
  return await response.text();
}

async function loadGitHub(url: string, options: LoadOptions): Promise<Udf> {
  const match = GITHUB_TREE.exec(url);
  if (!match) {
    throw new ValidationError(
      `Cannot read the GitHub URL ${url}: use https://github.com/OWNER/REPO/tree/REF/PATH to a UDF folder`,
    );
  }
  const [, owner, repo, given, ref, givenPath] = match;
  // A folder's meta.json stands for the folder, as in fused-py.
  const isMeta = basename(givenPath) === "meta.json";
  const kind = isMeta ? "tree" : given;
  const path = isMeta ? dirname(givenPath).replace(/^\.$/, "") : givenPath;
  const base = (options.rawBaseUrl ?? "https://raw.githubusercontent.com").replace(/\/$/, "");
  const root = [base, owner, repo, ref, path].filter(Boolean).join("/");
  if (kind === "blob") {
    const code = await fetchText(root, options);
    if (code === undefined) throw new FusedError(`No file at ${url}`);
    return udf(code, { name: basename(path).replace(/\.\w+$/, "") });
  }
  const json = await udfFromFiles(
    (name) => fetchText(`${root}/${name.split("/").map(encodeURIComponent).join("/")}`, options),
    url,
  );
  json.metadata = {
    ...json.metadata,
    "fused:gitUrl": url,
    "fused:gitRepo": `${owner}/${repo}`,
    "fused:gitRef": ref,
    "fused:gitPath": path,
  };
  return new Udf(json);
}

/**
 * Loads a UDF from a `.ts` (or `.py`) file, a UDF folder, a `.zip`, raw code, a GitHub URL, or
 * (through the API client; inside a UDF, through its host as its caller) a saved UDF name, token
 * or id.
 *
 * @example
 * ```ts
 * import { load } from "./load.ts";
 * const hello = await load('export default function udf({ n = 1 }) {\n  return n + 1;\n}');
 * console.log(hello.name); // "udf"
 * ```
 */
export async function load(source: string | URL, options: LoadOptions = {}): Promise<Udf> {
  const text = source instanceof URL ? source.href : source;
  if (typeof text !== "string" || text.trim() === "") {
    throw new ValidationError("fused.load needs a path, a URL, code or a saved UDF name");
  }
  if (isUdfCode(text)) return udf(text);
  const host = udfHost();
  const savedRef = isSavedReference(text);
  if (host && (savedRef || /^https?:\/\//i.test(text))) return await loadThroughHost(host, text);
  if (text.startsWith("https://github.com/")) return await loadGitHub(text, options);
  if (text.startsWith("file://")) return await load(new URL(text).pathname, options);
  if (/^https?:\/\//.test(text)) {
    const code = await fetchText(text, options);
    if (code === undefined) throw new FusedError(`No UDF at ${text} (HTTP 404)`);
    return udf(code, { name: basename(new URL(text).pathname).replace(/\.\w+$/, "") || "udf" });
  }
  // A folder's meta.json stands for the folder, as in fused-py.
  const path = basename(text) === "meta.json" ? dirname(resolve(text)) : resolve(text);
  const info = await statOrNull(path, savedRef);
  if (info?.isDirectory) {
    return new Udf(await udfFromFiles((name) => readTextOrUndefined(join(path, name)), path));
  }
  if (info?.isFile) {
    const ext = extname(path).toLowerCase();
    if (ext === ".zip") return await loadZipBytes(await Deno.readFile(path), path);
    if ([".ts", ".js", ".mts", ".tsx", ".py"].includes(ext)) {
      return udf(await Deno.readTextFile(path), { name: basename(path, extname(path)) });
    }
    throw new ValidationError(
      `Cannot load ${path}: expected a .ts, .js or .py file, a .zip, or a UDF folder`,
    );
  }
  if (!savedRef) throw new ValidationError(`No file or folder at ${path}`);
  return await loadSaved(text, options);
}
