import assert from "node:assert/strict";
import { MessageCodec, PROTOCOL_VERSION, WireError } from "./wire.ts";

const PYTHON = "/usr/bin/python3";
const enc = new TextEncoder();
const dec = new TextDecoder();

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function unhex(s: string): Uint8Array {
  return new Uint8Array(s.match(/../g)?.map((h) => parseInt(h, 16)) ?? []);
}

/** Runs a jupyter_client script that reads frames (hex JSON) on stdin and prints JSON. */
async function python(script: string, input: unknown): Promise<unknown> {
  const child = new Deno.Command(PYTHON, {
    args: ["-c", script],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(20_000),
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(enc.encode(JSON.stringify(input)));
  await w.close();
  const out = await child.output();
  assert.equal(out.code, 0, dec.decode(out.stderr));
  return JSON.parse(dec.decode(out.stdout));
}

Deno.test("a message signed by jupyter_client's Session decodes with identities and buffers", async () => {
  const frames = await python(
    `
import json, sys
from jupyter_client.session import Session
s = Session(key=b"secret-key", session="py-session")
msg = s.msg("execute_request", {"code": "1+1", "silent": False})
frames = s.serialize(msg, ident=[b"ident-1", b"ident-2"])
frames += [b"\\x00\\x01buffer"]
print(json.dumps([f.hex() for f in frames]))
`,
    null,
  ) as string[];
  const codec = new MessageCodec("secret-key");
  const msg = codec.decode(frames.map(unhex));
  assert.deepEqual(msg.identities.map((i) => dec.decode(i)), ["ident-1", "ident-2"]);
  assert.equal(msg.header.msg_type, "execute_request");
  assert.equal(msg.header.session, "py-session");
  assert.equal(msg.content.code, "1+1");
  assert.equal(msg.buffers.length, 1);
  assert.deepEqual([...msg.buffers[0].subarray(0, 2)], [0, 1]);
});

Deno.test("jupyter_client's Session verifies and reads a message encoded here", async () => {
  const codec = new MessageCodec("secret-key");
  const parent = codec.header("execute_request");
  const msg = codec.message("execute_reply", { status: "ok", execution_count: 3 }, {
    parent,
    identities: [enc.encode("peer")],
    buffers: [new Uint8Array([7, 8, 9])],
  });
  const result = await python(
    `
import json, sys
from jupyter_client.session import Session
frames = [bytes.fromhex(h) for h in json.load(sys.stdin)]
s = Session(key=b"secret-key", check_pid=False)
idents, rest = s.feed_identities(frames, copy=True)
m = s.deserialize(rest, content=True, copy=True)
print(json.dumps({"idents": [i.decode() for i in idents], "type": m["header"]["msg_type"],
  "version": m["header"]["version"], "parent": m["parent_header"]["msg_id"],
  "count": m["content"]["execution_count"], "buffers": [bytes(b).hex() for b in m["buffers"]]}))
`,
    codec.encode(msg).map(hex),
  ) as Record<string, unknown>;
  assert.deepEqual(result.idents, ["peer"]);
  assert.equal(result.type, "execute_reply");
  assert.equal(result.version, PROTOCOL_VERSION);
  assert.equal(result.parent, parent.msg_id);
  assert.equal(result.count, 3);
  assert.deepEqual(result.buffers, ["070809"]);
});

Deno.test("a message with a wrong or tampered signature is refused", () => {
  const sender = new MessageCodec("right-key");
  const receiver = new MessageCodec("right-key");
  const frames = sender.encode(sender.message("kernel_info_request", {}));
  assert.equal(receiver.decode(frames).header.msg_type, "kernel_info_request");

  const forged = new MessageCodec("wrong-key").encode(sender.message("kernel_info_request", {}));
  assert.throws(
    () => receiver.decode(forged),
    (e: unknown) => e instanceof WireError && e.message.includes("invalid HMAC"),
  );

  const tampered = [...frames];
  tampered[5] = enc.encode(JSON.stringify({ code: "evil()" }));
  assert.throws(() => receiver.decode(tampered), WireError);

  const short = [...frames];
  short[1] = enc.encode("abc");
  assert.throws(() => receiver.decode(short), WireError);
});

Deno.test("with an empty key messages are neither signed nor checked", () => {
  const codec = new MessageCodec("");
  const frames = codec.encode(codec.message("status", { execution_state: "idle" }));
  assert.equal(frames[1].length, 0);
  assert.equal(codec.decode(frames).content.execution_state, "idle");
});

Deno.test("frames without the delimiter or with too few parts are refused", () => {
  const codec = new MessageCodec("k");
  assert.throws(() => codec.decode([enc.encode("id"), enc.encode("{}")]), /delimiter/);
  assert.throws(() => codec.decode([enc.encode("<IDS|MSG>"), enc.encode("")]), /fewer than 5/);
});

Deno.test("a signature scheme other than hmac-sha256 is refused with the fix", () => {
  assert.throws(
    () => new MessageCodec("k", { signatureScheme: "hmac-md5" }),
    /not supported: use "hmac-sha256"/,
  );
});

Deno.test("headers carry a unique id, the session, an ISO date and the protocol version", () => {
  const codec = new MessageCodec("k", { session: "s-1" });
  const a = codec.header("status");
  const b = codec.header("status");
  assert.notEqual(a.msg_id, b.msg_id);
  assert.equal(a.session, "s-1");
  assert.equal(a.version, PROTOCOL_VERSION);
  assert.ok(!Number.isNaN(Date.parse(a.date)));
});

Deno.test("signatures are the same bytes before and after node:crypto is loaded", async () => {
  const codec = new MessageCodec("a-key-of-the-connection-file");
  const frames = [
    enc.encode('{"msg_id":"1"}'),
    enc.encode("{}"),
    enc.encode("{}"),
    enc.encode("x"),
  ];
  const before = codec.sign(frames);
  await codec.loadNativeHmac();
  assert.equal(codec.sign(frames), before);
  const msg = codec.message("status", { execution_state: "idle" });
  assert.equal(codec.decode(codec.encode(msg)).content.execution_state, "idle");
});
