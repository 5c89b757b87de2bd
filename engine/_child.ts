/**
 * The UDF process: connects to its host over a unix socket, loads UDF modules, calls their
 * entrypoint with coerced parameters, captures `console` output, and sends results back as
 * bytes it encoded itself (client/formats/packed.ts), or a small JSON value or string in the
 * answer's header (engine/_protocol.ts). SDK calls that need more than this process may do
 * (nested runs, downloads, `fd://` files) go to the host (client/udf_host.ts).
 *
 * Started by the executor with `deno run --no-config` and only the permissions of its run
 * (engine/_sandbox.ts). The static import graph stays small (no npm packages): a fresh process
 * is ready in ~70 ms; apache-arrow loads only for a table result, acorn only when parameters
 * need a signature.
 *
 * @module
 */
import type { UdfLogs } from "../client/errors.ts";
import { ValidationError } from "../client/errors.ts";
import { UnsupportedResultError } from "../client/formats/errors.ts";
import { BodyWriter, packResult } from "../client/formats/packed.ts";
import { dtypeOf, isRaster, Raster, type RasterArray } from "../client/formats/raster.ts";
import { toTransferable } from "../client/formats/transfer.ts";
import { ALLOWED_RESULTS, classifyResult } from "../client/formats/types.ts";
import { type HostMethod, type HostReply, setUdfHost } from "../client/host_channel.ts";
import {
  buildArguments,
  signatureFromFunction,
  signatureFromSchema,
  type UdfSignature,
} from "./params.ts";
import type {
  ChildConfig,
  ChildMessage,
  FailureMessage,
  HostMessage,
  RunMessage,
} from "./_protocol.ts";
import { INLINE_RESULT_CHARS } from "./_protocol.ts";
import { FrameWriter, readFrames } from "./_frames.ts";
import { describeThrown } from "./_thrown.ts";

const config: ChildConfig = JSON.parse(Deno.args[0]);

// State that would outlive a run and reach the next UDF in this Deno cache: localStorage and the
// Cache API persist in DENO_DIR without any permission (executor-facts §1).
for (const name of ["localStorage", "sessionStorage", "caches"]) {
  delete (globalThis as Record<string, unknown>)[name];
}

const conn = await Deno.connect({ transport: "unix", path: config.socket });
/** The host cannot be reached: this process has no one to answer. */
function lost(): void {
  Deno.exit(70);
}

const writer = new FrameWriter(conn, lost);

/** Keeps the first and the last half of a stream's output past a cap, and counts the rest. */
class LogBuffer {
  static readonly HALF = 512 * 1024;
  #head = "";
  #tail = "";
  #cut = 0;

  append(text: string): void {
    if (this.#head.length < LogBuffer.HALF) {
      const room = LogBuffer.HALF - this.#head.length;
      this.#head += text.slice(0, room);
      text = text.slice(room);
    }
    if (!text) return;
    this.#tail += text;
    if (this.#tail.length > 2 * LogBuffer.HALF) {
      this.#cut += this.#tail.length - LogBuffer.HALF;
      this.#tail = this.#tail.slice(-LogBuffer.HALF);
    }
  }

  /** Whether nothing was written since the last take or drop. */
  get empty(): boolean {
    return this.#head === "";
  }

  /** Drops what was written (output between runs belongs to none). */
  drop(): void {
    this.#head = this.#tail = "";
    this.#cut = 0;
  }

  take(): string {
    const cut = this.#cut
      ? `\n[... ${this.#cut} characters of output cut: a run keeps the first and last ${
        LogBuffer.HALF / 1024
      } KiB of each stream ...]\n`
      : "";
    const text = this.#head + cut + this.#tail;
    this.#head = this.#tail = "";
    this.#cut = 0;
    return text;
  }
}

interface LoadedUdf {
  fn: (args: Record<string, unknown>) => unknown;
  schema: unknown;
  signature?: Promise<UdfSignature>;
  /** The signature, once worked out. */
  known?: UdfSignature;
}

const stdout = new LogBuffer();
const stderr = new LogBuffer();

// Strings and numbers are joined as they are: Deno.inspect costs ~1 µs a value, which made a
// 10,000,000-line log take 17 s.
function format(args: unknown[]): string {
  let out = "";
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (i > 0) out += " ";
    if (typeof a === "string") out += a;
    else if ((typeof a === "number" && !Object.is(a, -0)) || typeof a === "boolean") out += a;
    else out += Deno.inspect(a, { colors: false });
  }
  return out + "\n";
}

// Output not yet streamed to the host, for runs that asked for it (batch jobs tail their logs).
// Streaming stops after STREAM_CAP characters a run, so a 10,000,000-line log cannot flood it.
let streaming:
  | { id: number; stdout: string; stderr: string; last: number; sent: number }
  | undefined;
const STREAM_EVERY_MS = 50;
const STREAM_CAP = 4 * 2 ** 20;

/** Sends the output written since the last send, when a streaming run has some. */
function flushOutput(force = false): void {
  if (!streaming || (!streaming.stdout && !streaming.stderr)) return;
  const now = performance.now();
  if (!force && now - streaming.last < STREAM_EVERY_MS) return;
  post({ type: "output", id: streaming.id, stdout: streaming.stdout, stderr: streaming.stderr });
  streaming.stdout = "";
  streaming.stderr = "";
  streaming.last = now;
}

function capture(buffer: LogBuffer, stream: "stdout" | "stderr", args: unknown[]): void {
  const text = format(args);
  buffer.append(text);
  if (!streaming) return;
  if (streaming.sent < STREAM_CAP) {
    streaming[stream] += text.slice(0, STREAM_CAP - streaming.sent);
    streaming.sent += text.length;
    if (streaming.sent >= STREAM_CAP) {
      streaming.stderr +=
        `[live output stops after ${STREAM_CAP} characters; the run's logs keep its start and end]\n`;
    }
  }
  flushOutput();
}

// Captured rather than printed: logs travel with the result, as Fused's x-fused-metadata does.
const toStdout = (...args: unknown[]): void => capture(stdout, "stdout", args);
const toStderr = (...args: unknown[]): void => capture(stderr, "stderr", args);
console.log = toStdout;
console.info = toStdout;
console.debug = toStdout;
console.dir = (value: unknown): void => toStdout(value);
console.table = (value: unknown): void => toStdout(value);
console.error = toStderr;
console.warn = toStderr;
console.trace = toStderr;

const realEnv = Deno.env;
let envValues: Record<string, string> = {};
// `Deno.env` reads the values the run was given; other names reach the real one, which the
// process's permissions refuse with a NotCapable error naming the variable.
Object.defineProperty(Deno, "env", {
  configurable: true,
  value: {
    get: (key: string): string | undefined =>
      Object.hasOwn(envValues, key) ? envValues[key] : realEnv.get(key),
    has: (key: string): boolean => Object.hasOwn(envValues, key) || realEnv.has(key),
    toObject: (): Record<string, string> => ({ ...envValues }),
    set: (key: string, value: string): void => void (envValues[key] = value),
    delete: (key: string): void => void delete envValues[key],
  },
});

const modules = new Map<string, Promise<LoadedUdf>>();
/**
 * Modules loaded, by the same key: a warm run takes its module from here without awaiting a
 * promise (each await and promise of a run was measured to cost more than the run's own work).
 */
const loadedModules = new Map<string, LoadedUdf>();

function load(url: string, entrypoint: string): Promise<LoadedUdf> {
  const key = `${url}#${entrypoint}`;
  let loaded = modules.get(key);
  if (!loaded) {
    loaded = import(url).then((mod) => {
      const fn = mod[entrypoint];
      if (typeof fn !== "function") {
        const exported = Object.keys(mod).join(", ") || "nothing";
        throw new ValidationError(
          `The UDF module has no function export "${entrypoint}" (it exports ${exported}): export default function udf(...) or set the entrypoint`,
        );
      }
      const udf: LoadedUdf = { fn, schema: mod.params };
      loadedModules.set(key, udf);
      return udf;
    });
    loaded.catch(() => modules.delete(key)); // retry after a failure (e.g. a missing package)
    modules.set(key, loaded);
  }
  return loaded;
}

function signatureOf(udf: LoadedUdf): Promise<UdfSignature> {
  if (!udf.signature) {
    udf.signature = udf.schema !== undefined
      ? Promise.resolve().then(() => signatureFromSchema(udf.schema))
      : signatureFromFunction(udf.fn);
    udf.signature.then((signature) => (udf.known = signature), () => {});
  }
  return udf.signature;
}

function isBounds(value: unknown): value is [number, number, number, number] {
  return Array.isArray(value) && value.length === 4 && value.every((v) => typeof v === "number");
}

/**
 * Fused's `(array, bounds)` return: `[raster or typed array, [w, s, e, n]]` becomes a Raster with
 * bounds. A bare typed array must be square (a tile) to have a known shape. Nested number arrays
 * stay JSON. A bare square typed array alone is a square raster too (the quickstart's promise);
 * a bare Uint8Array stays bytes, which the display layer shows as an image when it is square.
 */
function normalizeReturn(value: unknown): unknown {
  if (typeof value !== "object" || value === null) return value; // numbers, strings: most runs
  if (isTypedArray(value) && !(value instanceof Uint8Array)) {
    const side = Math.round(Math.sqrt(value.length));
    if (side > 0 && side * side === value.length) return Raster.from(value, [side, side]);
  }
  if (!Array.isArray(value) || value.length !== 2 || !isBounds(value[1])) return value;
  const [data, bounds] = value;
  if (isRaster(data)) return Raster.from(data.data, data.shape, { bounds });
  if (ArrayBuffer.isView(data) && !(data instanceof DataView)) {
    const side = Math.round(Math.sqrt((data as RasterArray).length));
    if (side * side !== (data as RasterArray).length) {
      throw new UnsupportedResultError(
        `Cannot send result: it is [${data.constructor.name} of ${
          (data as RasterArray).length
        } values, bounds], and a flat array is taken as a square raster; return [Raster.from(data, [height, width]), bounds] instead`,
      );
    }
    return Raster.from(data as RasterArray, [side, side], { bounds });
  }
  return value;
}

function isTypedArray(value: unknown): value is RasterArray {
  return dtypeOf(value) !== undefined;
}

function failureOf(err: unknown, url: string): FailureMessage {
  if (err instanceof ValidationError && !(err instanceof UnsupportedResultError)) {
    return { kind: "validation", message: err.message, exceptionClass: err.name };
  }
  if (err instanceof UnsupportedResultError) {
    const hint = err.message.includes(ALLOWED_RESULTS) ? "" : `; ${ALLOWED_RESULTS}`;
    return {
      kind: "runtime",
      message: `returned an unsupported value (${err.message})${hint}`,
      exceptionClass: "UnsupportedResultError",
    };
  }
  if (!(err instanceof Error)) {
    const thrown = describeThrown(err);
    return { kind: "runtime", message: thrown.message, exceptionClass: thrown.exceptionClass };
  }
  let message = err.message;
  let exceptionClass = err.name || err.constructor?.name || "Error";
  // A module that does not parse is reported as `TypeError: SyntaxError: <what>` plus a code
  // frame and its location.
  const syntax = /^SyntaxError: ([^\n]*)/.exec(message);
  if (syntax && exceptionClass === "TypeError") {
    exceptionClass = "SyntaxError";
    message = syntax[1];
  }
  const stack = err.stack ?? `${exceptionClass}: ${message}`;
  const escaped = url.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const where = new RegExp(`${escaped}:(\\d+)(?::\\d+)?`).exec(stack);
  const dir = url.slice(0, url.lastIndexOf("/") + 1);
  const cleaned = stack.split("\n")
    .filter((line) => !line.includes("/engine/_child.ts") && !line.includes("ext:"))
    .join("\n")
    .replaceAll(dir, "");
  return {
    kind: "runtime",
    message,
    exceptionClass,
    lineno: where ? Number(where[1]) : undefined,
    stack: cleaned,
  };
}

function takeLogs(): UdfLogs {
  return { stdout: stdout.take(), stderr: stderr.take() };
}

let currentUrl = "";
let currentRun = 0;
/** Runs and describes received and not yet answered (or skipped). */
let pending = 0;
/** The module of the last run or describe, with what named it. */
let lastLoaded: { url: string; entrypoint: string; udf: LoadedUdf } | undefined;

function hasKeys(values: Record<string, unknown>): boolean {
  for (const _ in values) return true;
  return false;
}

/** A run or describe, as handled (an `again` message is made the run it repeats). */
type Work = Exclude<HostMessage, { type: "reply" | "skip" | "again" }>;

async function handle(msg: Work): Promise<void> {
  stdout.drop();
  stderr.drop();
  currentUrl = msg.url;
  currentRun = msg.id;
  streaming = msg.type === "run" && msg.streamOutput
    ? { id: msg.id, stdout: "", stderr: "", last: performance.now(), sent: 0 }
    : undefined;
  // A quiet stretch still sends what was written, once the event loop is free.
  const timer = streaming ? setInterval(() => flushOutput(), STREAM_EVERY_MS) : undefined;
  try {
    // The last run's module again (an `again` message's strings are the same strings): no key.
    const last = lastLoaded;
    let udf: LoadedUdf;
    if (last?.url === msg.url && last.entrypoint === msg.entrypoint) udf = last.udf;
    else {
      udf = loadedModules.get(`${msg.url}#${msg.entrypoint}`) ??
        await load(msg.url, msg.entrypoint);
      lastLoaded = { url: msg.url, entrypoint: msg.entrypoint, udf };
    }
    if (msg.type === "describe") {
      const signature = await signatureOf(udf);
      post({ type: "signature", id: msg.id, signature, logs: takeLogs() });
      return;
    }
    envValues = { ...msg.env };
    const needsSignature = udf.schema !== undefined || msg.injected !== undefined ||
      hasKeys(msg.given) || hasKeys(msg.defaults);
    const args = needsSignature
      ? buildArguments(udf.known ?? await signatureOf(udf), udf.schema, {
        given: msg.given,
        defaults: msg.defaults,
        injected: msg.injected,
      })
      : {};
    const value = normalizeReturn(await udf.fn(args));
    // Two more turns of the microtask queue, as the path before this one took (its awaits of
    // toTransferable): what a UDF queued and did not await (a `.then` that logs) still runs
    // before its output is taken. These and the one above are ANSWER_TURNS.
    await undefined;
    await undefined;
    // A small JSON value, string or null goes in the header, as JSON text, not UTF-8 in the body:
    // no buffer to make and copy here, none to cut out and decode again in the host, and no
    // promise on the way (a string result is made well-formed, as its UTF-8 was).
    // A number or boolean is JSON (what classifyResult says of it, without its walk's Set).
    const kind = typeof value === "number" || typeof value === "boolean"
      ? "json"
      : classifyResult(value);
    if (kind === "json" || kind === "string" || kind === "null") {
      const json = kind === "null"
        ? "null"
        : JSON.stringify(kind === "string" ? (value as string).toWellFormed() : value);
      if (json.length <= INLINE_RESULT_CHARS && json.length * 3 <= msg.maxResultBytes) {
        flushOutput(true);
        // No output (most runs): no logs in the header either, and none taken.
        const said = stdout.empty && stderr.empty ? "" : `,"logs":${JSON.stringify(takeLogs())}`;
        writer.sendJson(
          `{"type":"result","id":${msg.id},"result":{"kind":"value","value":${json}}${said}}`,
        );
        return;
      }
    }
    const { message } = await toTransferable(value);
    const body = new BodyWriter();
    const result = packResult(message, body);
    if (body.length > msg.maxResultBytes) {
      throw new ResultTooLarge(
        `the result is ${body.length} bytes, over the limit of ${msg.maxResultBytes} (options.maxResultBytes): return less data, or write it to a file (fused.filePath) and return its path`,
      );
    }
    flushOutput(true);
    post({ type: "result", id: msg.id, result, logs: takeLogs() }, body.parts);
  } catch (err) {
    flushOutput(true);
    post({ type: "failure", id: msg.id, failure: failureOf(err, msg.url), logs: takeLogs() });
  } finally {
    clearInterval(timer);
    streaming = undefined;
    pending--;
  }
}

/** A result over `maxResultBytes`. */
class ResultTooLarge extends Error {
  override name = "ResultTooLargeError";
}

function post(message: ChildMessage, parts: Uint8Array[] = []): void {
  writer.send(message, parts);
}

// The host's side of SDK calls: one pending promise per call, answered by "reply" frames.
let nextCall = 1;
const calls = new Map<number, { resolve: (r: HostReply) => void; reject: (e: Error) => void }>();

setUdfHost({
  folders: { dataDir: config.dataDir, cacheDir: config.cacheDir, tempDir: config.tempDir },
  call(method: HostMethod, args: unknown[], body?: Uint8Array): Promise<HostReply> {
    const call = nextCall++;
    return new Promise((resolve, reject) => {
      calls.set(call, { resolve, reject });
      post({ type: "call", id: currentRun, call, method, args }, body ? [body] : []);
    });
  },
});

/** An error the host sent back for a call, with the host's class name. */
class HostCallError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

function crash(event: Event, error: unknown): void {
  event.preventDefault(); // reported to the caller with the run, not printed by the process
  post({ type: "crash", failure: failureOf(error, currentUrl), logs: takeLogs() });
}
globalThis.addEventListener("error", (event) => crash(event, event.error ?? event.message));
globalThis.addEventListener("unhandledrejection", (event) => crash(event, event.reason));

let work: Promise<void> = Promise.resolve();
const skipped = new Set<number>();

/** Handles `next` (which counts it done when it ends) unless it was cancelled meanwhile. */
function start(next: Work): Promise<void> | undefined {
  if (!skipped.delete(next.id)) return handle(next);
  pending--;
  return undefined;
}
/**
 * Microtask turns a warm run of a synchronous UDF takes from its frame to its answer (the awaits
 * in `handle`): the reader lets them pass before it asks for the next frame, so the answer is
 * written first. Asking first put a read op (~5-10 us, measured with timestamps in this process
 * at load 9) between every run and its answer.
 */
const ANSWER_TURNS = 3;
/** The last run message: an `again` message repeats it under a new id. */
let lastRun: RunMessage | undefined;
post({ type: "ready" });
// Frames from the host are trusted (it is the host), but still capped: 1 GiB bodies at most.
try {
  await readFrames(conn, { maxHeaderBytes: 2 ** 30, maxBodyBytes: 2 ** 30 }, (header, body) => {
    const msg = header as unknown as HostMessage;
    let next: Work;
    if (msg.type === "reply") {
      const pending = calls.get(msg.call);
      calls.delete(msg.call);
      if (!pending) return;
      if (msg.ok) pending.resolve({ value: msg.value, body });
      else pending.reject(new HostCallError(msg.error.name, msg.error.message));
      return;
    } else if (msg.type === "skip") {
      skipped.add(msg.id); // cancelled before it started
      return;
    } else if (msg.type === "again") {
      if (!lastRun) throw new Error("the host repeated a run before sending one");
      // Its values are all primitives (the host sends `again` only then): nothing is shared.
      next = { ...lastRun, id: msg.id };
    } else {
      if (msg.type === "run") lastRun = msg;
      next = msg;
    }
    // One run at a time, in the order sent: the host may queue one behind the running one. With
    // none going on (a warm run, usually) it starts at once, not a promise later.
    work = pending++ === 0 ? start(next) ?? work : work.then(() => start(next));
  }, ANSWER_TURNS);
} catch {
  // A frame over the caps, or one that makes no sense: the host is not talking to this process.
  Deno.exit(70);
}
// The host closed the channel: this process has no more work.
Deno.exit(0);
