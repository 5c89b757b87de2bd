import assert from "node:assert/strict";
import { generateSecret, signedUrl, signPath, verifySignature } from "./signing.ts";

Deno.test("a fresh signature verifies", () => {
  const secret = generateSecret();
  assert.equal(verifySignature(secret, signPath(secret, "fd://a.csv", { seconds: 60 })), null);
});

Deno.test("a signature for another path or expiry is refused", () => {
  const secret = generateSecret();
  const sig = signPath(secret, "fd://a.csv", { seconds: 60 });
  assert.match(verifySignature(secret, { ...sig, path: "fd://b.csv" }) ?? "", /altered/);
  assert.match(
    verifySignature(secret, { ...sig, expires: String(Number(sig.expires) + 1) }) ?? "",
    /altered/,
  );
  assert.match(verifySignature(generateSecret(), sig) ?? "", /altered/);
  assert.match(verifySignature(secret, { ...sig, signature: "zz" }) ?? "", /malformed/);
});

Deno.test("another spelling of the signed expiry is refused with the original signature", () => {
  const secret = generateSecret();
  const sig = signPath(secret, "fd://a.csv", { seconds: 60 });
  assert.match(sig.expires, /^[1-9][0-9]*$/);
  for (
    const expires of [
      `${sig.expires}.0`,
      `0${sig.expires}`,
      `+${sig.expires}`,
      ` ${sig.expires}`,
      `${sig.expires}e0`,
      `0x${Number(sig.expires).toString(16)}`,
      "",
    ]
  ) {
    assert.match(verifySignature(secret, { ...sig, expires }) ?? "", /altered/, expires);
  }
});

Deno.test("an expired signature is refused", () => {
  const secret = generateSecret();
  const sig = signPath(secret, "fd://a.csv", { seconds: 10, nowMs: 1_000_000 });
  assert.equal(verifySignature(secret, sig, { nowMs: 1_005_000 }), null);
  assert.match(verifySignature(secret, sig, { nowMs: 1_011_000 }) ?? "", /expired/);
});

Deno.test("a signed URL carries path, expiry and signature in its query", () => {
  const sig = signPath(generateSecret(), "fd://a b.csv", { seconds: 5 });
  const url = new URL(signedUrl("http://127.0.0.1:1/v1", sig));
  assert.equal(url.pathname, "/v1/files/signed");
  assert.equal(url.searchParams.get("path"), "fd://a b.csv");
  assert.equal(url.searchParams.get("signature"), sig.signature);
});
