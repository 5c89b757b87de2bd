import assert from "node:assert/strict";
import { listenZmtp } from "./zmtp.ts";

/** Debian's python3 with pyzmq (libzmq 4.3): the real peer these tests talk to. */
const PYTHON = "/usr/bin/python3";
const enc = new TextEncoder();
const dec = new TextDecoder();

/** Runs a pyzmq script with a hard timeout; resolves with its parsed JSON stdout. */
async function runPeer(script: string, args: string[], timeoutMs = 20_000): Promise<unknown> {
  const out = await new Deno.Command(PYTHON, {
    args: ["-c", script, ...args],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(timeoutMs),
  }).output();
  const stderr = dec.decode(out.stderr);
  assert.equal(out.code, 0, `python peer failed (code ${out.code}): ${stderr}`);
  return JSON.parse(dec.decode(out.stdout));
}

/** Polls a condition every 10 ms, at most `ms` milliseconds. */
async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("Condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

const PY_PRELUDE = `
import sys, json, zmq, hashlib
ctx = zmq.Context()
def sock(kind, port, **opts):
    s = ctx.socket(kind)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, 10000)
    s.setsockopt(zmq.SNDTIMEO, 10000)
    for k, v in opts.items():
        s.setsockopt(getattr(zmq, k), v)
    s.connect("tcp://127.0.0.1:%s" % port)
    return s
`;

Deno.test("a ROUTER receives multipart messages with the DEALER's identity and long frames", async () => {
  const received: Uint8Array[][] = [];
  const router = listenZmtp("ROUTER", {
    onMessage(frames) {
      received.push(frames);
      // Reply with the frames reversed so the peer can check both directions.
      router.send([frames[0], ...frames.slice(1).reverse()]);
    },
  });
  try {
    const script = PY_PRELUDE + `
d = sock(zmq.DEALER, sys.argv[1], IDENTITY=b"client-1")
big = bytes(range(256)) * 4096
d.send_multipart([b"hello", b"", b"x" * 300, big])
reply = d.recv_multipart()
print(json.dumps({"lens": [len(f) for f in reply], "first": reply[0].hex()[:16],
  "bigok": reply[0] == big, "last": reply[-1].decode()}))
`;
    const result = await runPeer(script, [String(router.port)]) as Record<string, unknown>;
    assert.equal(received.length, 1);
    const [id, ...frames] = received[0];
    assert.equal(dec.decode(id), "client-1");
    assert.deepEqual(frames.map((f) => f.length), [5, 0, 300, 256 * 4096]);
    assert.equal(dec.decode(frames[0]), "hello");
    assert.equal(frames[3][257], 1);
    assert.deepEqual(result.lens, [256 * 4096, 300, 0, 5]);
    assert.equal(result.bigok, true);
    assert.equal(result.last, "hello");
  } finally {
    router.close();
  }
});

Deno.test("a ROUTER routes replies to the right one of several peers, with or without identities", async () => {
  const router = listenZmtp("ROUTER", {
    onMessage([id, body]) {
      router.send([id, enc.encode(`for ${dec.decode(body)}`)]);
    },
  });
  try {
    const script = PY_PRELUDE + `
a = sock(zmq.DEALER, sys.argv[1], IDENTITY=b"peer-a")
b = sock(zmq.DEALER, sys.argv[1])
c = sock(zmq.DEALER, sys.argv[1])
for i in range(20):
    a.send(b"a%d" % i); b.send(b"b%d" % i); c.send(b"c%d" % i)
out = {"a": [a.recv().decode() for _ in range(20)], "b": [b.recv().decode() for _ in range(20)],
  "c": [c.recv().decode() for _ in range(20)]}
print(json.dumps(out))
`;
    const result = await runPeer(script, [String(router.port)]) as Record<string, string[]>;
    for (const name of ["a", "b", "c"]) {
      assert.deepEqual(result[name], Array.from({ length: 20 }, (_, i) => `for ${name}${i}`));
    }
  } finally {
    router.close();
  }
});

Deno.test("a PUB delivers every message sent after the subscription, in order", async () => {
  let subscribed = 0;
  const pub = listenZmtp("PUB", { onSubscribe: () => subscribed++ });
  try {
    const script = PY_PRELUDE + `
s = sock(zmq.SUB, sys.argv[1])
s.setsockopt(zmq.SUBSCRIBE, b"")
print("ready", file=sys.stderr, flush=True)
got = []
while True:
    parts = s.recv_multipart()
    if parts[0] == b"end":
        break
    got.append([p.decode() for p in parts])
print(json.dumps(got))
`;
    const peer = runPeer(script, [String(pub.port)]);
    await waitFor(() => subscribed === 1);
    for (let i = 0; i < 2000; i++) pub.send([enc.encode("topic"), enc.encode(`m${i}`)]);
    pub.send([enc.encode("end")]);
    const got = await peer as string[][];
    assert.equal(got.length, 2000);
    assert.deepEqual(got[0], ["topic", "m0"]);
    assert.deepEqual(got[1999], ["topic", "m1999"]);
    assert.ok(got.every((m, i) => m[1] === `m${i}`));
  } finally {
    pub.close();
  }
});

Deno.test("a PUB sends a subscriber only the topics it subscribed to", async () => {
  let subscribed = 0;
  const pub = listenZmtp("PUB", { onSubscribe: () => subscribed++ });
  try {
    const script = PY_PRELUDE + `
s = sock(zmq.SUB, sys.argv[1])
s.setsockopt(zmq.SUBSCRIBE, b"a")
s.setsockopt(zmq.SUBSCRIBE, b"end")
got = []
while True:
    parts = s.recv_multipart()
    if parts[0] == b"end":
        break
    got.append(parts[0].decode())
print(json.dumps(got))
`;
    const peer = runPeer(script, [String(pub.port)]);
    await waitFor(() => subscribed === 2);
    for (const t of ["a1", "b1", "a2", "ba", "abc"]) pub.send([enc.encode(t)]);
    pub.send([enc.encode("end")]);
    assert.deepEqual(await peer, ["a1", "a2", "abc"]);
  } finally {
    pub.close();
  }
});

Deno.test("a REP socket echoes heartbeat pings from a REQ peer", async () => {
  const hb = listenZmtp("REP");
  try {
    const script = PY_PRELUDE + `
r = sock(zmq.REQ, sys.argv[1])
out = []
for i in range(5):
    r.send(b"ping %d" % i)
    out.append(r.recv().decode())
print(json.dumps(out))
`;
    const got = await runPeer(script, [String(hb.port)]);
    assert.deepEqual(got, ["ping 0", "ping 1", "ping 2", "ping 3", "ping 4"]);
  } finally {
    hb.close();
  }
});

Deno.test("a peer that does not speak ZMTP is disconnected and the socket keeps serving", async () => {
  const logs: string[] = [];
  const hb = listenZmtp("REP", { log: (m) => logs.push(m) });
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: hb.port });
    await conn.write(enc.encode("GET / HTTP/1.1\r\n\r\n"));
    const buf = new Uint8Array(1024);
    // Our greeting may arrive first; then the connection must be closed.
    let closed = false;
    for (let i = 0; i < 10 && !closed; i++) closed = (await conn.read(buf)) === null;
    conn.close();
    assert.ok(closed, "the connection was not closed");
    assert.ok(logs.some((l) => l.includes("not a ZMTP peer")));
    const script = PY_PRELUDE + `
r = sock(zmq.REQ, sys.argv[1])
r.send(b"still alive")
print(json.dumps(r.recv().decode()))
`;
    assert.equal(await runPeer(script, [String(hb.port)]), "still alive");
  } finally {
    hb.close();
  }
});

Deno.test("a peer of an incompatible socket type is refused", async () => {
  const logs: string[] = [];
  const received: Uint8Array[][] = [];
  const router = listenZmtp("ROUTER", {
    log: (m) => logs.push(m),
    onMessage: (f) => void received.push(f),
  });
  try {
    const script = PY_PRELUDE + `
import time
p = sock(zmq.PUSH, sys.argv[1])
try:
    p.send(b"should not arrive", zmq.NOBLOCK)
except zmq.Again:
    pass
time.sleep(0.5)
print("true")
`;
    await runPeer(script, [String(router.port)]);
    await waitFor(() => logs.some((l) => l.includes("PUSH cannot talk to a ROUTER")));
    assert.equal(received.length, 0);
  } finally {
    router.close();
  }
});
