/**
 * Published notebook pages on a service (`fused publish`): publish HTML under a name, list one's
 * pages, unpublish one. Anyone opens a page at its `url` without a token.
 *
 * @module
 */
import { z } from "zod";
import { type ApiCallOptions, globalTransport, requireText } from "./transport.ts";

/** A published page as the service describes it. */
export const PublishedPageSchema = z.looseObject({
  name: z.string(),
  owner: z.string(),
  notebook: z.string(),
  url: z.string(),
  layers: z.array(z.looseObject({ token: z.string(), udf_id: z.string(), udf_slug: z.string() })),
  size_bytes: z.number(),
  created_at: z.string(),
  published_at: z.string(),
});

/** A published page: its address, notebook, layers (share tokens) and times. */
export type PublishedPage = z.infer<typeof PublishedPageSchema>;

/** Options of {@linkcode publishPage}. */
export interface PublishPageOptions extends ApiCallOptions {
  /** The notebook's file name, shown on the page. */
  notebook: string;
  /** Share tokens (of the caller's) its tile layers draw from; unpublishing deletes them. */
  layers?: string[];
}

/**
 * Publishes HTML as the caller's page `name` (replacing a page of that name); the answer's `url`
 * opens it without a token.
 *
 * @example
 * ```ts ignore
 * import * as fused from "fused";
 * const page = await fused.api.publishPage("demo", "<p>hi</p>", { notebook: "demo.ipynb" });
 * console.log(page.url);
 * ```
 */
export async function publishPage(
  name: string,
  html: string,
  options: PublishPageOptions,
): Promise<PublishedPage> {
  const transport = options.transport ?? globalTransport();
  return await transport.json(
    PublishedPageSchema,
    `/pages/${encodeURIComponent(requireText(name, "The page name"))}`,
    {
      method: "PUT",
      query: { notebook: options.notebook, layers: (options.layers ?? []).join(",") },
      body: html,
      headers: { "content-type": "text/html; charset=utf-8" },
      signal: options.signal,
    },
  );
}

/** The caller's published pages, newest first. */
export async function listPages(options: ApiCallOptions = {}): Promise<PublishedPage[]> {
  const transport = options.transport ?? globalTransport();
  return await transport.json(z.array(PublishedPageSchema), "/pages", {
    query: { limit: 1000 },
    signal: options.signal,
  });
}

/** Unpublishes the caller's page `name` and deletes its layers' share tokens. */
export async function unpublishPage(
  name: string,
  options: ApiCallOptions = {},
): Promise<PublishedPage> {
  const transport = options.transport ?? globalTransport();
  return await transport.json(
    PublishedPageSchema,
    `/pages/${encodeURIComponent(requireText(name, "The page name"))}`,
    { method: "DELETE", signal: options.signal },
  );
}
