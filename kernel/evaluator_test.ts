import assert from "node:assert/strict";
import { plain, withEvaluator, within } from "./_evaluator_harness.ts";
import type { EvaluatorEvent } from "./evaluator_types.ts";

Deno.test("const can be redeclared in a later cell and the last expression is the result", async () => {
  await withEvaluator(async (h) => {
    assert.equal(plain(await h.run("const x: number = 1;\nx + 1")), "2");
    assert.equal(plain(await h.run("const x = 40;\nx + 2")), "42");
  });
});

Deno.test("a cell whose last value is undefined has no result", async () => {
  await withEvaluator(async (h) => {
    const out = await h.run("let y = 3;");
    assert.deepEqual(out, { status: "ok" });
    assert.equal(plain(await h.run("y * 2")), "6");
  });
});

Deno.test("top-level await works and its binding persists", async () => {
  await withEvaluator(async (h) => {
    await h.run("const r = await new Promise<number>((res) => setTimeout(() => res(7), 5));");
    assert.equal(plain(await h.run("r")), "7");
  });
});

Deno.test("classes and functions persist across cells", async () => {
  await withEvaluator(async (h) => {
    await h.run(
      "class Point { constructor(public x: number) {} }\nfunction mk(n: number) { return new Point(n) }",
    );
    assert.equal(plain(await h.run("mk(4).x")), "4");
  });
});

Deno.test("node:, npm:, mapped bare and relative imports persist for later cells", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/helper.ts`,
      "export const answer: number = 41;\nexport default 'dflt';\n",
    );
    await withEvaluator(async (h) => {
      const out = await h.run(
        'import * as path from "node:path";\nimport dflt, { answer } from "./helper.ts";\nimport { z } from "zod";\nimport { strToU8 } from "npm:fflate@0.8.3";',
      );
      assert.equal(out.status, "ok", JSON.stringify(out));
      assert.equal(plain(await h.run("path.basename('/a/b.txt')")), '"b.txt"');
      assert.equal(plain(await h.run("answer + 1")), "42");
      assert.equal(plain(await h.run("dflt")), '"dflt"');
      assert.equal(plain(await h.run("typeof z.string")), '"function"');
      assert.equal(plain(await h.run("strToU8('ab').length")), "2");
    }, { cwd: dir });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("objects with a Jupyter.display method display through it", async () => {
  await withEvaluator(async (h) => {
    const out = await h.run(
      '({ [Symbol.for("Jupyter.display")]() { return { "text/html": "<b>hi</b>" }; } })',
    );
    assert.equal(out.status, "ok");
    assert.deepEqual(out.status === "ok" && out.result?.data, { "text/html": "<b>hi</b>" });
  });
});

Deno.test("text/plain results have no colour codes", async () => {
  await withEvaluator(async (h) => {
    const text = plain(await h.run("({ a: 1, s: 'x' })")) as string;
    assert.equal(text.includes("\x1b["), false);
    assert.match(text, /a: 1/);
  });
});

Deno.test("display() shows html and updates a display by id", async () => {
  await withEvaluator(async (h) => {
    const cell = "disp";
    const out = await h.run(
      'const hd = await display(html`<i>one</i>`, { displayId: "d1" });\nawait hd.update(md`**two**`);',
      cell,
    );
    assert.equal(out.status, "ok", JSON.stringify(out));
    const displays = h.events.filter((e) => e.kind === "display" && e.cell === cell);
    assert.equal(displays.length, 2);
    const [first, second] = displays as Extract<EvaluatorEvent, { kind: "display" }>[];
    assert.equal(first.bundle.data["text/html"], "<i>one</i>");
    assert.equal(first.update, false);
    assert.deepEqual(first.bundle.transient, { display_id: "d1" });
    assert.equal(second.bundle.data["text/markdown"], "**two**");
    assert.equal(second.update, true);
  });
});

Deno.test("Deno.jupyter.display with raw bundles works like deno jupyter", async () => {
  await withEvaluator(async (h) => {
    const out = await h.run(
      'await Deno.jupyter.display({ "text/plain": "raw!" }, { raw: true, display_id: "r1" });',
      "dj",
    );
    assert.equal(out.status, "ok", JSON.stringify(out));
    const d = await h.waitFor((e) => e.kind === "display" && e.cell === "dj");
    assert.equal(d.kind === "display" && d.bundle.data["text/plain"], "raw!");
  });
});

Deno.test("a syntax error reports its line and column with a caret line", async () => {
  await withEvaluator(async (h) => {
    const out = await h.run("const ok = 1;\nlet bad = = 2;");
    assert.equal(out.status, "error");
    if (out.status !== "error") return;
    assert.equal(out.ename, "SyntaxError");
    assert.match(out.evalue, /line 2, column \d+/);
    assert.ok(out.traceback.some((l) => l.includes("let bad = = 2;")));
    assert.ok(out.traceback.some((l) => /^\s+\|\s+\^$/.test(l)));
  });
});

Deno.test("a runtime error's stack shows the cell line", async () => {
  await withEvaluator(async (h) => {
    const out = await h.run("function f() {\n  return (null as any).boom;\n}\nf();");
    assert.equal(out.status, "error");
    if (out.status !== "error") return;
    assert.equal(out.ename, "TypeError");
    assert.ok(out.traceback.some((l) => /:2:\d+/.test(l)), out.traceback.join("\n"));
    assert.ok(out.traceback.some((l) => l.includes("return (null as any).boom;")));
  });
});

Deno.test("output of background work goes to the cell that started it", async () => {
  await withEvaluator(async (h) => {
    await h.run("setTimeout(() => console.log('late line'), 50); undefined", "starter");
    await h.run("await new Promise((r) => setTimeout(r, 100)); console.log('now')", "other");
    const late = await h.waitFor((e) => e.kind === "stream" && e.text.includes("late line"));
    assert.equal(late.kind === "stream" && late.cell, "starter");
    assert.equal(h.stdout("other"), "now\n");
  });
});

Deno.test("an unhandled rejection is reported and the worker survives", async () => {
  await withEvaluator(async (h) => {
    await h.run("Promise.reject(new Error('lost promise')); 1", "rej");
    const err = await h.waitFor((e) => e.kind === "error");
    assert.equal(err.kind === "error" && err.cell, "rej");
    assert.match(err.kind === "error" ? err.evalue : "", /lost promise/);
    assert.equal(plain(await h.run("1 + 1")), "2");
  });
});

Deno.test("an error thrown in a timer is reported to its cell", async () => {
  await withEvaluator(async (h) => {
    await h.run("setTimeout(() => { throw new Error('timer boom') }, 10); undefined", "tm");
    await h.run("await new Promise((r) => setTimeout(r, 50))", "later");
    const err = await h.waitFor((e) => e.kind === "error" && e.evalue.includes("timer boom"));
    assert.equal(err.kind === "error" && err.cell, "tm");
    assert.equal(plain(await h.run("2 + 2")), "4");
  });
});

Deno.test("20,000 console.log lines arrive in few stream events", async () => {
  await withEvaluator(async (h) => {
    const out = await h.run("for (let i = 0; i < 20000; i++) console.log('line ' + i);", "many");
    assert.equal(out.status, "ok");
    const streams = h.events.filter((e) => e.kind === "stream" && e.cell === "many");
    assert.ok(streams.length < 100, `${streams.length} stream events`);
    const text = h.stdout("many");
    assert.equal(text.split("\n").length - 1, 20000);
    assert.ok(text.endsWith("line 19999\n"));
  });
});

Deno.test("silent cells produce no events and no result", async () => {
  await withEvaluator(async (h) => {
    const out = await h.run("console.log('hidden'); 5", "quiet", { silent: true });
    assert.deepEqual(out, { status: "ok" });
    await h.run("await new Promise((r) => setTimeout(r, 30))");
    assert.equal(h.events.filter((e) => "cell" in e && e.cell === "quiet").length, 0);
  });
});

Deno.test("interrupting an awaiting cell ends it at once and keeps state", async () => {
  await withEvaluator(async (h) => {
    await h.run("const kept = 'yes';");
    const pending = h.run("await new Promise((r) => setTimeout(r, 60000));");
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(await within(h.ev.interrupt(), 5000, "interrupt"), "interrupted");
    const out = await within(pending, 5000, "interrupted cell");
    assert.equal(out.status === "error" && out.ename, "KeyboardInterrupt");
    assert.equal(plain(await h.run("kept")), '"yes"');
  });
});

Deno.test("interrupting a busy while(true) loop keeps state", async () => {
  await withEvaluator(async (h) => {
    await h.run("let counter = 0;");
    const pending = h.run("while (true) { counter++; }");
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await within(h.ev.interrupt(), 5000, "interrupt"), "interrupted");
    const out = await within(pending, 5000, "interrupted cell");
    assert.equal(out.status === "error" && out.ename, "KeyboardInterrupt");
    assert.equal(plain(await h.run("counter > 0")), "true");
  });
});

Deno.test("a block the transform cannot reach restarts the worker", async () => {
  await withEvaluator(async (h) => {
    await h.run("const lost = 1;");
    const pending = h.run("Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);");
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(await within(h.ev.interrupt(), 8000, "interrupt"), "restarted");
    const out = await within(pending, 5000, "interrupted cell");
    assert.equal(out.status === "error" && out.ename, "KeyboardInterrupt");
    assert.ok(h.events.some((e) => e.kind === "restarted"));
    const after = await h.run("typeof lost");
    assert.equal(plain(after), '"undefined"');
  });
});

Deno.test("interrupt with no cell running says idle", async () => {
  await withEvaluator(async (h) => {
    assert.equal(await h.ev.interrupt(), "idle");
  });
});

Deno.test("prompt() asks the frontend when stdin is allowed", async () => {
  await withEvaluator(async (h) => {
    const asked: string[] = [];
    const out = await h.run("const name = prompt('Name?'); name + '!'", "ask", {
      allowStdin: true,
      requestInput: (p) => {
        asked.push(p);
        return Promise.resolve("Ada");
      },
    });
    assert.equal(plain(out), '"Ada!"');
    assert.deepEqual(asked, ["Name?"]);
  });
});

Deno.test("prompt() throws a clear error when stdin is not allowed", async () => {
  await withEvaluator(async (h) => {
    const out = await h.run("prompt('Name?')");
    assert.equal(out.status, "error");
    assert.match(out.status === "error" ? out.evalue : "", /allow_stdin/);
  });
});

Deno.test("comms work both ways while a cell awaits", async () => {
  await withEvaluator(async (h) => {
    const pending = h.run(
      "const comm = Jupyter.openComm('test.target', { hello: 1 });\n" +
        "const got = await new Promise((res) => comm.onMessage((data, msg) => res({ data, n: msg.buffers[0]?.length })));\n" +
        "comm.send({ echo: got }, { buffers: [new Uint8Array([1, 2, 3])] });\ngot",
      "commcell",
    );
    const open = await h.waitFor((e) => e.kind === "comm_open");
    assert.equal(open.kind === "comm_open" && open.targetName, "test.target");
    assert.equal(open.kind === "comm_open" && open.cell, "commcell");
    const commId = open.kind === "comm_open" ? open.commId : "";
    assert.deepEqual(await h.ev.commInfo(), { [commId]: { target_name: "test.target" } });
    h.ev.commFromFrontend({
      type: "comm_msg",
      commId,
      data: { click: true },
      buffers: [new Uint8Array([9, 9])],
    });
    const out = await within(pending, 5000, "cell awaiting a comm message");
    assert.match(String(plain(out)), /click: true/);
    const msg = await h.waitFor((e) => e.kind === "comm_msg");
    assert.equal(msg.kind === "comm_msg" && msg.buffers[0].length, 3);
  });
});

Deno.test("a registered comm target receives comms the frontend opens", async () => {
  await withEvaluator(async (h) => {
    await h.run(
      "globalThis.opened = [];\nJupyter.registerCommTarget('front.target', (comm, msg) => {\n" +
        "  opened.push(msg.data);\n  comm.send({ ack: true });\n});",
      "reg",
    );
    h.ev.commFromFrontend({
      type: "comm_open",
      commId: "abc",
      targetName: "front.target",
      data: { from: "frontend" },
      buffers: [],
    });
    const ack = await h.waitFor((e) => e.kind === "comm_msg" && e.commId === "abc");
    assert.equal(ack.kind === "comm_msg" && ack.cell, "reg");
    assert.equal(plain(await h.run("opened[0].from")), '"frontend"');
    assert.deepEqual(await h.ev.commInfo("front.target"), { abc: { target_name: "front.target" } });
  });
});

Deno.test("what a comm sends while handling a frontend message answers that message", async () => {
  await withEvaluator(async (h) => {
    await h.run(
      "const c = Jupyter.openComm('reply.target');\n" +
        "c.onMessage(async (data) => {\n" +
        "  c.send({ method: 'update', n: data.n });\n" +
        "  await null;\n" +
        "  c.send({ method: 'later', n: data.n });\n" +
        "});",
      "replycell",
    );
    const open = await h.waitFor((e) => e.kind === "comm_open");
    const commId = open.kind === "comm_open" ? open.commId : "";
    const header = { msg_id: "request-1", msg_type: "comm_msg", session: "s" };
    h.ev.commFromFrontend({ type: "comm_msg", commId, data: { n: 1 }, buffers: [], header });
    const reply = await h.waitFor((e) =>
      e.kind === "comm_msg" && (e.data as { method?: string }).method === "update"
    );
    // ipykernel's rule, which widget managers rely on: the reply's parent is the request.
    assert.deepEqual(reply.kind === "comm_msg" && reply.replyTo, header);
    const later = await h.waitFor((e) =>
      e.kind === "comm_msg" && (e.data as { method?: string }).method === "later"
    );
    // After an await the handler is no longer answering: the comm's cell is the parent again.
    assert.equal(later.kind === "comm_msg" && later.replyTo, undefined);
    assert.equal(later.kind === "comm_msg" && later.cell, "replycell");
  });
});

Deno.test("a comm_open for an unknown target is answered with comm_close", async () => {
  await withEvaluator(async (h) => {
    h.ev.commFromFrontend({
      type: "comm_open",
      commId: "zzz",
      targetName: "nobody",
      data: {},
      buffers: [],
    });
    const close = await h.waitFor((e) => e.kind === "comm_close");
    assert.equal(close.kind === "comm_close" && close.commId, "zzz");
  });
});

Deno.test("an unknown magic lists the known ones", async () => {
  await withEvaluator(async (h) => {
    const out = await h.run("%%nosuchmagic\n1");
    assert.equal(out.status, "error");
    if (out.status !== "error") return;
    assert.match(out.evalue, /Unknown cell magic %%nosuchmagic/);
    assert.match(out.evalue, /%%time/);
  });
});

Deno.test("%lsmagic lists line and cell magics", async () => {
  await withEvaluator(async (h) => {
    await h.run("%lsmagic", "ls");
    assert.match(h.stdout("ls"), /%%capture/);
    assert.match(h.stdout("ls"), /%lsmagic/);
  });
});

Deno.test("%%time prints wall time and keeps the body's result and bindings", async () => {
  await withEvaluator(async (h) => {
    const out = await h.run("%%time\nconst timed = 6 * 7;\ntimed", "tc");
    assert.equal(plain(out), "42");
    assert.match(h.stdout("tc"), /^Wall time: [\d.]+ (µs|ms|s)\n$/);
    assert.equal(plain(await h.run("timed")), "42");
  });
});

Deno.test("%%capture stores output in a variable instead of showing it", async () => {
  await withEvaluator(async (h) => {
    const out = await h.run(
      "%%capture cap\nconsole.log('captured text');\nconsole.error('err text');\nawait display(html`<p>x</p>`);",
      "cap",
    );
    assert.equal(out.status, "ok", JSON.stringify(out));
    assert.equal(h.events.filter((e) => "cell" in e && e.cell === "cap").length, 0);
    assert.equal(plain(await h.run("cap.stdout")), '"captured text\\n"');
    assert.equal(plain(await h.run("cap.stderr")), '"err text\\n"');
    // An HTML string as a cell value renders as HTML; JSON text keeps the check exact.
    assert.equal(
      plain(await h.run("JSON.stringify(cap.outputs[0]['text/html'])")),
      `'"<p>x</p>"'`,
    );
  });
});

Deno.test("captured output shown by VAR.show() in a later cell lands in that cell", async () => {
  await withEvaluator(async (h) => {
    await h.run(
      "%%capture kept\nconsole.log('kept text');\nawait display(html`<i>kept</i>`);",
      "keep",
    );
    const out = await h.run("await kept.show();", "later");
    assert.equal(out.status, "ok", JSON.stringify(out));
    assert.equal(h.stdout("later"), "kept text\n");
    const shown = h.events.filter((e) => e.kind === "display" && e.cell === "later");
    assert.equal(shown.length, 1);
    assert.equal(h.events.filter((e) => "cell" in e && e.cell === "keep").length, 0);
  });
});

Deno.test("a line magic between code lines runs in order", async () => {
  await withEvaluator(async (h) => {
    const out = await h.run(
      "console.log('before');\n%lsmagic\nconsole.log('after');\n1 + 1",
      "mix",
    );
    assert.equal(plain(out), "2");
    const text = h.stdout("mix");
    assert.ok(
      text.indexOf("before") < text.indexOf("Available") &&
        text.indexOf("Available") < text.indexOf("after"),
    );
  });
});

Deno.test("completion lists globals, earlier variables and object properties", async () => {
  await withEvaluator(async (h) => {
    await h.run("const myObject = { alpha: 1, beta: 2 };");
    const g = await h.ev.complete("myOb", 4);
    assert.ok(g.matches.includes("myObject"));
    assert.equal(g.cursorStart, 0);
    const p = await h.ev.complete("myObject.al", 11);
    assert.deepEqual(p.matches, ["alpha"]);
    assert.equal(p.cursorStart, 9);
    const d = await h.ev.complete("Deno.readTextF", 14);
    assert.ok(d.matches.includes("readTextFile"));
  });
});

Deno.test("completion does not run getters with side effects", async () => {
  await withEvaluator(async (h) => {
    await h.run("let hits = 0;\nconst tricky = { get inner() { hits++; return { x: 1 }; } };");
    await h.ev.complete("tricky.inner.", 13);
    assert.equal(plain(await h.run("hits")), "0");
  });
});

Deno.test("inspect describes a function and a value", async () => {
  await withEvaluator(async (h) => {
    await h.run(
      "/** Adds two numbers. */\nfunction add(a: number, b: number): number { return a + b; }\nconst limit = 10;",
    );
    const f = await h.ev.inspect("add(1, 2)", 1, 0);
    assert.equal(f.found, true);
    assert.match(String(f.data["text/plain"]), /function add\(a: number, b: number\): number/);
    assert.match(String(f.data["text/plain"]), /Adds two numbers\./);
    const v = await h.ev.inspect("limit", 5, 0);
    assert.match(String(v.data["text/plain"]), /Value: 10/);
    const missing = await h.ev.inspect("nothingHere", 3, 0);
    assert.equal(missing.found, false);
  });
});

Deno.test("isComplete tells complete, incomplete and invalid code apart", async () => {
  await withEvaluator(async (h) => {
    assert.equal((await h.ev.isComplete("const a = 1;")).status, "complete");
    const inc = await h.ev.isComplete("function f() {");
    assert.equal(inc.status, "incomplete");
    assert.equal(inc.indent, "  ");
    assert.equal((await h.ev.isComplete("a)")).status, "invalid");
  });
});

Deno.test("restart clears state and the next cell runs", async () => {
  await withEvaluator(async (h) => {
    await h.run("const before = 1;");
    await h.ev.restart();
    assert.equal(plain(await h.run("typeof before")), '"undefined"');
  });
});
