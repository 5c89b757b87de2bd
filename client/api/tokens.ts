/**
 * Share tokens (Fused's `UdfAccessToken`): create, list, read, update, delete, and the URLs that
 * run a token's UDF without logging in.
 *
 * @module
 */
import { ValidationError } from "../errors.ts";
import { realtimeClientId, sharedBaseUrl } from "./instances.ts";
import { type UdfAccessToken, UdfAccessTokenListSchema, UdfAccessTokenSchema } from "./schemas.ts";
import { type ApiCallOptions, globalTransport, requireText } from "./transport.ts";

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Changeable fields of a share token. */
export interface UdfAccessTokenFields {
  /** Realtime instance the token runs on. */
  clientId?: string | null;
  /** Whether token runs may be served from the cache. */
  cache?: boolean;
  /** Whether the token also reveals the UDF's code. */
  publicRead?: boolean;
  /** Free-form scope string. */
  accessScope?: string | null;
  /** Metadata served with the token. */
  metadataJson?: Record<string, unknown>;
  /** Whether the token works. */
  enabled?: boolean;
  /** fused-py's spelling of `enabled`. */
  enable?: boolean;
}

/** Options of `createUdfAccessToken`: the fields, and the UDF as fused-py's keywords. */
export interface CreateUdfAccessTokenOptions extends ApiCallOptions, UdfAccessTokenFields {
  /** fused-py's `udf_id`: the saved UDF's id. */
  udfId?: string;
  /** fused-py's `udf_email`: the owner's e-mail (with `udfName`), or else the UDF as a reference. */
  udfEmail?: string;
}

/** `enabled`, given in either spelling. */
function enabledOf(fields: UdfAccessTokenFields): boolean | undefined {
  if (
    fields.enable !== undefined && fields.enabled !== undefined && fields.enable !== fields.enabled
  ) {
    throw new ValidationError(
      `enable and enabled disagree (${fields.enable} and ${fields.enabled}): give one of them`,
    );
  }
  return fields.enabled ?? fields.enable;
}

function fieldsBody(fields: UdfAccessTokenFields): Record<string, unknown> {
  const body: Record<string, unknown> = {
    client_id: fields.clientId,
    cache: fields.cache,
    public_read: fields.publicRead,
    access_scope: fields.accessScope,
    metadata_json: fields.metadataJson,
    enabled: enabledOf(fields),
  };
  for (const key of Object.keys(body)) if (body[key] === undefined) delete body[key];
  return body;
}

/**
 * Creates a share token for a saved UDF, given as an id, `"owner/name"`, a name of yours, or an
 * owner's e-mail plus `udfName`; or, as fused-py's keywords, `{ udfId }` or `{ udfEmail }`
 * (as the first argument or in the options). Anyone holding the token can run that one UDF.
 *
 * @example
 * ```ts ignore
 * import * as fused from "fused";
 * const token = await fused.api.createUdfAccessToken("my_udf");
 * const off = await fused.api.createUdfAccessToken({ udfId: token.udf_id, enable: false });
 * console.log(fused.api.tokenFileUrl(token.token, { format: "json" }));
 * ```
 */
export async function createUdfAccessToken(
  udf?: string | CreateUdfAccessTokenOptions,
  udfName?: string,
  options: CreateUdfAccessTokenOptions = {},
): Promise<UdfAccessToken> {
  const opts = typeof udf === "object" && udf !== null ? { ...udf, ...options } : options;
  const given = typeof udf === "object" && udf !== null ? undefined : udf;
  const named = [given, opts.udfId, opts.udfEmail].filter((v) => v !== undefined);
  if (named.length === 0) {
    throw new ValidationError(
      "createUdfAccessToken needs the UDF: an id, owner/name or name, or udfId / udfEmail",
    );
  }
  if (named.length > 1) {
    throw new ValidationError(
      "Give the UDF once: as the first argument, udfId or udfEmail, not several of them",
    );
  }
  const udfEmailOrNameOrId = requireText(named[0], "The UDF (id, owner/name or name)");
  const enabled = enabledOf(opts) ?? true;
  const transport = opts.transport ?? globalTransport();
  const target: Record<string, string> = {};
  if (opts.udfId !== undefined) {
    target.udf_id = udfEmailOrNameOrId;
  } else if (udfName !== undefined) {
    target.udf_email = udfEmailOrNameOrId;
    target.udf_slug = requireText(udfName, "udfName");
  } else if (UUID_PATTERN.test(udfEmailOrNameOrId)) {
    target.udf_id = udfEmailOrNameOrId;
  } else if (udfEmailOrNameOrId.includes("/")) {
    const [email, name, ...rest] = udfEmailOrNameOrId.split("/");
    if (!email || !name || rest.length) {
      throw new ValidationError(
        `Cannot read the UDF "${udfEmailOrNameOrId}": use an id, OWNER_EMAIL/NAME or NAME`,
      );
    }
    Object.assign(target, { udf_email: email, udf_slug: name });
  } else {
    // The service takes a missing udf_email as the caller's own UDF.
    target.udf_slug = udfEmailOrNameOrId;
  }
  const clientId = opts.clientId === undefined
    ? await realtimeClientId({ transport, signal: opts.signal })
    : opts.clientId;
  const body = {
    ...target,
    ...fieldsBody(opts),
    client_id: clientId,
    cache: opts.cache ?? true,
    metadata_json: opts.metadataJson ?? {},
    enabled,
  };
  return await transport.json(UdfAccessTokenSchema, "/udf-access-token/new", {
    method: "POST",
    json: body,
    signal: opts.signal,
  });
}

/** Options of `getUdfAccessTokens`. */
export interface GetUdfAccessTokensOptions extends ApiCallOptions {
  /** Most tokens to return; all by default. */
  n?: number;
  /** Tokens to skip first. */
  skip?: number;
  /** Tokens per request (default 25). */
  perRequest?: number;
  /** Most requests to make when `n` is given (default 1, as Fused's SDK). */
  maxRequests?: number;
}

/** Lists your share tokens, paging until the list ends (or `n` tokens). */
export async function getUdfAccessTokens(
  opts: GetUdfAccessTokensOptions = {},
): Promise<UdfAccessToken[]> {
  const transport = opts.transport ?? globalTransport();
  const perRequest = opts.perRequest ?? 25;
  const maxRequests = opts.n === undefined ? Infinity : opts.maxRequests ?? 1;
  const out: UdfAccessToken[] = [];
  let skip = opts.skip ?? 0;
  for (let requests = 0; requests < maxRequests; requests++) {
    const wanted = opts.n === undefined ? perRequest : Math.min(perRequest, opts.n - out.length);
    if (wanted <= 0) break;
    const page = await transport.json(UdfAccessTokenListSchema, "/udf-access-token/self", {
      query: { skip, limit: wanted },
      signal: opts.signal,
    });
    out.push(...page);
    if (page.length < wanted) break;
    skip += page.length;
  }
  return out;
}

function tokenPath(token: string): string {
  return `/udf-access-token/by-token/${encodeURIComponent(requireText(token, "The token"))}`;
}

/** Reads one share token (no login needed). */
export async function getUdfAccessToken(
  token: string,
  opts: ApiCallOptions = {},
): Promise<UdfAccessToken> {
  const transport = opts.transport ?? globalTransport();
  return await transport.json(UdfAccessTokenSchema, tokenPath(token), {
    auth: "optional",
    signal: opts.signal,
  });
}

/** Changes fields of one of your share tokens. */
export async function updateUdfAccessToken(
  token: string,
  fields: UdfAccessTokenFields & ApiCallOptions,
): Promise<UdfAccessToken> {
  const transport = fields.transport ?? globalTransport();
  return await transport.json(UdfAccessTokenSchema, tokenPath(token), {
    method: "POST",
    json: fieldsBody(fields),
    signal: fields.signal,
  });
}

/** Deletes one of your share tokens; returns it as it was. */
export async function deleteUdfAccessToken(
  token: string,
  opts: ApiCallOptions = {},
): Promise<UdfAccessToken> {
  const transport = opts.transport ?? globalTransport();
  return await transport.json(UdfAccessTokenSchema, tokenPath(token), {
    method: "DELETE",
    signal: opts.signal,
  });
}

/** Options of the token URL helpers. */
export interface TokenUrlOptions {
  /** Output format (`parquet`, `json`, `png`, ...); the service's default unless given. */
  format?: string;
  /** The transport whose base URL to use. */
  transport?: ApiCallOptions["transport"];
}

/** The URL that runs a token's UDF: `{shared}/{token}/run[?format=..]`. */
export function tokenFileUrl(token: string, opts: TokenUrlOptions = {}): string {
  const base = sharedBaseUrl(opts.transport ?? globalTransport());
  const query = opts.format ? `?format=${encodeURIComponent(opts.format)}` : "";
  return `${base}/${encodeURIComponent(requireText(token, "The token"))}/run${query}`;
}

/**
 * The tile URL of a token: `{shared}/{token}/run/tiles/{z}/{x}/{y}`, with literal `{z}/{x}/{y}`
 * placeholders (for map clients) unless all of x, y and z are given.
 */
export function tokenTileUrl(
  token: string,
  opts: TokenUrlOptions & { x?: number; y?: number; z?: number } = {},
): string {
  const given = [opts.x, opts.y, opts.z].filter((v) => v !== undefined).length;
  if (given !== 0 && given !== 3) {
    throw new ValidationError("A tile URL needs all of x, y and z (or none of them)");
  }
  const base = sharedBaseUrl(opts.transport ?? globalTransport());
  const tile = given === 3 ? `${opts.z}/${opts.x}/${opts.y}` : "{z}/{x}/{y}";
  const query = opts.format ? `?format=${encodeURIComponent(opts.format)}` : "";
  return `${base}/${encodeURIComponent(requireText(token, "The token"))}/run/tiles/${tile}${query}`;
}
