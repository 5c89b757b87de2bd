/**
 * Results as bytes across a process wall (the UDF executor's): the UDF's process encodes (Arrow IPC for tables, raw buffers
 * for rasters and bytes, UTF-8 JSON for JSON values and strings) and the host decodes once.
 *
 * Why the child encodes JSON too: a UDF's huge strings never reach the host's isolate as strings
 * it did not make itself. Deno 2.9.6 aborts the whole process (`Fatal process out of memory:
 * Zone`) in `JSON.stringify` of a flat 256 MiB string received from another isolate
 * (executor-facts §5); here the child serialises, and the host refuses JSON over
 * {@linkcode MAX_JSON_RESULT_BYTES}, far below that threshold.
 *
 * @module
 */
import { ResultTooLargeError } from "../errors.ts";
import type { TransferMessage } from "./transfer.ts";
import { type RasterDtype, typedArrayFor } from "./raster.ts";

/** Largest JSON or string result, in bytes: larger values should be tables or bytes. */
export const MAX_JSON_RESULT_BYTES = 128 * 2 ** 20;

/** A result in a frame header; `at` is `[offset, length]` in the frame's body. */
export type PackedResult =
  | { kind: "null" }
  | { kind: "json" | "string" | "bytes" | "table"; at: [number, number] }
  | {
    kind: "raster";
    at: [number, number];
    dtype: RasterDtype;
    shape: number[];
    bounds?: [number, number, number, number];
  }
  | { kind: "multi"; entries: Record<string, PackedResult> };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Collects body parts, each starting at a multiple of 8 so typed arrays can view them. */
export class BodyWriter {
  /** The parts, padding included. */
  readonly parts: Uint8Array[] = [];
  #length = 0;

  /** Bytes so far. */
  get length(): number {
    return this.#length;
  }

  /** Appends bytes; returns where they are. */
  add(bytes: Uint8Array): [number, number] {
    const pad = (8 - (this.#length % 8)) % 8;
    if (pad) {
      this.parts.push(new Uint8Array(pad));
      this.#length += pad;
    }
    const at: [number, number] = [this.#length, bytes.byteLength];
    this.parts.push(bytes);
    this.#length += bytes.byteLength;
    return at;
  }
}

function sized(bytes: Uint8Array, what: string, limit: number): Uint8Array {
  if (bytes.byteLength > limit) {
    throw new ResultTooLargeError(
      `The UDF returned ${what} of ${bytes.byteLength} bytes, over the ${limit}-byte limit for JSON and string results: return an Arrow table or bytes instead`,
    );
  }
  return bytes;
}

/** Packs a transfer message (from `toTransferable`) into a header value and body parts. */
export function packResult(message: TransferMessage, body: BodyWriter): PackedResult {
  switch (message.kind) {
    case "null":
      return { kind: "null" };
    case "json":
      return {
        kind: "json",
        at: body.add(
          sized(encoder.encode(JSON.stringify(message.value)), "JSON", MAX_JSON_RESULT_BYTES),
        ),
      };
    case "string":
      return {
        kind: "string",
        at: body.add(sized(encoder.encode(message.value), "a string", MAX_JSON_RESULT_BYTES)),
      };
    case "bytes":
      return { kind: "bytes", at: body.add(message.bytes) };
    case "table":
      return { kind: "table", at: body.add(message.ipc) };
    case "raster": {
      const data = message.data;
      const packed: PackedResult = {
        kind: "raster",
        at: body.add(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)),
        dtype: message.dtype,
        shape: message.shape,
      };
      if (message.bounds) packed.bounds = message.bounds;
      return packed;
    }
    case "multi": {
      const entries: Record<string, PackedResult> = {};
      for (const [name, entry] of Object.entries(message.entries)) {
        entries[name] = packResult(entry, body);
      }
      return { kind: "multi", entries };
    }
  }
}

function slice(body: Uint8Array, at: unknown): Uint8Array {
  if (
    !Array.isArray(at) || at.length !== 2 || !Number.isInteger(at[0]) ||
    !Number.isInteger(at[1]) || at[0] < 0 || at[1] < 0 || at[0] + at[1] > body.byteLength
  ) {
    throw new TypeError("a result part lies outside the frame");
  }
  return body.subarray(at[0], at[0] + at[1]);
}

/**
 * Unpacks a header value against its frame's body, into a transfer message that
 * `fromTransferable` decodes. Throws TypeError for a malformed value (the child is then killed).
 */
export function unpackResult(packed: PackedResult, body: Uint8Array): TransferMessage {
  switch (packed?.kind) {
    case "null":
      return { kind: "null" };
    case "json": {
      const bytes = slice(body, packed.at);
      if (bytes.byteLength > MAX_JSON_RESULT_BYTES) throw new TypeError("JSON result over its cap");
      return { kind: "json", value: JSON.parse(decoder.decode(bytes)) };
    }
    case "string": {
      const bytes = slice(body, packed.at);
      if (bytes.byteLength > MAX_JSON_RESULT_BYTES) throw new TypeError("string over its cap");
      return { kind: "string", value: decoder.decode(bytes) };
    }
    case "bytes":
      return { kind: "bytes", bytes: slice(body, packed.at) };
    case "table":
      return { kind: "table", ipc: slice(body, packed.at) };
    case "raster": {
      const bytes = slice(body, packed.at);
      const data = typedArrayFor(packed.dtype, bytes.buffer, bytes.byteOffset, 0);
      const length = bytes.byteLength / data.BYTES_PER_ELEMENT;
      if (!Number.isInteger(length) || bytes.byteOffset % data.BYTES_PER_ELEMENT !== 0) {
        throw new TypeError("raster bytes do not fit its dtype");
      }
      const message: TransferMessage = {
        kind: "raster",
        data: typedArrayFor(packed.dtype, bytes.buffer, bytes.byteOffset, length),
        dtype: packed.dtype,
        shape: packed.shape,
      };
      if (packed.bounds) message.bounds = packed.bounds;
      return message;
    }
    case "multi": {
      const entries: Record<string, TransferMessage> = {};
      for (const [name, entry] of Object.entries(packed.entries ?? {})) {
        entries[name] = unpackResult(entry, body);
      }
      return { kind: "multi", entries };
    }
    default:
      throw new TypeError("unknown result kind");
  }
}
