/**
 * ZeroMQ's wire protocol, ZMTP 3.0 with the NULL mechanism over TCP, written on `Deno.listen`:
 * the three socket types a Jupyter kernel binds (ROUTER for shell, control and stdin, PUB for
 * iopub, REP for the heartbeat), talking to libzmq peers (DEALER, SUB, REQ).
 *
 * Why by hand and not a library: `npm:zeromq` stalls under Deno 2.9.6. Deno's libuv shim arms
 * zeromq.js's native poller once and never again, so sockets stop receiving after the first
 * spurious wake-up, and re-arming it with receive timeouts crashed the process (SIGSEGV); the only
 * workaround found polled every millisecond (+3 ms per cell, 7 % CPU while idle). Deno's own
 * kernel replaced its native ZeroMQ with a JavaScript ZMTP stack for the same kind of reason.
 * ZMTP over TCP with NULL security is small: a 64-byte greeting, a READY command, then
 * length-prefixed frames. This module is the one place in the project where we write by hand what
 * a library usually does; `zmtp_test.ts` checks it against real libzmq peers (pyzmq).
 *
 * Spec: https://rfc.zeromq.org/spec/23/ (ZMTP 3.0), https://rfc.zeromq.org/spec/37/ (3.1).
 *
 * @module
 */

/** The socket types this module can bind. */
export type ZmtpSocketType = "ROUTER" | "PUB" | "REP";

/** Options of {@linkcode listenZmtp}. */
export interface ZmtpListenOptions {
  /** Interface to bind; default `127.0.0.1`. */
  hostname?: string;
  /** TCP port; 0 (default) picks a free one. */
  port?: number;
  /**
   * A listening TCP socket this process inherited (its file descriptor), accepted from instead
   * of binding `hostname:port`; `port` must then be its port. The kernel's launcher
   * (`_launch.py`) binds the sockets before Deno starts, so that a client connecting meanwhile
   * waits in the backlog instead of being refused (libzmq retries a refused connection only
   * 100-200 ms later).
   */
  fd?: number;
  /**
   * ROUTER: called with `[peerIdentity, ...frames]` for every message received.
   * REP: called with the request frames (envelope removed); return the reply frames. Without it
   * a REP socket echoes (what a Jupyter heartbeat wants).
   */
  onMessage?: (frames: Uint8Array[]) => Uint8Array[] | void;
  /** PUB: called when a subscriber's subscription arrives (topic prefix, often empty). */
  onSubscribe?: (topic: Uint8Array) => void;
  /** Where protocol problems are reported; default `console.error`. */
  log?: (message: string) => void;
  /**
   * PUB: bytes queued for one slow subscriber above which new messages to it are dropped (like
   * libzmq's high-water mark). Default 256 MiB.
   */
  highWaterMark?: number;
}

/** A bound ZMTP socket. */
export interface ZmtpSocket {
  /** The socket type. */
  readonly type: ZmtpSocketType;
  /** The TCP port actually bound. */
  readonly port: number;
  /** Number of connected peers that finished the handshake. */
  readonly peerCount: number;
  /**
   * Sends one multipart message without waiting for the bytes to leave. ROUTER: `frames[0]` is
   * the identity of the peer to send to (unknown peers are silently skipped, as in libzmq).
   * PUB: sent to every subscriber whose subscription is a prefix of `frames[0]`.
   */
  send(frames: Uint8Array[]): void;
  /** Resolves when everything queued so far has been written to every peer. */
  flush(): Promise<void>;
  /** Stops listening and closes every connection. */
  close(): void;
}

const FLAG_MORE = 1;
const FLAG_LONG = 2;
const FLAG_COMMAND = 4;
const GREETING_SIZE = 64;
const MAX_WRITE_BATCH = 1 << 20;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The peer socket types each of our types accepts (ZMTP 3.0, "Socket-Type" compatibility). */
const COMPATIBLE: Record<ZmtpSocketType, string[]> = {
  ROUTER: ["DEALER", "REQ", "ROUTER"],
  PUB: ["SUB", "XSUB"],
  REP: ["REQ", "DEALER"],
};

function greeting(): Uint8Array {
  const g = new Uint8Array(GREETING_SIZE);
  g[0] = 0xff;
  g[9] = 0x7f;
  g[10] = 3; // major
  g[11] = 0; // minor: 3.0, so libzmq sends subscriptions as messages (we accept commands too)
  g.set(encoder.encode("NULL"), 12);
  g[32] = 0; // as-server: unused by NULL
  return g;
}

/** Encodes frames as one buffer; `command` marks a single command frame. */
function encodeFrames(frames: Uint8Array[], command = false): Uint8Array {
  let total = 0;
  for (const f of frames) total += f.length + (f.length > 255 ? 9 : 2);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let off = 0;
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i];
    let flags = i < frames.length - 1 ? FLAG_MORE : 0;
    if (command) flags |= FLAG_COMMAND;
    if (f.length > 255) {
      out[off] = flags | FLAG_LONG;
      view.setBigUint64(off + 1, BigInt(f.length));
      off += 9;
    } else {
      out[off] = flags;
      out[off + 1] = f.length;
      off += 2;
    }
    out.set(f, off);
    off += f.length;
  }
  return out;
}

/** A command frame body: name length, name, data. */
function command(name: string, data: Uint8Array = new Uint8Array()): Uint8Array {
  const n = encoder.encode(name);
  const body = new Uint8Array(1 + n.length + data.length);
  body[0] = n.length;
  body.set(n, 1);
  body.set(data, 1 + n.length);
  return encodeFrames([body], true);
}

/** READY metadata: for each property, name length (1 byte), name, value length (4 bytes), value. */
function encodeMetadata(props: Record<string, Uint8Array>): Uint8Array {
  const parts: number[] = [];
  for (const [name, value] of Object.entries(props)) {
    const n = encoder.encode(name);
    parts.push(n.length, ...n);
    parts.push(
      (value.length >>> 24) & 0xff,
      (value.length >>> 16) & 0xff,
      (value.length >>> 8) & 0xff,
      value.length & 0xff,
    );
    parts.push(...value);
  }
  return new Uint8Array(parts);
}

function decodeMetadata(data: Uint8Array): Map<string, Uint8Array> {
  const props = new Map<string, Uint8Array>();
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let off = 0;
  while (off < data.length) {
    const nameLen = data[off];
    const name = decoder.decode(data.subarray(off + 1, off + 1 + nameLen)).toLowerCase();
    off += 1 + nameLen;
    if (off + 4 > data.length) throw new Error("Truncated ZMTP metadata property");
    const valueLen = view.getUint32(off);
    off += 4;
    if (off + valueLen > data.length) throw new Error("Truncated ZMTP metadata value");
    props.set(name, data.slice(off, off + valueLen));
    off += valueLen;
  }
  return props;
}

function startsWith(data: Uint8Array, prefix: Uint8Array): boolean {
  if (prefix.length > data.length) return false;
  for (let i = 0; i < prefix.length; i++) if (data[i] !== prefix[i]) return false;
  return true;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && startsWith(a, b);
}

/** Identities are looked up by a string key; latin1 keeps every byte value distinct. */
function identityKey(id: Uint8Array): string {
  let s = "";
  for (let i = 0; i < id.length; i++) s += String.fromCharCode(id[i]);
  return s;
}

/** What a {@linkcode Peer} needs of a connection; a `Deno.TcpConn` is one. */
interface ByteStream {
  setNoDelay(noDelay: boolean): void;
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  close(): void;
}

/** The parts of a `node:net` socket {@linkcode NodeStream} uses. */
interface NodeSocket {
  setNoDelay(noDelay: boolean): void;
  on(event: "data", listener: (chunk: Uint8Array) => void): void;
  on(event: "end" | "close", listener: () => void): void;
  on(event: "error", listener: (err: Error) => void): void;
  pause(): void;
  resume(): void;
  write(p: Uint8Array, callback: (err?: Error | null) => void): void;
  destroy(): void;
}

/** Bytes queued from a `node:net` socket above which it is paused until the peer reads. */
const NODE_READ_QUEUE = 1 << 20;

/** A `node:net` socket (accepted on an inherited descriptor) read and written like a Deno conn. */
class NodeStream implements ByteStream {
  #chunks: Uint8Array[] = [];
  #queued = 0;
  #paused = false;
  #ended = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;

  constructor(readonly socket: NodeSocket) {
    socket.on("data", (chunk) => {
      this.#chunks.push(chunk);
      this.#queued += chunk.length;
      if (this.#queued > NODE_READ_QUEUE && !this.#paused) {
        this.#paused = true;
        socket.pause();
      }
      this.#notify();
    });
    socket.on("end", () => this.#finish());
    socket.on("close", () => this.#finish());
    socket.on("error", (err) => {
      this.#error ??= err;
      this.#finish();
    });
  }

  #finish(): void {
    this.#ended = true;
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  setNoDelay(noDelay: boolean): void {
    this.socket.setNoDelay(noDelay);
  }

  async read(p: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.#error) throw this.#error;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    const head = this.#chunks[0];
    const n = Math.min(p.length, head.length);
    p.set(head.subarray(0, n));
    if (n === head.length) this.#chunks.shift();
    else this.#chunks[0] = head.subarray(n);
    this.#queued -= n;
    if (this.#paused && this.#queued <= NODE_READ_QUEUE / 2) {
      this.#paused = false;
      this.socket.resume();
    }
    return n;
  }

  write(p: Uint8Array): Promise<number> {
    return new Promise((resolve, reject) =>
      this.socket.write(p, (err) => err ? reject(err) : resolve(p.length))
    );
  }

  close(): void {
    this.socket.destroy();
  }
}

/** One TCP connection: handshake, frame parsing, batched writing. */
class Peer {
  identity: Uint8Array = new Uint8Array();
  ready = false;
  subscriptions: Uint8Array[] = [];
  queuedBytes = 0;
  #buf = new Uint8Array(64 * 1024);
  #start = 0;
  #end = 0;
  #greeted = false;
  #parts: Uint8Array[] = [];
  #queue: Uint8Array[] = [];
  #writing: Promise<void> | null = null;
  #closed = false;

  constructor(
    readonly conn: ByteStream,
    readonly socket: ZmtpSocketImpl,
  ) {}

  get closed(): boolean {
    return this.#closed;
  }

  async run(): Promise<void> {
    try {
      this.conn.setNoDelay(true);
    } catch { /* not fatal: only latency */ }
    this.write(greeting());
    const chunk = new Uint8Array(64 * 1024);
    try {
      while (!this.#closed) {
        const n = await this.conn.read(chunk);
        if (n === null) break;
        this.#append(chunk.subarray(0, n));
        this.#parse();
      }
    } catch (err) {
      if (!this.#closed && !(err instanceof Deno.errors.BadResource)) {
        this.socket.log(`ZMTP ${this.socket.type}: connection error: ${err}`);
      }
    } finally {
      this.close();
    }
  }

  #append(data: Uint8Array): void {
    if (this.#end + data.length > this.#buf.length) {
      const live = this.#end - this.#start;
      if (live + data.length <= this.#buf.length / 2) {
        this.#buf.copyWithin(0, this.#start, this.#end);
      } else {
        let size = this.#buf.length * 2;
        while (size < live + data.length) size *= 2;
        const bigger = new Uint8Array(size);
        bigger.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = bigger;
      }
      this.#start = 0;
      this.#end = live;
    }
    this.#buf.set(data, this.#end);
    this.#end += data.length;
  }

  #parse(): void {
    while (!this.#closed) {
      const avail = this.#end - this.#start;
      const b = this.#buf;
      const s = this.#start;
      if (!this.#greeted) {
        // libzmq sends the first 10 bytes (signature) and waits for ours before the rest.
        if (avail >= 1 && b[s] !== 0xff) return this.#fail("not a ZMTP peer");
        if (avail < GREETING_SIZE) return;
        if (b[s + 10] < 3) return this.#fail(`ZMTP version ${b[s + 10]} is not supported`);
        const mechanism = decoder.decode(b.subarray(s + 12, s + 32)).replace(/\0+$/, "");
        if (mechanism !== "NULL") return this.#fail(`security mechanism ${mechanism} unsupported`);
        this.#start += GREETING_SIZE;
        this.#greeted = true;
        const ready = encodeMetadata({ "Socket-Type": encoder.encode(this.socket.type) });
        this.write(command("READY", ready));
        continue;
      }
      if (avail < 2) return;
      const flags = b[s];
      let size: number;
      let header: number;
      if (flags & FLAG_LONG) {
        if (avail < 9) return;
        const big = new DataView(b.buffer, b.byteOffset + s + 1, 8).getBigUint64(0);
        if (big > BigInt(Number.MAX_SAFE_INTEGER)) return this.#fail("frame too large");
        size = Number(big);
        header = 9;
      } else {
        size = b[s + 1];
        header = 2;
      }
      if (avail < header + size) return;
      const body = b.slice(s + header, s + header + size);
      this.#start += header + size;
      if (this.#start === this.#end) this.#start = this.#end = 0;
      if (flags & FLAG_COMMAND) this.#onCommand(body);
      else if (!this.ready) return this.#fail("message before READY");
      else {
        this.#parts.push(body);
        if (!(flags & FLAG_MORE)) {
          const parts = this.#parts;
          this.#parts = [];
          this.socket.onPeerMessage(this, parts);
        }
      }
    }
  }

  #onCommand(body: Uint8Array): void {
    const nameLen = body[0];
    const name = decoder.decode(body.subarray(1, 1 + nameLen));
    const data = body.subarray(1 + nameLen);
    switch (name) {
      case "READY": {
        let props: Map<string, Uint8Array>;
        try {
          props = decodeMetadata(data);
        } catch (err) {
          return this.#fail(String(err));
        }
        const peerType = decoder.decode(props.get("socket-type") ?? new Uint8Array());
        if (!COMPATIBLE[this.socket.type].includes(peerType)) {
          this.write(command("ERROR", new Uint8Array([0])));
          return this.#fail(
            `peer socket type ${peerType || "(none)"} cannot talk to a ${this.socket.type} socket`,
          );
        }
        this.identity = props.get("identity") ?? new Uint8Array();
        this.ready = true;
        this.socket.onPeerReady(this);
        return;
      }
      case "PING": {
        // ZMTP 3.1 heartbeat: reply PONG with the context the peer sent (after a 2-byte TTL).
        this.write(command("PONG", data.subarray(2)));
        return;
      }
      case "SUBSCRIBE":
        return this.socket.onSubscription(this, true, data.slice());
      case "CANCEL":
        return this.socket.onSubscription(this, false, data.slice());
      case "ERROR":
        return this.#fail(`peer reported an error: ${decoder.decode(data.subarray(1))}`);
      default:
        return; // PONG and unknown commands are ignored, as the spec allows
    }
  }

  #fail(reason: string): void {
    this.socket.log(`ZMTP ${this.socket.type}: closing connection: ${reason}`);
    this.close();
  }

  /** Queues bytes; one writer loop per connection batches whatever piled up meanwhile. */
  write(bytes: Uint8Array): void {
    if (this.#closed) return;
    this.#queue.push(bytes);
    this.queuedBytes += bytes.length;
    if (!this.#writing) this.#writing = this.#drain();
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length && !this.#closed) {
        let chunk: Uint8Array;
        if (this.#queue.length === 1 || this.#queue[0].length >= MAX_WRITE_BATCH) {
          chunk = this.#queue.shift()!;
        } else {
          let n = 0;
          let size = 0;
          while (n < this.#queue.length && size + this.#queue[n].length <= MAX_WRITE_BATCH) {
            size += this.#queue[n++].length;
          }
          chunk = new Uint8Array(size);
          let off = 0;
          for (const q of this.#queue.splice(0, n)) {
            chunk.set(q, off);
            off += q.length;
          }
        }
        let off = 0;
        while (off < chunk.length) off += await this.conn.write(chunk.subarray(off));
        this.queuedBytes -= chunk.length;
      }
    } catch (err) {
      if (!this.#closed && !(err instanceof Deno.errors.BadResource)) {
        this.socket.log(`ZMTP ${this.socket.type}: write failed: ${err}`);
      }
      this.close();
    } finally {
      this.#writing = null;
    }
  }

  async flush(): Promise<void> {
    while (this.#writing) await this.#writing;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue = [];
    try {
      this.conn.close();
    } catch { /* already closed */ }
    this.socket.onPeerClosed(this);
  }
}

class ZmtpSocketImpl implements ZmtpSocket {
  readonly port: number;
  readonly log: (message: string) => void;
  #listener: { close(): void } | undefined;
  #peers = new Set<Peer>();
  #byIdentity = new Map<string, Peer>();
  #nextId = 0x6b8b4567;
  #closed = false;

  constructor(readonly type: ZmtpSocketType, readonly options: ZmtpListenOptions) {
    this.log = options.log ?? ((m) => console.error(m));
    if (options.fd !== undefined) {
      if (!options.port) throw new Error("A ZMTP socket on an inherited descriptor needs its port");
      this.port = options.port;
      this.#acceptInherited(options.fd);
      return;
    }
    const listener = Deno.listen({
      hostname: options.hostname ?? "127.0.0.1",
      port: options.port ?? 0,
      transport: "tcp",
    });
    this.#listener = listener;
    this.port = listener.addr.port;
    this.#accept(listener);
  }

  get peerCount(): number {
    let n = 0;
    for (const p of this.#peers) if (p.ready) n++;
    return n;
  }

  #addPeer(conn: ByteStream): void {
    const peer = new Peer(conn, this);
    this.#peers.add(peer);
    peer.run();
  }

  async #accept(listener: Deno.TcpListener): Promise<void> {
    try {
      for await (const conn of listener) this.#addPeer(conn);
    } catch (err) {
      if (!this.#closed) this.log(`ZMTP ${this.type}: accept failed: ${err}`);
    }
  }

  /**
   * Accepts on an inherited listening socket through `node:net`, the one Deno API that takes a
   * descriptor. Loaded only here: importing it costs tens of milliseconds of CPU.
   */
  async #acceptInherited(fd: number): Promise<void> {
    const net = await import("node:net");
    const server = net.createServer((socket) => this.#addPeer(new NodeStream(socket)));
    server.on("error", (err) => {
      if (!this.#closed) this.log(`ZMTP ${this.type}: cannot accept on descriptor ${fd}: ${err}`);
    });
    server.listen({ fd });
    this.#listener = server;
    if (this.#closed) server.close(); // closed while node:net loaded: release the socket too
  }

  onPeerReady(peer: Peer): void {
    if (this.type !== "ROUTER") return;
    if (peer.identity.length === 0) {
      // libzmq's generated identities: a zero byte then a 4-byte counter.
      const id = new Uint8Array(5);
      new DataView(id.buffer).setUint32(1, this.#nextId++);
      peer.identity = id;
    }
    // A reconnecting peer with the same explicit identity takes over the route.
    this.#byIdentity.set(identityKey(peer.identity), peer);
  }

  onPeerMessage(peer: Peer, parts: Uint8Array[]): void {
    switch (this.type) {
      case "ROUTER":
        this.options.onMessage?.([peer.identity, ...parts]);
        return;
      case "REP": {
        // Envelope = frames up to and including the first empty delimiter frame.
        const delim = parts.findIndex((p) => p.length === 0);
        if (delim < 0) return this.log("ZMTP REP: request without delimiter dropped");
        const envelope = parts.slice(0, delim + 1);
        const body = parts.slice(delim + 1);
        const reply = this.options.onMessage ? this.options.onMessage(body) ?? body : body;
        peer.write(encodeFrames([...envelope, ...reply]));
        return;
      }
      case "PUB": {
        // ZMTP 3.0 subscriptions: a one-frame message, first byte 1 (subscribe) or 0 (cancel).
        const msg = parts[0];
        if (parts.length === 1 && msg.length >= 1 && (msg[0] === 0 || msg[0] === 1)) {
          this.onSubscription(peer, msg[0] === 1, msg.slice(1));
        }
        return;
      }
    }
  }

  onSubscription(peer: Peer, subscribe: boolean, topic: Uint8Array): void {
    if (this.type !== "PUB") return;
    if (subscribe) {
      peer.subscriptions.push(topic);
      this.options.onSubscribe?.(topic);
    } else {
      const i = peer.subscriptions.findIndex((t) => sameBytes(t, topic));
      if (i >= 0) peer.subscriptions.splice(i, 1);
    }
  }

  onPeerClosed(peer: Peer): void {
    this.#peers.delete(peer);
    const key = identityKey(peer.identity);
    if (this.#byIdentity.get(key) === peer) this.#byIdentity.delete(key);
  }

  send(frames: Uint8Array[]): void {
    if (this.#closed) return;
    switch (this.type) {
      case "ROUTER": {
        const peer = this.#byIdentity.get(identityKey(frames[0]));
        if (peer) peer.write(encodeFrames(frames.slice(1)));
        return;
      }
      case "PUB": {
        const hwm = this.options.highWaterMark ?? 256 * 1024 * 1024;
        let encoded: Uint8Array | undefined;
        for (const peer of this.#peers) {
          if (!peer.ready || peer.queuedBytes > hwm) continue;
          if (!peer.subscriptions.some((t) => startsWith(frames[0], t))) continue;
          encoded ??= encodeFrames(frames);
          peer.write(encoded);
        }
        return;
      }
      case "REP":
        throw new Error("A REP socket replies from its onMessage handler; send() is not used");
    }
  }

  async flush(): Promise<void> {
    await Promise.all([...this.#peers].map((p) => p.flush()));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#listener?.close();
    } catch { /* already closed */ }
    for (const p of [...this.#peers]) p.close();
  }
}

/**
 * Binds a ZMTP socket on TCP and starts accepting libzmq peers.
 *
 * @example
 * ```ts
 * import { listenZmtp } from "./zmtp.ts";
 * const hb = listenZmtp("REP"); // echoes every request, as a Jupyter heartbeat does
 * console.log(hb.port > 0);
 * hb.close();
 * ```
 */
export function listenZmtp(type: ZmtpSocketType, options: ZmtpListenOptions = {}): ZmtpSocket {
  return new ZmtpSocketImpl(type, options);
}
