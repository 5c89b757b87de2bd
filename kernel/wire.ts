/**
 * Jupyter messages on ZeroMQ frames: `[identities..., "<IDS|MSG>", signature, header,
 * parent_header, metadata, content, buffers...]`, signed with HMAC-SHA256 over the four JSON
 * frames exactly as they were received, checked in constant time.
 *
 * HMAC is synchronous, not WebCrypto (a Promise per message), so publishing output never waits on
 * a microtask per message. It runs in TypeScript (`_hmac.ts`) until
 * {@linkcode MessageCodec.loadNativeHmac} has loaded `node:crypto`, which the kernel does once its
 * first reply went out: importing `node:crypto` costs ~60 ms of CPU that kernel_info should not
 * wait for, while for large messages (display data) it is 4-13x faster than the TypeScript one.
 *
 * @module
 */

import { constantTimeEqual, HmacSha256 } from "./_hmac.ts";

type CreateHmac = typeof import("node:crypto").createHmac;

/** The protocol version this kernel speaks. */
export const PROTOCOL_VERSION = "5.3";

/** A Jupyter message header. */
export interface MessageHeader {
  /** Unique id of the message. */
  msg_id: string;
  /** Session id of the sender. */
  session: string;
  /** User name of the sender. */
  username: string;
  /** ISO 8601 time of creation. */
  date: string;
  /** Message type, e.g. `execute_request`. */
  msg_type: string;
  /** Protocol version. */
  version: string;
  /** Any newer fields are kept. */
  [key: string]: unknown;
}

/** A decoded Jupyter message. */
export interface JupyterMessage {
  /** ZeroMQ routing identities (ROUTER) or topic (PUB) that came before the delimiter. */
  identities: Uint8Array[];
  /** This message's header. */
  header: MessageHeader;
  /** Header of the message this one answers, or `{}`. */
  parent_header: Partial<MessageHeader>;
  /** Free-form metadata. */
  metadata: Record<string, unknown>;
  /** The content, shaped by `header.msg_type`. */
  content: Record<string, unknown>;
  /** Binary buffers after the content frame. */
  buffers: Uint8Array[];
}

/** Options of {@linkcode MessageCodec}. */
export interface CodecOptions {
  /** The connection file's `signature_scheme`; only `hmac-sha256` is supported. */
  signatureScheme?: string;
  /** Session id used in the headers of messages this side creates; default a random UUID. */
  session?: string;
  /** User name put in headers; default `kernel`. */
  username?: string;
}

const DELIMITER = new TextEncoder().encode("<IDS|MSG>");
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function isDelimiter(frame: Uint8Array): boolean {
  if (frame.length !== DELIMITER.length) return false;
  for (let i = 0; i < frame.length; i++) if (frame[i] !== DELIMITER[i]) return false;
  return true;
}

/** Why a set of frames could not be turned into a message. */
export class WireError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "WireError";
  }
}

/** Signs, verifies, encodes and decodes Jupyter messages for one connection key. */
export class MessageCodec {
  /** Session id put in the headers of messages created here. */
  readonly session: string;
  readonly #key: Uint8Array;
  readonly #username: string;
  readonly #mac: HmacSha256;
  #createHmac?: CreateHmac;

  /** Creates a codec for a connection key (an empty key means unsigned messages). */
  constructor(key: string, options: CodecOptions = {}) {
    const scheme = options.signatureScheme ?? "hmac-sha256";
    if (scheme !== "hmac-sha256") {
      throw new WireError(
        `Signature scheme "${scheme}" is not supported: use "hmac-sha256" in the connection file`,
      );
    }
    this.#key = encoder.encode(key);
    this.#mac = new HmacSha256(this.#key);
    this.session = options.session ?? crypto.randomUUID();
    this.#username = options.username ?? "kernel";
  }

  /**
   * Signs with `node:crypto` from now on; the signatures are the same bytes, made faster for
   * large messages. Until it resolves, and if it fails, the TypeScript HMAC signs.
   */
  async loadNativeHmac(): Promise<void> {
    const { createHmac } = await import("node:crypto");
    this.#createHmac = createHmac;
  }

  /** Lowercase hex HMAC-SHA256 of the four JSON frames, or "" without a key. */
  sign(frames: Uint8Array[]): string {
    if (this.#key.length === 0) return "";
    if (!this.#createHmac) return this.#mac.hex(frames);
    const h = this.#createHmac("sha256", this.#key);
    for (const f of frames) h.update(f);
    return h.digest("hex");
  }

  /**
   * Decodes frames received on a ROUTER socket. Throws a {@linkcode WireError} for a missing
   * delimiter, a bad signature or malformed JSON; the caller drops the message.
   */
  decode(frames: Uint8Array[]): JupyterMessage {
    const d = frames.findIndex(isDelimiter);
    if (d < 0) throw new WireError("Message without <IDS|MSG> delimiter");
    if (frames.length < d + 6) {
      throw new WireError("Message with fewer than 5 frames after <IDS|MSG>");
    }
    const signature = frames[d + 1];
    const signed = frames.slice(d + 2, d + 6);
    if (this.#key.length > 0) {
      const expected = encoder.encode(this.sign(signed));
      if (!constantTimeEqual(signature, expected)) {
        throw new WireError("Message with an invalid HMAC signature");
      }
    }
    let parsed: unknown[];
    try {
      parsed = signed.map((f) => JSON.parse(decoder.decode(f)));
    } catch (err) {
      throw new WireError(`Message with malformed JSON: ${err}`);
    }
    const [header, parent, metadata, content] = parsed as [
      MessageHeader,
      Partial<MessageHeader>,
      Record<string, unknown>,
      Record<string, unknown>,
    ];
    if (!header || typeof header.msg_type !== "string" || typeof header.msg_id !== "string") {
      throw new WireError("Message header without msg_type or msg_id");
    }
    return {
      identities: frames.slice(0, d),
      header,
      parent_header: parent ?? {},
      metadata: metadata ?? {},
      content: content ?? {},
      buffers: frames.slice(d + 6),
    };
  }

  /** Encodes a message into signed frames (identities first). */
  encode(msg: JupyterMessage): Uint8Array[] {
    const signed = [msg.header, msg.parent_header, msg.metadata, msg.content].map((o) =>
      encoder.encode(JSON.stringify(o))
    );
    return [
      ...msg.identities,
      DELIMITER,
      encoder.encode(this.sign(signed)),
      ...signed,
      ...msg.buffers,
    ];
  }

  /** A fresh header of this session. */
  header(msgType: string): MessageHeader {
    return {
      msg_id: crypto.randomUUID(),
      session: this.session,
      username: this.#username,
      date: new Date().toISOString(),
      msg_type: msgType,
      version: PROTOCOL_VERSION,
    };
  }

  /**
   * Builds a message of this session answering (or caused by) `parent`.
   *
   * @example
   * ```ts
   * import { MessageCodec } from "./wire.ts";
   * const codec = new MessageCodec("secret");
   * const msg = codec.message("status", { execution_state: "idle" });
   * const back = codec.decode(codec.encode(msg));
   * console.log(back.content.execution_state); // "idle"
   * ```
   */
  message(
    msgType: string,
    content: Record<string, unknown>,
    options: {
      parent?: Partial<MessageHeader>;
      identities?: Uint8Array[];
      metadata?: Record<string, unknown>;
      buffers?: Uint8Array[];
    } = {},
  ): JupyterMessage {
    return {
      identities: options.identities ?? [],
      header: this.header(msgType),
      parent_header: options.parent ?? {},
      metadata: options.metadata ?? {},
      content,
      buffers: options.buffers ?? [],
    };
  }
}
