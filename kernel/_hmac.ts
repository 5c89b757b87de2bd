/**
 * HMAC-SHA256 (RFC 2104 over FIPS 180-4) in plain TypeScript, synchronous, for the messages a
 * kernel signs before `node:crypto` is loaded: importing `node:crypto` costs the process about
 * 60 ms of CPU (it evaluates Node's stream, buffer and process polyfills), which the first
 * kernel_info reply should not wait for, and WebCrypto answers with a Promise per message.
 *
 * The key's inner and outer blocks are hashed once, so a message costs its own blocks plus one.
 *
 * @module
 */

// deno-fmt-ignore
const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
// deno-fmt-ignore
const INITIAL = new Int32Array([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);
const W = new Int32Array(64);
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** Runs the compression function over the 64-byte block at `bytes[off]`, into `state`. */
function compress(state: Int32Array, bytes: Uint8Array, off: number): void {
  for (let i = 0; i < 16; i++, off += 4) {
    W[i] = (bytes[off] << 24) | (bytes[off + 1] << 16) | (bytes[off + 2] << 8) | bytes[off + 3];
  }
  for (let i = 16; i < 64; i++) {
    const a = W[i - 15];
    const b = W[i - 2];
    const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
    const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
    W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0;
  }
  let a = state[0], b = state[1], c = state[2], d = state[3];
  let e = state[4], f = state[5], g = state[6], h = state[7];
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  state[0] = (state[0] + a) | 0;
  state[1] = (state[1] + b) | 0;
  state[2] = (state[2] + c) | 0;
  state[3] = (state[3] + d) | 0;
  state[4] = (state[4] + e) | 0;
  state[5] = (state[5] + f) | 0;
  state[6] = (state[6] + g) | 0;
  state[7] = (state[7] + h) | 0;
}

/**
 * Hashes `parts` on from `state` (which already absorbed `before` bytes, a multiple of 64) and
 * returns the 32-byte digest.
 */
function finish(state: Int32Array, before: number, parts: Uint8Array[]): Uint8Array {
  const block = new Uint8Array(64);
  let fill = 0;
  let total = before;
  for (const part of parts) {
    total += part.length;
    let i = 0;
    if (fill > 0) {
      const n = Math.min(64 - fill, part.length);
      block.set(part.subarray(0, n), fill);
      fill += n;
      i = n;
      if (fill < 64) continue;
      compress(state, block, 0);
      fill = 0;
    }
    for (; i + 64 <= part.length; i += 64) compress(state, part, i);
    block.set(part.subarray(i), 0);
    fill = part.length - i;
  }
  block.fill(0, fill);
  block[fill] = 0x80;
  if (fill >= 56) {
    compress(state, block, 0);
    block.fill(0);
  }
  const bits = total * 8;
  const view = new DataView(block.buffer);
  view.setUint32(56, Math.floor(bits / 0x1_0000_0000));
  view.setUint32(60, bits >>> 0);
  compress(state, block, 0);
  const out = new Uint8Array(32);
  const outView = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) outView.setInt32(i * 4, state[i]);
  return out;
}

/** HMAC-SHA256 for one key. */
export class HmacSha256 {
  readonly #inner = INITIAL.slice();
  readonly #outer = INITIAL.slice();

  /** Prepares the key (hashed first when longer than a block, as RFC 2104 says). */
  constructor(key: Uint8Array) {
    const padded = new Uint8Array(64);
    padded.set(key.length > 64 ? finish(INITIAL.slice(), 0, [key]) : key);
    for (let i = 0; i < 64; i++) padded[i] ^= 0x36;
    compress(this.#inner, padded, 0);
    for (let i = 0; i < 64; i++) padded[i] ^= 0x36 ^ 0x5c;
    compress(this.#outer, padded, 0);
  }

  /**
   * The lowercase hex MAC of the concatenation of `parts`.
   *
   * @example
   * ```ts
   * import { HmacSha256 } from "./_hmac.ts";
   * const mac = new HmacSha256(new TextEncoder().encode("key"));
   * const hex = mac.hex([new TextEncoder().encode("The quick brown fox jumps over the lazy dog")]);
   * if (hex !== "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8") {
   *   throw new Error(hex);
   * }
   * ```
   */
  hex(parts: Uint8Array[]): string {
    const inner = finish(this.#inner.slice(), 64, parts);
    const digest = finish(this.#outer.slice(), 64, [inner]);
    let s = "";
    for (const byte of digest) s += HEX[byte];
    return s;
  }
}

/** Whether two byte strings are equal, in time that depends on their length only. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}
