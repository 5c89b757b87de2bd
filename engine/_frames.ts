/**
 * Length-prefixed frames between the executor and its UDF processes, over one unix socket.
 *
 * A frame is `[u32 header length][u32 body length][header: UTF-8 JSON][body: bytes]`, little
 * endian. The header is a small JSON message; binary payloads (Arrow IPC, raster buffers, JSON
 * and string results over a few KiB, already encoded by the child) travel in the body, referenced
 * from the header by offset and length, so the host never structured-clones or re-parses a UDF's
 * big values (a small JSON value rides in the header: engine/_protocol.ts).
 *
 * Hand-written, not a library: the format is 20 lines on `Deno.Conn`, and the reader must enforce
 * its own hard caps (the other side is untrusted; a bad length ends the process, not the host).
 *
 * @module
 */

const PREFIX = 8;

/** Thrown when the other side sends a frame over the caps or one that does not parse. */
export class FrameError extends Error {
  override name = "FrameError";
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** The body of a frame without one (most frames): nothing to own, so one for all. */
const EMPTY = new Uint8Array(0);

/**
 * Encodes one frame whose header is already JSON text; `parts` are concatenated into the body in
 * order. The header's UTF-8 is written straight into the frame (room for 3 bytes a UTF-16 unit,
 * the most it can take), so a frame is one buffer, not two. `into` is used when the frame fits it.
 */
function encode(json: string, parts: Uint8Array[], into?: Uint8Array): Uint8Array {
  let bodyLength = 0;
  for (const part of parts) bodyLength += part.byteLength;
  const room = PREFIX + json.length * 3 + bodyLength;
  const out = into && into.byteLength >= room ? into : new Uint8Array(room);
  const headLength = encoder.encodeInto(json, out.subarray(PREFIX)).written;
  setU32(out, 0, headLength);
  setU32(out, 4, bodyLength);
  let at = PREFIX + headLength;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out.subarray(0, at);
}

function setU32(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value;
  bytes[at + 1] = value >>> 8;
  bytes[at + 2] = value >>> 16;
  bytes[at + 3] = value >>> 24;
}

/** Bytes of the buffer a writer encodes its frames into while none is being written. */
const SPARE_BYTES = 16 * 1024;

/**
 * Writes frames to one connection in order: each write starts when the one before it is done,
 * and with none in flight (a run's frame, an answer: usually) at once, encoded into a buffer the
 * writer keeps for that (no new buffer a frame). Sending returns nothing to await: a write is one
 * promise, not a chain of them, since what a side still does after its write delays the side it
 * woke when both share a core. The first failed write is reported to `onError`; nothing is
 * written after it.
 */
export class FrameWriter {
  #conn: Deno.Conn;
  #onError: (err: Error) => void;
  #writing = false;
  #failed = false;
  #queue: Uint8Array[] = [];
  #spare = new Uint8Array(SPARE_BYTES);

  /** A writer of frames to `conn`; `onError` hears of its first failed write. */
  constructor(conn: Deno.Conn, onError: (err: Error) => void) {
    this.#conn = conn;
    this.#onError = onError;
  }

  /** Sends a frame after those before it. */
  send(header: unknown, parts: Uint8Array[] = []): void {
    this.sendJson(JSON.stringify(header), parts);
  }

  /** {@linkcode FrameWriter.send} with a header already serialised to JSON text. */
  sendJson(json: string, parts: Uint8Array[] = []): void {
    if (this.#failed) return;
    // The spare buffer only while nothing is in flight: a pending write may still read it.
    if (this.#writing) this.#queue.push(encode(json, parts));
    else {
      this.#writing = true;
      this.#write(encode(json, parts, this.#spare));
    }
  }

  #write(frame: Uint8Array): void {
    this.#conn.write(frame).then(
      (n) => {
        if (n < frame.byteLength) return this.#write(frame.subarray(n));
        const next = this.#queue.shift();
        if (next) this.#write(next);
        else this.#writing = false;
      },
      (err) => {
        this.#failed = true;
        this.#queue.length = 0;
        this.#onError(err);
      },
    );
  }
}

/** Caps a reader enforces. */
export interface FrameLimits {
  /** Largest header, in bytes. */
  maxHeaderBytes: number;
  /** Largest body, in bytes. */
  maxBodyBytes: number;
}

/**
 * Reads frames from a connection until it closes, handing each to `onFrame` as soon as it is
 * whole, in order (a callback, not an async iterator: a generator's yield was promises and
 * microtasks on both sides of every run). Resolves when the connection closes; a frame over the
 * caps rejects with FrameError before its body is read (the caller then kills the sender), and
 * so does anything `onFrame` throws. Bodies are fresh buffers the consumer owns.
 *
 * `turnsBeforeRead` microtask turns pass after each frame before the next read is asked of the OS:
 * a side that answers a frame within them writes its answer first, and the read (an op that tries
 * the socket before it waits) comes after, off the other side's wait. Nothing is read later than a
 * few microtasks; frames stay in the socket meanwhile.
 */
export async function readFrames(
  conn: Deno.Conn,
  limits: FrameLimits,
  onFrame: (header: Record<string, unknown>, body: Uint8Array) => void,
  turnsBeforeRead = 0,
): Promise<void> {
  let buffer = new Uint8Array(64 * 1024);
  let start = 0;
  let end = 0;
  const fill = async (need: number): Promise<boolean> => {
    while (end - start < need) {
      if (buffer.byteLength - start < need) {
        // Move what is unread to the front, into a larger buffer when `need` does not fit.
        if (buffer.byteLength >= need) buffer.copyWithin(0, start, end);
        else {
          const next = new Uint8Array(Math.max(need, buffer.byteLength * 2));
          next.set(buffer.subarray(start, end), 0);
          buffer = next;
        }
        end -= start;
        start = 0;
      }
      const n = await conn.read(buffer.subarray(end));
      if (n === null) return false;
      end += n;
    }
    return true;
  };
  const u32 = (at: number): number =>
    (buffer[at] | (buffer[at + 1] << 8) | (buffer[at + 2] << 16) | (buffer[at + 3] << 24)) >>> 0;
  while (true) {
    // `fill` only when the bytes are not here yet: a frame usually arrives whole, in one read,
    // and each call of the async `fill` is a promise and a microtask for nothing. Nothing left
    // of the last frame (the usual case) is one read into the whole buffer, without `fill`.
    if (start === end) {
      start = end = 0;
      const n = await conn.read(buffer);
      if (n === null) return;
      end = n;
    }
    if (end - start < PREFIX && !(await fill(PREFIX))) return;
    const headLength = u32(start);
    const bodyLength = u32(start + 4);
    if (headLength > limits.maxHeaderBytes) {
      throw new FrameError(
        `header of ${headLength} bytes over the cap of ${limits.maxHeaderBytes}`,
      );
    }
    // The body cap only for a body: it may be a getter (the host's follows its options).
    if (bodyLength > 0 && bodyLength > limits.maxBodyBytes) {
      throw new FrameError(`body of ${bodyLength} bytes over the cap of ${limits.maxBodyBytes}`);
    }
    start += PREFIX;
    if (end - start < headLength && !(await fill(headLength))) return;
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(decoder.decode(buffer.subarray(start, start + headLength)));
    } catch (err) {
      throw new FrameError(`header is not JSON (${(err as Error).message})`);
    }
    if (typeof header !== "object" || header === null || Array.isArray(header)) {
      throw new FrameError("header is not a JSON object");
    }
    start += headLength;
    const body = bodyLength === 0 ? EMPTY : new Uint8Array(bodyLength);
    // Large bodies are read straight into their own buffer, not through the shared one.
    const buffered = Math.min(end - start, bodyLength);
    body.set(buffer.subarray(start, start + buffered), 0);
    start += buffered;
    let filled = buffered;
    while (filled < bodyLength) {
      const n = await conn.read(body.subarray(filled));
      if (n === null) return;
      filled += n;
    }
    onFrame(header, body);
    for (let turn = 0; turn < turnsBeforeRead; turn++) await undefined;
  }
}
