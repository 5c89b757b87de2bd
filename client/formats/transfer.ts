/**
 * Moving UDF results between a Worker and its caller without row-by-row copies: a table travels
 * as one Arrow IPC buffer, a raster as its typed array's buffer, both transferred (not cloned).
 *
 * This file is on the Worker's cold-start path, so it imports apache-arrow only inside the table
 * branch (loading apache-arrow costs ~65 ms in a fresh Worker; display-perf §5.3).
 *
 * @module
 */

import {
  type Bounds,
  Raster,
  type RasterArray,
  type RasterDtype,
  type ShapedArray,
  toRaster,
  typedArrayFor,
} from "./raster.ts";
import { classifyResult, type MultiOutput, type UdfResult } from "./types.ts";
import type { Table } from "apache-arrow";
import { CorruptDataError } from "./errors.ts";

/** A result as a structured-clone-able message. */
export type TransferMessage =
  | { kind: "null" }
  | { kind: "json"; value: unknown }
  | { kind: "string"; value: string }
  | { kind: "bytes"; bytes: Uint8Array }
  | { kind: "table"; ipc: Uint8Array }
  | { kind: "raster"; data: RasterArray; dtype: RasterDtype; shape: number[]; bounds?: Bounds }
  | { kind: "multi"; entries: Record<string, TransferMessage> };

/** A message and the buffers to hand over with `postMessage(message, transfer)`. */
export interface Transferable {
  /** Pass as the first argument of `postMessage`. */
  message: TransferMessage;
  /** Pass as the transfer list of `postMessage`. */
  transfer: ArrayBuffer[];
}

/** Options of {@linkcode toTransferable}. */
export interface ToTransferableOptions {
  /**
   * Copy raster and byte buffers instead of handing them over. By default they are transferred,
   * which leaves the sender's arrays empty (detached): set this when the sender keeps using them.
   */
  copy?: boolean;
}

/**
 * Turns a UDF result into a message and a transfer list for `postMessage`. Throws
 * UnsupportedResultError, naming the type, for values no format can carry.
 *
 * @example
 * ```ts
 * import { Raster } from "./raster.ts";
 * import { fromTransferable, toTransferable } from "./transfer.ts";
 * const { message, transfer } = await toTransferable(Raster.from(new Float32Array(4), [2, 2]));
 * const back = await fromTransferable(structuredClone(message, { transfer }));
 * if (!(back instanceof Raster) || back.dtype !== "float32") throw new Error("unexpected");
 * ```
 */
export async function toTransferable(
  value: unknown,
  options: ToTransferableOptions = {},
): Promise<Transferable> {
  classifyResult(value); // refuse bad values before any work, with a message that names them
  const transfer = new Set<ArrayBuffer>();
  const message = await toMessage(value, transfer, options.copy ?? false);
  return { message, transfer: [...transfer] };
}

async function toMessage(
  value: unknown,
  transfer: Set<ArrayBuffer>,
  copy: boolean,
): Promise<TransferMessage> {
  const kind = classifyResult(value);
  switch (kind) {
    case "null":
      return { kind };
    case "json":
      return { kind, value };
    case "string":
      return { kind, value: value as string };
    case "bytes":
      return { kind, bytes: handOver(value as Uint8Array, transfer, copy) };
    case "table": {
      const { tableToIPC } = await import("./arrow.ts");
      // Fresh buffer owned by nobody else: always safe to transfer.
      return { kind, ipc: handOver(tableToIPC(value as Table), transfer, false) };
    }
    case "raster": {
      const r = toRaster(value as Raster | ShapedArray);
      const message: TransferMessage = {
        kind,
        data: handOver(r.data, transfer, copy),
        dtype: r.dtype,
        shape: [...r.shape],
      };
      if (r.bounds) message.bounds = [...r.bounds] as Bounds;
      return message;
    }
    case "multi": {
      const entries: Record<string, TransferMessage> = {};
      for (const [name, item] of Object.entries(value as MultiOutput)) {
        entries[name] = await toMessage(item, transfer, copy);
      }
      return { kind, entries };
    }
  }
}

/**
 * Adds an array's buffer to the transfer list when the array spans all of it; otherwise (a view
 * on a larger or shared buffer, or `copy`) transfers a copy of just the array.
 */
function handOver<T extends RasterArray>(array: T, transfer: Set<ArrayBuffer>, copy: boolean): T {
  const buffer = array.buffer;
  const whole = buffer instanceof ArrayBuffer && array.byteOffset === 0 &&
    array.byteLength === buffer.byteLength;
  const out = whole && !copy ? array : array.slice() as T;
  transfer.add(out.buffer as ArrayBuffer);
  return out;
}

/** Rebuilds a UDF result from a message made by {@linkcode toTransferable}. */
export async function fromTransferable(message: TransferMessage): Promise<UdfResult> {
  switch (message?.kind) {
    case "null":
      return null;
    case "json":
      return message.value as UdfResult;
    case "string":
      return message.value;
    case "bytes":
      return message.bytes;
    case "table": {
      const { ipcToTable } = await import("./arrow.ts");
      return ipcToTable(message.ipc);
    }
    case "raster": {
      // Rebuild in this realm: the typed array survives structured clone, the class does not.
      const d = message.data;
      const data = typedArrayFor(message.dtype, d.buffer, d.byteOffset, d.length);
      return new Raster(data, message.shape, { bounds: message.bounds });
    }
    case "multi": {
      const out: MultiOutput = {};
      for (const [name, entry] of Object.entries(message.entries)) {
        out[name] = await fromTransferable(entry);
      }
      return out;
    }
  }
  throw new CorruptDataError(
    `Cannot rebuild a UDF result from ${
      JSON.stringify(message)?.slice(0, 80)
    }: it was not made by toTransferable`,
  );
}
