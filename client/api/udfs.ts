/**
 * Saved UDFs: load by `owner/name`, `team/name`, id, share token or own name (fused-wire §3.4),
 * list (`getUdfs`), save (`toFused`), delete, and the Udf methods that talk to the service.
 *
 * @module
 */
import { z } from "zod";
import { FusedError, HttpError, ValidationError } from "../errors.ts";
import { objectFolder } from "../cache.ts";
import { Udf } from "../udf.ts";
import { whoami } from "./credentials.ts";
import { realtimeClientId } from "./instances.ts";
import {
  type SavedUdf,
  SavedUdfListSchema,
  SavedUdfSchema,
  type UdfAccessToken,
} from "./schemas.ts";
import { createUdfAccessToken, getUdfAccessTokens } from "./tokens.ts";
import { type ApiCallOptions, globalTransport, requireText, type Transport } from "./transport.ts";

/** Share tokens: 64 hex characters (legacy), `fsh_...` (per-UDF) or `UDF_...` (public UDF). */
export const TOKEN_PATTERN = /^([a-f0-9]{64}|fsh_\w+|UDF_[\w-]+)$/;

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether a string is a share token rather than a UDF name. */
export function isShareToken(value: string): boolean {
  return TOKEN_PATTERN.test(value);
}

/** The Udf of a registry record, with `fused:id` and `fused:slug` set from the record. */
export function udfFromSaved(record: SavedUdf): Udf {
  const udf = Udf.fromJSON(record.udf_body);
  udf.metadata = { ...(udf.metadata ?? {}), "fused:id": record.id, "fused:slug": record.slug };
  return udf;
}

function seg(value: string): string {
  return encodeURIComponent(value);
}

/** The registry route of a UDF reference (fused-wire §3.4, steps 4 and 5). */
async function routeOf(ref: string, opts: ApiCallOptions): Promise<string> {
  if (isShareToken(ref)) return `/udf/shared/by-token/${seg(ref)}`;
  const parts = ref.split("/");
  if (parts.length === 2 && parts[0] && parts[1]) {
    const [owner, name] = parts;
    if (owner.includes("@")) return `/udf/by-user-email/${seg(owner)}/by-slug/${seg(name)}`;
    if (owner === "team") return `/udf/exec-env/self/by-slug/${seg(name)}`;
    return `/udf/by-user-handle/${seg(owner)}/by-slug/${seg(name)}`;
  }
  if (parts.length !== 1) {
    throw new ValidationError(
      `Cannot read the UDF reference "${ref}": use NAME, OWNER/NAME, team/NAME, an id or a share token`,
    );
  }
  if (UUID_PATTERN.test(ref)) return `/udf/by-id/${seg(ref)}`;
  const me = await whoami(opts);
  return `/udf/by-user-email/${seg(me.email)}/by-slug/${seg(ref)}`;
}

/** The registry record of a UDF reference. */
export async function getSavedUdf(ref: string, opts: ApiCallOptions = {}): Promise<SavedUdf> {
  requireText(ref, "A UDF reference");
  const transport = opts.transport ?? globalTransport();
  const route = await routeOf(ref, opts);
  try {
    return await transport.json(SavedUdfSchema, route, { signal: opts.signal });
  } catch (err) {
    if (err instanceof HttpError && err.status === 404 && isShareToken(ref)) {
      throw new HttpError(
        404,
        err.url,
        `Cannot load the UDF of share token ${ref}: only its owner can read its code; run it with fused.run("${ref}") instead`,
        err.body,
      );
    }
    throw err;
  }
}

/**
 * Loads a saved UDF: `"name"` (yours), `"owner/name"` (e-mail or handle), `"team/name"`, an id, or
 * a share token you own. The Udf's metadata gets `fused:id` and `fused:slug`.
 */
export async function loadSavedUdf(ref: string, opts: ApiCallOptions = {}): Promise<Udf> {
  return udfFromSaved(await getSavedUdf(ref, opts));
}

/** Options of `getUdfs`. */
export interface GetUdfsOptions extends ApiCallOptions {
  /** Most UDFs to fetch; all by default. */
  n?: number;
  /** UDFs to skip first. */
  skip?: number;
  /** The key of the returned record: the UDF's name (default), id or slug. */
  by?: "name" | "id" | "slug";
  /** Whose UDFs: yours ("self", default), public ones, community (public) ones, or your team's. */
  whose?: "self" | "public" | "community" | "team";
}

const PAGE = 300;

/**
 * Fetches saved UDFs as a record keyed by name (or id, or slug), paging until the list ends.
 *
 * @example
 * ```ts ignore
 * import * as fused from "fused";
 * const mine = await fused.api.getUdfs();
 * console.log(Object.keys(mine));
 * ```
 */
export async function getUdfs(opts: GetUdfsOptions = {}): Promise<Record<string, Udf>> {
  const transport = opts.transport ?? globalTransport();
  const whose = opts.whose ?? "self";
  const route = {
    self: "/udf/self",
    public: "/udf/public",
    community: "/udf/public",
    team: "/udf/exec-env/self",
  }[
    whose
  ];
  if (!route) {
    throw new ValidationError(
      `Unknown whose "${whose}": use "self", "public", "community" or "team"`,
    );
  }
  const by = opts.by ?? "name";
  if (!["name", "id", "slug"].includes(by)) {
    throw new ValidationError(`Unknown by "${by}": use "name", "id" or "slug"`);
  }
  const out: Record<string, Udf> = {};
  let skip = opts.skip ?? 0;
  let count = 0;
  const wanted = opts.n ?? Infinity;
  while (count < wanted) {
    const limit = Math.min(PAGE, wanted - count);
    const page = await transport.json(SavedUdfListSchema, route, {
      query: { skip, limit },
      signal: opts.signal,
    });
    for (const record of page) {
      const udf = udfFromSaved(record);
      const key = by === "name" ? udf.name : by === "id" ? record.id : record.slug;
      out[key] = udf;
      count += 1;
    }
    if (page.length < limit) break;
    skip += page.length;
  }
  return out;
}

/** Options of `toFused`. */
export interface ToFusedOptions extends ApiCallOptions {
  /** Replace a saved UDF of the same name (default false: a clash is an error). */
  overwrite?: boolean;
  /** Fused `udf_type` (default "auto"). */
  udfType?: string;
  /** Anyone authenticated may read and run it. */
  allowPublicRead?: boolean;
  /** It appears in `getUdfs({ whose: "public" })`. */
  allowPublicList?: boolean;
}

function bodyOf(udf: Udf, opts: ToFusedOptions): Record<string, unknown> {
  const json = udf.toJSON();
  // fused:id and fused:slug describe where the UDF is saved; the service sets them, not the body.
  const metadata = { ...(json.metadata ?? {}) };
  delete metadata["fused:id"];
  delete metadata["fused:slug"];
  return {
    slug: udf.name,
    udf_body: JSON.stringify({ ...json, metadata: Object.keys(metadata).length ? metadata : null }),
    udf_type: opts.udfType ?? "auto",
    allow_public_read: opts.allowPublicRead ?? false,
    allow_public_list: opts.allowPublicList ?? false,
  };
}

function savedId(udf: Udf): string | undefined {
  const id = udf.metadata?.["fused:id"];
  return typeof id === "string" && id !== "" ? id : undefined;
}

/**
 * Saves a UDF on the service (`udf.toFused()`): updates it when it was loaded from (or saved to)
 * the service, else creates it; a name clash is an error unless `overwrite`. Sets `fused:id` and
 * `fused:slug` in the UDF's metadata and returns the saved record.
 */
export async function toFused(udf: Udf, opts: ToFusedOptions = {}): Promise<SavedUdf> {
  const transport = opts.transport ?? globalTransport();
  const body = bodyOf(udf, opts);
  const request = { method: "POST", json: body, signal: opts.signal };
  let record: SavedUdf | undefined;
  const id = savedId(udf);
  if (id) {
    try {
      record = await transport.json(SavedUdfSchema, `/udf/by-id/${seg(id)}`, request);
    } catch (err) {
      // Deleted since it was loaded: save it anew.
      if (!(err instanceof HttpError && err.status === 404)) throw err;
    }
  }
  if (!record) {
    try {
      record = await transport.json(SavedUdfSchema, "/udf/new", request);
    } catch (err) {
      if (!(err instanceof HttpError && err.status === 409)) throw err;
      if (!opts.overwrite) {
        throw new ValidationError(
          `A UDF named "${udf.name}" is already saved: pass { overwrite: true } to replace it, or rename the UDF`,
        );
      }
      const existing = await getSavedUdf(udf.name, opts);
      record = await transport.json(SavedUdfSchema, `/udf/by-id/${seg(existing.id)}`, request);
    }
  }
  udf.metadata = { ...(udf.metadata ?? {}), "fused:id": record.id, "fused:slug": record.slug };
  return record;
}

function requireSavedId(udf: Udf, action: string): string {
  const id = savedId(udf);
  if (!id) {
    throw new FusedError(
      `Cannot ${action} UDF "${udf.name}": it is not saved; call udf.toFused() first`,
    );
  }
  return id;
}

/** Deletes a saved UDF (`udf.deleteSaved()`) and removes `fused:id`/`fused:slug` from it. */
export async function deleteSaved(udf: Udf, opts: ApiCallOptions = {}): Promise<void> {
  const transport = opts.transport ?? globalTransport();
  const id = requireSavedId(udf, "delete");
  await transport.fetch(`/udf/by-id/${seg(id)}`, { method: "DELETE", signal: opts.signal })
    .then((r) => r.body?.cancel());
  if (udf.metadata) {
    const { "fused:id": _id, "fused:slug": _slug, ...rest } = udf.metadata;
    udf.metadata = Object.keys(rest).length ? rest : null;
  }
}

/** Forgets the service's cached results of this saved UDF (`udf.deleteCache()`). */
export async function deleteCache(udf: Udf, opts: ApiCallOptions = {}): Promise<void> {
  const transport = opts.transport ?? globalTransport();
  const id = requireSavedId(udf, "clear the cache of");
  const cid = await realtimeClientId({ transport, signal: opts.signal });
  const path = `/realtime-shared/${seg(cid)}/udf-cache/by-id/${seg(id)}/delete`;
  await transport.fetch(path, { method: "DELETE", signal: opts.signal }).then((r) =>
    r.body?.cancel()
  );
}

/** Options of {@linkcode deleteObjectCache}. */
export interface DeleteObjectCacheOptions extends ApiCallOptions {
  /** Only the entries of this cache folder (`cacheFolderPath`: "tmp", `udf/<name>`, ...). */
  folder?: string;
}

/**
 * Deletes every `fused.cache` entry of yours kept with `cacheStorage: "object"` on the service's
 * shared store (`DELETE /cache/objects`), or those of one cache folder (`folder`: sent as its
 * SHA-256 digest, `DELETE /cache/objects?folder=`), for every machine; true when there was any.
 * The near copies a machine keeps on its own disk stay until that machine's cache is cleared
 * (`udf.deleteCache()`) or an entry is recomputed with `cacheReset`.
 *
 * @example
 * ```ts ignore
 * import * as fused from "fused";
 * await fused.api.deleteObjectCache(); // all of yours
 * await fused.api.deleteObjectCache({ folder: "tmp" }); // those of fused.cache's default folder
 * ```
 */
export async function deleteObjectCache(opts: DeleteObjectCacheOptions = {}): Promise<boolean> {
  const transport = opts.transport ?? globalTransport();
  const answer = await transport.json(z.object({ removed: z.boolean() }), "/cache/objects", {
    method: "DELETE",
    query: { folder: opts.folder === undefined ? undefined : objectFolder(opts.folder) },
    signal: opts.signal,
  });
  return answer.removed;
}

/** Options of `createAccessToken`. */
export interface CreateAccessTokenOptions extends ApiCallOptions {
  /** Realtime instance the token runs on; the current one unless given. */
  clientId?: string;
  /** Whether token runs may be served from the cache (default true). */
  cache?: boolean;
  /** Metadata served with the token. */
  metadataJson?: Record<string, unknown>;
  /** Whether the token works (default true). */
  enabled?: boolean;
  /** fused-py's spelling of `enabled`. */
  enable?: boolean;
}

/** Creates a share token that runs this saved UDF (`udf.createAccessToken()`). */
export async function createAccessToken(
  udf: Udf,
  opts: CreateAccessTokenOptions = {},
): Promise<UdfAccessToken> {
  const id = requireSavedId(udf, "share");
  return await createUdfAccessToken(id, undefined, opts);
}

/** The share tokens of this saved UDF (`udf.getAccessTokens()`). */
export async function getAccessTokens(
  udf: Udf,
  opts: ApiCallOptions = {},
): Promise<UdfAccessToken[]> {
  const id = requireSavedId(udf, "list the tokens of");
  const all = await getUdfAccessTokens(opts);
  return all.filter((token) => token.udf_id === id);
}

/** The web link of a saved UDF (`udf.catalogUrl`), or null when it is not saved. */
export function catalogUrl(udf: Udf, opts: { transport?: Transport } = {}): string | null {
  const id = savedId(udf);
  if (!id) return null;
  const base = new URL((opts.transport ?? globalTransport()).baseUrl);
  return `${base.protocol}//${base.host}/workbench/catalog/${encodeURIComponent(udf.name)}-${id}`;
}
