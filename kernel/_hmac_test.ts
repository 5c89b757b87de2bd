import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { constantTimeEqual, HmacSha256 } from "./_hmac.ts";

function nodeHex(key: Uint8Array, parts: Uint8Array[]): string {
  const h = createHmac("sha256", key);
  for (const p of parts) h.update(p);
  return h.digest("hex");
}

function bytes(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed * 7) & 0xff);
}

Deno.test("the RFC 4231 test cases give their published MACs", () => {
  const enc = new TextEncoder();
  // Test cases 1, 2 and 6 (a key longer than a block).
  assert.equal(
    new HmacSha256(new Uint8Array(20).fill(0x0b)).hex([enc.encode("Hi There")]),
    "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
  );
  assert.equal(
    new HmacSha256(enc.encode("Jefe")).hex([
      enc.encode("what do ya want "),
      enc.encode("for nothing?"),
    ]),
    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
  );
  assert.equal(
    new HmacSha256(new Uint8Array(131).fill(0xaa)).hex([
      enc.encode("Test Using Larger Than Block-Size Key - Hash Key First"),
    ]),
    "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
  );
});

Deno.test("every key and message length around the block edges matches node:crypto", () => {
  for (const keyLength of [0, 1, 32, 63, 64, 65, 200]) {
    const mac = new HmacSha256(bytes(keyLength, 1));
    for (const length of [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000, 70_000]) {
      const message = bytes(length, 2);
      // The same bytes split into frames at odd places give the same MAC.
      const parts = [message.subarray(0, length / 3), message.subarray(length / 3, length - 5)];
      parts.push(message.subarray(length - 5 < 0 ? 0 : length - 5));
      const expected = nodeHex(bytes(keyLength, 1), [message]);
      assert.equal(mac.hex([message]), expected, `key ${keyLength}, message ${length}`);
      assert.equal(mac.hex(parts), expected, `key ${keyLength}, message ${length} in 3 parts`);
    }
  }
});

Deno.test("constantTimeEqual compares content and length", () => {
  assert.ok(constantTimeEqual(bytes(64, 3), bytes(64, 3)));
  assert.ok(!constantTimeEqual(bytes(64, 3), bytes(64, 4)));
  assert.ok(!constantTimeEqual(bytes(64, 3), bytes(63, 3)));
  assert.ok(constantTimeEqual(new Uint8Array(0), new Uint8Array(0)));
});
