/**
 * The UDF registry: save, overwrite, fetch by id / owner e-mail / handle / team, list, delete.
 * Fetches answer `{id, slug, udf_body: "<Udf JSON>", ...}` as the Fused service does.
 *
 * @module
 */
import { Hono } from "hono";
import { z } from "zod";
import { ValidationError } from "../../client/errors.ts";
import { Udf, UDF_NAME_PATTERN, UDF_NAME_RULE } from "../../client/udf.ts";
import { type AppEnv, HttpError, queryInt, readJson, readQuery } from "../_http.ts";
import {
  ConflictError,
  type Registry,
  type UdfFields,
  type UdfRecord,
  type User,
} from "../registry/mod.ts";
import { canRead, canWrite, checkSlugParam, type RouteDeps } from "./_common.ts";

/** Largest saved UDF body (code + headers), in characters. */
const MAX_UDF_BODY = 5_000_000;

const Slug = z.string().regex(UDF_NAME_PATTERN, { message: UDF_NAME_RULE });

const SaveBody = z.object({
  slug: Slug.optional(),
  udf_body: z.string().max(MAX_UDF_BODY),
  udf_type: z.string().regex(/^[a-z_]{1,32}$/).default("auto"),
  allow_public_read: z.boolean().default(false),
  allow_public_list: z.boolean().default(false),
});

const ListQuery = z.object({
  skip: queryInt(0, 1_000_000, 0),
  limit: queryInt(1, 1000, 100),
  sort: z.enum(["name", "-name", "updated", "-updated"]).default("name"),
  udf_type: z.string().optional(),
});

/** The JSON form of a saved UDF. */
export async function udfRecordJson(
  registry: Registry,
  record: UdfRecord,
): Promise<Record<string, unknown>> {
  const owner = await registry.getUser(record.ownerId);
  return {
    id: record.id,
    slug: record.slug,
    udf_body: record.udfBody,
    udf_type: record.udfType,
    owner_user_id: record.ownerId,
    owner_email: owner?.email ?? null,
    owner_handle: owner?.handle ?? null,
    owner_team: owner?.team ?? null,
    allow_public_read: record.allowPublicRead,
    allow_public_list: record.allowPublicList,
    created_at: record.createdAt,
    updated_at: record.updatedAt,
  };
}

/**
 * The fields of a UDF to save, its npm packages pinned as its user may install them (so every
 * service and worker runs the same versions; a refused package refuses the save).
 */
async function saveFields(
  deps: RouteDeps,
  user: User,
  body: z.infer<typeof SaveBody>,
): Promise<UdfFields> {
  let udf: Udf;
  try {
    udf = Udf.fromJSON(body.udf_body);
  } catch (err) {
    if (err instanceof SyntaxError || err instanceof ValidationError) {
      throw new HttpError(400, `udf_body is not a valid Udf JSON string: ${err.message}`);
    }
    throw err;
  }
  const slug = body.slug ?? udf.name;
  const parsedSlug = Slug.safeParse(slug);
  if (!parsedSlug.success) {
    throw new HttpError(400, `Invalid UDF name "${slug}": ${parsedSlug.error.issues[0].message}`);
  }
  udf.name = slug;
  await deps.runs.pin(udf, user.id);
  return {
    slug,
    udfBody: JSON.stringify(udf.toJSON()),
    udfType: body.udf_type,
    allowPublicRead: body.allow_public_read,
    allowPublicList: body.allow_public_list,
  };
}

async function readable(
  deps: RouteDeps,
  user: User,
  record: UdfRecord | null,
  what: string,
): Promise<UdfRecord> {
  if (!record) throw new HttpError(404, `No UDF ${what}`);
  if (!(await canRead(deps.registry, user, record))) {
    throw new HttpError(
      403,
      `The UDF ${what} is not shared with you: ask its owner to allow public read or to share a token`,
    );
  }
  return record;
}

/** The `/udf/...` routes (authenticated). */
export function udfRoutes(deps: RouteDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const { registry } = deps;

  app.post("/udf/new", async (c) => {
    const fields = await saveFields(deps, c.get("user"), await readJson(c, SaveBody));
    try {
      const record = await registry.createUdf(c.get("user").id, fields);
      return c.json(await udfRecordJson(registry, record), 201);
    } catch (err) {
      if (err instanceof ConflictError) throw new HttpError(409, err.message);
      throw err;
    }
  });

  app.post("/udf/by-id/:id", async (c) => {
    const id = c.req.param("id");
    const current = await registry.getUdf(id);
    if (!current) {
      throw new HttpError(404, `No UDF with id ${id}: save a new one with POST /v1/udf/new`);
    }
    if (!canWrite(c.get("user"), current)) {
      throw new HttpError(
        403,
        `The UDF ${id} belongs to another user: save a copy with POST /v1/udf/new`,
      );
    }
    const fields = await saveFields(deps, c.get("user"), await readJson(c, SaveBody));
    try {
      const record = await registry.updateUdf(id, fields);
      if (!record) throw new HttpError(404, `No UDF with id ${id}`);
      return c.json(await udfRecordJson(registry, record));
    } catch (err) {
      if (err instanceof ConflictError) throw new HttpError(409, err.message);
      throw err;
    }
  });

  app.get("/udf/by-id/:id", async (c) => {
    const id = c.req.param("id");
    const record = await readable(deps, c.get("user"), await registry.getUdf(id), `with id ${id}`);
    return c.json(await udfRecordJson(registry, record));
  });

  app.delete("/udf/by-id/:id", async (c) => {
    const id = c.req.param("id");
    const record = await registry.getUdf(id);
    if (!record) throw new HttpError(404, `No UDF with id ${id}`);
    if (!canWrite(c.get("user"), record)) {
      throw new HttpError(
        403,
        `The UDF ${id} belongs to another user: only its owner can delete it`,
      );
    }
    await registry.deleteUdf(id);
    deps.runs.clearUdfCache(id);
    await deps.runs.clearSharedCache(id);
    await deps.announceCacheClear?.({ udfId: id, folder: null });
    return c.json(await udfRecordJson(registry, record));
  });

  app.get("/udf/by-user-email/:email/by-slug/:slug", async (c) => {
    const { email, slug } = c.req.param();
    checkSlugParam(slug);
    const owner = await registry.findUserByEmail(email);
    const record = owner ? await registry.findUdf(owner.id, slug) : null;
    await readable(deps, c.get("user"), record, `"${slug}" of ${email}`);
    return c.json(await udfRecordJson(registry, record!));
  });

  app.get("/udf/by-user-handle/:handle/by-slug/:slug", async (c) => {
    const { handle, slug } = c.req.param();
    checkSlugParam(slug);
    const owner = await registry.findUserByHandle(handle);
    const record = owner ? await registry.findUdf(owner.id, slug) : null;
    await readable(deps, c.get("user"), record, `"${slug}" of @${handle}`);
    return c.json(await udfRecordJson(registry, record!));
  });

  app.get("/udf/exec-env/self/by-slug/:slug", async (c) => {
    const slug = checkSlugParam(c.req.param("slug"));
    const user = c.get("user");
    const record = user.team
      ? await registry.findTeamUdf(user.team, slug)
      : await registry.findUdf(user.id, slug);
    if (!record) throw new HttpError(404, `No UDF "${slug}" in your team`);
    return c.json(await udfRecordJson(registry, record));
  });

  // The code behind a share token, for its owner only: everyone else runs the token instead.
  app.get("/udf/shared/by-token/:token", async (c) => {
    const token = await registry.getShareToken(c.req.param("token"));
    const record = token ? await registry.getUdf(token.udfId) : null;
    if (!token || !record) throw new HttpError(404, "No UDF is shared under that token");
    if (!canWrite(c.get("user"), record)) {
      throw new HttpError(
        403,
        "Only the owner of a shared UDF can read its code: run it with fused.run(token) instead",
      );
    }
    return c.json(await udfRecordJson(registry, record));
  });

  app.get("/udf/public/by-slug/:slug", async (c) => {
    const slug = checkSlugParam(c.req.param("slug"));
    const record = await registry.findPublicUdf(slug);
    if (!record) throw new HttpError(404, `No public UDF "${slug}"`);
    return c.json(await udfRecordJson(registry, record));
  });

  async function list(records: UdfRecord[]): Promise<Record<string, unknown>[]> {
    return await Promise.all(records.map((r) => udfRecordJson(registry, r)));
  }

  app.get("/udf/self", async (c) => {
    const q = readQuery(c, ListQuery);
    return c.json(
      await list(await registry.listUdfs({ kind: "owner", ownerId: c.get("user").id }, q)),
    );
  });

  app.get("/udf/exec-env/self", async (c) => {
    const q = readQuery(c, ListQuery);
    const user = c.get("user");
    const scope = user.team
      ? { kind: "team" as const, team: user.team }
      : { kind: "owner" as const, ownerId: user.id };
    return c.json(await list(await registry.listUdfs(scope, q)));
  });

  app.get("/udf/public", async (c) => {
    const q = readQuery(c, ListQuery);
    return c.json(await list(await registry.listUdfs({ kind: "public" }, q)));
  });

  return app;
}
