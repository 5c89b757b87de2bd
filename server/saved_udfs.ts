/**
 * Who may read and run a saved UDF, and which UDF a reference names for a user: one set of rules
 * for the HTTP routes (routes/udfs.ts, run.ts, shared.ts) and for UDFs that load or run other
 * UDFs by name from inside a run, on the service and in batch jobs.
 *
 * A reference is read as the API client sends it (client/api/udfs.ts) and the routes answer it:
 * - `name`: the user's own UDF;
 * - `owner/name` (`owner` an e-mail or a handle), or an id: when the user may read it (its owner,
 *   a teammate, an admin, or anyone when it allows public read);
 * - `team/name`: a UDF of the user's team (their own when they have no team);
 * - a share token (`fsh_…`): loading its code is for the UDF's owner only; running it is for
 *   anyone holding it while it is enabled, and the run acts as the UDF's owner, as
 *   `GET /{token}/run` does. `UDF_<name>` runs the public UDF of that name the same way.
 *
 * A refusal says the same whether a UDF of another user is missing or not shared, so errors show
 * nothing of what others have.
 *
 * @module
 */
import { isShareToken } from "../client/api/udfs.ts";
import { FusedError, ValidationError } from "../client/errors.ts";
import { Udf, udfNameProblem } from "../client/udf.ts";
import type { CallerContext } from "../client/engine_types.ts";
import type { Registry, UdfRecord, User } from "./registry/mod.ts";

/** Whether a user may read (and run) a saved UDF: owner, teammate, admin, or public read. */
export async function canRead(registry: Registry, user: User, record: UdfRecord): Promise<boolean> {
  if (record.ownerId === user.id || record.allowPublicRead || user.isAdmin) return true;
  if (!user.team) return false;
  const owner = await registry.getUser(record.ownerId);
  return owner?.team === user.team;
}

/** Whether a user may change or delete a saved UDF: its owner or an admin. */
export function canWrite(user: User, record: UdfRecord): boolean {
  return record.ownerId === user.id || user.isAdmin;
}

// Parsed UDFs by id and save time: validating the Udf JSON on every token request cost more
// than serving a cached answer (measured in bench/server_bench.ts).
const parsedUdfs = new Map<string, Udf>();
const PARSED_UDFS_MAX = 1000;

/**
 * The Udf of a saved record, with `fused:id` and `fused:slug` in its metadata as Fused does.
 * Treat it as read-only: it is shared by every request until the UDF is saved again.
 */
export function udfFromRecord(record: UdfRecord): Udf {
  const key = `${record.id}@${record.updatedAt}`;
  const known = parsedUdfs.get(key);
  if (known) return known;
  const parsed = parseRecord(record);
  if (parsedUdfs.size >= PARSED_UDFS_MAX) parsedUdfs.delete(parsedUdfs.keys().next().value!);
  parsedUdfs.set(key, parsed);
  return parsed;
}

function parseRecord(record: UdfRecord): Udf {
  const udf = Udf.fromJSON(record.udfBody);
  const json = udf.toJSON();
  return Udf.fromJSON({
    ...json,
    metadata: { ...(json.metadata ?? {}), "fused:id": record.id, "fused:slug": record.slug },
  });
}

/** What a reference is wanted for: its code (`fused.load`) or a run (`fused.run`). */
export type SavedUdfPurpose = "load" | "run";

/** The UDF a reference names, and whom a run of it acts as. */
export interface SavedUdf {
  /** The UDF. */
  udf: Udf;
  /** The user a run of it acts as: the asking user, or a share token's UDF owner. */
  actAs: string;
  /** False when the share token it came through disables caching. */
  cache: boolean;
  /** The share token it came through, when it did. */
  token?: string;
}

/** Finds saved UDFs for a caller (the service: the registry; a batch job: its runner). */
export type SavedUdfFinder = (
  ref: string,
  purpose: SavedUdfPurpose,
  caller: CallerContext,
  signal?: AbortSignal,
) => Promise<SavedUdf>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function checkName(ref: string, name: string): string {
  const problem = udfNameProblem(name);
  if (problem) {
    throw new ValidationError(`Cannot read the UDF reference ${JSON.stringify(ref)}: ${problem}`);
  }
  return name;
}

async function byToken(
  registry: Registry,
  user: User,
  ref: string,
  purpose: SavedUdfPurpose,
): Promise<SavedUdf> {
  if (ref.startsWith("UDF_")) {
    const record = purpose === "run" ? await registry.findPublicUdf(ref.slice(4)) : null;
    if (!record) {
      throw new FusedError(
        purpose === "run"
          ? `No public UDF "${ref.slice(4)}": ask its owner to list it publicly`
          : `Cannot load ${ref}: a public UDF's code loads by OWNER/NAME; run it with fused.run("${ref}")`,
      );
    }
    return { udf: udfFromRecord(record), actAs: record.ownerId, cache: true, token: ref };
  }
  const found = await registry.getShareTokenUdf(ref);
  const token = found?.token;
  const record = found?.udf;
  if (!token || !record) {
    throw new FusedError(`Unknown share token ${ref}: it was deleted or never existed`);
  }
  if (purpose === "load") {
    if (!canWrite(user, record)) {
      throw new FusedError(
        `Cannot load the UDF of share token ${ref}: only its owner can read its code; run it with fused.run("${ref}") instead`,
      );
    }
    return { udf: udfFromRecord(record), actAs: user.id, cache: true };
  }
  if (!token.enabled) {
    throw new FusedError(`Share token ${ref} is disabled: its owner can enable it again`);
  }
  return { udf: udfFromRecord(record), actAs: record.ownerId, cache: token.cache, token: ref };
}

async function byName(registry: Registry, user: User, ref: string): Promise<UdfRecord> {
  const parts = ref.split("/");
  if (parts.length === 1) {
    if (UUID.test(ref)) {
      const record = await registry.getUdf(ref);
      if (record && await canRead(registry, user, record)) return record;
      throw new FusedError(
        `No saved UDF with id ${ref} that the caller may read: it does not exist, or its owner has not shared it (they can allow public read, or share a token to run)`,
      );
    }
    const record = await registry.findUdf(user.id, checkName(ref, ref));
    if (record) return record;
    throw new FusedError(
      `The caller has no saved UDF "${ref}": save it first (udf.toFused()), or name its owner (OWNER/NAME)`,
    );
  }
  if (parts.length !== 2 || !parts[0]) {
    throw new ValidationError(
      `Cannot read the UDF reference ${
        JSON.stringify(ref)
      }: use NAME, OWNER/NAME, team/NAME, an id or a share token`,
    );
  }
  const [owner, slug] = parts;
  const name = checkName(ref, slug);
  if (owner === "team") {
    const record = user.team
      ? await registry.findTeamUdf(user.team, name)
      : await registry.findUdf(user.id, name);
    if (record) return record;
    throw new FusedError(`No UDF "${name}" in the caller's team: save it there first`);
  }
  const ownerUser = owner.includes("@")
    ? await registry.findUserByEmail(owner)
    : await registry.findUserByHandle(owner);
  const record = ownerUser ? await registry.findUdf(ownerUser.id, name) : null;
  if (record && await canRead(registry, user, record)) return record;
  throw new FusedError(
    `No UDF "${name}" of ${owner} that the caller may read: it does not exist, or its owner has not shared it (they can allow public read, or share a token to run)`,
  );
}

/**
 * The UDF `ref` names for the user `userId`, by the rules of the HTTP API.
 *
 * @example
 * ```ts ignore
 * const { udf, actAs } = await findSavedUdf(registry, user.id, "alice/roads", "run");
 * ```
 */
export async function findSavedUdf(
  registry: Registry,
  userId: string,
  ref: string,
  purpose: SavedUdfPurpose,
): Promise<SavedUdf> {
  const user = await registry.getUser(userId);
  if (!user) {
    throw new FusedError(
      `Cannot find saved UDFs for user ${userId}: no such user on this service (deleted?)`,
    );
  }
  if (isShareToken(ref)) return await byToken(registry, user, ref, purpose);
  const record = await byName(registry, user, ref);
  return { udf: udfFromRecord(record), actAs: user.id, cache: true };
}

/** The finder of a process that holds the registry: each caller's id is a user of it. */
export function registryFinder(registry: Registry): SavedUdfFinder {
  return (ref, purpose, caller) => findSavedUdf(registry, caller.id, ref, purpose);
}
