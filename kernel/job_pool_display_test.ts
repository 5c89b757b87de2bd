import assert from "node:assert/strict";
import { type Harness, plain, withEvaluator, within } from "./_evaluator_harness.ts";
import type { EvaluatorEvent } from "./evaluator_types.ts";

const WIDGET_VIEW = "application/vnd.jupyter.widget-view+json";

type State = Record<string, unknown>;

function openState(e: EvaluatorEvent): State | undefined {
  if (e.kind !== "comm_open" || e.targetName !== "jupyter.widget") return undefined;
  return (e.data as { state: State }).state;
}

function updateOf(e: EvaluatorEvent, commId: string): State | undefined {
  if (e.kind !== "comm_msg" || e.commId !== commId) return undefined;
  const data = e.data as { method?: string; state?: State };
  return data.method === "update" ? data.state : undefined;
}

const SLOW_POOL = `
import * as fused from "fused";
const slow = fused.udf(
  "export default async function udf({ n = 0 }) { await new Promise((r) => setTimeout(r, 300)); return n; }",
  { name: "slow_widget_test" },
);
const args = Array.from({ length: 200 }, (_, n) => ({ n }));
const pool = await fused.submit(slow, args, {
  collect: false,
  engine: "local",
  maxWorkers: 8,
  cache: false,
});
display(pool);
await pool.wait();
"waited"`;

/** Asks what an ipywidgets manager asks when it connects: the kernel's jupyter.widget comms. */
async function announceWidgetManager(h: Harness): Promise<void> {
  await h.ev.commInfo("jupyter.widget");
}

Deno.test("the Cancel button of a displayed pool ends a cell awaiting pool.wait()", async () => {
  await withEvaluator(async (h) => {
    await announceWidgetManager(h);
    const cell = h.run(SLOW_POOL, "pool-cell");
    const shown = await h.waitFor(
      (e) => e.kind === "display" && !e.update && WIDGET_VIEW in e.bundle.data,
      30_000,
      "the widget display",
    );
    assert.ok(shown.kind === "display");
    assert.equal(shown.cell, "pool-cell");
    const view = shown.bundle.data[WIDGET_VIEW] as Record<string, unknown>;
    assert.equal(view.version_major, 2);
    assert.equal(view.version_minor, 1);
    assert.match(String(shown.bundle.data["text/html"]), /\/200/);
    assert.equal(typeof shown.bundle.transient?.display_id, "string");
    const opens = h.events.filter((e) => openState(e));
    const root = opens.find((e) => e.kind === "comm_open" && e.commId === view.model_id);
    assert.ok(root, "the widget view names an opened model");
    assert.equal(openState(root)!._model_name, "VBoxModel");
    const idOf = (pred: (s: State) => boolean): string => {
      const e = opens.find((o) => pred(openState(o)!));
      assert.ok(e && e.kind === "comm_open");
      return e.commId;
    };
    const cancelId = idOf((s) => s._model_name === "ButtonModel" && s.description === "Cancel");
    const progressId = idOf((s) => s._model_name === "IntProgressModel");

    // Let some runs finish, as a user watching the bar would, then click Cancel.
    await h.waitFor(
      (e) => ((updateOf(e, progressId)?.value as number) ?? 0) >= 4,
      60_000,
      "progress of 4 finished runs",
    );
    h.ev.commFromFrontend({
      type: "comm_msg",
      commId: cancelId,
      data: { method: "custom", content: { event: "click" } },
      buffers: [],
    });
    assert.equal(plain(await within(cell, 2000, "the cell after Cancel")), '"waited"');

    const counts = String(plain(await h.run("Object.values(pool.status()).join(' ')", "s")));
    const keys = String(plain(await h.run("Object.keys(pool.status()).join(' ')", "k")));
    const status = Object.fromEntries(
      keys.replaceAll('"', "").split(" ").map((k, i) => [
        k,
        Number(counts.replaceAll('"', "").split(" ")[i]),
      ]),
    ) as Record<string, number>;
    assert.equal(status.pending + status.running, 0);
    assert.ok(status.cancelled > 0, "the remaining runs were cancelled");
    assert.ok(status.success >= 4 && status.success < 200, `success: ${status.success}`);
    assert.equal(status.success + status.cancelled, 200);

    // The widget's final state shows the same counts, and so does the in-place HTML.
    await h.waitFor(
      (e) => updateOf(e, progressId)?.bar_style === "warning",
      5000,
      "the final progress update",
    );
    const values = h.events.map((e) => updateOf(e, progressId)?.value).filter((v) =>
      v !== undefined
    );
    assert.equal(values.at(-1), status.success, "the bar ends at the runs that ran, not full");
    const summaryId = idOf((s) =>
      s._model_name === "HTMLModel" && String(s.value).includes("/200")
    );
    const lastSummary = h.events.map((e) => updateOf(e, summaryId)).filter(Boolean).at(-1)!;
    assert.match(String(lastSummary.value), new RegExp(`<b>${status.cancelled}</b> cancelled`));
    assert.match(String(lastSummary.value), new RegExp(`<b>${status.success}</b> success`));
    const html = await h.waitFor(
      (e) =>
        e.kind === "display" && e.update &&
        e.bundle.transient?.display_id === shown.bundle.transient?.display_id &&
        String(e.bundle.data["text/html"]).includes(`${status.success}/200`) &&
        String(e.bundle.data["text/html"]).includes(" · cancelled"),
      5000,
      "the final in-place HTML",
    );
    assert.ok(html.kind === "display" && html.cell === "pool-cell");
    assert.match(
      String(html.bundle.data["text/html"]),
      new RegExp(`${status.cancelled}</b> cancelled`),
    );
  });
});

Deno.test("a cell whose value is a pool shows it as a live display, not as a result", async () => {
  await withEvaluator(async (h) => {
    await announceWidgetManager(h);
    const out = await h.run(
      `import * as fused from "fused";
const quick = fused.udf("export default function udf({ n = 0 }) { return n * 2; }", { name: "quick_widget_test" });
const p2 = await fused.submit(quick, [{ n: 1 }, { n: 2 }], { collect: false, engine: "local", cache: false });
p2`,
      "value-cell",
    );
    assert.deepEqual(out, { status: "ok" }, "no execute_result");
    const shown = await h.waitFor(
      (e) => e.kind === "display" && e.cell === "value-cell" && WIDGET_VIEW in e.bundle.data,
      10_000,
      "the widget display",
    );
    assert.ok(shown.kind === "display" && !shown.update);
    assert.equal(typeof shown.bundle.transient?.display_id, "string");
    assert.match(String(shown.bundle.data["text/plain"]), /\/2 done/);
    await h.run("await p2.wait()", "wait-cell");
    // The final state is sent before the awaiting cell resumes, and to that running cell:
    // nbconvert reads only the running cell's messages, and updates displays by id anywhere.
    const final = await h.waitFor(
      (e) =>
        e.kind === "display" && e.update &&
        e.bundle.transient?.display_id === shown.bundle.transient?.display_id &&
        String(e.bundle.data["text/html"]).includes("2/2"),
      5000,
      "the final in-place HTML",
    );
    assert.equal(final.kind === "display" && final.cell, "wait-cell");
  });
});

Deno.test("the widget control comm answers request_states with every live model", async () => {
  await withEvaluator(async (h) => {
    await announceWidgetManager(h);
    await h.run(
      `import * as fused from "fused";
const twice = fused.udf("export default function udf({ n = 0 }) { return n * 2; }", { name: "twice_control_test" });
const p3 = await fused.submit(twice, [{ n: 1 }, { n: 2 }, { n: 3 }], { collect: false, engine: "local", cache: false });
display(p3);
await p3.wait();`,
      "pool-cell",
    );
    const opened = h.events.flatMap((e) =>
      e.kind === "comm_open" && e.targetName === "jupyter.widget" ? [e.commId] : []
    );
    // What ipywidgets 8 managers do on connecting to a running kernel (a reloaded page).
    h.ev.commFromFrontend({
      type: "comm_open",
      commId: "control-comm",
      targetName: "jupyter.widget.control",
      data: {},
      metadata: { version: "2.1.0" },
      buffers: [],
    });
    h.ev.commFromFrontend({
      type: "comm_msg",
      commId: "control-comm",
      data: { method: "request_states" },
      buffers: [],
    });
    const reply = await h.waitFor(
      (e) => e.kind === "comm_msg" && e.commId === "control-comm",
      5000,
      "the update_states reply",
    );
    assert.ok(reply.kind === "comm_msg");
    const data = reply.data as {
      method: string;
      states: Record<string, { model_name: string; state: State }>;
      buffer_paths: unknown[];
    };
    assert.equal(data.method, "update_states");
    assert.deepEqual(Object.keys(data.states).sort(), opened.sort());
    const summary = Object.values(data.states).find((m) =>
      m.model_name === "HTMLModel" && String(m.state.value).includes("3/3")
    );
    assert.ok(summary, "the states are the final ones, not those first opened");
    assert.deepEqual(data.buffer_paths, []);
  });
});

Deno.test("awaiting pool.wait() on a pool not on screen shows its widget, once", async () => {
  await withEvaluator(async (h) => {
    await announceWidgetManager(h);
    const out = await h.run(
      `import * as fused from "fused";
const waited = fused.udf("export default async function udf({ n = 0 }) { await new Promise((r) => setTimeout(r, 50)); return n; }", { name: "wait_shows_test" });
const p3 = await fused.submit(waited, [{ n: 1 }, { n: 2 }, { n: 3 }], { collect: false, engine: "local", cache: false });
await p3.wait();
await p3.wait();
"done"`,
      "wait-shows",
    );
    assert.equal(plain(out), '"done"');
    const shown = h.events.filter((e) =>
      e.kind === "display" && !e.update && e.cell === "wait-shows" && WIDGET_VIEW in e.bundle.data
    );
    assert.equal(shown.length, 1, "one widget for the pool");
    const quiet = await h.run(
      `const p4 = await fused.submit(waited, [{ n: 4 }], { collect: false, engine: "local", cache: false });
await p4.wait({ progress: false });
"quiet"`,
      "wait-quiet",
    );
    assert.equal(plain(quiet), '"quiet"');
    assert.equal(
      h.events.filter((e) => e.kind === "display" && e.cell === "wait-quiet").length,
      0,
      "progress: false shows nothing",
    );
  });
});

/** The pool's status counts, read in a later cell. */
async function statusOf(h: Harness, pool: string): Promise<Record<string, number>> {
  const cell = `status-${crypto.randomUUID()}`;
  await h.run(`console.log(JSON.stringify(${pool}.status()))`, cell);
  return JSON.parse(h.stdout(cell));
}

Deno.test("without a widget manager a pool opens no widget comm and its HTML Cancel ends the wait", async () => {
  await withEvaluator(async (h) => {
    const cell = h.run(SLOW_POOL, "fallback-cell");
    const shown = await h.waitFor(
      (e) => e.kind === "display" && !e.update && e.cell === "fallback-cell",
      30_000,
      "the pool's display",
    );
    assert.ok(shown.kind === "display");
    assert.deepEqual(Object.keys(shown.bundle.data).sort(), ["text/html", "text/plain"]);
    const displayId = String(shown.bundle.transient?.display_id);
    const htmlNow = String(shown.bundle.data["text/html"]);
    assert.match(htmlNow, /fused-job-pool-cancel/);
    assert.ok(htmlNow.includes(`"fused.job_pool"`), "the button opens the pool's comm target");
    // Progress reaches the page as HTML updates of the same display.
    await h.waitFor(
      (e) =>
        e.kind === "display" && e.update && e.bundle.transient?.display_id === displayId &&
        !/<b>0\/200<\/b>/.test(String(e.bundle.data["text/html"])),
      60_000,
      "an HTML update with finished runs",
    );
    // What the button's script sends (Jupyter.notebook.kernel.comm_manager.new_comm).
    h.ev.commFromFrontend({
      type: "comm_open",
      commId: "cancel-comm",
      targetName: "fused.job_pool",
      data: { method: "cancel", display_id: displayId },
      buffers: [],
    });
    assert.equal(plain(await within(cell, 5000, "the cell after Cancel")), '"waited"');
    assert.ok(
      h.events.some((e) => e.kind === "comm_close" && e.commId === "cancel-comm"),
      "the kernel closes the button's comm",
    );
    assert.equal(
      h.events.filter((e) => e.kind === "comm_open" && e.targetName === "jupyter.widget").length,
      0,
      "no jupyter.widget comm was opened",
    );
    const status = await statusOf(h, "pool");
    assert.equal(status.pending + status.running, 0);
    assert.ok(status.cancelled > 0, "the remaining runs were cancelled");
    const final = h.events.filter((e) =>
      e.kind === "display" && e.update && e.bundle.transient?.display_id === displayId
    ).at(-1);
    assert.ok(final?.kind === "display");
    const html = String(final.bundle.data["text/html"]);
    assert.match(html, new RegExp(`<b>${status.success}/200</b>`));
    assert.match(html, new RegExp(`<b>${status.cancelled}</b> cancelled`));
    assert.doesNotMatch(html, /<script/, "the saved final HTML is static");
  });
});

Deno.test("interrupting a cell that awaits a pool cancels the pool's pending runs and says so", async () => {
  await withEvaluator(async (h) => {
    const cell = h.run(SLOW_POOL, "interrupted-cell");
    await h.waitFor(
      (e) =>
        e.kind === "display" && e.update && e.cell === "interrupted-cell" &&
        !/<b>0\/200<\/b>/.test(String(e.bundle.data["text/html"])),
      60_000,
      "an HTML update with finished runs",
    );
    const how = await h.ev.interrupt();
    const out = await within(cell, 10_000, "the interrupted cell");
    assert.equal(how, "interrupted", JSON.stringify(out));
    assert.equal(out.status, "error");
    assert.equal(out.status === "error" && out.ename, "KeyboardInterrupt");
    assert.match(
      h.stdout("interrupted-cell"),
      /Interrupted: JobPool: cancelled \d+ pending runs and stopped \d+ running ones? \(\d+ of 200 had finished\)/,
    );
    const status = await statusOf(h, "pool");
    assert.equal(status.pending + status.running, 0, "nothing keeps running after Stop");
    assert.ok(status.cancelled > 0);
  });
});
