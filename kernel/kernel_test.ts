import assert from "node:assert/strict";
import type {
  Evaluator,
  EvaluatorEvent,
  ExecuteOptions,
  ExecuteOutcome,
  FrontendCommMessage,
} from "./evaluator_types.ts";
import { HistoryStore } from "./history.ts";
import { type Channel, Kernel } from "./kernel.ts";
import { type JupyterMessage, MessageCodec } from "./wire.ts";

const KEY = "test-key";
const enc = new TextEncoder();

/**
 * A stand-in evaluator for testing the protocol loop alone: cells are names of behaviours
 * (`ok:<value>`, `fail`, `wait`, `ask`, `print:<text>`), so each test controls the timing.
 */
class ScriptedEvaluator implements Evaluator {
  listeners = new Set<(e: EvaluatorEvent) => void>();
  executed: string[] = [];
  comms: FrontendCommMessage[] = [];
  interrupts = 0;
  shutdowns = 0;
  #release: (() => void) | null = null;

  emit(e: EvaluatorEvent): void {
    for (const l of this.listeners) l(e);
  }

  async execute(code: string, options: ExecuteOptions): Promise<ExecuteOutcome> {
    this.executed.push(code);
    if (code.startsWith("ok:")) {
      return { status: "ok", result: { data: { "text/plain": code.slice(3) } } };
    }
    if (code.startsWith("print:")) {
      this.emit({ kind: "stream", cell: options.cell, name: "stdout", text: code.slice(6) });
      return { status: "ok" };
    }
    if (code === "fail") {
      return { status: "error", ename: "Error", evalue: "boom", traceback: ["Error: boom"] };
    }
    if (code === "wait") {
      const interrupted = await new Promise<boolean>((resolve) => {
        this.#release = () => resolve(false);
        this.interruptHook = () => resolve(true);
      });
      return interrupted
        ? { status: "error", ename: "Interrupted", evalue: "interrupted", traceback: [] }
        : { status: "ok" };
    }
    if (code === "ask") {
      if (!options.allowStdin) return { status: "error", ename: "E", evalue: "no", traceback: [] };
      const answer = await options.requestInput("name? ", false);
      return { status: "ok", result: { data: { "text/plain": `hi ${answer}` } } };
    }
    return { status: "ok" };
  }

  interruptHook: (() => void) | null = null;

  release(): void {
    this.#release?.();
  }

  interrupt(): Promise<"interrupted" | "restarted" | "idle"> {
    this.interrupts++;
    const hook = this.interruptHook;
    this.interruptHook = null;
    hook?.();
    return Promise.resolve(hook ? "interrupted" : "idle");
  }

  complete(code: string, cursorPos: number) {
    // Completes the identifier before the cursor with "Length" (offsets in UTF-16 units).
    const start = code.slice(0, cursorPos).search(/[\w$]*$/);
    return Promise.resolve({ matches: ["zLength"], cursorStart: start, cursorEnd: cursorPos });
  }

  inspect(code: string) {
    return Promise.resolve({ found: code === "x", data: { "text/plain": "x: number" } });
  }

  isComplete(code: string) {
    return Promise.resolve(
      code.endsWith("{")
        ? { status: "incomplete" as const, indent: "  " }
        : { status: "complete" as const },
    );
  }

  commFromFrontend(message: FrontendCommMessage): void {
    this.comms.push(message);
  }

  commInfo(targetName?: string) {
    const all = { c1: { target_name: "jupyter.widget" }, c2: { target_name: "other" } };
    return Promise.resolve(
      Object.fromEntries(
        Object.entries(all).filter(([, v]) => !targetName || v.target_name === targetName),
      ),
    );
  }

  restart(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    this.shutdowns++;
    return Promise.resolve();
  }

  onEvent(listener: (event: EvaluatorEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

interface Sent {
  channel: Channel;
  msg: JupyterMessage;
  /** How many times a lazy evaluator had been started when this was sent. */
  evaluatorStarts: number;
}

/**
 * A kernel wired to a scripted evaluator and a transport that records what it sends. With `lazy`
 * the kernel gets a function starting the evaluator, as main.ts gives it; `starts` counts calls.
 */
function setup(
  options: {
    history?: HistoryStore | Promise<HistoryStore | undefined> | (() => Promise<HistoryStore>);
    lazy?: boolean;
  } = {},
) {
  const client = new MessageCodec(KEY, { session: "client-session" });
  const evaluator = new ScriptedEvaluator();
  const sent: Sent[] = [];
  const logs: string[] = [];
  const shutdowns: boolean[] = [];
  const starts = { evaluator: 0 };
  const kernel = new Kernel({
    codec: new MessageCodec(KEY),
    transport: {
      send: (channel, frames) =>
        sent.push({ channel, msg: client.decode(frames), evaluatorStarts: starts.evaluator }),
    },
    evaluator: options.lazy
      ? () => {
        starts.evaluator++;
        return Promise.resolve(evaluator);
      }
      : evaluator,
    history: options.history,
    log: (m) => logs.push(m),
    onShutdown: (restart) => void shutdowns.push(restart),
  });
  function request(channel: Channel, type: string, content: Record<string, unknown> = {}) {
    const msg = client.message(type, content, { identities: [enc.encode("frontend-1")] });
    kernel.receive(channel, client.encode(msg));
    return msg.header.msg_id;
  }
  function of(parentId: string, type?: string): JupyterMessage[] {
    return sent.filter((s) =>
      s.msg.parent_header.msg_id === parentId && (!type || s.msg.header.msg_type === type)
    ).map((s) => s.msg);
  }
  async function until(cond: () => boolean): Promise<void> {
    for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 2));
    assert.ok(cond(), "condition not reached");
  }
  function idle(parentId: string): boolean {
    return of(parentId, "status").some((m) => m.content.execution_state === "idle");
  }
  return { kernel, evaluator, sent, logs, shutdowns, starts, request, of, until, idle, client };
}

Deno.test("kernel_info is answered with TypeScript's language_info inside busy and idle", async () => {
  const t = setup();
  const id = t.request("shell", "kernel_info_request");
  await t.until(() => t.idle(id));
  const types = t.of(id).map((m) => `${m.header.msg_type}:${m.content.execution_state ?? ""}`);
  assert.deepEqual(types, ["status:busy", "kernel_info_reply:", "status:idle"]);
  const reply = t.of(id, "kernel_info_reply")[0];
  assert.equal(reply.content.implementation, "fused-ts");
  assert.equal(reply.content.protocol_version, "5.3");
  const info = reply.content.language_info as Record<string, string>;
  assert.equal(info.name, "typescript");
  assert.equal(info.file_extension, ".ts");
  assert.equal(info.mimetype, "text/typescript");
  assert.equal(info.pygments_lexer, "typescript");
  assert.deepEqual(info.codemirror_mode, { name: "javascript", typescript: true });
  assert.equal(info.version, Deno.version.typescript);
  assert.deepEqual(reply.identities.map((i) => new TextDecoder().decode(i)), ["frontend-1"]);
});

Deno.test("an execute publishes busy, input, result, reply and idle in that order", async () => {
  const t = setup();
  const first = t.request("shell", "execute_request", { code: "ok:2" });
  const second = t.request("shell", "execute_request", { code: "ok:3" });
  await t.until(() => t.idle(second));
  const order = t.of(first).map((m) => m.header.msg_type);
  assert.deepEqual(order, ["status", "execute_input", "execute_result", "execute_reply", "status"]);
  assert.equal(t.of(first, "execute_result")[0].content.execution_count, 1);
  assert.deepEqual(t.of(second, "execute_result")[0].content.data, { "text/plain": "3" });
  assert.equal(t.of(second, "execute_reply")[0].content.execution_count, 2);
  assert.equal(t.of(second, "execute_input")[0].content.code, "ok:3");
});

Deno.test("a silent execute publishes only status and does not count", async () => {
  const t = setup();
  const id = t.request("shell", "execute_request", { code: "print:hidden", silent: true });
  await t.until(() => t.idle(id));
  assert.deepEqual(t.of(id).map((m) => m.header.msg_type), ["status", "execute_reply", "status"]);
  assert.equal(t.kernel.executionCount, 0);
  const next = t.request("shell", "execute_request", { code: "ok:1" });
  await t.until(() => t.idle(next));
  assert.equal(t.of(next, "execute_reply")[0].content.execution_count, 1);
});

Deno.test("after an error with stop_on_error the queued executes are aborted", async () => {
  const t = setup();
  const wait = t.request("shell", "execute_request", { code: "wait" });
  const fail = t.request("shell", "execute_request", { code: "fail" });
  const queued = t.request("shell", "execute_request", { code: "ok:never" });
  await t.until(() => t.evaluator.executed.includes("wait"));
  t.evaluator.release();
  await t.until(() => t.idle(queued));
  assert.equal(t.of(wait, "execute_reply")[0].content.status, "ok");
  const failReply = t.of(fail, "execute_reply")[0].content;
  assert.equal(failReply.status, "error");
  assert.equal(failReply.evalue, "boom");
  assert.equal(t.of(fail, "error").length, 1);
  assert.equal(t.of(queued, "execute_reply")[0].content.status, "aborted");
  assert.ok(!t.evaluator.executed.includes("ok:never"));
  // A cell sent after the failure runs again.
  const later = t.request("shell", "execute_request", { code: "ok:again" });
  await t.until(() => t.idle(later));
  assert.equal(t.of(later, "execute_reply")[0].content.status, "ok");
});

Deno.test("without stop_on_error the queued executes still run after an error", async () => {
  const t = setup();
  const fail = t.request("shell", "execute_request", { code: "fail", stop_on_error: false });
  const next = t.request("shell", "execute_request", { code: "ok:5" });
  await t.until(() => t.idle(next));
  assert.equal(t.of(fail, "execute_reply")[0].content.status, "error");
  assert.equal(t.of(next, "execute_reply")[0].content.status, "ok");
});

Deno.test("shell requests and comm messages are handled while a cell awaits", async () => {
  const t = setup();
  const cell = t.request("shell", "execute_request", { code: "wait" });
  await t.until(() => t.evaluator.executed.includes("wait"));
  const info = t.request("shell", "kernel_info_request");
  const complete = t.request("shell", "complete_request", { code: "x.le", cursor_pos: 4 });
  const comm = t.request("shell", "comm_msg", { comm_id: "c1", data: { action: "cancel" } });
  await t.until(() => t.idle(info) && t.idle(complete) && t.idle(comm));
  assert.equal(t.of(cell, "execute_reply").length, 0, "the cell should still be running");
  assert.equal(t.evaluator.comms.length, 1);
  assert.equal(t.evaluator.comms[0].commId, "c1");
  assert.deepEqual(t.evaluator.comms[0].data, { action: "cancel" });
  const c = t.of(complete, "complete_reply")[0].content;
  assert.deepEqual([c.matches, c.cursor_start, c.cursor_end], [["zLength"], 2, 4]);
  t.evaluator.release();
  await t.until(() => t.idle(cell));
});

Deno.test("interrupt on control reaches the evaluator while a cell runs and the cell ends", async () => {
  const t = setup();
  const cell = t.request("shell", "execute_request", { code: "wait" });
  const queued = t.request("shell", "execute_request", { code: "ok:queued" });
  await t.until(() => t.evaluator.executed.includes("wait"));
  const intr = t.request("control", "interrupt_request");
  await t.until(() => t.idle(intr) && t.idle(cell) && t.idle(queued));
  assert.equal(t.evaluator.interrupts, 1);
  assert.equal(t.of(intr, "interrupt_reply")[0].content.status, "ok");
  assert.equal(t.sent.find((s) => s.msg.header.msg_type === "interrupt_reply")?.channel, "control");
  assert.equal(t.of(cell, "execute_reply")[0].content.ename, "Interrupted");
  assert.equal(t.of(queued, "execute_reply")[0].content.status, "aborted");
  const next = t.request("shell", "execute_request", { code: "ok:after" });
  await t.until(() => t.idle(next));
  assert.equal(t.of(next, "execute_reply")[0].content.status, "ok");
});

Deno.test("output of background work carries the parent header of the cell that started it", async () => {
  const t = setup();
  const first = t.request("shell", "execute_request", { code: "ok:1" });
  const second = t.request("shell", "execute_request", { code: "ok:2" });
  await t.until(() => t.idle(second));
  t.evaluator.emit({ kind: "stream", cell: first, name: "stdout", text: "late\n" });
  t.evaluator.emit({
    kind: "display",
    cell: first,
    update: true,
    bundle: { data: { "text/html": "<b>v2</b>" }, transient: { display_id: "d1" } },
  });
  const late = t.of(first, "stream");
  assert.equal(late.length, 1);
  assert.equal(late[0].content.text, "late\n");
  const update = t.of(first, "update_display_data")[0];
  assert.deepEqual(update.content.transient, { display_id: "d1" });
  assert.equal(t.of(second, "stream").length, 0);
});

Deno.test("a message with a bad signature is dropped with a log line", () => {
  const t = setup();
  const forger = new MessageCodec("wrong-key");
  t.kernel.receive("shell", forger.encode(forger.message("kernel_info_request", {})));
  assert.equal(t.sent.length, 0);
  assert.ok(t.logs.some((l) => l.includes("invalid HMAC")));
});

Deno.test("input is requested on stdin with the cell as parent and the reply resumes the cell", async () => {
  const t = setup();
  const cell = t.request("shell", "execute_request", { code: "ask", allow_stdin: true });
  await t.until(() => t.sent.some((s) => s.channel === "stdin"));
  const req = t.sent.find((s) => s.channel === "stdin")!.msg;
  assert.equal(req.header.msg_type, "input_request");
  assert.equal(req.parent_header.msg_id, cell);
  assert.equal(req.content.prompt, "name? ");
  t.request("stdin", "input_reply", { value: "Ada" });
  await t.until(() => t.idle(cell));
  assert.deepEqual(t.of(cell, "execute_result")[0].content.data, { "text/plain": "hi Ada" });
});

Deno.test("a restart of the evaluator is reported plainly on stderr", async () => {
  const t = setup();
  const cell = t.request("shell", "execute_request", { code: "ok:1" });
  await t.until(() => t.idle(cell));
  t.evaluator.emit({ kind: "restarted", reason: "the loop did not stop" });
  const note = t.of(cell, "stream")[0];
  assert.equal(note.content.name, "stderr");
  assert.match(String(note.content.text), /state was reset \(the loop did not stop\)/);
});

Deno.test("kernel-side comm events go out on iopub with metadata and buffers", async () => {
  const t = setup();
  const cell = t.request("shell", "execute_request", { code: "ok:1" });
  await t.until(() => t.idle(cell));
  t.evaluator.emit({
    kind: "comm_open",
    cell,
    commId: "w1",
    targetName: "jupyter.widget",
    data: { state: { value: 1 } },
    metadata: { version: "2.1.0" },
    buffers: [new Uint8Array([1, 2, 3])],
  });
  const open = t.of(cell, "comm_open")[0];
  assert.deepEqual(open.content, {
    comm_id: "w1",
    target_name: "jupyter.widget",
    data: { state: { value: 1 } },
  });
  assert.deepEqual(open.metadata, { version: "2.1.0" });
  assert.deepEqual([...open.buffers[0]], [1, 2, 3]);
});

Deno.test("a comm reply made while handling a frontend request has that request as parent", async () => {
  const t = setup();
  const cell = t.request("shell", "execute_request", { code: "ok:1" });
  await t.until(() => t.idle(cell));
  const request = t.request("shell", "comm_msg", {
    comm_id: "w1",
    data: { method: "request_state" },
  });
  await t.until(() => t.idle(request));
  const header = t.evaluator.comms[0].header;
  assert.equal(header?.msg_id, request);
  t.evaluator.emit({
    kind: "comm_msg",
    cell,
    commId: "w1",
    data: { method: "update" },
    buffers: [],
    replyTo: header,
  });
  assert.deepEqual(t.of(request, "comm_msg").map((m) => m.content.data), [{ method: "update" }]);
  assert.equal(t.of(cell, "comm_msg").length, 0);
});

Deno.test("frontend comm_open keeps target, metadata and buffers; comm_info filters by target", async () => {
  const t = setup();
  const client = new MessageCodec(KEY);
  const open = client.message("comm_open", {
    comm_id: "f1",
    target_name: "fused.jobs",
    data: { hello: 1 },
  }, { metadata: { version: "2.1.0" }, buffers: [new Uint8Array([9])] });
  t.kernel.receive("shell", client.encode(open));
  const info = t.request("shell", "comm_info_request", { target_name: "jupyter.widget" });
  await t.until(() => t.idle(info) && t.idle(open.header.msg_id));
  const m = t.evaluator.comms[0];
  assert.equal(m.type, "comm_open");
  assert.equal(m.targetName, "fused.jobs");
  assert.deepEqual(m.metadata, { version: "2.1.0" });
  assert.deepEqual([...m.buffers[0]], [9]);
  assert.deepEqual(t.of(info, "comm_info_reply")[0].content.comms, {
    c1: { target_name: "jupyter.widget" },
  });
});

Deno.test("completion cursor positions are converted between code points and UTF-16", async () => {
  const t = setup();
  // "🦕" is one code point but two UTF-16 units.
  const id = t.request("shell", "complete_request", { code: "'🦕'; s.le", cursor_pos: 9 });
  await t.until(() => t.idle(id));
  const c = t.of(id, "complete_reply")[0].content;
  assert.equal(c.cursor_start, 7);
  assert.equal(c.cursor_end, 9);
});

Deno.test("is_complete and inspect replies come from the evaluator", async () => {
  const t = setup();
  const a = t.request("shell", "is_complete_request", { code: "if (x) {" });
  const b = t.request("shell", "is_complete_request", { code: "x" });
  const c = t.request("shell", "inspect_request", { code: "x", cursor_pos: 1, detail_level: 0 });
  await t.until(() => t.idle(a) && t.idle(b) && t.idle(c));
  assert.deepEqual(t.of(a, "is_complete_reply")[0].content, { status: "incomplete", indent: "  " });
  assert.deepEqual(t.of(b, "is_complete_reply")[0].content, { status: "complete" });
  const inspect = t.of(c, "inspect_reply")[0].content;
  assert.equal(inspect.found, true);
  assert.deepEqual(inspect.data, { "text/plain": "x: number" });
});

Deno.test("a history store that loads after the first cells still records them, in order", async () => {
  const { promise, resolve } = Promise.withResolvers<HistoryStore | undefined>();
  const t = setup({ history: promise });
  const info = t.request("shell", "kernel_info_request", {});
  let last = "";
  for (const code of ["ok:1", "ok:2"]) last = t.request("shell", "execute_request", { code });
  await t.until(() => t.idle(info) && t.idle(last));
  // Asked before the store is there: the answer waits for it.
  const ask = t.request("shell", "history_request", {
    output: false,
    raw: true,
    hist_access_type: "tail",
    n: 5,
  });
  const history = new HistoryStore(":memory:");
  resolve(history);
  await t.until(() => t.idle(ask));
  const s = history.session;
  assert.deepEqual(t.of(ask, "history_reply")[0].content.history, [[s, 1, "ok:1"], [s, 2, "ok:2"]]);
});

Deno.test("a lazy evaluator and history start only once the first reply went out", async () => {
  let historyStarts = 0;
  const t = setup({
    lazy: true,
    history: () => {
      historyStarts++;
      return Promise.resolve(new HistoryStore(":memory:"));
    },
  });
  const id = t.request("shell", "kernel_info_request");
  await t.until(() => t.idle(id));
  const answered = t.sent.filter((s) => s.msg.parent_header.msg_id === id);
  assert.deepEqual(answered.map((s) => s.evaluatorStarts), [0, 0, 0]); // busy, reply, idle
  await t.until(() => t.starts.evaluator === 1 && historyStarts === 1);
  const run = t.request("shell", "execute_request", { code: "ok:2" });
  await t.until(() => t.idle(run));
  assert.deepEqual(t.of(run, "execute_result")[0].content.data, { "text/plain": "2" });
  assert.deepEqual([t.starts.evaluator, historyStarts], [1, 1]);
});

Deno.test("a request that needs a lazy evaluator before any reply starts it", async () => {
  const t = setup({ lazy: true });
  const run = t.request("shell", "execute_request", { code: "ok:2" });
  await t.until(() => t.idle(run));
  assert.deepEqual(t.of(run, "execute_result")[0].content.data, { "text/plain": "2" });
  assert.equal(t.starts.evaluator, 1);
});

Deno.test("a shutdown as first request never starts a lazy evaluator", async () => {
  const t = setup({ lazy: true });
  const id = t.request("control", "shutdown_request", { restart: false });
  await t.until(() => t.shutdowns.length === 1);
  assert.deepEqual(t.of(id, "shutdown_reply")[0].content, { status: "ok", restart: false });
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(t.starts.evaluator, 0);
});

Deno.test("history answers tail, range and search from the cells of this session", async () => {
  const history = new HistoryStore(":memory:");
  const t = setup({ history });
  let last = "";
  for (const code of ["ok:1", "ok:2", "ok:1", "print:x"]) {
    last = t.request("shell", "execute_request", { code });
  }
  t.request("shell", "execute_request", { code: "ok:silent", silent: true });
  await t.until(() => t.idle(last));
  const ask = async (content: Record<string, unknown>) => {
    const id = t.request("shell", "history_request", { output: false, raw: true, ...content });
    await t.until(() => t.idle(id));
    return t.of(id, "history_reply")[0].content.history as unknown[][];
  };
  const s = history.session;
  assert.deepEqual(await ask({ hist_access_type: "tail", n: 2 }), [[s, 3, "ok:1"], [
    s,
    4,
    "print:x",
  ]]);
  assert.deepEqual(await ask({ hist_access_type: "range", session: 0, start: 2, stop: 3 }), [[
    s,
    2,
    "ok:2",
  ]]);
  assert.equal((await ask({ hist_access_type: "search", pattern: "ok:*" })).length, 3);
  assert.deepEqual(await ask({ hist_access_type: "search", pattern: "ok:*", unique: true }), [
    [s, 2, "ok:2"],
    [s, 3, "ok:1"],
  ]);
  assert.deepEqual(await ask({ hist_access_type: "search", pattern: "ok:*", n: 1 }), [[
    s,
    3,
    "ok:1",
  ]]);
  const withOutput = await ask({ hist_access_type: "tail", n: 1, output: true });
  assert.deepEqual(withOutput, [[s, 4, ["print:x", null]]]);
  const withResult = await ask({
    hist_access_type: "range",
    session: 0,
    start: 1,
    stop: 2,
    output: true,
  });
  assert.deepEqual(withResult, [[s, 1, ["ok:1", "1"]]]);
  history.close();
});

Deno.test("shutdown is answered on its channel before the evaluator stops and the process ends", async () => {
  const t = setup();
  const id = t.request("control", "shutdown_request", { restart: true });
  await t.until(() => t.shutdowns.length === 1);
  const reply = t.of(id, "shutdown_reply")[0];
  assert.deepEqual(reply.content, { status: "ok", restart: true });
  assert.equal(t.sent.find((s) => s.msg.header.msg_type === "shutdown_reply")?.channel, "control");
  assert.deepEqual(t.shutdowns, [true]);
  // Nothing more is handled once shutting down.
  const after = t.request("shell", "kernel_info_request");
  assert.equal(t.of(after).length, 0);
});

Deno.test("without a shutdown hook the kernel stops the evaluator itself", async () => {
  const evaluator = new ScriptedEvaluator();
  const kernel = new Kernel({
    codec: new MessageCodec(KEY),
    transport: { send: () => {} },
    evaluator,
    log: () => {},
  });
  const client = new MessageCodec(KEY);
  kernel.receive("shell", client.encode(client.message("shutdown_request", { restart: false })));
  for (let i = 0; i < 100 && evaluator.shutdowns === 0; i++) {
    await new Promise((r) => setTimeout(r, 2));
  }
  assert.equal(evaluator.shutdowns, 1);
});

Deno.test("name? sends the inspection of name to the pager instead of running it", async () => {
  const t = setup();
  const id = t.request("shell", "execute_request", { code: "x?" });
  await t.until(() => t.idle(id));
  const reply = t.of(id, "execute_reply")[0].content;
  assert.equal(reply.status, "ok");
  assert.deepEqual(reply.payload, [{
    source: "page",
    data: { "text/plain": "x: number" },
    start: 0,
  }]);
  assert.ok(!t.evaluator.executed.includes("x?"));
  const unknown = t.request("shell", "execute_request", { code: "nothing.here??" });
  await t.until(() => t.idle(unknown));
  const page = (t.of(unknown, "execute_reply")[0].content.payload as { data: unknown }[])[0];
  assert.deepEqual(page.data, { "text/plain": "No documentation found for nothing.here" });
});
