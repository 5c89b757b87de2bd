/**
 * Rich display for notebook cells: `display(value)`, the `html` and `md` tagged templates, and
 * updatable displays. Objects with a `[Symbol.for("Jupyter.display")]()` method (the convention
 * of `deno jupyter`, used by nodejs-polars and anywidget) display through it.
 *
 * @example
 * ```ts ignore
 * import { display, html } from "./display.ts";
 * const h = await display(html`<b>working</b>`, { displayId: true });
 * await h.update(html`<b>done</b>`);
 * ```
 *
 * @module
 */

import type { MimeBundle } from "./evaluator_types.ts";
import { requireBridge } from "./_bridge.ts";

/** The symbol a displayable object's method is keyed by (`Symbol.for("Jupyter.display")`). */
export const $display: unique symbol = Symbol.for("Jupyter.display") as typeof $display;

/** An object that can render itself as a MIME bundle (sync or async). */
export interface Displayable {
  /** Returns MIME data keyed by type, e.g. `{ "text/html": "<b>x</b>" }`. */
  [$display](): Record<string, unknown> | Promise<Record<string, unknown>>;
}

/** Options of {@linkcode display}. */
export interface DisplayOptions {
  /** The value already is a MIME bundle (`{ "text/html": ... }`), not a value to format. */
  raw?: boolean;
  /** Replace an earlier display with the same `displayId` (update_display_data). */
  update?: boolean;
  /** Id of an updatable display; `true` makes one up. */
  displayId?: string | boolean;
  /** Metadata keyed by MIME type. */
  metadata?: Record<string, unknown>;
}

/** Handle of an updatable display, returned by {@linkcode display} when a displayId is given. */
export interface DisplayHandle {
  /** The display id. */
  readonly displayId: string;
  /** Replaces the displayed content with `value`. */
  update(value: unknown, options?: { raw?: boolean }): Promise<void>;
}

/** Formats any value as a MIME bundle's data, always including text/plain. */
export async function format(value: unknown): Promise<Record<string, unknown>> {
  if (value !== null && (typeof value === "object" || typeof value === "function")) {
    const method = (value as Record<symbol, unknown>)[$display];
    if (typeof method === "function") {
      const data = await (method as () => unknown).call(value);
      if (data && typeof data === "object") return { ...(data as Record<string, unknown>) };
    }
  }
  return { "text/plain": inspectPlain(value) };
}

/** Formats a value as text the way the REPL shows it, without colour codes. */
export function inspectPlain(value: unknown): string {
  return Deno.inspect(value, {
    colors: false,
    depth: 4,
    iterableLimit: 100,
    strAbbreviateSize: 10_000,
  });
}

/**
 * A hook that builds the whole bundle for values it knows, or returns undefined. A bundle with
 * `transient.display_id` is a live display (a widget that keeps updating it): it is shown as
 * display_data, also when it is a cell's value, so update_display_data can reach it.
 */
export type DisplayHook = (
  value: unknown,
) => MimeBundle | undefined | Promise<MimeBundle | undefined>;

const HOOKS_KEY = Symbol.for("fused.kernel.displayHooks");

/** The hooks, on a global symbol so that a second copy of this module sees the same list. */
function displayHooks(): DisplayHook[] {
  const g = globalThis as Record<symbol, unknown>;
  return (g[HOOKS_KEY] ??= []) as DisplayHook[];
}

/** Registers a display hook (tried before `Jupyter.display` methods); returns a remover. */
export function registerDisplayHook(hook: DisplayHook): () => void {
  displayHooks().push(hook);
  return () => {
    const hooks = displayHooks();
    const i = hooks.indexOf(hook);
    if (i >= 0) hooks.splice(i, 1);
  };
}

/** Builds the bundle for a value (honouring `raw`). */
export async function toBundle(
  value: unknown,
  options: { raw?: boolean; metadata?: Record<string, unknown> } = {},
): Promise<MimeBundle> {
  if (options.raw && value && typeof value === "object") {
    return { data: { ...(value as Record<string, unknown>) }, metadata: options.metadata ?? {} };
  }
  for (const hook of displayHooks()) {
    const bundle = await hook(value);
    if (bundle) return { ...bundle, metadata: { ...bundle.metadata, ...options.metadata } };
  }
  return { data: await format(value), metadata: options.metadata ?? {} };
}

/** Shows a value in the cell's output (display_data), or updates an earlier display. */
export async function display(
  value: unknown,
  options: DisplayOptions = {},
): Promise<DisplayHandle | undefined> {
  const bridge = requireBridge("display()");
  const bundle = await toBundle(value, options);
  const displayId = options.displayId === true
    ? crypto.randomUUID()
    : typeof options.displayId === "string"
    ? options.displayId
    : typeof bundle.transient?.display_id === "string"
    ? bundle.transient.display_id
    : undefined;
  if (displayId !== undefined) bundle.transient = { display_id: displayId };
  if (options.update && displayId === undefined) {
    throw new Error(
      "display() with update: true needs a displayId: pass the id of the display to update",
    );
  }
  bridge.emit({ kind: "display", bundle, update: options.update === true });
  if (displayId === undefined) return undefined;
  const cell = bridge.currentCell();
  return {
    displayId,
    update(next: unknown, opts: { raw?: boolean } = {}): Promise<void> {
      return bridge.runInCell(
        cell,
        () => display(next, { ...opts, displayId, update: true }).then(() => undefined),
      );
    },
  };
}

/** Clears the cell's output (`wait: true` clears when the next output arrives). */
export function clearOutput(options: { wait?: boolean } = {}): void {
  requireBridge("clearOutput()").emit({ kind: "clear_output", wait: options.wait === true });
}

function interpolate(strings: TemplateStringsArray, values: unknown[]): string {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += String(values[i]) + strings[i + 1];
  return out;
}

function displayable(mime: string, text: string): Displayable {
  return {
    [$display]: () => ({ [mime]: text, "text/plain": text }),
  };
}

/** Tagged template: `html\`<b>${x}</b>\`` displays as HTML. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Displayable {
  return displayable("text/html", interpolate(strings, values));
}

/** Tagged template: `md\`# Title\`` displays as Markdown. */
export function md(strings: TemplateStringsArray, ...values: unknown[]): Displayable {
  return displayable("text/markdown", interpolate(strings, values));
}

/** Tagged template: `svg\`<svg>...</svg>\`` displays as SVG. */
export function svg(strings: TemplateStringsArray, ...values: unknown[]): Displayable {
  return displayable("image/svg+xml", interpolate(strings, values));
}
