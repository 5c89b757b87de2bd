/**
 * What both registry stores share: API token format and hashing, ORDER BY clauses, the conflict
 * errors and small helpers.
 *
 * @module
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { Buffer } from "node:buffer";
import { type ApiTokenInfo, ConflictError, type PageSummary, type UdfSort } from "./mod.ts";

/** ORDER BY of a UDF list (the same column names in both stores). */
export const SORT_SQL: Record<UdfSort, string> = {
  "name": "slug ASC, id ASC",
  "-name": "slug DESC, id ASC",
  "updated": "updated_at ASC, id ASC",
  "-updated": "updated_at DESC, id ASC",
};

/** The current time as stored (ISO 8601, UTC: sorts as text). */
export function now(): string {
  return new Date().toISOString();
}

/** A new API token: the id is embedded so lookup is by id and the secret compared in constant time. */
export function newApiToken(): { id: string; token: string; hash: string } {
  const id = randomBytes(8).toString("hex");
  const token = `fused_${id}_${randomBytes(24).toString("hex")}`;
  return { id, token, hash: sha256(token).toString("hex") };
}

/** The id inside an API token, or null when it is not one. */
export function apiTokenId(token: string): string | null {
  return /^fused_([0-9a-f]{16})_[0-9a-f]{48}$/.exec(token)?.[1] ?? null;
}

/** Whether `token` hashes to the stored hex hash (constant time). */
export function tokenMatches(token: string, storedHex: string): boolean {
  const stored = Buffer.from(storedHex, "hex");
  const actual = sha256(token);
  return stored.length === actual.length && timingSafeEqual(stored, actual);
}

/** A new share token value. */
export function newShareToken(): string {
  return `fsh_${randomBytes(20).toString("hex")}`;
}

function sha256(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

/** The conflict of a UDF name taken by the same owner. */
export function slugConflict(slug: string): ConflictError {
  return new ConflictError(
    `A UDF named "${slug}" already exists for this user: save with overwrite (POST /udf/by-id/{id}) or choose another name`,
  );
}

/** The conflict of a taken e-mail or handle. */
export function userConflict(email: string, handle: string): ConflictError {
  return new ConflictError(`A user with e-mail "${email}" or handle "${handle}" already exists`);
}

/** The fields of `value` that are not undefined. */
export function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The columns of a page listing (everything but its HTML), the same in both stores. */
export const PAGE_SUMMARY_COLUMNS =
  "owner_id, name, notebook, layers_json, size_bytes, created_at, published_at";

/** A page row (with or without its HTML) as a summary. */
export function toPageSummary(row: Record<string, unknown>): PageSummary {
  return {
    ownerId: String(row.owner_id),
    name: String(row.name),
    notebook: String(row.notebook),
    layers: JSON.parse(String(row.layers_json)),
    sizeBytes: Number(row.size_bytes),
    createdAt: String(row.created_at),
    publishedAt: String(row.published_at),
  };
}
/** The conflict of a job submitted again with the same idempotency key. */
export function jobKeyConflict(key: string): ConflictError {
  return new ConflictError(`A job with idempotency key "${key}" already exists`);
}

/** A stored API token row as listed. */
export function toApiTokenInfo(row: Record<string, unknown>): ApiTokenInfo {
  const text = (v: unknown) => (v === null || v === undefined ? null : String(v));
  return {
    id: String(row.id),
    userId: String(row.user_id),
    name: text(row.name),
    createdAt: String(row.created_at),
    expiresAt: text(row.expires_at),
    revokedAt: text(row.revoked_at),
  };
}

/** Whether a stored token row may be used now: not revoked, not expired. */
export function tokenUsable(row: Record<string, unknown>): boolean {
  if (row.revoked_at !== null && row.revoked_at !== undefined) return false;
  return row.expires_at === null || row.expires_at === undefined ||
    String(row.expires_at) > now();
}
