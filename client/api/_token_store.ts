/**
 * Where the API token comes from: an explicit token, the `FUSED_AUTH_TOKEN` environment variable,
 * or the credentials file `~/.fused/credentials` (`FUSED_HOME` moves `~/.fused`). Private to
 * client/api: the transport reads it, `login`/`logout` write it.
 *
 * @module
 */
import { join } from "node:path";
import { z } from "zod";
import { writeFileAtomic } from "../atomic_write.ts";
import { ValidationError } from "../errors.ts";

/** The credentials file: Fused's shape, of which this service uses the token and its scheme. */
export const StoredCredentialsSchema = z.looseObject({
  access_token: z.string().min(1),
  auth_scheme: z.string().min(1).default("Bearer"),
});

/** What `~/.fused/credentials` holds. */
export type StoredCredentials = z.infer<typeof StoredCredentialsSchema>;

/** A token and the scheme of the `Authorization` header it goes in. */
export interface AuthToken {
  /** The token. */
  token: string;
  /** The scheme (`Bearer`). */
  scheme: string;
  /** Where it came from. */
  source: "explicit" | "env" | "file";
}

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    // No env permission: behave as if the variable were not set.
    return undefined;
  }
}

/** The settings home: `FUSED_HOME`, else `~/.fused`; read at each call so tests can move it. */
export function fusedHome(): string {
  const explicit = env("FUSED_HOME");
  if (explicit) return explicit;
  const home = env("HOME") ?? env("USERPROFILE");
  if (!home) {
    throw new ValidationError(
      "Cannot find the credentials folder: set FUSED_HOME (or HOME) to a writable folder",
    );
  }
  return join(home, ".fused");
}

/** Path of the credentials file. */
export function credentialsPath(): string {
  return join(fusedHome(), "credentials");
}

/** Reads a credentials file; `null` when it does not exist. */
export async function readCredentialsFile(path: string): Promise<StoredCredentials | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ValidationError(
      `Cannot read ${path}: it is not JSON; delete it and log in again with fused.api.login()`,
    );
  }
  const parsed = StoredCredentialsSchema.safeParse(value);
  if (!parsed.success) {
    throw new ValidationError(
      `Cannot read ${path}: it has no access_token; delete it and log in again with fused.api.login()`,
    );
  }
  return parsed.data;
}

/** Writes the credentials file atomically, readable only by its owner (mode 0600). */
export async function writeCredentialsFile(credentials: StoredCredentials): Promise<string> {
  const path = credentialsPath();
  await writeFileAtomic(path, JSON.stringify(credentials) + "\n", { mode: 0o600 });
  // The mode given to a write is filtered by the umask; make sure no one else can read it.
  if (Deno.build.os !== "windows") await Deno.chmod(path, 0o600);
  return path;
}

/** Deletes the credentials file; returns whether there was one. */
export async function deleteCredentialsFile(): Promise<boolean> {
  try {
    await Deno.remove(credentialsPath());
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/**
 * The token to send: an explicit one, else `FUSED_AUTH_TOKEN` (scheme `FUSED_AUTH_TOKEN_TYPE`,
 * default `Bearer`), else the credentials file; `null` when there is none.
 */
export async function resolveToken(explicit?: string): Promise<AuthToken | null> {
  if (explicit) return { token: explicit, scheme: "Bearer", source: "explicit" };
  const fromEnv = env("FUSED_AUTH_TOKEN");
  if (fromEnv) {
    return { token: fromEnv, scheme: env("FUSED_AUTH_TOKEN_TYPE") ?? "Bearer", source: "env" };
  }
  const stored = await readCredentialsFile(credentialsPath());
  return stored ? { token: stored.access_token, scheme: stored.auth_scheme, source: "file" } : null;
}
