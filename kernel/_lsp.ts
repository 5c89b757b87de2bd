/**
 * Type-aware completion from Deno's own language server (`deno lsp`, the same binary as the
 * kernel), run in the evaluator's main thread, never in the cell's Worker.
 *
 * The server starts on the first completion request, not with the kernel: most sessions never
 * complete, and it is a process of ~280 MB RSS (~330 MB with the fused module loaded; measured).
 * The first request waits up to 1.5 s, later ones up to 300 ms (also while the server is still
 * cold: typing must not stall); then they give up, leaving the request running so the server
 * warms up in the background, and the caller answers with runtime names only. Any failure of the
 * server (missing binary, crash, hang) is swallowed here: completion degrades to runtime names,
 * it never fails. After a failure no server is started again for 30 s, so a broken setup does
 * not spawn a process per keystroke.
 *
 * The document lives beside deno.json and `enablePaths` lists only it: otherwise the server
 * preloads every file of the project (measured: 470 MB instead of 320 MB RSS).
 *
 * @module
 */

import { dirname, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { buildTypeDocument, type TypeDocument } from "./_type_document.ts";

/** One completion the language server offered. */
export interface TypeCompletion {
  /** The name to insert. */
  label: string;
  /** Jupyter/IPython-style kind: function, property, instance, class, module, keyword, ... */
  type: string;
  /** The declaration as TypeScript shows it (`function run(udf: ...): Promise<...>`), if known. */
  signature?: string;
}

/** Options of {@linkcode TypeCompleter}. */
export interface TypeCompleterOptions {
  /** Directory relative imports of cells resolve against. */
  cwd: string;
  /** deno.json whose import map and compiler options apply (default: none, plain Deno). */
  configPath?: string;
  /** Command line of the server (default: `[Deno.execPath(), "lsp"]`). */
  command?: string[];
  /** How long the first request may wait for a cold server (ms, default 1500). */
  firstBudgetMs?: number;
  /** How long later requests may wait (ms, default 300). */
  budgetMs?: number;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** How long a started server may take to answer `initialize` before it counts as broken (ms). */
const INIT_TIMEOUT_MS = 30_000;
/** How long one completion may run in the background before it is cancelled (ms). */
const REQUEST_TIMEOUT_MS = 30_000;
/** How long after a failure no new server is started (ms). */
const RETRY_AFTER_MS = 30_000;
/** How many of the first matches get their signature (`completionItem/resolve`, ~2 ms each). */
const RESOLVE_COUNT = 25;
/**
 * Share of a request's budget the signatures may take (100 ms of the usual 300 ms); matches
 * without one are still answered.
 */
const RESOLVE_SHARE = 1 / 3;

// LSP CompletionItemKind numbers to the kind names JupyterLab shows icons for.
const KINDS: Record<number, string> = {
  1: "text",
  2: "function",
  3: "function",
  4: "function",
  5: "property",
  6: "instance",
  7: "class",
  8: "class",
  9: "module",
  10: "property",
  12: "instance",
  13: "class",
  14: "keyword",
  20: "property",
  21: "instance",
  22: "class",
  25: "class",
};

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

/** A JSON-RPC connection to a language server over the child's stdin/stdout. */
class LspConnection {
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #pending = new Map<number, Pending>();
  #nextId = 1;
  #settings: unknown;
  #exited: Promise<void>;
  /** Set once the server's stdout ended: the server is gone. */
  dead = false;

  constructor(command: string[], cwd: string, settings: unknown) {
    this.#settings = settings;
    this.#child = new Deno.Command(command[0], {
      args: command.slice(1),
      cwd,
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
      // The server would otherwise look for a newer Deno on the network at start.
      env: { DENO_NO_UPDATE_CHECK: "1" },
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.#exited = this.#read().finally(() => {
      this.dead = true;
      for (const p of this.#pending.values()) p.reject(new Error("The language server exited"));
      this.#pending.clear();
    });
  }

  async #read(): Promise<void> {
    const decoder = new TextDecoder();
    let buf = new Uint8Array(0);
    try {
      for await (const chunk of this.#child.stdout) {
        const joined = new Uint8Array(buf.length + chunk.length);
        joined.set(buf);
        joined.set(chunk, buf.length);
        buf = joined;
        while (true) {
          const headerEnd = indexOfHeaderEnd(buf);
          if (headerEnd < 0) break;
          const header = decoder.decode(buf.subarray(0, headerEnd));
          const length = Number(header.match(/content-length:\s*(\d+)/i)?.[1] ?? NaN);
          if (!Number.isFinite(length)) throw new Error("The language server sent no length");
          const bodyStart = headerEnd + 4;
          if (buf.length < bodyStart + length) break;
          const body = decoder.decode(buf.subarray(bodyStart, bodyStart + length));
          buf = buf.slice(bodyStart + length);
          this.#dispatch(JSON.parse(body));
        }
      }
    } catch {
      // A garbled stream or a killed process: the connection is over either way.
    }
  }

  #dispatch(msg: Record<string, unknown>): void {
    if (typeof msg.method === "string") {
      if (msg.id !== undefined) this.#answer(msg.id, msg.method, msg.params);
      return; // notifications (diagnostics, progress) are of no use to completion
    }
    const p = this.#pending.get(msg.id as number);
    if (!p) return;
    this.#pending.delete(msg.id as number);
    if (msg.error) {
      p.reject(new Error(`The language server failed: ${JSON.stringify(msg.error)}`));
    } else p.resolve(msg.result);
  }

  /** Answers the server's own requests: settings when asked, null to everything else. */
  #answer(id: unknown, method: string, params: unknown): void {
    let result: unknown = null;
    if (method === "workspace/configuration") {
      const items = (params as { items?: { section?: string }[] })?.items ?? [];
      const all = this.#settings as Record<string, unknown>;
      result = items.map((item) => all[item.section ?? ""] ?? null);
    }
    this.#write({ jsonrpc: "2.0", id, result });
  }

  #write(msg: unknown): void {
    const body = new TextEncoder().encode(JSON.stringify(msg));
    const header = new TextEncoder().encode(`Content-Length: ${body.length}\r\n\r\n`);
    const frame = new Uint8Array(header.length + body.length);
    frame.set(header);
    frame.set(body, header.length);
    this.#writer.write(frame).catch(() => undefined);
  }

  /** Sends a request; `onId` learns its id (to cancel it). */
  request<T>(method: string, params: unknown, onId?: (id: number) => void): Promise<T> {
    if (this.dead) return Promise.reject(new Error("The language server exited"));
    const id = this.#nextId++;
    onId?.(id);
    const result = new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
    });
    this.#write({ jsonrpc: "2.0", id, method, params });
    return result;
  }

  notify(method: string, params: unknown): void {
    if (!this.dead) this.#write({ jsonrpc: "2.0", method, params });
  }

  /** Cancels a request that is no longer wanted; it rejects at once. */
  cancel(id: number): void {
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    p.reject(new Error("Cancelled"));
    this.notify("$/cancelRequest", { id });
  }

  /** Asks the server to exit, kills it if it has not within 500 ms, and waits for it. */
  async close(): Promise<void> {
    if (!this.dead) {
      const shutdown = this.request("shutdown", null).then(() => this.notify("exit", null));
      await withTimeout(shutdown.catch(() => undefined), 500);
    }
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
    await this.#writer.close().catch(() => undefined);
    await this.#child.status;
    await this.#exited;
  }
}

function indexOfHeaderEnd(buf: Uint8Array): number {
  for (let i = 0; i + 3 < buf.length; i++) {
    if (buf[i] === 13 && buf[i + 1] === 10 && buf[i + 2] === 13 && buf[i + 3] === 10) return i;
  }
  return -1;
}

/** Resolves with `p`'s value, or with undefined after `ms`. */
function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<undefined>((r) => timer = setTimeout(() => r(undefined), ms));
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

interface CompletionItem {
  label: string;
  kind?: number;
  sortText?: string;
  detail?: string;
  insertText?: string;
}

// The first word of a resolved item's detail says what it is more exactly than its LSP kind
// (Deno gives re-exported functions the kind Variable).
const DETAIL_KINDS: Record<string, string> = {
  function: "function",
  method: "function",
  constructor: "function",
  const: "instance",
  let: "instance",
  var: "instance",
  parameter: "param",
  property: "property",
  getter: "property",
  setter: "property",
  "enum member": "property",
  class: "class",
  interface: "class",
  type: "class",
  enum: "class",
  import: "module",
  module: "module",
  namespace: "module",
};

/** Kind and signature from a resolved item's `detail` (`(alias) function f(): T\nexport f`). */
function describeDetail(detail: string): { type?: string; signature: string } {
  const signature = detail.split("\n")[0].replace(/^\(alias\)\s*/, "");
  const word = signature.match(/^\((\w+(?: \w+)?)\)/)?.[1] ?? signature.match(/^(\w+)/)?.[1];
  return { type: word ? DETAIL_KINDS[word] : undefined, signature };
}

/** Type-aware completion for notebook cells from a lazily started `deno lsp`. */
export class TypeCompleter {
  #options: Required<Omit<TypeCompleterOptions, "configPath">> & { configPath?: string };
  #connection: LspConnection | undefined;
  #ready: Promise<void> | undefined;
  #uri: string;
  #root: string;
  #opened = false;
  #version = 0;
  #text = "";
  #warm = false;
  /** Whether a request already had the long first budget (later ones wait less, even cold). */
  #asked = false;
  #failedAt = -Infinity;
  #inflight: number | undefined;
  #closed = false;
  #closing: Promise<void>[] = [];

  /** Creates a completer; nothing starts before the first {@linkcode TypeCompleter.complete}. */
  constructor(options: TypeCompleterOptions) {
    this.#options = {
      command: options.command ?? [Deno.execPath(), "lsp"],
      firstBudgetMs: options.firstBudgetMs ?? 1500,
      budgetMs: options.budgetMs ?? 300,
      cwd: options.cwd,
      configPath: options.configPath,
    };
    // The document sits beside deno.json so that its import map ("fused", npm names) applies.
    const dir = options.configPath
      ? dirname(resolve(options.cwd, options.configPath))
      : options.cwd;
    this.#root = pathToFileURL(dir.endsWith("/") ? dir : dir + "/").href;
    this.#uri = new URL(".fused_notebook_cells.ts", this.#root).href;
  }

  /**
   * Completions at `cursorPos` in `code` given the executed `cells`, or undefined when the
   * server has none in time (cold, broken, or the cursor is in a magic).
   */
  async complete(
    cells: readonly string[],
    code: string,
    cursorPos: number,
  ): Promise<TypeCompletion[] | undefined> {
    if (this.#closed) return undefined;
    if (performance.now() - this.#failedAt < RETRY_AFTER_MS) return undefined;
    const partial = code.slice(0, cursorPos).match(/[A-Za-z_$][\w$]*$/)?.[0] ?? "";
    let doc: TypeDocument | undefined;
    try {
      doc = buildTypeDocument(cells, code, cursorPos, { cwd: this.#options.cwd });
    } catch {
      return undefined;
    }
    if (!doc) return undefined;
    const budget = this.#asked ? this.#options.budgetMs : this.#options.firstBudgetMs;
    this.#asked = true;
    const work = this.#request(doc, partial, budget * RESOLVE_SHARE).catch(() => undefined);
    return await withTimeout(work, budget);
  }

  async #request(
    doc: TypeDocument,
    partial: string,
    resolveMs: number,
  ): Promise<TypeCompletion[] | undefined> {
    this.#ready ??= this.#start().catch((e) => {
      this.#fail();
      throw e;
    });
    await this.#ready;
    const connection = this.#connection;
    if (!connection || connection.dead) {
      this.#fail();
      throw new Error("The language server is not running");
    }
    this.#sync(connection, doc.text);
    // A newer request supersedes an older one, but not while the server is cold: its first
    // request loads the program, and cancelling it would start that work over (measured: the
    // first types arrive ~1 s later when every keystroke cancels).
    if (this.#inflight !== undefined && this.#warm) connection.cancel(this.#inflight);
    let id: number | undefined;
    const request = connection.request<CompletionItem[] | { items: CompletionItem[] } | null>(
      "textDocument/completion",
      {
        textDocument: { uri: this.#uri },
        position: { line: doc.line, character: doc.character },
        context: { triggerKind: 1 },
      },
      (i) => this.#inflight = id = i,
    );
    const timer = setTimeout(() => id !== undefined && connection.cancel(id), REQUEST_TIMEOUT_MS);
    try {
      const result = await request;
      this.#warm = true;
      const items = (Array.isArray(result) ? result : result?.items ?? [])
        .filter((item) =>
          (item.insertText === undefined || item.insertText === item.label) &&
          IDENTIFIER.test(item.label) && item.label.startsWith(partial)
        )
        .sort((a, b) => (a.sortText ?? "").localeCompare(b.sortText ?? ""));
      // Resolve first the items whose kind says least: Deno labels re-exported functions as
      // variables (kind 6), and a namespace like `fused.` has more types than RESOLVE_COUNT.
      const vague = (item: CompletionItem) => item.kind === undefined || item.kind === 6 ? 0 : 1;
      const order = items.map((_, i) => i).sort((a, b) =>
        vague(items[a]) - vague(items[b]) || a - b
      )
        .slice(0, RESOLVE_COUNT);
      const resolved = await this.#details(connection, order.map((i) => items[i]), resolveMs);
      const details: (string | undefined)[] = [];
      order.forEach((itemIndex, k) => details[itemIndex] = resolved[k]);
      return items.map((item, i) => {
        const detail = details[i];
        const described = detail ? describeDetail(detail) : undefined;
        return {
          label: item.label,
          type: described?.type ?? KINDS[item.kind ?? 0] ?? "<unknown>",
          ...(described ? { signature: described.signature } : {}),
        };
      });
    } finally {
      clearTimeout(timer);
      if (this.#inflight === id) this.#inflight = undefined;
    }
  }

  /** The `detail` of each item, as far as the server resolves them within `ms`. */
  async #details(
    connection: LspConnection,
    items: CompletionItem[],
    ms: number,
  ): Promise<string[]> {
    const details: string[] = [];
    const ids: number[] = [];
    const all = Promise.all(
      items.map((item, i) =>
        connection.request<CompletionItem>("completionItem/resolve", item, (id) => ids.push(id))
          .then((r) => {
            if (r?.detail) details[i] = r.detail;
          }, () => undefined)
      ),
    );
    await withTimeout(all, ms);
    for (const id of ids) connection.cancel(id);
    return details;
  }

  #sync(connection: LspConnection, text: string): void {
    if (!this.#opened) {
      this.#opened = true;
      this.#text = text;
      connection.notify("textDocument/didOpen", {
        textDocument: { uri: this.#uri, languageId: "typescript", version: ++this.#version, text },
      });
    } else if (text !== this.#text) {
      this.#text = text;
      connection.notify("textDocument/didChange", {
        textDocument: { uri: this.#uri, version: ++this.#version },
        contentChanges: [{ text }],
      });
    }
  }

  async #start(): Promise<void> {
    const deno = {
      enable: true,
      enablePaths: [fileURLToPath(this.#uri)],
      lint: false,
      config: this.#options.configPath,
      codeLens: { implementations: false, references: false, test: false },
    };
    const ts = { suggest: { autoImports: false, completeFunctionCalls: false } };
    const settings = { deno, typescript: ts, javascript: ts };
    const connection = new LspConnection(this.#options.command, this.#options.cwd, settings);
    this.#connection = connection;
    const init = connection.request("initialize", {
      processId: Deno.pid,
      rootUri: this.#root,
      workspaceFolders: [{ uri: this.#root, name: "notebook" }],
      capabilities: {
        textDocument: { completion: { completionItem: { snippetSupport: false } } },
        workspace: { configuration: true, workspaceFolders: true },
      },
      initializationOptions: deno,
    });
    const answered = await withTimeout(init.then(() => true, () => false), INIT_TIMEOUT_MS);
    if (!answered || this.#closed) throw new Error("The language server did not start");
    connection.notify("initialized", {});
  }

  /** Drops a broken server; no new one starts for a while. */
  #fail(): void {
    this.#failedAt = performance.now();
    const connection = this.#connection;
    this.#connection = undefined;
    this.#ready = undefined;
    this.#opened = false;
    this.#warm = false;
    this.#asked = false;
    if (connection) this.#closing.push(connection.close());
  }

  /** Stops the server (if it runs) and waits until its process is gone. */
  async close(): Promise<void> {
    this.#closed = true;
    const connection = this.#connection;
    this.#connection = undefined;
    await connection?.close();
    await this.#ready?.catch(() => undefined);
    await Promise.all(this.#closing);
  }
}
