/**
 * Who am I, health, and the administrator's routes to create users and API tokens (which may
 * expire), list a user's tokens and revoke one.
 *
 * @module
 */
import { Hono } from "hono";
import { z } from "zod";
import { type AppEnv, HttpError, readJson } from "../_http.ts";
import { requireAdmin } from "../auth.ts";
import { ConflictError, type User } from "../registry/mod.ts";
import type { RouteDeps } from "./_common.ts";
import type { Readiness } from "../readiness.ts";

/** The JSON form of a user. */
export function userJson(user: User): Record<string, unknown> {
  return {
    id: user.id,
    email: user.email,
    handle: user.handle,
    team: user.team,
    is_admin: user.isAdmin,
    created_at: user.createdAt,
  };
}

const NewUserBody = z.strictObject({
  email: z.email(),
  handle: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, {
    message: "a handle is 1 to 64 letters, digits, '_', '-' or '.'",
  }).optional(),
  team: z.string().min(1).max(128).nullish(),
  is_admin: z.boolean().optional(),
});

const NewTokenBody = z.strictObject({
  user_id: z.string().optional(),
  email: z.email().optional(),
  name: z.string().max(200).optional(),
  expires_in_days: z.number().positive().max(36500).optional(),
}).refine((b) => (b.user_id === undefined) !== (b.email === undefined), {
  message: "give exactly one of user_id or email",
});

/**
 * `GET /user/self`, `POST /admin/users`, `POST /admin/tokens`, `GET /admin/tokens?email=`,
 * `DELETE /admin/tokens/{id}` (authenticated).
 */
export function userRoutes(deps: RouteDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get("/user/self", (c) => c.json(userJson(c.get("user"))));
  app.get("/execution-env/self", (c) => {
    const team = c.get("user").team;
    return c.json({ name: team, id: team });
  });
  app.post("/admin/users", requireAdmin(), async (c) => {
    const body = await readJson(c, NewUserBody);
    try {
      const user = await deps.registry.createUser({
        email: body.email,
        handle: body.handle,
        team: body.team,
        isAdmin: body.is_admin,
      });
      return c.json(userJson(user), 201);
    } catch (err) {
      if (err instanceof ConflictError) throw new HttpError(409, err.message);
      throw err;
    }
  });
  app.post("/admin/tokens", requireAdmin(), async (c) => {
    const body = await readJson(c, NewTokenBody);
    const user = body.user_id
      ? await deps.registry.getUser(body.user_id)
      : await deps.registry.findUserByEmail(body.email!);
    if (!user) {
      throw new HttpError(
        404,
        `No user ${body.user_id ?? body.email}: create it with POST /v1/admin/users first`,
      );
    }
    const expiresAt = body.expires_in_days === undefined
      ? null
      : new Date(Date.now() + body.expires_in_days * 86_400_000).toISOString();
    const issued = await deps.registry.createApiToken(user.id, { name: body.name, expiresAt });
    return c.json({
      id: issued.id,
      access_token: issued.token,
      auth_scheme: "Bearer",
      expires_at: expiresAt,
      user: userJson(user),
    }, 201);
  });
  app.get("/admin/tokens", requireAdmin(), async (c) => {
    const email = c.req.query("email");
    const user = email ? await deps.registry.findUserByEmail(email) : c.get("user");
    if (!user) throw new HttpError(404, `No user ${email}: create it with POST /v1/admin/users`);
    const tokens = await deps.registry.listApiTokens(user.id);
    return c.json(tokens.map((t) => ({
      id: t.id,
      name: t.name,
      created_at: t.createdAt,
      expires_at: t.expiresAt,
      revoked_at: t.revokedAt,
    })));
  });
  app.delete("/admin/tokens/:id", requireAdmin(), async (c) => {
    const id = c.req.param("id");
    if (!(await deps.registry.revokeApiToken(id))) {
      throw new HttpError(
        404,
        `No usable API token ${id}: list them with GET /v1/admin/tokens?email=...`,
      );
    }
    return c.json({ id, revoked: true });
  });
  return app;
}

/**
 * `GET /health` (readiness, public): 200 when every shared backend answers, else 503 naming each
 * one that is down; `GET /health/live` (liveness): 200 while the process answers at all.
 */
export function healthRoutes(deps: RouteDeps, readiness: Readiness): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get("/health", async (c) => {
    const report = await readiness.report();
    if (!report.ready) return notReadyResponse(report.down);
    return c.json({ status: "ok", cached_results: deps.runs.cacheEntries });
  });
  app.get("/health/live", (c) => c.json({ status: "alive" }));
  return app;
}

/** The 503 of a service that cannot serve: `down` names each backend and why. */
export function notReadyResponse(down: Record<string, string>): Response {
  const reasons = Object.entries(down).map(([name, reason]) => `${name}: ${reason}`);
  return Response.json({
    status: "unavailable",
    detail: `Not ready: ${reasons.join("; ")}`,
    down,
  }, { status: 503, headers: { "retry-after": "1" } });
}
