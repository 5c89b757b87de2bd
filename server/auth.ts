/**
 * Authentication: `Authorization: Bearer <token>` resolved through the registry, an admin-only
 * guard, and the first-start bootstrap that creates the admin user and writes its credentials.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { join } from "node:path";
import { exists, writeFileAtomic } from "../client/atomic_write.ts";
import { type AppEnv, HttpError } from "./_http.ts";
import { ConflictError, type Registry, type User } from "./registry/mod.ts";

/** Middleware that requires a valid bearer token and sets `c.get("user")`. */
export function requireAuth(registry: Registry): MiddlewareHandler<AppEnv> {
  return async function authenticate(c, next): Promise<void> {
    const header = c.req.header("authorization");
    if (!header) {
      throw new HttpError(
        401,
        "Missing Authorization header: send Authorization: Bearer <token> (the admin token is in admin-credentials.json in the server's data folder)",
        { "www-authenticate": "Bearer" },
      );
    }
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) {
      throw new HttpError(401, "Malformed Authorization header: use the form Bearer <token>", {
        "www-authenticate": "Bearer",
      });
    }
    const user = await registry.authenticate(match[1]);
    if (!user) {
      throw new HttpError(401, "Unknown or revoked API token: ask an administrator for a new one", {
        "www-authenticate": 'Bearer error="invalid_token"',
      });
    }
    c.set("user", user);
    await next();
  };
}

/** Middleware that lets only administrators through (after `requireAuth`). */
export function requireAdmin(): MiddlewareHandler<AppEnv> {
  return async function adminOnly(c, next): Promise<void> {
    if (!c.get("user").isAdmin) {
      throw new HttpError(403, "This route is for administrators only");
    }
    await next();
  };
}

/** What `admin-credentials.json` holds. */
export interface AdminCredentials {
  /** The admin's e-mail. */
  email: string;
  /** The admin's handle. */
  handle: string;
  /** The admin's API token. */
  access_token: string;
  /** Always "Bearer". */
  auth_scheme: "Bearer";
}

/** E-mail of the admin created on first start. */
export const ADMIN_EMAIL = "admin@localhost";

/** The setting that holds the platform's admin token (one for every service on a database). */
const ADMIN_TOKEN_SETTING = "admin_api_token";

/**
 * Makes sure an admin user exists and its token is on disk: `<dataDir>/admin-credentials.json`
 * and a `~/.fused/credentials`-compatible `<dataDir>/credentials`, both mode 0600. The token is
 * made once per platform and kept in the registry's settings (as the URL-signing secret is), so
 * every service on one database writes the same token and a restart or a new service mints none.
 * When an operator revoked it (`fused admin token revoke`), the next start makes a new one.
 * Returns the credentials and whether the token is new.
 */
export async function bootstrapAdmin(
  registry: Registry,
  dataDir: string,
): Promise<{ credentials: AdminCredentials; created: boolean; path: string }> {
  const path = join(dataDir, "admin-credentials.json");
  let admin: User | null = await registry.findUserByEmail(ADMIN_EMAIL);
  if (admin && await exists(path)) {
    const saved = JSON.parse(await Deno.readTextFile(path)) as AdminCredentials;
    if ((await registry.authenticate(saved.access_token))?.id === admin.id) {
      return { credentials: saved, created: false, path };
    }
  }
  // Services starting together on one shared database: one creates the admin, the others use it.
  admin ??= await registry.createUser({
    email: ADMIN_EMAIL,
    handle: "admin",
    team: "local",
    isAdmin: true,
  }).catch(async (err) => {
    const existing = err instanceof ConflictError
      ? await registry.findUserByEmail(ADMIN_EMAIL)
      : null;
    if (!existing) throw err;
    return existing;
  });
  const { token, created } = await platformAdminToken(registry, admin);
  const credentials: AdminCredentials = {
    email: admin.email,
    handle: admin.handle,
    access_token: token,
    auth_scheme: "Bearer",
  };
  await writeFileAtomic(path, JSON.stringify(credentials, null, 2) + "\n", { mode: 0o600 });
  await writeFileAtomic(
    join(dataDir, "credentials"),
    JSON.stringify({ access_token: token, auth_scheme: "Bearer" }) + "\n",
    { mode: 0o600 },
  );
  return { credentials, created, path };
}

/** The platform's admin token: the stored one while it works, else a new one stored for all. */
async function platformAdminToken(
  registry: Registry,
  admin: User,
): Promise<{ token: string; created: boolean }> {
  const issued = await registry.createApiToken(admin.id, { name: "admin (platform)" });
  const stored = await registry.getOrCreateSetting(ADMIN_TOKEN_SETTING, () => issued.token);
  if (stored === issued.token) return { token: stored, created: true };
  // Another start stored one first: ours is not needed.
  await registry.revokeApiToken(issued.id);
  if ((await registry.authenticate(stored))?.id === admin.id) {
    return { token: stored, created: false };
  }
  // The stored token was revoked or has expired: replace it.
  const fresh = await registry.createApiToken(admin.id, { name: "admin (platform)" });
  await registry.putSetting(ADMIN_TOKEN_SETTING, fresh.token);
  return { token: fresh.token, created: true };
}
