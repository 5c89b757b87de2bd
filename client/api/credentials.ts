/**
 * Logging in to a service: this service uses API tokens (not Fused's OAuth), so `login` stores a
 * token (given, or read from the embedded service's admin credentials file) in
 * `~/.fused/credentials`, and every request sends it as `Authorization: Bearer <token>`.
 * `FUSED_AUTH_TOKEN` in the environment wins over the file.
 *
 * @module
 */
import { join } from "node:path";
import { FusedError, HttpError } from "../errors.ts";
import { options } from "../options.ts";
import {
  credentialsPath,
  deleteCredentialsFile,
  readCredentialsFile,
  resolveToken,
  writeCredentialsFile,
} from "./_token_store.ts";
import { type User, UserSchema } from "./schemas.ts";
import { type ApiCallOptions, globalTransport, Transport } from "./transport.ts";
import { embeddedServerDir } from "../file_path.ts";

/** Options of `login`. */
export interface LoginOptions {
  /** The API token; read from the local service's `admin-credentials.json` unless given. */
  token?: string;
  /** Service URL (`http://host:port/v1`); sets `fused.options.baseUrl`. */
  baseUrl?: string;
  /**
   * Data folder of the local service whose admin token to use when no token is given; default
   * `FUSED_SERVER_DIR`, else `~/.fused/server` (where `fused serve` keeps its state).
   */
  serverDataDir?: string;
  /** Check the token with `GET /user/self` before saving it (default true). */
  verify?: boolean;
}

/** What `login` did. */
export interface LoginResult {
  /** Where the credentials were written. */
  path: string;
  /** The logged-in user (when verified). */
  user: User | null;
}

/**
 * The default data folder of the embedded service, as `fused serve` picks it: `FUSED_SERVER_DIR`,
 * else `~/.fused/server`.
 */
export function defaultServerDataDir(): string {
  return embeddedServerDir();
}

async function adminToken(dataDir: string): Promise<string> {
  const path = join(dataDir, "admin-credentials.json");
  const stored = await readCredentialsFile(path);
  if (!stored) {
    throw new FusedError(
      `No token given and no admin credentials at ${path}: pass login({ token }) or start the local service (fused serve) once so it writes them`,
    );
  }
  return stored.access_token;
}

/**
 * Logs in: checks the token against the service and writes `~/.fused/credentials` (mode 0600).
 *
 * @example
 * ```ts ignore
 * import * as fused from "fused";
 * await fused.api.login({ token: "fus_...", baseUrl: "http://127.0.0.1:8783/v1" });
 * console.log((await fused.api.whoami()).email);
 * ```
 */
export async function login(opts: LoginOptions = {}): Promise<LoginResult> {
  if (opts.baseUrl !== undefined) options.baseUrl = opts.baseUrl;
  const token = opts.token ?? await adminToken(opts.serverDataDir ?? defaultServerDataDir());
  let user: User | null = null;
  if (opts.verify !== false) {
    try {
      user = await new Transport({ token }).json(UserSchema, "/user/self");
    } catch (err) {
      if (err instanceof HttpError && err.status === 401) {
        throw new FusedError(
          `The service at ${options.baseUrl} refused the token: check it, or ask its administrator for a new one`,
          { cause: err },
        );
      }
      throw err;
    }
  }
  const path = await writeCredentialsFile({ access_token: token, auth_scheme: "Bearer" });
  // A new user may see other realtime instances.
  options.realtimeClientId = null;
  return { path, user };
}

/**
 * Logs out: deletes the credentials file and forgets the chosen realtime instance. Returns
 * whether there was a credentials file.
 */
export async function logout(): Promise<boolean> {
  options.realtimeClientId = null;
  return await deleteCredentialsFile();
}

/**
 * The bearer token requests send (from `FUSED_AUTH_TOKEN` or `~/.fused/credentials`), for calling
 * the service with other HTTP clients.
 */
export async function accessToken(): Promise<string> {
  const token = await resolveToken();
  if (!token) {
    throw new FusedError(
      `Not logged in (no FUSED_AUTH_TOKEN and no ${credentialsPath()}): call fused.api.login({ token })`,
    );
  }
  return token.token;
}

/** The logged-in user (`GET /user/self`). */
export async function whoami(opts: ApiCallOptions = {}): Promise<User> {
  const transport = opts.transport ?? globalTransport();
  return await transport.json(UserSchema, "/user/self", { signal: opts.signal });
}
