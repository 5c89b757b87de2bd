/**
 * The UDF Worker: loads UDF modules, calls their entrypoint with coerced parameters, captures
 * `console` output, and sends the result back with its buffers transferred.
 *
 * The static import graph stays tiny (no npm packages): a fresh Worker is ready in ~13 ms, one
 * that imports apache-arrow in ~90 ms (display-perf §5.3). Arrow loads only for a table result,
 * acorn only when parameters need a signature.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import v8 from "node:v8";
import type { UdfLogs } from "../client/errors.ts";
import { ValidationError } from "../client/errors.ts";
import { UnsupportedResultError } from "../client/formats/errors.ts";
import { isRaster, Raster, type RasterArray } from "../client/formats/raster.ts";
import { toTransferable } from "../client/formats/transfer.ts";
import { ALLOWED_RESULTS } from "../client/formats/types.ts";
import {
  buildArguments,
  signatureFromFunction,
  signatureFromSchema,
  type UdfSignature,
} from "./params.ts";
import type { FailureMessage, HostMessage, WorkerMessage } from "./_protocol.ts";

interface LoadedUdf {
  fn: (args: Record<string, unknown>) => unknown;
  schema: unknown;
  signature?: Promise<UdfSignature>;
}

let stdout = "";
let stderr = "";

function format(args: unknown[]): string {
  return args.map((a) => (typeof a === "string" ? a : Deno.inspect(a, { colors: false }))).join(
    " ",
  ) +
    "\n";
}

// Output not yet streamed to the host, for runs that asked for it (batch jobs tail their logs).
let streaming: { id: number; stdout: string; stderr: string; last: number } | undefined;
const STREAM_EVERY_MS = 50;

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

// Captured rather than printed: logs travel with the result, as Fused's x-fused-metadata does.
const toStdout = (...args: unknown[]): void => {
  const text = format(args);
  stdout += text;
  if (streaming) {
    streaming.stdout += text;
    flushOutput();
  }
};
const toStderr = (...args: unknown[]): void => {
  const text = format(args);
  stderr += text;
  if (streaming) {
    streaming.stderr += text;
    flushOutput();
  }
};
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
// Worker's permissions refuse with a NotCapable error naming the variable.
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

let interruptFlag: Int32Array | undefined;

let memoryLimitBytes = Infinity;
let ticks = 0;

/** Thrown by an interrupt check once the host asked the run to stop (timeout or abort). */
class RunInterrupted extends Error {
  override name = "RunInterrupted";
}

/** Thrown by an interrupt check when the UDF's heap passed the run's memory limit. */
class MemoryLimitError extends Error {
  override name = "MemoryLimitError";
}

// Called at the start of every loop and function body of the UDF's code (interrupt_checks.ts):
// the only way to stop a synchronous spin, which worker.terminate() alone cannot, and to stop
// runaway allocation before V8's out-of-memory ends the whole process. This isolate's heap is
// read every 256 checks: v8.getHeapStatistics costs ~0.5 µs (Deno.memoryUsage ~6 µs, measured).
Object.defineProperty(globalThis, "$__fusedTick", {
  value: (): void => {
    if (interruptFlag && Atomics.load(interruptFlag, 0) !== 0) {
      throw new RunInterrupted("The run was stopped (timeout or cancel)");
    }
    if ((++ticks & 255) === 0 && memoryLimitBytes !== Infinity) {
      const used = v8.getHeapStatistics().used_heap_size;
      if (used > memoryLimitBytes) {
        throw new MemoryLimitError(
          `The UDF used ${Math.round(used / 2 ** 20)} MB of heap, over its limit of ${
            Math.round(memoryLimitBytes / 2 ** 20)
          } MB: process the data in smaller pieces, or raise memoryLimitMb`,
        );
      }
    }
  },
});

const modules = new Map<string, Promise<LoadedUdf>>();

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
      return { fn, schema: mod.params };
    });
    loaded.catch(() => modules.delete(key)); // retry after a failure (e.g. a missing package)
    modules.set(key, loaded);
  }
  return loaded;
}

function signatureOf(udf: LoadedUdf): Promise<UdfSignature> {
  udf.signature ??= udf.schema !== undefined
    ? Promise.resolve().then(() => signatureFromSchema(udf.schema))
    : signatureFromFunction(udf.fn);
  return udf.signature;
}

function isBounds(value: unknown): value is [number, number, number, number] {
  return Array.isArray(value) && value.length === 4 && value.every((v) => typeof v === "number");
}

/**
 * Fused's `(array, bounds)` return: `[raster or typed array, [w, s, e, n]]` becomes a Raster with
 * bounds. A bare typed array must be square (a tile) to have a known shape. Nested number arrays
 * stay JSON.
 */
function normalizeReturn(value: unknown): unknown {
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
    return { kind: "runtime", message: String(err), exceptionClass: typeof err };
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
    .filter((line) => !line.includes("/engine/_worker.ts") && !line.includes("ext:"))
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
  const logs = { stdout, stderr };
  stdout = "";
  stderr = "";
  return logs;
}

let currentUrl = "";

async function handle(msg: HostMessage): Promise<void> {
  stdout = "";
  stderr = "";
  currentUrl = msg.url;
  if (msg.interrupt) interruptFlag = new Int32Array(msg.interrupt);
  streaming = msg.type === "run" && msg.streamOutput
    ? { id: msg.id, stdout: "", stderr: "", last: performance.now() }
    : undefined;
  // A quiet stretch still sends what was written, once the event loop is free.
  const timer = streaming ? setInterval(() => flushOutput(), STREAM_EVERY_MS) : undefined;
  memoryLimitBytes = msg.type === "run" && msg.memoryLimitMb
    ? msg.memoryLimitMb * 2 ** 20
    : Infinity;
  try {
    const udf = await load(msg.url, msg.entrypoint);
    if (msg.type === "describe") {
      const signature = await signatureOf(udf);
      post({ type: "signature", id: msg.id, signature, logs: takeLogs() });
      return;
    }
    envValues = { ...msg.env };
    const needsSignature = udf.schema !== undefined || msg.injected !== undefined ||
      Object.keys(msg.given).length > 0 || Object.keys(msg.defaults).length > 0;
    const args = needsSignature
      ? buildArguments(await signatureOf(udf), udf.schema, {
        given: msg.given,
        defaults: msg.defaults,
        injected: msg.injected,
      })
      : {};
    const value = normalizeReturn(await udf.fn(args));
    const { message, transfer } = await toTransferable(value);
    flushOutput(true);
    post({ type: "result", id: msg.id, result: message, logs: takeLogs() }, transfer);
  } catch (err) {
    flushOutput(true);
    post({ type: "failure", id: msg.id, failure: failureOf(err, msg.url), logs: takeLogs() });
  } finally {
    clearInterval(timer);
    streaming = undefined;
  }
}

function post(message: WorkerMessage, transfer: ArrayBuffer[] = []): void {
  self.postMessage(message, transfer);
}

function crash(event: Event, error: unknown): void {
  event.preventDefault(); // reported to the caller with the run, not printed by the Worker
  post({ type: "crash", failure: failureOf(error, currentUrl), logs: takeLogs() });
}
self.addEventListener("error", (event) => crash(event, event.error ?? event.message));
self.addEventListener("unhandledrejection", (event) => crash(event, event.reason));

self.onmessage = (event: MessageEvent<HostMessage>): void => {
  void handle(event.data);
};
