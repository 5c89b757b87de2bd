/**
 * Signed file URLs: `GET /files/sign` hands out a URL that anyone may fetch until it expires.
 * The signature is HMAC-SHA256 over the path and the expiry, keyed with a server secret that is
 * generated on first start and kept in the registry (so every process of one service agrees).
 *
 * @module
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { Buffer } from "node:buffer";

/** Longest lifetime of a signed URL: 7 days, as S3 presigned URLs. */
export const MAX_SIGNED_URL_SECONDS = 7 * 86400;

/** A fresh random secret for URL signing (hex). */
export function generateSecret(): string {
  return randomBytes(32).toString("hex");
}

function mac(secret: string, path: string, expires: number): Buffer {
  return createHmac("sha256", Buffer.from(secret, "hex")).update(`${path}\n${expires}`).digest();
}

/** The query string fields of a signed URL. */
export interface Signature {
  /** The `fd://` path. */
  path: string;
  /** Unix time (seconds) after which the URL is refused. */
  expires: number;
  /** Hex HMAC-SHA256 of path and expiry. */
  signature: string;
}

/**
 * Signs a path for `seconds` from `nowMs`.
 *
 * @example
 * ```ts
 * import { generateSecret, signPath, verifySignature } from "./signing.ts";
 * const secret = generateSecret();
 * const sig = signPath(secret, "fd://a.csv", { seconds: 60 });
 * verifySignature(secret, sig); // null: valid
 * ```
 */
export function signPath(
  secret: string,
  path: string,
  options: { seconds: number; nowMs?: number },
): Signature {
  const expires = Math.floor((options.nowMs ?? Date.now()) / 1000) + options.seconds;
  return { path, expires, signature: mac(secret, path, expires).toString("hex") };
}

/** Checks a signature; returns null when valid, else the reason it is refused. */
export function verifySignature(
  secret: string,
  sig: Signature,
  options: { nowMs?: number } = {},
): string | null {
  if (!/^[0-9a-f]{64}$/.test(sig.signature)) return "The signature is malformed";
  const expected = mac(secret, sig.path, sig.expires);
  if (!timingSafeEqual(expected, Buffer.from(sig.signature, "hex"))) {
    return "The signature does not match the path and expiry: the URL was altered; ask for a new signed URL";
  }
  if (Math.floor((options.nowMs ?? Date.now()) / 1000) > sig.expires) {
    return `The signed URL expired at ${
      new Date(sig.expires * 1000).toISOString()
    }: ask for a new one`;
  }
  return null;
}

/** Builds the public URL that serves a signed path. */
export function signedUrl(baseUrl: string, sig: Signature): string {
  const query = new URLSearchParams({
    path: sig.path,
    expires: String(sig.expires),
    signature: sig.signature,
  });
  return `${baseUrl}/files/signed?${query}`;
}
