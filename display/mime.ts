/**
 * The shape every display function returns (a Jupyter MIME bundle), the displayable hook the
 * kernel looks for, and the small text helpers all renderers share (HTML escaping, base64).
 *
 * `display/` must not import `kernel/`, so the bundle type is declared here with the same shape
 * as the kernel's `MimeBundle`.
 *
 * @module
 */

import { Buffer } from "node:buffer";

/** A Jupyter MIME bundle: representations keyed by MIME type, plus metadata keyed the same way. */
export interface MimeBundle {
  /** Representations keyed by MIME type (`text/plain`, `text/html`, `image/png` as base64, ...). */
  data: Record<string, unknown>;
  /** Metadata keyed by MIME type. */
  metadata?: Record<string, unknown>;
}

/**
 * The key of the method the kernel calls to display an object (`Symbol.for("Jupyter.display")`,
 * the convention of `deno jupyter`, nodejs-polars and anywidget). The method returns the bundle's
 * `data` record (MIME type → representation), as the kernel's `format()` expects.
 */
export const JUPYTER_DISPLAY: unique symbol = Symbol.for(
  "Jupyter.display",
) as typeof JUPYTER_DISPLAY;

/** An object that can show itself in a notebook. */
export interface Displayable {
  /** Returns the MIME data of this object (MIME type → representation). */
  [JUPYTER_DISPLAY](): Promise<Record<string, unknown>>;
  /** Returns the whole bundle, with metadata. */
  toMimeBundle(): Promise<MimeBundle>;
}

/**
 * Wraps a bundle builder as a displayable object: the kernel calls its `Jupyter.display` method,
 * and scripts can call `toMimeBundle()`. The bundle is built on first use and kept.
 *
 * @example
 * ```ts
 * import { displayableBundle, JUPYTER_DISPLAY } from "./mime.ts";
 * const d = displayableBundle(() => ({ data: { "text/plain": "hi" } }), "hi");
 * if ((await d[JUPYTER_DISPLAY]())["text/plain"] !== "hi") throw new Error("unexpected");
 * ```
 */
export function displayableBundle(
  build: () => MimeBundle | Promise<MimeBundle>,
  label: string,
): Displayable {
  let bundle: Promise<MimeBundle> | undefined;
  const get = (): Promise<MimeBundle> => bundle ??= Promise.resolve().then(build);
  return {
    [JUPYTER_DISPLAY]: async () => (await get()).data,
    toMimeBundle: get,
    toString: () => label,
  } as Displayable;
}

/** True when `value` has a `Jupyter.display` method. */
export function hasDisplayHook(value: unknown): value is { [JUPYTER_DISPLAY](): unknown } {
  return value !== null && (typeof value === "object" || typeof value === "function") &&
    typeof (value as Record<symbol, unknown>)[JUPYTER_DISPLAY] === "function";
}

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/**
 * JSON for embedding inside a `<script>` element: `<`, `>` and `&` become `\u003c` etc., so no
 * `</script>` or `<!--` in the data can end the element early; U+2028/9 are escaped for old parsers.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** Base64 of bytes, through node:buffer's native encoder (tens of MB of map data stay fast). */
export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

/** A short random id for DOM elements of one output (outputs share one page). */
export function newId(prefix: string): string {
  return `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
}

const COUNT_FORMAT = new Intl.NumberFormat("en-US");

/**
 * A count with thousands separators (`10,000,000`). One shared formatter: `toLocaleString`
 * builds one per call, ~19 µs each, which was most of a 10M-row table's display cost.
 */
export function formatCount(n: number): string {
  return COUNT_FORMAT.format(n);
}

/** Formats a byte count as "1.2 MB". */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}
