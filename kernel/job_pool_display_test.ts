import assert from "node:assert/strict";
import { plain, withEvaluator, within } from "./_evaluator_harness.ts";
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

Deno.test("the Cancel button of a displayed pool ends a cell awaiting pool.wait()", async () => {
  await withEvaluator(async (h) => {
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
    const final = await h.waitFor(
      (e) => updateOf(e, progressId)?.value === 200,
      5000,
      "the final progress update",
    );
    assert.equal(updateOf(final, progressId)!.bar_style, "warning");
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
        String(e.bundle.data["text/html"]).includes("200/200"),
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

Deno.test("awaiting pool.wait() on a pool not on screen shows its widget, once", async () => {
  await withEvaluator(async (h) => {
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
