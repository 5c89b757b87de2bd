/**
 * The checks a host makes before it reads, fetches or writes anything for a UDF: the UDF is
 * untrusted, so a host call gets no more than its caller may have, and never the host's own
 * rights.
 *
 * - `file://`: only a file inside the caller's data folder, after symlinks: the file is opened,
 *   then its real path must lie inside the folder's real path and be the very file opened (so a
 *   symlink swapped in between the two does not count).
 * - `http(s)://`: only when the run allows network, only to the hosts its `allowNet` names, and
 *   only to public addresses unless the caller's policy allows others (the service's operator,
 *   `--allow-private-network`; this machine's own user, by naming the host in `allowNet`). Every
 *   redirect is checked again before it is followed. Names are resolved here and every address
 *   they resolve to must pass.
 * - Sizes: a file over the caller's `maxDownloadBytes` is refused (by its `Content-Length`, or
 *   when its bytes pass the cap) and nothing of it is kept.
 *
 * A refusal is a {@linkcode HostCallRefused}: it names the rule and how to allow what is
 * legitimate.
 *
 * Names are checked where they are connected: the request goes through `node:http(s)` with a
 * `lookup` that refuses unless every address the name resolves to is public, and the socket then
 * connects to exactly those addresses. (A check before Deno's `fetch` would resolve the name a
 * second time, which a DNS server answering a public, then a private address would get past.)
 *
 * @module
 */
import ipaddr from "ipaddr.js";
import dns from "node:dns";
import http from "node:http";
import https from "node:https";
import type { LookupFunction } from "node:net";
import { relative, sep } from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { byteCap } from "../client/byte_cap.ts";
import { FusedError, QuotaExceededError } from "../client/errors.ts";
import { type CallerContext, type CallerPolicy, LOCAL_POLICY } from "../client/engine_types.ts";

/** A host call the caller's rights do not cover. */
export class HostCallRefused extends FusedError {
  /** Creates a refusal: `rule` is what was broken, `fix` how to allow what is legitimate. */
  constructor(what: string, rule: string, fix: string) {
    super(`${what} was refused: ${rule}. ${fix}`);
    this.name = "HostCallRefused";
  }
}

/** What the run that makes a call may reach. */
export interface NetworkScope {
  /** The run's own network permission: false, true (any host) or `host[:port]` entries. */
  net: boolean | string[];
  /** What the operator allows the caller. */
  policy: CallerPolicy;
}

const MAX_REDIRECTS = 10;

/** Whether `path` is `root` or lies under it (both absolute, compared as written). */
export function isInside(root: string, path: string): boolean {
  const rest = relative(root, path);
  return rest === "" || (!rest.startsWith(`..${sep}`) && rest !== ".." && !rest.startsWith(sep));
}

/**
 * Opens a `file://` URL for reading when its file lies inside `dataDir` (after every symlink).
 *
 * @example
 * ```ts ignore
 * const file = await openInside("/home/me/fused", new URL("file:///home/me/fused/a.csv"));
 * ```
 */
export async function openInside(dataDir: string, url: URL): Promise<Deno.FsFile> {
  const what = `Reading ${url.href}`;
  const fix =
    `A UDF reads files of its caller's data folder (${dataDir}, fused.filePath()); put the file there, or download it by http(s)`;
  let path: string;
  try {
    path = fileURLToPath(url);
  } catch {
    throw new HostCallRefused(what, "it is not a local file path", fix);
  }
  const root = await Deno.realPath(dataDir);
  const outside = () =>
    new HostCallRefused(
      what,
      "the file is outside the caller's data folder (symlinks are followed first)",
      fix,
    );
  let real: string;
  try {
    real = await Deno.realPath(path);
  } catch (error) {
    // Say nothing of what lies outside: a missing file there looks like any file there.
    if (!isInside(root, path) && !isInside(dataDir, path)) throw outside();
    if (error instanceof Deno.errors.NotFound) {
      throw new FusedError(`Cannot download ${url.href}: there is no file at ${path}`);
    }
    throw error;
  }
  if (!isInside(root, real)) throw outside();
  // Checked before it is opened: opening a FIFO would block.
  const named = await Deno.stat(real);
  if (!named.isFile) throw new HostCallRefused(what, "it is not a regular file", fix);
  const file = await Deno.open(real, { read: true });
  try {
    const opened = await file.stat();
    if (named.dev !== opened.dev || named.ino !== opened.ino) {
      throw new HostCallRefused(what, "the path changed while it was checked", fix);
    }
    return file;
  } catch (error) {
    file.close();
    throw error;
  }
}

/** Whether `address` (an IP literal) is a public unicast address. */
function isPublic(address: string): boolean {
  try {
    return ipaddr.process(address).range() === "unicast";
  } catch {
    return false;
  }
}

/** `host[:port]` entries of an `allowNet` list that cover `url`. */
function listed(net: string[], url: URL): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  return net.some((entry) => {
    const match = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(entry.trim().toLowerCase());
    if (!match) return false;
    return match[1].replace(/^\[|\]$/g, "") === host && (!match[2] || match[2] === port);
  });
}

function refusePrivate(url: URL, scope: NetworkScope, address: string): HostCallRefused {
  const hostPort = url.port ? `${url.hostname}:${url.port}` : url.hostname;
  return new HostCallRefused(
    `Fetching ${url.href}`,
    `${url.hostname} is not a public address (${address}: loopback, link-local, private or reserved), which UDFs do not reach through their host`,
    scope.policy.privateNetwork === "listed"
      ? `Name the host in the run's allowNet list: allowNet: ["${hostPort}"]`
      : "The service's operator may allow it: fused serve --allow-private-network",
  );
}

/**
 * Throws unless the run may fetch `url` through its host: http(s) only, network allowed, a host
 * it names (when it names hosts), an address literal the caller may reach. Answers whether the
 * name's addresses must still be checked when they are connected ("public") or not ("any").
 */
export function checkFetch(url: URL, scope: NetworkScope): "any" | "public" {
  const what = `Fetching ${url.href}`;
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new HostCallRefused(
      what,
      `${url.protocol}// is not fetched for a UDF`,
      "Use an http(s):// URL",
    );
  }
  const hostPort = url.port ? `${url.hostname}:${url.port}` : url.hostname;
  if (scope.net === false) {
    throw new HostCallRefused(
      what,
      "the run does not allow network",
      `Run the UDF with allowNet: ["${hostPort}"] (or true for any public host)`,
    );
  }
  const named = Array.isArray(scope.net) && listed(scope.net, url);
  if (Array.isArray(scope.net) && !named) {
    throw new HostCallRefused(
      what,
      `${hostPort} is not in the run's allowNet list (${scope.net.join(", ") || "empty"})`,
      `Add "${hostPort}" to allowNet`,
    );
  }
  if (
    scope.policy.privateNetwork === "always" || (scope.policy.privateNetwork === "listed" && named)
  ) {
    return "any";
  }
  const bare = url.hostname.replace(/^\[|\]$/g, "");
  if (bare === "localhost" || bare.endsWith(".localhost")) throw refusePrivate(url, scope, bare);
  if (ipaddr.isValid(bare) && !isPublic(bare)) throw refusePrivate(url, scope, bare);
  return "public";
}

/** A `lookup` for node:net that answers only when every address of the name is public. */
function publicLookup(url: URL, scope: NetworkScope): LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { all: true, family: options.family ?? 0 }, (error, addresses) => {
      if (error) return callback(error, "", 0);
      const hidden = addresses.find((a) => !isPublic(a.address));
      if (hidden) return callback(refusePrivate(url, scope, hidden.address), "", 0);
      if (options.all) {
        return (callback as (e: null, a: dns.LookupAddress[]) => void)(null, addresses);
      }
      callback(null, addresses[0].address, addresses[0].family);
    });
  };
}

/** One GET through node:http(s), as a web Response; redirects are not followed. */
function request(
  url: URL,
  lookup: LookupFunction | undefined,
  init: { signal?: AbortSignal; headers?: HeadersInit },
): Promise<Response> {
  const client = url.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(url, {
      method: "GET",
      headers: Object.fromEntries(new Headers(init.headers)),
      lookup,
      signal: init.signal,
    }, (res) => {
      const headers = new Headers();
      for (const [name, value] of Object.entries(res.headers)) {
        for (const one of Array.isArray(value) ? value : value === undefined ? [] : [value]) {
          headers.append(name, one);
        }
      }
      const status = res.statusCode ?? 502;
      const empty = status === 204 || status === 205 || status === 304;
      if (empty) res.resume();
      resolve(
        new Response(empty ? null : Readable.toWeb(res) as ReadableStream<Uint8Array>, {
          status,
          statusText: res.statusMessage,
          headers,
        }),
      );
    });
    req.on("error", reject);
    req.end();
  });
}

/**
 * Fetches `url` for a run, checking it and every redirect before the request is made.
 *
 * @example
 * ```ts ignore
 * const response = await fetchChecked(new URL("https://example.com/a.tif"), scope, {});
 * ```
 */
export async function fetchChecked(
  url: URL,
  scope: NetworkScope,
  init: { signal?: AbortSignal; headers?: HeadersInit },
): Promise<Response> {
  let current = url;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const reach = checkFetch(current, scope);
    let response: Response;
    try {
      response = await request(
        current,
        reach === "public" ? publicLookup(current, scope) : undefined,
        init,
      );
    } catch (error) {
      if (init.signal?.aborted || error instanceof HostCallRefused) throw error;
      throw new FusedError(`Cannot download ${current.href}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    const location = response.headers.get("location");
    if (response.status < 300 || response.status >= 400 || location === null) return response;
    await response.body?.cancel();
    current = new URL(location, current);
  }
  throw new FusedError(
    `Cannot download ${url.href}: more than ${MAX_REDIRECTS} redirects; download the final URL`,
  );
}

/** The most bytes a host call writes for a run, and its refusal past them. */
export interface WriteCap {
  /** Most bytes. */
  bytes: number;
  /** The error of a file of `size` bytes (or more) over the cap. */
  refuse(size: number): Error;
}

/**
 * The cap of a download for `caller`: its policy's `maxDownloadBytes`, or what is left of its
 * disk quota when that is less (then the refusal names the quota and the usage).
 */
export async function downloadCap(caller: CallerContext, what: string): Promise<WriteCap> {
  const most = (caller.policy ?? LOCAL_POLICY).maxDownloadBytes;
  const quota = caller.quota;
  if (quota) {
    const usage = await quota.usage();
    const left = Math.max(0, quota.limitBytes - usage.store - usage.folders);
    if (left < most) {
      return {
        bytes: left,
        refuse: (size) => new QuotaExceededError(what, quota.limitBytes, usage, size),
      };
    }
  }
  return { bytes: most, refuse: () => tooLarge(what, most) };
}

/**
 * Writes `body` to a new file at `path`, refusing it (and removing what was written) once it is
 * over the cap.
 */
export async function writeCapped(
  body: ReadableStream<Uint8Array>,
  path: string,
  limit: WriteCap,
): Promise<void> {
  const cap = byteCap(limit.bytes, limit.refuse);
  const file = await Deno.open(path, { write: true, createNew: true });
  try {
    await body.pipeThrough(cap).pipeTo(file.writable);
  } catch (error) {
    await Deno.remove(path).catch(() => {});
    throw error;
  }
}

/** The refusal of a file over the caller's cap. */
export function tooLarge(what: string, maxBytes: number): HostCallRefused {
  return new HostCallRefused(
    what,
    `the file is larger than ${maxBytes} bytes, the most a UDF downloads here`,
    "Read it in ranges from a signed URL, or ask the operator for a higher cap",
  );
}
