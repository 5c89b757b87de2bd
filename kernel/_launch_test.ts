import assert from "node:assert/strict";
import { join } from "node:path";
import { LISTEN_FDS_ENV, parseListenFds } from "./_launch.ts";
import { findPerl } from "./install.ts";

/** Debian's python3 with pyzmq and jupyter_client: the real client of these tests. */
const PYTHON = "/usr/bin/python3";
const LAUNCHER = new URL("./_launch.pl", import.meta.url).pathname;
const MAIN = new URL("./main.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;
const dec = new TextDecoder();
const PERL = findPerl();

/** Five free TCP ports (bound and released, as jupyter_client picks them). */
function freePorts(): number[] {
  const listeners = Array.from(
    { length: 5 },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((l) => l.addr.port);
  for (const l of listeners) l.close();
  return ports;
}

/** Writes a Jupyter connection file into `dir`; returns its path. */
async function connectionFile(dir: string, extra: Record<string, unknown> = {}): Promise<string> {
  const [shell, control, stdin, iopub, hb] = freePorts();
  const path = join(dir, "kernel.json");
  await Deno.writeTextFile(
    path,
    JSON.stringify({
      transport: "tcp",
      ip: "127.0.0.1",
      shell_port: shell,
      control_port: control,
      stdin_port: stdin,
      iopub_port: iopub,
      hb_port: hb,
      key: "secret",
      signature_scheme: "hmac-sha256",
      ...extra,
    }),
  );
  return path;
}

/** Runs `perl _launch.pl COMMAND... CONNECTION_FILE`; resolves with its stdout. */
async function launch(command: string[], connection: string): Promise<string> {
  const out = await new Deno.Command(PERL!, {
    args: [LAUNCHER, ...command, connection],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  assert.equal(out.code, 0, dec.decode(out.stderr));
  return dec.decode(out.stdout);
}

/**
 * What a process started through the launcher sees: the descriptors it was named (taken with
 * takeListenFds), the variable after that, and the sockets among a child process's descriptors.
 */
const PROBE = `
import { takeListenFds } from ${JSON.stringify(new URL("./_launch.ts", import.meta.url).href)};
const named = Deno.env.get(${JSON.stringify(LISTEN_FDS_ENV)}) ?? null;
const fds = takeListenFds() ?? null;
const child = await new Deno.Command("/bin/sh", {
  args: ["-c", 'for f in /proc/$$/fd/*; do readlink "$f"; done'],
  stdout: "piped",
}).output();
const links = new TextDecoder().decode(child.stdout).split("\\n");
console.log(JSON.stringify({
  named,
  fds,
  after: Deno.env.get(${JSON.stringify(LISTEN_FDS_ENV)}) ?? null,
  childSockets: links.filter((l) => l.startsWith("socket:")).length,
}));
`;

/** Runs PROBE through the launcher once per connection file (the given fields changed). */
async function launchProbe(variants: Record<string, unknown>[]): Promise<ProbeReport[]> {
  const dir = await Deno.makeTempDir();
  try {
    const probe = join(dir, "probe.ts");
    await Deno.writeTextFile(probe, PROBE);
    const reports: ProbeReport[] = [];
    for (const extra of variants) {
      const conn = await connectionFile(dir, extra);
      reports.push(JSON.parse(await launch([Deno.execPath(), "run", "-A", probe], conn)));
    }
    return reports;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** What PROBE prints. */
interface ProbeReport {
  named: string | null;
  fds: Record<string, number> | null;
  after: string | null;
  childSockets: number;
}

Deno.test("the launcher's list of descriptors is parsed, and a bad one is refused naming the fix", () => {
  assert.deepEqual(parseListenFds("shell:3,control:4,stdin:5,iopub:6,hb:7"), {
    shell: 3,
    control: 4,
    stdin: 5,
    iopub: 6,
    hb: 7,
  });
  assert.throws(
    () => parseListenFds("shell:3,control:x"),
    /not a list of name:descriptor.*unset it/,
  );
  assert.throws(() => parseListenFds("shell:3,shell:4"), /not a list of name:descriptor/);
  assert.throws(() => parseListenFds("shell:3,control:4"), /no descriptor for stdin, iopub, hb/);
});

Deno.test({
  name: "the launcher passes five listening sockets that no child of the kernel inherits",
  ignore: !PERL,
  async fn() {
    const [report] = await launchProbe([{}]);
    assert.match(report.named ?? "", /^shell:\d+,control:\d+,stdin:\d+,iopub:\d+,hb:\d+$/);
    assert.equal(Object.keys(report.fds ?? {}).length, 5);
    assert.equal(report.after, null);
    assert.equal(report.childSockets, 0);
  },
});

Deno.test({
  name: "the launcher leaves the sockets to Deno when the connection file is not plain TCP/IPv4",
  ignore: !PERL,
  async fn() {
    const reports = await launchProbe([{ transport: "ipc" }, { ip: "::1" }, { shell_port: 0 }]);
    for (const report of reports) {
      assert.deepEqual(report, { named: null, fds: null, after: null, childSockets: 0 });
    }
  },
});

/**
 * A client that connects once, with libzmq's reconnection off, sends kernel_info_request and
 * prints the reply's implementation: it gets one only if its first connection was accepted. Then
 * a 3 MB request on the same connection.
 */
const CLIENT = `
import json, sys, zmq
from jupyter_client.session import Session
info = json.load(open(sys.argv[1]))
session = Session(key=info["key"].encode())
ctx = zmq.Context()
s = ctx.socket(zmq.DEALER)
s.setsockopt(zmq.LINGER, 0)
s.setsockopt(zmq.RECONNECT_IVL, -1)
s.connect("tcp://127.0.0.1:%d" % info["shell_port"])
session.send(s, "kernel_info_request", {})
if not s.poll(30000):
    sys.exit("no kernel_info_reply on the first connection")
_, msg = session.feed_identities(s.recv_multipart())
print(session.deserialize(msg)["content"]["implementation"])
# 3 MB in one message, read through the node:net socket.
big = session.send(s, "kernel_info_request", {"padding": "x" * 3_000_000})
while True:
    if not s.poll(30000):
        sys.exit("no reply to a 3 MB request")
    _, msg = session.feed_identities(s.recv_multipart())
    if session.deserialize(msg)["parent_header"]["msg_id"] == big["header"]["msg_id"]:
        print("big ok")
        break
`;

Deno.test({
  name: "a client that connects before Deno runs gets kernel_info_reply on its first connection",
  ignore: !PERL,
  async fn() {
    const dir = await Deno.makeTempDir();
    // Deno starts a second after the launcher listens (a shell sleeps in between), so the client
    // certainly connects before Deno could bind anything itself.
    const conn = await connectionFile(dir);
    const script = `sleep 1; exec "${Deno.execPath()}" run -A --config "${CONFIG}" "${MAIN}" "$0"`;
    const kernel = new Deno.Command(PERL!, {
      args: [LAUNCHER, "/bin/sh", "-c", script, conn],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    try {
      // The launcher listens before it execs the shell: wait until the process is the shell.
      const deadline = Date.now() + 10_000;
      while (!Deno.readTextFileSync(`/proc/${kernel.pid}/cmdline`).startsWith("/bin/sh\0")) {
        if (Date.now() > deadline) throw new Error("The launcher did not exec within 10 s");
        await new Promise((r) => setTimeout(r, 5));
      }
      const out = await new Deno.Command(PYTHON, {
        args: ["-c", CLIENT, conn],
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(40_000),
      }).output();
      assert.equal(out.code, 0, dec.decode(out.stderr));
      assert.deepEqual(dec.decode(out.stdout).trim().split("\n"), ["fused-ts", "big ok"]);
    } finally {
      kernel.kill("SIGKILL");
      await kernel.status;
      await kernel.stderr.cancel();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
