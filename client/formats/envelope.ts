/**
 * The cache's on-disk form of a UDF result: one self-describing buffer holding any result (tables
 * as Arrow IPC, the fastest to write and read back; rasters with dtype, shape and bounds; JSON;
 * strings; bytes; records of these), with a magic header, lengths, an end marker and a checksum so
 * that a truncated or damaged entry raises CorruptDataError instead of returning garbage.
 *
 * Layout (little-endian): "FUSEDVAL" · u32 version · u32 header length H · u64 payload length P ·
 * u32 CRC-32 of header and payload · u32 zero · header JSON padded to 8 bytes · payload (blobs,
 * each starting on an 8-byte boundary, so typed arrays are read as views) · "ENDFUSED".
 *
 * @module
 */

import {
  type Bounds,
  Raster,
  type RasterDtype,
  type ShapedArray,
  toRaster,
  typedArrayFor,
} from "./raster.ts";
import { classifyResult, type MultiOutput, type UdfResult } from "./types.ts";
import type { Table } from "apache-arrow";
import { CorruptDataError } from "./errors.ts";
import { crc32 } from "node:zlib";

const MAGIC = "FUSEDVAL";
const END = "ENDFUSED";
/** 2: the checksum is CRC-32 (zlib's, native: ~2 ms for 24 MB, where our JS lanes took ~9 ms). */
const VERSION = 2;
const PREAMBLE = 32;
/** Bytes copied then checksummed at a time by serializeValue: well inside a core's L2 cache. */
const CRC_BLOCK = 256 * 1024;

type Node =
  | { k: "null" }
  | { k: "json" | "string" | "bytes" | "table"; b: number }
  | { k: "raster"; b: number; dtype: RasterDtype; shape: number[]; bounds?: Bounds }
  | { k: "multi"; e: Record<string, Node> };

interface Header {
  root: Node;
  /** `[offset in payload, length]` of each blob. */
  blobs: [number, number][];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });
const MAGIC_BYTES = encoder.encode(MAGIC);
const END_BYTES = encoder.encode(END);
/** Padding between blobs (at most 7 bytes), shared: nothing writes into it. */
const ZEROS = new Uint8Array(8);

const pad8 = (n: number): number => (n + 7) & ~7;

/**
 * Serializes a UDF result into one buffer for the cache (the parts of
 * {@linkcode serializeValueParts}, joined).
 *
 * @example
 * ```ts
 * import { deserializeValue, serializeValue } from "./envelope.ts";
 * const back = await deserializeValue(await serializeValue({ a: [1, 2] })) as { a: number[] };
 * if (back.a[1] !== 2) throw new Error("unexpected");
 * ```
 */
export async function serializeValue(value: unknown): Promise<Uint8Array> {
  const parts = await unsealedParts(value);
  let total = 0;
  for (const part of parts) total += part.byteLength;
  const out = new Uint8Array(total);
  // Each block is checksummed right after it is copied, while it is still in the CPU's cache:
  // one pass over the table's 24 MB instead of two (a checksum pass, then the copy).
  let crc = crc32(parts[0].subarray(PREAMBLE));
  out.set(parts[0]);
  let at = parts[0].byteLength;
  for (let i = 1; i < parts.length - 1; i++) {
    const part = parts[i];
    for (let from = 0; from < part.byteLength; from += CRC_BLOCK) {
      const block = part.subarray(from, from + CRC_BLOCK);
      out.set(block, at);
      crc = crc32(out.subarray(at, at + block.byteLength), crc);
      at += block.byteLength;
    }
  }
  out.set(END_BYTES, at);
  new DataView(out.buffer).setUint32(24, crc, true);
  return out;
}

/** The parts of {@linkcode serializeValueParts} as one buffer (what a store keeps). */
export function joinParts(parts: Uint8Array[]): Uint8Array {
  let total = 0;
  for (const part of parts) total += part.byteLength;
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

/**
 * Serializes a UDF result as the envelope's parts, in order, without joining them: a table's
 * Arrow buffers stay where they are, and the checksum is taken over the parts. The cache writes
 * them to its file one after the other, so a 24 MB table is not copied into a 24 MB buffer first.
 *
 * @example
 * ```ts
 * import { deserializeValue, joinParts, serializeValueParts } from "./envelope.ts";
 * const parts = await serializeValueParts("hello");
 * if (await deserializeValue(joinParts(parts)) !== "hello") throw new Error("unexpected");
 * ```
 */
export async function serializeValueParts(value: unknown): Promise<Uint8Array[]> {
  const parts = await unsealedParts(value);
  let crc = crc32(parts[0].subarray(PREAMBLE));
  for (let i = 1; i < parts.length - 1; i++) crc = crc32(parts[i], crc);
  new DataView(parts[0].buffer).setUint32(24, crc, true);
  return parts;
}

/**
 * The envelope's parts with the checksum field still zero: the preamble and padded header, the
 * blobs and their padding, the end marker. The checksum covers all but the first 32 bytes and
 * the end marker.
 */
async function unsealedParts(value: unknown): Promise<Uint8Array[]> {
  classifyResult(value); // refuse bad values up front, naming them
  const blobs: Uint8Array[][] = [];
  const root = await toNode(value, blobs);
  const places: [number, number][] = [];
  let payload = 0;
  for (const parts of blobs) {
    const length = parts.reduce((n, part) => n + part.byteLength, 0);
    places.push([payload, length]);
    payload = pad8(payload + length);
  }
  const header = encoder.encode(JSON.stringify({ root, blobs: places } satisfies Header));
  // The preamble and the padded header: the one part made here, besides padding and the end.
  const head = new Uint8Array(PREAMBLE + pad8(header.byteLength));
  const view = new DataView(head.buffer);
  head.set(MAGIC_BYTES, 0);
  view.setUint32(8, VERSION, true);
  view.setUint32(12, header.byteLength, true);
  view.setBigUint64(16, BigInt(payload), true);
  head.set(header, PREAMBLE);
  const out: Uint8Array[] = [head];
  let at = 0;
  for (const parts of blobs) {
    for (const part of parts) {
      out.push(part);
      at += part.byteLength;
    }
    if (pad8(at) > at) out.push(ZEROS.subarray(0, pad8(at) - at));
    at = pad8(at);
  }
  out.push(END_BYTES);
  return out;
}

async function toNode(value: unknown, blobs: Uint8Array[][]): Promise<Node> {
  const kind = classifyResult(value);
  const add = (...parts: Uint8Array[]): number => blobs.push(parts) - 1;
  switch (kind) {
    case "null":
      return { k: "null" };
    case "json":
      return { k: "json", b: add(encoder.encode(JSON.stringify(value) ?? "null")) };
    case "string":
      return { k: "string", b: add(encoder.encode(value as string)) };
    case "bytes":
      return { k: "bytes", b: add(value as Uint8Array) };
    case "table": {
      // Chunks, not tableToIPC: they are copied once, into the envelope, instead of twice.
      const { tableToIPCChunks } = await import("./arrow.ts");
      return { k: "table", b: add(...await tableToIPCChunks(value as Table)) };
    }
    case "raster": {
      const r = toRaster(value as Raster | ShapedArray);
      const bytes = new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength);
      const node: Node = { k: "raster", b: add(bytes), dtype: r.dtype, shape: [...r.shape] };
      if (r.bounds) node.bounds = r.bounds;
      return node;
    }
    case "multi": {
      const e: Record<string, Node> = {};
      for (const [name, item] of Object.entries(value as MultiOutput)) {
        e[name] = await toNode(item, blobs);
      }
      return { k: "multi", e };
    }
  }
}

/**
 * Reads a buffer written by {@linkcode serializeValue}; typed arrays and bytes are views on it.
 * Throws CorruptDataError when it is truncated, damaged or not such a buffer.
 */
export async function deserializeValue(bytes: Uint8Array): Promise<UdfResult> {
  const n = bytes.byteLength;
  if (n < PREAMBLE + END.length || ascii(bytes, 0, 8) !== MAGIC) {
    throw new CorruptDataError(
      `Cannot read a ${n}-byte cache entry: it does not start with "${MAGIC}"; it is not a cached result or is damaged`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, n);
  const version = view.getUint32(8, true);
  if (version !== VERSION) {
    throw new CorruptDataError(
      `Cannot read a cache entry of format version ${version}: this SDK reads version ${VERSION}; clear the cache entry`,
    );
  }
  const headerLength = view.getUint32(12, true);
  const payload = Number(view.getBigUint64(16, true));
  const start = PREAMBLE + pad8(headerLength);
  const expected = start + payload + END.length;
  if (n !== expected || ascii(bytes, n - END.length, END.length) !== END) {
    throw new CorruptDataError(
      `The cache entry is truncated or damaged: it has ${n} bytes but its header says ${expected}`,
    );
  }
  const stored = view.getUint32(24, true);
  if (crc32(bytes.subarray(PREAMBLE, n - END.length)) !== stored) {
    throw new CorruptDataError(
      "The cache entry is damaged: its checksum does not match its contents",
    );
  }
  let header: Header;
  try {
    header = JSON.parse(decoder.decode(bytes.subarray(PREAMBLE, PREAMBLE + headerLength)));
  } catch (cause) {
    throw new CorruptDataError("The cache entry's header is not valid JSON", { cause });
  }
  const blob = (i: number): Uint8Array => {
    const place = header.blobs[i];
    if (!place) throw new CorruptDataError(`The cache entry refers to a missing part ${i}`);
    return bytes.subarray(start + place[0], start + place[0] + place[1]);
  };
  return await fromNode(header.root, blob);
}

async function fromNode(node: Node, blob: (i: number) => Uint8Array): Promise<UdfResult> {
  switch (node?.k) {
    case "null":
      return null;
    case "json":
      return JSON.parse(decoder.decode(blob(node.b)));
    case "string":
      return decoder.decode(blob(node.b));
    case "bytes":
      return blob(node.b);
    case "table": {
      const { ipcToTable } = await import("./arrow.ts");
      return ipcToTable(blob(node.b));
    }
    case "raster": {
      const b = blob(node.b);
      const count = node.shape.reduce((a, c) => a * c, 1);
      return new Raster(typedArrayFor(node.dtype, b.buffer, b.byteOffset, count), node.shape, {
        bounds: node.bounds,
      });
    }
    case "multi": {
      const out: MultiOutput = {};
      for (const [name, child] of Object.entries(node.e)) out[name] = await fromNode(child, blob);
      return out;
    }
  }
  throw new CorruptDataError(
    `The cache entry holds an unknown kind of value ${JSON.stringify(node)}`,
  );
}

function ascii(bytes: Uint8Array, offset: number, length: number): string {
  return String.fromCharCode(...bytes.subarray(offset, offset + length));
}
