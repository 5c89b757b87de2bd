/**
 * Published notebook pages (`fused publish`): an owner publishes, lists and unpublishes them with
 * an API token under `/v1/pages`; anyone opens one at `/pages/{owner}/{name}` without a token.
 *
 * A page is HTML its publisher wrote, scripts included (its maps need them), so it is served
 * with `Content-Security-Policy: sandbox allow-scripts` and no `allow-same-origin`: it runs in
 * an opaque origin, so no script of it acts as the service's origin (no storage, no same-origin
 * reads of the API), and its tile layers reach the share-token routes as any other site does,
 * through their CORS answer to every origin (`null` included).
 *
 * @module
 */
import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { z } from "zod";
import { udfNameProblem } from "../../client/udf.ts";
import { type AppEnv, errorResponse, HttpError, queryInt, readQuery } from "../_http.ts";
import type { PageLayer, PageSummary, Registry, User } from "../registry/mod.ts";
import { apiBase, type RouteDeps } from "./_common.ts";

/** The largest page accepted, in bytes of HTML (a map embeds about 0.8 MB of libraries). */
export const DEFAULT_MAX_PAGE_BYTES = 64 * 1024 * 1024;

/** The headers of a served page: it runs scripts, but in an opaque origin of its own. */
export const PAGE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "content-type": "text/html; charset=utf-8",
  "content-security-policy":
    "sandbox allow-scripts allow-popups allow-popups-to-escape-sandbox allow-downloads",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache",
});

const MAX_LAYERS = 100;

const PublishQuery = z.object({
  notebook: z.string().min(1).max(255).refine(
    (name) => !/[/\\]/.test(name) && [...name].every((ch) => ch.charCodeAt(0) >= 32),
    { message: "give the notebook's file name, without folders or control characters" },
  ),
  layers: z.string().max(MAX_LAYERS * 140).default(""),
});

const ListQuery = z.object({
  skip: queryInt(0, 1_000_000, 0),
  limit: queryInt(1, 1000, 100),
});

function pageName(value: string): string {
  const problem = udfNameProblem(value);
  if (problem) {
    throw new HttpError(
      400,
      `Invalid page name ${JSON.stringify(value.slice(0, 200))}: ${problem}`,
    );
  }
  return value;
}

/** The root URL of the service as a request sees it (`http://host:port`). */
function rootUrl(c: Context<AppEnv>, publicUrl: string | undefined): string {
  return apiBase(c, publicUrl).replace(/\/v1$/, "");
}

/** The address anyone opens a page at. */
function pageUrl(root: string, owner: User, name: string): string {
  return `${root}/pages/${encodeURIComponent(owner.handle)}/${encodeURIComponent(name)}`;
}

function pageJson(page: PageSummary, owner: User, root: string): Record<string, unknown> {
  return {
    name: page.name,
    owner: owner.handle,
    notebook: page.notebook,
    url: pageUrl(root, owner, page.name),
    layers: page.layers.map((l) => ({ token: l.token, udf_id: l.udfId, udf_slug: l.udfSlug })),
    size_bytes: page.sizeBytes,
    created_at: page.createdAt,
    published_at: page.publishedAt,
  };
}

/** The layers named by a publish, each a share token of the publisher's. */
async function ownLayers(registry: Registry, user: User, list: string): Promise<PageLayer[]> {
  const tokens = [...new Set(list.split(",").map((t) => t.trim()).filter(Boolean))];
  if (tokens.length > MAX_LAYERS) {
    throw new HttpError(400, `A page has at most ${MAX_LAYERS} layers, got ${tokens.length}`);
  }
  const layers: PageLayer[] = [];
  for (const value of tokens) {
    const token = /^fsh_[0-9a-f]{16,128}$/.test(value) ? await registry.getShareToken(value) : null;
    if (!token || token.ownerId !== user.id) {
      throw new HttpError(
        400,
        `Layer ${
          JSON.stringify(value.slice(0, 140))
        } is not a share token of yours: a page's layers are share tokens its publisher made (udf.createAccessToken)`,
      );
    }
    const udf = await registry.getUdf(token.udfId);
    layers.push({ token: token.token, udfId: token.udfId, udfSlug: udf?.slug ?? "" });
  }
  return layers;
}

/** Deletes the share tokens of `layers` (those still there), skipping any in `keep`. */
async function deleteLayerTokens(
  registry: Registry,
  layers: PageLayer[],
  keep: Set<string> = new Set(),
): Promise<void> {
  for (const layer of layers) {
    if (!keep.has(layer.token)) await registry.deleteShareToken(layer.token);
  }
}

async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new CompressionStream("gzip"));
  return await new Response(stream).bytes();
}

async function gunzipText(bytes: Uint8Array): Promise<string> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(
    new DecompressionStream("gzip"),
  );
  return await new Response(stream).text();
}

/** The `/v1/pages` routes: publish, list and unpublish one's pages (authenticated). */
export function pageRoutes(
  deps: RouteDeps & { publicUrl?: string; maxPageBytes?: number },
): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const { registry } = deps;
  const maxPageBytes = deps.maxPageBytes ?? DEFAULT_MAX_PAGE_BYTES;
  const limit = bodyLimit({
    maxSize: maxPageBytes,
    onError: () =>
      errorResponse(
        413,
        `The page is larger than the limit of ${maxPageBytes} bytes: leave out big outputs (or sample the data its maps draw)`,
      ),
  });

  app.put("/pages/:name", limit, async (c) => {
    const user = c.get("user");
    const name = pageName(c.req.param("name"));
    const query = readQuery(c, PublishQuery);
    const html = new Uint8Array(await c.req.arrayBuffer());
    if (html.length === 0) throw new HttpError(400, "The page is empty: send its HTML as the body");
    const layers = await ownLayers(registry, user, query.layers);
    const { page, previous } = await registry.savePage(user.id, {
      name,
      notebook: query.notebook,
      layers,
      sizeBytes: html.length,
      htmlGzip: await gzip(html),
    });
    // Tokens the page used before and no longer does would run on, unseen: they go.
    if (previous) {
      await deleteLayerTokens(registry, previous.layers, new Set(layers.map((l) => l.token)));
    }
    return c.json(pageJson(page, user, rootUrl(c, deps.publicUrl)), previous ? 200 : 201);
  });

  app.get("/pages", async (c) => {
    const user = c.get("user");
    const pages = await registry.listPages(user.id, readQuery(c, ListQuery));
    const root = rootUrl(c, deps.publicUrl);
    return c.json(pages.map((p) => pageJson(p, user, root)));
  });

  app.delete("/pages/:name", async (c) => {
    const user = c.get("user");
    const name = pageName(c.req.param("name"));
    const page = await registry.deletePage(user.id, name);
    if (!page) throw new HttpError(404, `You have no published page "${name}"`);
    await deleteLayerTokens(registry, page.layers);
    return c.json(pageJson(page, user, rootUrl(c, deps.publicUrl)));
  });
  return app;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/** Why a layer no longer draws, or undefined while its token and UDF are there. */
async function layerProblem(registry: Registry, layer: PageLayer): Promise<string | undefined> {
  const name = layer.udfSlug ? `UDF "${layer.udfSlug}"` : "a UDF";
  if (!await registry.getUdf(layer.udfId)) {
    return `The tile layer of ${name} no longer draws: its UDF was deleted since this page was published.`;
  }
  const token = await registry.getShareToken(layer.token);
  if (!token) {
    return `The tile layer of ${name} no longer draws: its share token was deleted since this page was published.`;
  }
  if (!token.enabled) {
    return `The tile layer of ${name} does not draw now: its owner disabled its share token.`;
  }
  return undefined;
}

/** The bar the service puts at the top of a page: when, from which notebook, and what broke. */
function publishedBar(page: PageSummary, owner: User, problems: string[]): string {
  const when = page.publishedAt.replace("T", " ").replace(/\.\d+Z$/, " UTC");
  const notes = problems.map((p) =>
    `<div class="fused-published-notice" style="color:#8a1c00;margin-top:4px">${
      escapeHtml(p)
    }</div>`
  ).join("");
  return `<div id="fused-published" style="font:13px/1.4 system-ui,sans-serif;padding:8px 12px;` +
    `background:#f3f6fa;border-bottom:1px solid #d0d7de">Published <time datetime="${
      escapeHtml(page.publishedAt)
    }">${escapeHtml(when)}</time> by ${escapeHtml(owner.handle)} from the notebook <b>${
      escapeHtml(page.notebook)
    }</b>${notes}</div>`;
}

/** The page HTML with the bar inserted at the start of its body. */
export function withPublishedBar(html: string, bar: string): string {
  const body = /<body\b[^>]*>/i.exec(html);
  if (!body) return bar + html;
  const at = body.index + body[0].length;
  return html.slice(0, at) + bar + html.slice(at);
}

/** `GET /pages/{owner}/{name}`: a published page, for anyone (no token), read-only. */
export function publicPageRoutes(deps: RouteDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const { registry } = deps;
  app.get("/pages/:owner/:name", async (c) => {
    const handle = c.req.param("owner");
    const name = c.req.param("name");
    const owner = await registry.findUserByHandle(handle);
    const page = owner && !udfNameProblem(name) ? await registry.getPage(owner.id, name) : null;
    if (!owner || !page) {
      throw new HttpError(
        404,
        `No published page "${name.slice(0, 200)}" of ${
          handle.slice(0, 200)
        }: it was unpublished or never existed`,
      );
    }
    const problems = [];
    for (const layer of page.layers) {
      const problem = await layerProblem(registry, layer);
      if (problem) problems.push(problem);
    }
    const html = withPublishedBar(
      await gunzipText(page.htmlGzip),
      publishedBar(page, owner, problems),
    );
    return new Response(html, { headers: PAGE_HEADERS });
  });
  return app;
}
