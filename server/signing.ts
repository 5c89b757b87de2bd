/**
 * Signed file URLs: `GET /files/sign` hands out a URL that anyone may fetch until it expires.
 * The signature is HMAC-SHA256 over the path and the expiry, keyed with a server secret that is
 * generated on first start and kept in the registry (so every process of one service agrees).
 * The expiry has one spelling (decimal digits, no sign, no leading zero, no fraction), and the
 * text signed is the text checked: `1796624946.0` or `+1796624946` is another URL, refused.
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

/** The one spelling of an expiry: Unix seconds in decimal, 1 to 15 digits (exact as a number). */
const EXPIRES = /^[1-9][0-9]{0,14}$/;

function mac(secret: string, path: string, expires: string): Buffer {
  return createHmac("sha256", Buffer.from(secret, "hex")).update(`${path}\n${expires}`).digest();
}

/** The query string fields of a signed URL. */
export interface Signature {
  /** The `fd://` path. */
  path: string;
  /** Unix time (seconds) after which the URL is refused, as signed: decimal digits only. */
  expires: string;
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
  const expires = String(Math.floor((options.nowMs ?? Date.now()) / 1000) + options.seconds);
  return { path, expires, signature: mac(secret, path, expires).toString("hex") };
}

/** Checks a signature; returns null when valid, else the reason it is refused. */
export function verifySignature(
  secret: string,
  sig: Signature,
  options: { nowMs?: number } = {},
): string | null {
  if (!/^[0-9a-f]{64}$/.test(sig.signature)) return "The signature is malformed";
  if (!EXPIRES.test(sig.expires)) {
    return "The expiry is not the one signed (Unix seconds in plain digits): the URL was altered; ask for a new signed URL";
  }
  const expected = mac(secret, sig.path, sig.expires);
  if (!timingSafeEqual(expected, Buffer.from(sig.signature, "hex"))) {
    return "The signature does not match the path and expiry: the URL was altered; ask for a new signed URL";
  }
  const expires = Number(sig.expires);
  if (Math.floor((options.nowMs ?? Date.now()) / 1000) > expires) {
    return `The signed URL expired at ${new Date(expires * 1000).toISOString()}: ask for a new one`;
  }
  return null;
}

/**
 * Builds the public URL that serves a signed path: `{baseUrl}/files/signed`, or another route of
 * signed URLs.
 *
 * @example
 * ```ts
 * import { generateSecret, signedUrl, signPath } from "./signing.ts";
 * const sig = signPath(generateSecret(), "fd://a.csv", { seconds: 60 });
 * signedUrl("http://127.0.0.1:8000/v1", sig); // "http://127.0.0.1:8000/v1/files/signed?path=…"
 * ```
 */
export function signedUrl(
  baseUrl: string,
  sig: Signature,
  options: { route?: string } = {},
): string {
  const query = new URLSearchParams({
    path: sig.path,
    expires: sig.expires,
    signature: sig.signature,
  });
  return `${baseUrl}${options.route ?? "/files/signed"}?${query}`;
}
