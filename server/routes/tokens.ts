/**
 * Share tokens (`fsh_...`): create, list, read, update and delete (authenticated). Running a
 * token is public and lives in `shared.ts`.
 *
 * @module
 */
import { Hono } from "hono";
import { z } from "zod";
import { type AppEnv, HttpError, queryInt, readJson, readQuery } from "../_http.ts";
import type { Registry, ShareToken, ShareTokenFields, User } from "../registry/mod.ts";
import { canWrite, type RouteDeps } from "./_common.ts";

const Fields = {
  client_id: z.string().max(200).nullish(),
  public_read: z.boolean().nullish(),
  access_scope: z.string().max(200).nullish(),
  cache: z.boolean().nullish(),
  metadata_json: z.record(z.string(), z.unknown()).nullish(),
  enabled: z.boolean().nullish(),
};

const CreateBody = z.object({
  udf_email: z.string().nullish(),
  udf_slug: z.string().nullish(),
  udf_id: z.string().nullish(),
  ...Fields,
}).refine((b) => b.udf_id || b.udf_slug, {
  message: "give udf_id, or udf_slug (with udf_email for another owner)",
});

const UpdateBody = z.object(Fields);

const ListQuery = z.object({
  skip: queryInt(0, 1_000_000, 0),
  limit: queryInt(1, 1000, 25),
});

function fields(body: z.infer<typeof UpdateBody>): ShareTokenFields {
  return {
    clientId: body.client_id ?? undefined,
    publicRead: body.public_read ?? undefined,
    accessScope: body.access_scope ?? undefined,
    cache: body.cache ?? undefined,
    metadataJson: body.metadata_json ?? undefined,
    enabled: body.enabled ?? undefined,
  };
}

/** The JSON form of a share token, with Fused's field names. */
export async function tokenJson(
  registry: Registry,
  token: ShareToken,
): Promise<Record<string, unknown>> {
  const udf = await registry.getUdf(token.udfId);
  const owner = await registry.getUser(token.ownerId);
  return {
    token: token.token,
    udf_id: token.udfId,
    udf_slug: udf?.slug ?? null,
    udf_email: owner?.email ?? null,
    owning_user_id: token.ownerId,
    client_id: token.clientId,
    enabled: token.enabled,
    cache: token.cache,
    public_read: token.publicRead,
    access_scope: token.accessScope,
    metadata_json: token.metadataJson,
    created_at: token.createdAt,
    last_updated: token.lastUpdated,
  };
}

/** The `/udf-access-token/...` routes (authenticated). */
export function tokenRoutes(deps: RouteDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const { registry } = deps;

  async function owned(user: User, value: string): Promise<ShareToken> {
    const token = await registry.getShareToken(value);
    if (!token) throw new HttpError(404, `Unknown share token ${value}`);
    if (token.ownerId !== user.id && !user.isAdmin) {
      throw new HttpError(403, "This share token belongs to another user");
    }
    return token;
  }

  app.post("/udf-access-token/new", async (c) => {
    const body = await readJson(c, CreateBody);
    const user = c.get("user");
    let record;
    if (body.udf_id) {
      record = await registry.getUdf(body.udf_id);
      if (!record) throw new HttpError(404, `No UDF with id ${body.udf_id}`);
    } else {
      const owner = body.udf_email ? await registry.findUserByEmail(body.udf_email) : user;
      record = owner ? await registry.findUdf(owner.id, body.udf_slug!) : null;
      if (!record) {
        throw new HttpError(
          404,
          `No UDF "${body.udf_slug}" of ${body.udf_email ?? user.email}: save it first`,
        );
      }
    }
    if (!canWrite(user, record)) {
      throw new HttpError(403, `Only the owner of UDF "${record.slug}" can share it`);
    }
    const token = await registry.createShareToken(record.id, user.id, fields(body));
    return c.json(await tokenJson(registry, token), 201);
  });

  app.get("/udf-access-token/self", async (c) => {
    const q = readQuery(c, ListQuery);
    const tokens = await registry.listShareTokens(c.get("user").id, q);
    return c.json(await Promise.all(tokens.map((t) => tokenJson(registry, t))));
  });
  app.get("/udf-access-token/all", async (c) => {
    const q = readQuery(c, ListQuery);
    const tokens = await registry.listShareTokens(c.get("user").id, q);
    return c.json(await Promise.all(tokens.map((t) => tokenJson(registry, t))));
  });

  app.get("/udf-access-token/by-token/:token", async (c) => {
    const value = c.req.param("token");
    const token = await registry.getShareToken(value);
    if (!token) throw new HttpError(404, `Unknown share token ${value}`);
    return c.json(await tokenJson(registry, token));
  });

  app.post("/udf-access-token/by-token/:token", async (c) => {
    const token = await owned(c.get("user"), c.req.param("token"));
    const body = await readJson(c, UpdateBody);
    const updated = await registry.updateShareToken(token.token, fields(body));
    if (!updated) throw new HttpError(404, `Unknown share token ${token.token}`);
    return c.json(await tokenJson(registry, updated));
  });

  app.delete("/udf-access-token/by-token/:token", async (c) => {
    const token = await owned(c.get("user"), c.req.param("token"));
    const json = await tokenJson(registry, token);
    await registry.deleteShareToken(token.token);
    return c.json(json);
  });
  return app;
}
