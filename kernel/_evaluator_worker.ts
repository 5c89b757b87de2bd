/**
 * Inside the evaluator Worker: runs cells through the V8 inspector in REPL mode (so const/let
 * can be redeclared, top-level await works and declarations persist), captures console output
 * per cell, and answers completion, inspection and comm messages while a cell awaits.
 *
 * Messages from the main thread are {@linkcode ToWorker}; replies are {@linkcode FromWorker}.
 *
 * @module
 */
/// <reference lib="deno.worker" />

import { Session } from "node:inspector/promises";
import { AsyncLocalStorage } from "node:async_hooks";
import { Console } from "node:console";
import { Writable } from "node:stream";
import type { EvaluatorEvent, MimeBundle } from "./evaluator_types.ts";
import {
  type FromWorker,
  INPUT_INTERRUPTED,
  INPUT_OK,
  INPUT_WAITING,
  type ToWorker,
} from "./_evaluator_protocol.ts";
import { type BridgeEvent, setBridge } from "./_bridge.ts";
import { AWAIT_NAME, CellSyntaxError, TICK_NAME, transformCell } from "./_transform.ts";
import {
  $display,
  clearOutput,
  display,
  format,
  html,
  inspectPlain,
  md,
  svg,
  toBundle,
} from "./display.ts";
import { installFusedDisplay } from "./fused_display.ts";
import { ensureEngines, installMagicRuntime } from "./magic_runtime.ts";
import { cancelAwaitedPools, installJobPoolDisplay } from "./job_pool_display.ts";
import {
  commInfo,
  deliverFrontendComm,
  noteWidgetManagerHint,
  openComm,
  registerCommTarget,
  trackComm,
  untrackComm,
} from "./comm.ts";
import {
  type CapturedOutput,
  getMagic,
  type MagicContext,
  parseCell,
  UnknownMagicError,
} from "../magics/mod.ts";

class KeyboardInterrupt extends Error {
  constructor(message = "Interrupted by the user (kernel state kept)") {
    super(message);
    this.name = "KeyboardInterrupt";
  }
}

const als = new AsyncLocalStorage<string>();
const session = new Session();
session.connect();

/** `session.post` with the result typed by the caller (node's typings only know some methods). */
function inspectorPost<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
  return (session as unknown as { post(m: string, p: unknown): Promise<T> }).post(method, params);
}

let flag = new Int32Array(new SharedArrayBuffer(4));
let inputState = new Int32Array(new SharedArrayBuffer(8));
let inputBytes: Uint8Array<ArrayBufferLike> = new Uint8Array(0);
let cwd = "/";
let lastCell = "";
let inDispatch = false;

interface Running {
  id: number;
  cell: string;
  allowStdin: boolean;
  interrupt: (e: Error) => void;
}
let running: Running | undefined;
const cellSources: string[] = [];
const cellNumbers = new Map<string, number>();
const cellByNumber = new Map<number, string>();
const silentCells = new Set<string>();
const captures = new Map<string, EvaluatorEvent[][]>();

function post(msg: FromWorker): void {
  self.postMessage(msg);
}

function currentCell(): string {
  return als.getStore() ?? running?.cell ?? lastCell;
}

// ---------------------------------------------------------------- output queue (coalescing)

let queue: EvaluatorEvent[] = [];
let queuedBytes = 0;
let flushTimer: ReturnType<typeof setTimeout> | undefined;
const FLUSH_MS = 15;
const FLUSH_BYTES = 64 * 1024;

function emit(event: BridgeEvent | EvaluatorEvent): void {
  const ev =
    ("cell" in event && event.cell !== undefined
      ? event
      : { ...event, cell: currentCell() }) as EvaluatorEvent;
  if ("cell" in ev) {
    if (silentCells.has(ev.cell)) return;
    const sinks = captures.get(ev.cell);
    if (sinks?.length) {
      sinks[sinks.length - 1].push(ev);
      return;
    }
  }
  const last = queue[queue.length - 1];
  if (
    ev.kind === "stream" && last?.kind === "stream" && last.cell === ev.cell &&
    last.name === ev.name
  ) {
    last.text += ev.text;
  } else {
    queue.push(ev);
  }
  queuedBytes += ev.kind === "stream" ? ev.text.length : 1024;
  if (queuedBytes >= FLUSH_BYTES) flush();
  else if (flushTimer === undefined) flushTimer = setTimer(flush, FLUSH_MS);
}

function flush(): void {
  if (flushTimer !== undefined) clearTimer(flushTimer);
  flushTimer = undefined;
  if (queue.length === 0) return;
  const events = queue;
  queue = [];
  queuedBytes = 0;
  post({ type: "events", events });
}

// ---------------------------------------------------------------- console, timers, errors

const setTimer = globalThis.setTimeout.bind(globalThis);
const clearTimer = globalThis.clearTimeout.bind(globalThis);
const nativeSetInterval = globalThis.setInterval.bind(globalThis);

function streamWriter(name: "stdout" | "stderr"): Writable {
  return new Writable({
    decodeStrings: false,
    write(chunk: unknown, _enc: string, cb: () => void): void {
      emit({
        kind: "stream",
        name,
        text: typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk as Uint8Array),
      });
      cb();
    },
  });
}

const kernelConsole = new Console({
  stdout: streamWriter("stdout"),
  stderr: streamWriter("stderr"),
  colorMode: false,
});

function installConsole(): void {
  const c = kernelConsole as unknown as Record<string, unknown>;
  const target = globalThis.console as unknown as Record<string, unknown>;
  for (const k of Object.keys(target)) {
    if (typeof c[k] === "function") target[k] = (c[k] as (...a: unknown[]) => unknown).bind(c);
  }
}

/** Reports an error of background work (timer, unhandled rejection) to the cell that started it. */
function reportBackground(error: unknown, cell?: string): void {
  const target = cell ?? cellFromStack(error) ?? currentCell();
  const { ename, evalue, traceback } = describeError(error);
  emit({
    kind: "error",
    cell: target,
    ename,
    evalue: `${evalue} (in background work of this cell)`,
    traceback,
  });
}

function cellFromStack(error: unknown): string | undefined {
  const stack = error instanceof Error ? error.stack ?? "" : "";
  const m = stack.match(/cell-(\d+)\.ts:\d+/);
  return m ? cellByNumber.get(Number(m[1])) : undefined;
}

function wrapCallback(cb: unknown): unknown {
  if (typeof cb !== "function") return cb;
  const cell = als.getStore();
  return function (this: unknown, ...args: unknown[]): unknown {
    try {
      return (cb as (...a: unknown[]) => unknown).apply(this, args);
    } catch (e) {
      reportBackground(e, cell);
    }
  };
}

function installTimers(): void {
  const g = globalThis as unknown as Record<string, unknown>;
  g.setTimeout = (cb: unknown, ms?: number, ...args: unknown[]) =>
    setTimer(wrapCallback(cb) as (...a: unknown[]) => void, ms, ...(args as []));
  g.setInterval = (cb: unknown, ms?: number, ...args: unknown[]) =>
    nativeSetInterval(wrapCallback(cb) as (...a: unknown[]) => void, ms, ...(args as []));
  globalThis.addEventListener("unhandledrejection", (e) => {
    e.preventDefault();
    reportBackground(e.reason);
  });
  globalThis.addEventListener("error", (e) => {
    e.preventDefault();
    reportBackground(e.error ?? e.message);
  });
}

/** Per running cell: a promise that rejects when the cell is interrupted. */
const cancels = new Map<string, { promise: Promise<never>; reject: (e: Error) => void }>();

function newCancel(cell: string): (e: Error) => void {
  let reject!: (e: Error) => void;
  const promise = new Promise<never>((_, r) => reject = r);
  promise.catch(() => undefined); // nobody may be awaiting when it fires
  cancels.set(cell, { promise, reject });
  return reject;
}

function installTick(): void {
  Object.defineProperty(globalThis, TICK_NAME, {
    value: function tick(): void {
      if (flag[0] !== 0) throw new KeyboardInterrupt();
    },
    enumerable: false,
    writable: false,
    configurable: false,
  });
  Object.defineProperty(globalThis, AWAIT_NAME, {
    value: function fusedAwait(value: unknown): unknown {
      const cell = als.getStore();
      const cancel = cell === undefined ? undefined : cancels.get(cell);
      if (!cancel) return value;
      if (flag[0] !== 0) throw new KeyboardInterrupt();
      return Promise.race([value, cancel.promise]);
    },
    enumerable: false,
    writable: false,
    configurable: false,
  });
}

// ---------------------------------------------------------------- stdin

function askInput(message: string, password: boolean): string {
  const r = running;
  if (!r || !r.allowStdin) {
    throw new Error(
      "prompt() cannot ask for input: this frontend does not allow stdin (allow_stdin is false) " +
        "or no cell is running; pass the value in code instead",
    );
  }
  flush();
  Atomics.store(inputState, 0, INPUT_WAITING);
  post({ type: "input", prompt: message, password, cell: r.cell });
  Atomics.wait(inputState, 0, INPUT_WAITING);
  const state = Atomics.load(inputState, 0);
  const text = new TextDecoder().decode(inputBytes.slice(0, Atomics.load(inputState, 1)));
  if (state === INPUT_OK) return text;
  if (state === INPUT_INTERRUPTED) throw new KeyboardInterrupt();
  throw new Error(text);
}

function installStdin(): void {
  const g = globalThis as unknown as Record<string, unknown>;
  g.prompt = (message = "", defaultValue?: string): string | null => {
    const answer = askInput(String(message), false);
    return answer === "" && defaultValue !== undefined ? defaultValue : answer;
  };
  g.confirm = (message = ""): boolean => {
    const answer = askInput(`${message} [y/N] `, false);
    return /^y(es)?$/i.test(answer.trim());
  };
  g.alert = (message = ""): void => {
    emit({ kind: "stream", name: "stdout", text: `${message}\n` });
  };
}

// ---------------------------------------------------------------- display globals

function broadcast(
  msgType: string,
  content: Record<string, unknown>,
  extra: { metadata?: unknown; buffers?: Uint8Array[] } = {},
): void {
  const buffers = extra.buffers ?? [];
  const cell = currentCell();
  switch (msgType) {
    case "display_data":
    case "update_display_data":
      emit({
        kind: "display",
        bundle: {
          data: (content.data ?? {}) as Record<string, unknown>,
          metadata: (content.metadata ?? {}) as Record<string, unknown>,
          transient: (content.transient ?? {}) as Record<string, unknown>,
        },
        update: msgType === "update_display_data",
      });
      return;
    case "clear_output":
      emit({ kind: "clear_output", wait: content.wait === true });
      return;
    case "stream":
      emit({
        kind: "stream",
        name: content.name === "stderr" ? "stderr" : "stdout",
        text: String(content.text ?? ""),
      });
      return;
    case "comm_open":
      trackComm(String(content.comm_id), String(content.target_name), cell);
      emit({
        kind: "comm_open",
        commId: String(content.comm_id),
        targetName: String(content.target_name),
        data: content.data ?? {},
        metadata: extra.metadata,
        buffers,
      });
      return;
    case "comm_msg":
      emit({
        kind: "comm_msg",
        commId: String(content.comm_id),
        data: content.data ?? {},
        metadata: extra.metadata,
        buffers,
      });
      return;
    case "comm_close":
      untrackComm(String(content.comm_id));
      emit({
        kind: "comm_close",
        commId: String(content.comm_id),
        data: content.data ?? {},
        buffers,
      });
      return;
    default:
      throw new Error(
        `Deno.jupyter.broadcast("${msgType}") is not supported by this kernel: use display_data, ` +
          "update_display_data, clear_output, stream, comm_open, comm_msg or comm_close",
      );
  }
}

function installDisplay(): void {
  const jupyterApi = {
    display: (
      value: unknown,
      opts: { raw?: boolean; update?: boolean; display_id?: string } = {},
    ) =>
      display(value, { raw: opts.raw, update: opts.update, displayId: opts.display_id }).then(() =>
        undefined
      ),
    html,
    md,
    svg,
    format,
    broadcast,
    $display,
  };
  const define = (name: string, value: unknown) =>
    Object.defineProperty(globalThis, name, {
      value,
      writable: true,
      configurable: true,
      enumerable: false,
    });
  define("display", display);
  define("html", html);
  define("md", md);
  define("svg", svg);
  define("clearOutput", clearOutput);
  define("Jupyter", {
    display,
    html,
    md,
    svg,
    clearOutput,
    openComm,
    registerCommTarget,
    commInfo,
  });
  try {
    Object.defineProperty(Deno, "jupyter", {
      value: jupyterApi,
      configurable: true,
      writable: true,
    });
  } catch {
    // Deno namespace not extensible here: the globals above still work.
  }
}

// ---------------------------------------------------------------- evaluation

interface RemoteObject {
  type: string;
  subtype?: string;
  value?: unknown;
  unserializableValue?: string;
  objectId?: string;
  description?: string;
}

interface EvaluateResponse {
  result: RemoteObject;
  exceptionDetails?: {
    text: string;
    lineNumber: number;
    columnNumber: number;
    exception?: RemoteObject;
  };
}

const SLOT = Symbol.for("fused.kernel.slot");

async function remoteToValue(obj: RemoteObject | undefined): Promise<unknown> {
  if (!obj || obj.type === "undefined") return undefined;
  if (obj.objectId) {
    await inspectorPost("Runtime.callFunctionOn", {
      objectId: obj.objectId,
      functionDeclaration:
        "function () { 'use strict'; globalThis[Symbol.for('fused.kernel.slot')] = this; }",
    });
    const g = globalThis as unknown as Record<symbol, unknown>;
    const v = g[SLOT];
    delete g[SLOT];
    return v;
  }
  if (obj.unserializableValue !== undefined) {
    const u = obj.unserializableValue;
    if (u.endsWith("n")) return BigInt(u.slice(0, -1));
    if (u === "-0") return -0;
    return Number(u);
  }
  return obj.value;
}

function cellUrl(cell: string): string {
  let n = cellNumbers.get(cell);
  if (n === undefined) {
    n = cellNumbers.size + 1;
    cellNumbers.set(cell, n);
    cellByNumber.set(n, cell);
  }
  return `cell-${n}.ts`;
}

/** Evaluates TypeScript in the notebook scope; resolves to the completion value. */
async function evaluate(code: string, cell: string, lineOffset = 0): Promise<unknown> {
  if (inDispatch) {
    throw new Error(
      "Cannot evaluate code synchronously from inside a running cell: await something first",
    );
  }
  const { js } = transformCell("\n".repeat(lineOffset) + code, { cwd });
  const expression = `${js}\n//# sourceURL=${cellUrl(cell)}`;
  let pending: Promise<EvaluateResponse>;
  inDispatch = true;
  try {
    pending = als.run(cell, () =>
      inspectorPost<EvaluateResponse>("Runtime.evaluate", {
        expression,
        replMode: true,
        awaitPromise: true,
        objectGroup: "fused-cell",
      }));
  } finally {
    inDispatch = false;
  }
  const r = await pending;
  if (r.exceptionDetails) {
    const thrown = r.exceptionDetails.exception
      ? await remoteToValue(r.exceptionDetails.exception)
      : new Error(r.exceptionDetails.text);
    throw thrown;
  }
  return await remoteToValue(r.result);
}

function describeError(e: unknown): { ename: string; evalue: string; traceback: string[] } {
  if (e instanceof CellSyntaxError) {
    return { ename: "SyntaxError", evalue: e.message, traceback: [`SyntaxError: ${e.message}`] };
  }
  if (e instanceof Error) {
    const ename = e.name || "Error";
    const lines = (e.stack ?? `${ename}: ${e.message}`).split("\n");
    // Frames below the cell (inspector plumbing, this file) are noise to the user.
    const cut = lines.findIndex((l) =>
      /ext:deno_node\/inspector|Session\.post|_evaluator_worker\.ts/.test(l)
    );
    const traceback = (cut > 0 ? lines.slice(0, cut) : lines).map((l) =>
      l.replaceAll("<anonymous>:", "<cell>:")
    );
    return { ename, evalue: e.message, traceback };
  }
  const text = typeof e === "string" ? e : inspectPlain(e);
  return { ename: "Error", evalue: text, traceback: [`Uncaught ${text}`] };
}

/** Adds the offending cell line with a caret under the column. */
function withSourceLine(
  described: { ename: string; evalue: string; traceback: string[] },
  code: string,
  line: number,
  column: number,
): { ename: string; evalue: string; traceback: string[] } {
  const text = code.split("\n")[line - 1];
  if (text === undefined) return described;
  const evalue = `${described.evalue} (line ${line}, column ${column + 1})`;
  return {
    ...described,
    evalue,
    traceback: [
      `${described.ename}: ${evalue}`,
      `  ${line} | ${text}`,
      `  ${" ".repeat(String(line).length)} | ${" ".repeat(column)}^`,
    ],
  };
}

/**
 * For a runtime error, the first position inside cell code, from the stack. Deno's inspector
 * ignores `//# sourceURL`, so every cell is `<anonymous>`; the first such frame is usually the
 * running cell (it may be a function from an earlier cell: then the line shown is best effort).
 */
function cellPosition(e: unknown): { line: number; column: number } | undefined {
  if (!(e instanceof Error) || !e.stack) return undefined;
  const m = e.stack.match(/<anonymous>:(\d+):(\d+)/);
  return m ? { line: Number(m[1]), column: Number(m[2]) - 1 } : undefined;
}

function errorOutcome(e: unknown, code: string) {
  let described = describeError(e);
  if (e instanceof CellSyntaxError) {
    described = withSourceLine(described, code, e.line, e.column);
  } else {
    const pos = cellPosition(e);
    if (pos) {
      const text = code.split("\n")[pos.line - 1];
      if (text !== undefined) {
        described.traceback = [
          ...described.traceback,
          "",
          `  ${pos.line} | ${text}`,
          `  ${" ".repeat(String(pos.line).length)} | ${" ".repeat(Math.max(0, pos.column))}^`,
        ];
      }
    }
  }
  return { status: "error" as const, ...described };
}

function magicContext(cell: string, bodyLine?: number): MagicContext {
  return {
    cell,
    bodyLine,
    evaluate: (code) => evaluate(code, cell),
    async bind(name, value) {
      if (!/^[A-Za-z_$][\w$]*$/.test(name)) {
        throw new Error(`Cannot bind "${name}": use a JavaScript identifier`);
      }
      const g = globalThis as unknown as Record<symbol, unknown>;
      g[SLOT] = value;
      await evaluate(
        `const ${name} = globalThis[Symbol.for("fused.kernel.slot")]; delete globalThis[Symbol.for("fused.kernel.slot")];`,
        cell,
      );
    },
    // Output goes to the cell whose code calls print/display: the magic's own cell while it
    // runs, a later cell when that cell calls something the magic bound (`captured.show()`).
    display: (value, options) =>
      als.run(als.getStore() ?? cell, () => display(value, options)).then(() => undefined),
    print(text, stream = "stdout") {
      emit({ kind: "stream", cell: als.getStore() ?? cell, name: stream, text });
    },
    async capture<T>(fn: () => Promise<T>): Promise<CapturedOutput<T>> {
      const sink: EvaluatorEvent[] = [];
      const sinks = captures.get(cell) ?? [];
      sinks.push(sink);
      captures.set(cell, sinks);
      let value: T;
      try {
        value = await fn();
      } finally {
        sinks.splice(sinks.indexOf(sink), 1);
        if (sinks.length === 0) captures.delete(cell);
      }
      let stdout = "";
      let stderr = "";
      const outputs: Record<string, unknown>[] = [];
      for (const ev of sink) {
        if (ev.kind === "stream") {
          if (ev.name === "stdout") stdout += ev.text;
          else stderr += ev.text;
        } else if (ev.kind === "display") outputs.push(ev.bundle.data);
      }
      return { value, stdout, stderr, outputs };
    },
  };
}

async function runMagic(
  kind: "cell" | "line",
  name: string,
  args: string,
  body: string,
  cell: string,
  bodyLine?: number,
): Promise<unknown> {
  const magic = getMagic(kind, name);
  if (!magic) throw new UnknownMagicError(kind, name);
  if (name === "fused") await ensureEngines();
  return await als.run(cell, () => magic.run(args, body, magicContext(cell, bodyLine)));
}

async function runCell(code: string, cell: string): Promise<unknown> {
  const parsed = parseCell(code);
  if (parsed.type === "cell_magic") {
    return await runMagic("cell", parsed.name, parsed.args, parsed.body, cell, parsed.bodyLine);
  }
  let value: unknown;
  for (const seg of parsed.segments) {
    if (seg.type === "code") value = await evaluate(seg.code, cell, seg.firstLine - 1);
    else value = await runMagic("line", seg.name, seg.args, "", cell);
  }
  return value;
}

async function execute(msg: Extract<ToWorker, { type: "execute" }>): Promise<void> {
  Atomics.store(flag, 0, 0);
  cellSources.push(msg.code);
  if (cellSources.length > 200) cellSources.shift();
  lastCell = msg.cell;
  if (msg.silent) silentCells.add(msg.cell);
  let interruptRace!: (e: Error) => void;
  const interrupted = new Promise<never>((_, reject) => interruptRace = reject);
  const cancelAwaits = newCancel(msg.cell);
  const interrupt = (e: Error) => {
    cancelAwaits(e);
    // Let the pending top-level await reject first, so the REPL evaluation settles.
    setTimer(() => interruptRace(e), 100);
  };
  running = { id: msg.id, cell: msg.cell, allowStdin: msg.allowStdin, interrupt };
  let outcome: unknown;
  try {
    const value = await Promise.race([runCell(msg.code, msg.cell), interrupted]);
    let result: MimeBundle | undefined;
    if (value !== undefined && !msg.silent) {
      result = await als.run(msg.cell, () => toBundle(value));
      if (result.transient?.display_id !== undefined) {
        // A live display (a JobPool widget) is updated by display id, which frontends track
        // for display_data only, not for execute_result.
        emit({ kind: "display", cell: msg.cell, bundle: result, update: false });
        result = undefined;
      }
    }
    outcome = result ? { status: "ok", result } : { status: "ok" };
  } catch (e) {
    // Stop means stop: pools the interrupted cell awaits are cancelled, not left running unseen
    // (whether the interrupt reached an await through the message or through the flag).
    if (e instanceof KeyboardInterrupt) cancelAwaitedPools(msg.cell);
    outcome = errorOutcome(e, msg.code);
  } finally {
    running = undefined;
    cancels.delete(msg.cell);
    Atomics.store(flag, 0, 0);
  }
  flush();
  post({ type: "reply", id: msg.id, value: outcome });
}

// ---------------------------------------------------------------- completion and inspection

const KEYWORDS = (
  "await break case catch class const continue debugger default delete do else enum export " +
  "extends false finally for function if import in instanceof let new null return static super " +
  "switch this throw true try typeof undefined var void while with yield async of"
).split(" ");

async function evaluateNoSideEffects(expression: string): Promise<RemoteObject | undefined> {
  const r = await inspectorPost<EvaluateResponse>("Runtime.evaluate", {
    expression,
    replMode: true,
    throwOnSideEffect: true,
    timeout: 500,
    objectGroup: "fused-complete",
  });
  return r.exceptionDetails ? undefined : r.result;
}

async function globalNames(): Promise<string[]> {
  const lexical = await inspectorPost<{ names: string[] }>("Runtime.globalLexicalScopeNames");
  const names = new Set<string>(lexical.names);
  let o: object | null = globalThis;
  while (o) {
    for (const k of Object.getOwnPropertyNames(o)) names.add(k);
    o = Object.getPrototypeOf(o);
  }
  names.delete(TICK_NAME);
  names.delete(AWAIT_NAME);
  return [...names];
}

function propertyNames(value: unknown): string[] {
  const names = new Set<string>();
  let o: unknown = value;
  if (o === null || o === undefined) return [];
  if (typeof o !== "object" && typeof o !== "function") o = Object(o);
  let depth = 0;
  while (o && depth++ < 20) {
    for (const k of Object.getOwnPropertyNames(o)) names.add(k);
    o = Object.getPrototypeOf(o);
  }
  return [...names].filter((n) => /^[A-Za-z_$][\w$]*$/.test(n));
}

async function complete(code: string, cursorPos: number) {
  const before = code.slice(0, cursorPos);
  // Magic names, subcommands, flags and their values come from each magic's declared spec.
  const { completeMagic } = await import("../magics/mod.ts");
  const magic = await completeMagic(code, cursorPos);
  if (magic) return { matches: magic.matches, cursorStart: magic.start, cursorEnd: magic.end };
  const dotted = before.match(/((?:[A-Za-z_$][\w$]*\s*\??\.\s*)+)([A-Za-z_$][\w$]*)?$/);
  let candidates: string[];
  let partial: string;
  if (dotted) {
    partial = dotted[2] ?? "";
    const objExpr = dotted[1].replace(/\s*\??\.\s*$/, "").replace(/\s+/g, "");
    const remote = await evaluateNoSideEffects(objExpr);
    const value = remote ? await remoteToValue(remote) : undefined;
    candidates = remote ? propertyNames(value) : [];
  } else if (/[\])]\s*\??\.\s*([A-Za-z_$][\w$]*)?$/.test(before)) {
    // A member of a call's or index's result: knowing it would mean calling code with side
    // effects, so only the type-aware completer (evaluator.ts) can answer.
    partial = before.match(/[A-Za-z_$][\w$]*$/)?.[0] ?? "";
    candidates = [];
  } else {
    const word = before.match(/[A-Za-z_$][\w$]*$/);
    partial = word ? word[0] : "";
    candidates = [...await globalNames(), ...KEYWORDS];
  }
  await inspectorPost("Runtime.releaseObjectGroup", { objectGroup: "fused-complete" });
  const matches = [...new Set(candidates.filter((n) => n.startsWith(partial)))].sort((a, b) =>
    (a.startsWith("_") ? 1 : 0) - (b.startsWith("_") ? 1 : 0) || a.localeCompare(b)
  );
  return { matches, cursorStart: cursorPos - partial.length, cursorEnd: cursorPos };
}

async function inspect(code: string, cursorPos: number, detailLevel: number) {
  const left = code.slice(0, cursorPos).match(/[A-Za-z_$][\w$.]*$/)?.[0] ?? "";
  const right = code.slice(cursorPos).match(/^[\w$]*/)?.[0] ?? "";
  const expr = (left + right).replace(/\.+$/, "");
  if (!expr) return { found: false, data: {} };
  const remote = await evaluateNoSideEffects(expr);
  if (!remote) return { found: false, data: {} };
  const value = await remoteToValue(remote);
  await inspectorPost("Runtime.releaseObjectGroup", { objectGroup: "fused-complete" });
  const lines: string[] = [];
  const type = value === null ? "null" : typeof value;
  const ctor = value !== null && value !== undefined
    ? (Object.getPrototypeOf(Object(value))?.constructor?.name ?? "")
    : "";
  lines.push(`${expr}: ${type}${ctor && ctor.toLowerCase() !== type ? ` (${ctor})` : ""}`);
  if (typeof value === "function") {
    const src = Function.prototype.toString.call(value);
    const declared = typedDeclaration(expr.split(".").pop() ?? expr);
    const signature = declared?.signature ??
      src.split("\n")[0].replace(/\{.*$/, "").replace(/\s+/g, " ").replace(/\s+([,)])/g, "$1")
        .trim();
    if (declared?.doc) lines.push(declared.doc);
    lines.push(`Signature: ${signature}`);
    lines.push(`Parameters: ${value.length}`);
    if (detailLevel > 0) lines.push("Source:", src);
  } else {
    let text = inspectPlain(value);
    if (text.length > 2000 && detailLevel === 0) text = text.slice(0, 2000) + " ...";
    lines.push(`Value: ${text}`);
  }
  return { found: true, data: { "text/plain": lines.join("\n") } };
}

/**
 * The TypeScript signature (and JSDoc) of a function or class declared in a cell, found in the
 * cells' source: the runtime only has the type-stripped code.
 */
function typedDeclaration(name: string): { signature: string; doc?: string } | undefined {
  if (!/^[A-Za-z_$][\w$]*$/.test(name)) return undefined;
  const re = new RegExp(
    `(/\\*\\*((?:(?!\\*/)[\\s\\S])*)\\*/\\s*)?(?:export\\s+)?((?:async\\s+)?function\\*?\\s+${
      name.replace(/\$/g, "\\$")
    }\\b[^{]*|class\\s+${name.replace(/\$/g, "\\$")}\\b[^{]*)`,
  );
  for (let i = cellSources.length - 1; i >= 0; i--) {
    const m = cellSources[i].match(re);
    if (m) {
      const doc = m[2]?.split("\n").map((l) => l.replace(/^\s*\*?\s?/, "")).join("\n").trim();
      return { signature: m[3].replace(/\s+/g, " ").trim(), doc: doc || undefined };
    }
  }
  return undefined;
}

// ---------------------------------------------------------------- message loop

function reply(id: number, value: unknown): void {
  post({ type: "reply", id, value });
}

async function guarded<T>(id: number, fallback: T, fn: () => Promise<T>): Promise<void> {
  try {
    reply(id, await fn());
  } catch {
    reply(id, fallback);
  }
}

self.onmessage = (e: MessageEvent<ToWorker>) => {
  const msg = e.data;
  switch (msg.type) {
    case "init":
      flag = new Int32Array(msg.flag);
      inputState = new Int32Array(msg.input, 0, 2);
      inputBytes = new Uint8Array(msg.input, 8);
      cwd = msg.cwd;
      post({ type: "ready" });
      return;
    case "execute":
      void execute(msg);
      return;
    case "interrupt":
      if (running && running.id === msg.id) running.interrupt(new KeyboardInterrupt());
      return;
    case "complete":
      void guarded(
        msg.id,
        { matches: [], cursorStart: msg.cursorPos, cursorEnd: msg.cursorPos },
        () => complete(msg.code, msg.cursorPos),
      );
      return;
    case "inspect":
      void guarded(
        msg.id,
        { found: false, data: {} },
        () => inspect(msg.code, msg.cursorPos, msg.detailLevel),
      );
      return;
    case "commInfo":
      noteWidgetManagerHint({ commInfoTarget: msg.targetName });
      reply(msg.id, commInfo(msg.targetName));
      return;
    case "comm":
      try {
        deliverFrontendComm(msg.message);
      } catch (err) {
        reportBackground(err);
      }
      return;
  }
};

setBridge({
  emit,
  currentCell,
  runInCell: <T>(cell: string, fn: () => T): T => als.run(cell, fn),
  runningCell: () => running && !silentCells.has(running.cell) ? running.cell : undefined,
});
installConsole();
installTimers();
installTick();
installStdin();
installDisplay();
installJobPoolDisplay();
installFusedDisplay();
installMagicRuntime();
