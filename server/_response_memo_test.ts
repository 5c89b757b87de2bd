import assert from "node:assert/strict";
import { ResponseMemo } from "./_response_memo.ts";

const URL_A = "http://127.0.0.1:1/fsh_00.json?n=1";
const body = new TextEncoder().encode('{"n":1}');
const headers = { "content-type": "application/json", etag: '"abc"', "x-fused-cached": "true" };

Deno.test("a remembered answer is served again with its body and headers", async () => {
  const memo = new ResponseMemo();
  assert.equal(memo.answer(new Request(URL_A)), undefined);
  memo.remember(URL_A, body, headers, 60_000);
  const res = memo.answer(new Request(URL_A))!;
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("x-fused-cached"), "true");
  assert.equal(await res.text(), '{"n":1}');
  assert.equal(memo.answer(new Request(URL_A + "&x=2")), undefined); // another query, another URL
});

Deno.test("every answer from the memo carries the whole body and every header", async () => {
  const memo = new ResponseMemo();
  memo.remember(URL_A, body, headers, 60_000);
  for (let i = 0; i < 3; i++) {
    const res = memo.answer(new Request(URL_A))!;
    assert.deepEqual(Object.fromEntries(res.headers), headers);
    assert.equal(await res.text(), '{"n":1}');
  }
});

Deno.test("a matching If-None-Match gets 304 without a body", () => {
  const memo = new ResponseMemo();
  memo.remember(URL_A, body, headers, 60_000);
  const res = memo.answer(new Request(URL_A, { headers: { "if-none-match": '"abc"' } }))!;
  assert.equal(res.status, 304);
  assert.equal(res.headers.get("content-type"), null);
});

Deno.test("answers expire after at most the memo's limit", async () => {
  const memo = new ResponseMemo({ maxTtlMs: 20 });
  memo.remember(URL_A, body, headers, 60_000);
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(memo.answer(new Request(URL_A)), undefined);
});

Deno.test("any write request empties the memo", () => {
  const memo = new ResponseMemo();
  memo.remember(URL_A, body, headers, 60_000);
  assert.equal(memo.answer(new Request("http://127.0.0.1:1/v1/x", { method: "HEAD" })), undefined);
  assert.ok(memo.answer(new Request(URL_A)));
  memo.answer(new Request("http://127.0.0.1:1/v1/udf-access-token/by-token/x", { method: "POST" }));
  assert.equal(memo.answer(new Request(URL_A)), undefined);
});

Deno.test("the memo holds at most its byte budget, dropping the oldest", () => {
  const memo = new ResponseMemo({ maxBytes: 8 * 1024 });
  const small = new Uint8Array(400); // 912 bytes with overhead: under an eighth of 8 KiB
  for (let i = 0; i < 20; i++) memo.remember(`${URL_A}&i=${i}`, small, headers, 60_000);
  assert.equal(memo.answer(new Request(`${URL_A}&i=0`)), undefined);
  assert.ok(memo.answer(new Request(`${URL_A}&i=19`)));
  memo.remember(URL_A, new Uint8Array(2000), headers, 60_000); // over an eighth: not kept
  assert.equal(memo.answer(new Request(URL_A)), undefined);
});
