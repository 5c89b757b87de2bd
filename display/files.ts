/**
 * File listings (`fused.api.list(path, { details: true })`) as MIME bundles: name, size and
 * modification time, folders first.
 *
 * @module
 */

import { escapeHtml, formatBytes, type MimeBundle } from "./mime.ts";

/** One listed file or folder, in the shape of Fused's `ListDetails` (or a plainer `path`). */
export interface FileEntry {
  /** Full URL of the entry (`fd://bucket/a.parquet`, `file:///...`). */
  url?: string;
  /** Path, when there is no URL. */
  path?: string;
  /** Base name. */
  file_name?: string | null;
  /** Whether the entry is a folder. */
  is_directory?: boolean;
  /** Size in bytes. */
  size?: number | null;
  /** ISO time of the last change. */
  last_modified?: string | null;
}

/** True for a non-empty array of file entries (objects with a `url` or `path` and a size or folder flag). */
export function isFileListing(value: unknown): value is FileEntry[] {
  return Array.isArray(value) && value.length > 0 &&
    value.every((e) =>
      e !== null && typeof e === "object" &&
      (typeof e.url === "string" || typeof e.path === "string") &&
      ("size" in e || "is_directory" in e)
    );
}

/** Options of {@linkcode filesToMimeBundle}. */
export interface FilesDisplayOptions {
  /** Entries shown before the rest is counted; 500 by default. */
  maxEntries?: number;
}

/**
 * Builds the MIME bundle of a file listing.
 *
 * @example
 * ```ts
 * import { filesToMimeBundle } from "./files.ts";
 * const b = filesToMimeBundle([{ url: "fd://b/a.parquet", size: 2048, is_directory: false }]);
 * if (!String(b.data["text/plain"]).includes("2.0 KB")) throw new Error("unexpected");
 * ```
 */
export function filesToMimeBundle(
  entries: FileEntry[],
  options: FilesDisplayOptions = {},
): MimeBundle {
  const max = options.maxEntries ?? 500;
  const sorted = [...entries].sort((a, b) =>
    Number(!!b.is_directory) - Number(!!a.is_directory) || nameOf(a).localeCompare(nameOf(b))
  );
  const shown = sorted.slice(0, max);
  const rest = sorted.length - shown.length;
  const total = entries.reduce((s, e) => s + (e.size ?? 0), 0);
  const rows = shown.map((e) => ({
    name: nameOf(e) + (e.is_directory ? "/" : ""),
    size: e.is_directory || e.size == null ? "" : formatBytes(e.size),
    modified: e.last_modified ?? "",
    url: e.url ?? e.path ?? "",
  }));
  const w = Math.max(4, ...rows.map((r) => r.name.length));
  const sw = Math.max(4, ...rows.map((r) => r.size.length));
  const summary = `${entries.length} ${entries.length === 1 ? "entry" : "entries"}, ${
    formatBytes(total)
  }`;
  const plain = [
    ...rows.map((r) => `${r.name.padEnd(w)}  ${r.size.padStart(sw)}  ${r.modified}`.trimEnd()),
    ...(rest > 0 ? [`… ${rest} more`] : []),
    summary,
  ].join("\n");
  const html =
    `<div class="fused-files"><style>.fused-files td{padding:1px 10px 1px 0;font-family:var(--jp-code-font-family,monospace);font-size:12px}.fused-files td.num{text-align:right}</style><table>
<tr><th align="left">name</th><th align="right">size</th><th align="left">modified</th></tr>
${
      rows.map((r) =>
        `<tr title="${escapeHtml(r.url)}"><td>${escapeHtml(r.name)}</td><td class="num">${
          escapeHtml(r.size)
        }</td><td>${escapeHtml(r.modified)}</td></tr>`
      ).join("\n")
    }
${rest > 0 ? `<tr><td colspan="3">… ${rest} more</td></tr>` : ""}
</table><div>${escapeHtml(summary)}</div></div>`;
  return { data: { "text/plain": plain, "text/html": html } };
}

function nameOf(e: FileEntry): string {
  if (e.file_name) return e.file_name;
  const p = (e.url ?? e.path ?? "").replace(/\/+$/, "");
  return p.slice(p.lastIndexOf("/") + 1) || p;
}
