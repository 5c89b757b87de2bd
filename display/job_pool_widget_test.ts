import assert from "node:assert/strict";
import { UdfRuntimeError } from "../client/errors.ts";
import { JobPool, type PoolProgress } from "../client/job_pool.ts";
import type { RunResponse } from "../client/engine_types.ts";
import {
  isJobPoolLike,
  type JobPoolWidget,
  POOL_CONTROL_TARGET,
  poolSummaryText,
  poolText,
  renderPoolHtml,
  showJobPool,
  WIDGET_PARTS,
  WIDGET_VIEW_MIME,
  type WidgetClock,
  type WidgetComm,
  widgetStates,
  type WidgetTransport,
} from "./job_pool_widget.ts";
import type { MimeBundle } from "./mime.ts";

// ------------------------------------------------------------------ helpers

function progressOf(
  counts: Partial<PoolProgress["counts"]>,
  extra: Partial<PoolProgress> = {},
): PoolProgress {
  const full = {
    pending: 0,
    running: 0,
    success: 0,
    error: 0,
    timeout: 0,
    cancelled: 0,
    ...counts,
  };
  const total = Object.values(full).reduce((a, b) => a + b, 0);
  return {
    total,
    counts: full,
    elapsedMs: 2500,
    rate: 2,
    done: full.pending + full.running === 0,
    ...extra,
  };
}

/** A manual clock: timers fire only when the test advances time. */
class ManualClock implements WidgetClock {
  #now = 0;
  #timers = new Map<number, { at: number; fn: () => void }>();
  #next = 1;
  now(): number {
    return this.#now;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.#next++;
    this.#timers.set(id, { at: this.#now + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }
  /** Moves time forward, firing due timers in order. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (let guard = 0; guard < 100_000; guard++) {
      const due = [...this.#timers.entries()].filter(([, t]) => t.at <= end)
        .sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.#timers.delete(due[0]);
      this.#now = Math.max(this.#now, due[1].at);
      due[1].fn();
    }
    this.#now = end;
  }
}

interface Sent {
  commId: string;
  data: unknown;
  at: number;
}

/** A transport that records what the widget sends and lets the test play the frontend. */
class RecordingTransport implements WidgetTransport {
  opened: { id: string; target: string; data: unknown; metadata: unknown }[] = [];
  sent: Sent[] = [];
  displays: { bundle: MimeBundle; displayId: string; at: number }[] = [];
  #handlers = new Map<string, (data: unknown) => void>();
  #closers = new Map<string, () => void>();
  constructor(readonly clock: { now(): number }) {}
  openComm(
    target: string,
    data: unknown,
    options: { metadata: unknown; commId: string },
  ): WidgetComm {
    const id = options.commId;
    this.opened.push({ id, target, data, metadata: options.metadata });
    return {
      id,
      send: (payload) => this.sent.push({ commId: id, data: payload, at: this.clock.now() }),
      onMessage: (cb) => {
        this.#handlers.set(id, cb);
        return () => this.#handlers.delete(id);
      },
      onClose: (cb) => {
        this.#closers.set(id, cb);
        return () => this.#closers.delete(id);
      },
    };
  }
  updateDisplay(bundle: MimeBundle, displayId: string): void {
    this.displays.push({ bundle, displayId, at: this.clock.now() });
  }
  /** The frontend sends a comm_msg. */
  fromFrontend(commId: string, data: unknown): void {
    this.#handlers.get(commId)?.(data);
  }
  /** The frontend closes a comm. */
  closeFromFrontend(commId: string): void {
    this.#closers.get(commId)?.();
  }
  /** Updates sent to one model, in order. */
  updatesOf(commId: string): Record<string, unknown>[] {
    return this.sent.filter((s) => s.commId === commId)
      .map((s) => (s.data as { state: Record<string, unknown> }).state);
  }
}

interface Deferred {
  resolve(): void;
  reject(e: Error): void;
}

/** A real JobPool whose tasks end when the test says so. */
function controlledPool(n: number, maxWorkers = n): { pool: JobPool; tasks: Deferred[] } {
  const tasks: Deferred[] = [];
  const response = (value: unknown): RunResponse => ({
    data: value as RunResponse["data"],
    udf: null,
    logs: { stdout: "", stderr: "" },
    cached: false,
    timeTakenMs: 1,
  });
  const pool = new JobPool(
    (args, signal) =>
      new Promise<RunResponse>((resolve, reject) => {
        tasks.push({ resolve: () => resolve(response(args.i)), reject });
        signal.addEventListener("abort", () => reject(signal.reason), { once: true });
      }),
    Array.from({ length: n }, (_, i) => ({ i })),
    { maxWorkers, maxRetry: 0, retryBaseDelayMs: 1 },
  );
  return { pool, tasks };
}

/** Lets promise callbacks (task outcomes) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => queueMicrotask(r));
}

function setup(
  n: number,
  options: { maxWorkers?: number; widgets?: boolean } = {},
): {
  pool: JobPool;
  tasks: Deferred[];
  clock: ManualClock;
  transport: RecordingTransport;
  widget: JobPoolWidget;
} {
  const clock = new ManualClock();
  const transport = new RecordingTransport(clock);
  const { pool, tasks } = controlledPool(n, options.maxWorkers);
  const widget = showJobPool(pool, transport, { clock, widgets: options.widgets });
  return { pool, tasks, clock, transport, widget };
}

// ------------------------------------------------------------------ pure builders

Deno.test("the HTML shows counts, elapsed time and rate", () => {
  const html = renderPoolHtml(progressOf({ running: 2, pending: 3, success: 4, error: 1 }));
  assert.match(html, /<b>5\/10<\/b>/);
  assert.match(html, /<b>2<\/b> running/);
  assert.match(html, /<b>3<\/b> pending/);
  assert.match(html, /<b>4<\/b> success/);
  assert.match(html, /<b>1<\/b> error/);
  assert.match(html, /2\.5 s/);
  assert.match(html, /2\.0 runs\/s/);
  assert.match(html, /<progress value="5" max="10"/);
});

Deno.test("error messages and logs are escaped in the HTML", () => {
  const html = renderPoolHtml(progressOf({ error: 1 }, {
    firstError: {
      index: 7,
      message: `<script>alert("x")</script> & more`,
      logs: "stdout\n------\n<img src=x onerror=alert(1)>\n",
    },
  }));
  assert.equal(html.includes("<script>"), false);
  assert.equal(html.includes("<img"), false);
  assert.match(html, /&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt; &amp; more/);
  assert.match(html, /&lt;img src=x onerror=alert\(1\)&gt;/);
  assert.match(html, /run #7/);
});

Deno.test("long logs keep their end and say how much was cut", () => {
  const logs = "a".repeat(10_000) + "THE END";
  const html = renderPoolHtml(progressOf({ error: 1 }, {
    firstError: { index: 0, message: "boom", logs },
  }));
  assert.match(html, /THE END/);
  assert.match(html, /\[\.\.\. 6007 characters cut \.\.\.\]/);
});

Deno.test("an error whose logs are empty shows no logs section", () => {
  const html = renderPoolHtml(progressOf({ error: 1 }, {
    firstError: { index: 0, message: "boom", logs: "stdout\n------\n\nstderr\n------\n" },
  }));
  assert.match(html, /boom/);
  assert.equal(html.includes("<details>"), false);
});

Deno.test("the text summary lists every non-empty status and the first error", () => {
  const text = poolText(progressOf({ running: 1, success: 2, error: 1 }, {
    firstError: { index: 3, message: "bad input", logs: "" },
  }));
  assert.match(text, /^JobPool: 3\/4 done \(1 running, 2 success, 1 error\) in 2\.5 s/);
  assert.match(text, /First error \(run #3\): bad input/);
});

Deno.test("widget states use the standard controls 2.0.0 models and refer to their parts", () => {
  const states = widgetStates(
    progressOf({ running: 1, success: 3, cancelled: 1 }),
    (part) => `IPY_MODEL_${part}`,
  );
  assert.equal(states.progress._model_name, "IntProgressModel");
  assert.equal(states.progress._view_name, "ProgressView");
  assert.equal(states.progress._model_module, "@jupyter-widgets/controls");
  assert.equal(states.progress._model_module_version, "2.0.0");
  assert.equal(states.progress.value, 3, "the bar counts runs that ended, not cancelled ones");
  assert.equal(states.progress.max, 5);
  assert.equal(states.progress.style, "IPY_MODEL_progress.style");
  assert.equal(states["progress.style"]._model_name, "ProgressStyleModel");
  assert.equal(states["progress.style"]._view_module, "@jupyter-widgets/base");
  assert.equal(states["progress.layout"]._model_name, "LayoutModel");
  assert.equal(states["progress.layout"]._model_module, "@jupyter-widgets/base");
  assert.equal(states.cancel._model_name, "ButtonModel");
  assert.equal(states.cancel.description, "Cancel");
  assert.equal(states.cancel.disabled, false);
  assert.equal(states.retry.disabled, false, "a cancelled task can be retried");
  assert.equal(states.summary._model_name, "HTMLModel");
  assert.equal(states.bar._model_name, "HBoxModel");
  assert.deepEqual(states.bar.children, ["IPY_MODEL_progress", "IPY_MODEL_summary"]);
  assert.equal(states.root._model_name, "VBoxModel");
  assert.equal(states.root._view_name, "VBoxView");
  assert.deepEqual(states.root.children, [
    "IPY_MODEL_bar",
    "IPY_MODEL_buttons",
    "IPY_MODEL_error",
  ]);
  assert.equal(states.root._view_count, 0);
});

Deno.test("every model refers only to models opened before it", () => {
  const states = widgetStates(progressOf({ pending: 2 }), (part) => `IPY_MODEL_${part}`);
  const seen = new Set<string>();
  for (const part of WIDGET_PARTS) {
    const refs = JSON.stringify(states[part]).match(/IPY_MODEL_[\w.]+/g) ?? [];
    for (const r of refs) assert.ok(seen.has(r.slice(10)), `${part} refers to ${r} too early`);
    seen.add(part);
  }
  assert.equal(seen.size, WIDGET_PARTS.length);
});

Deno.test("the bar is red on failures, green when all succeeded, and the buttons follow", () => {
  const ref = (p: string) => p;
  const failing = widgetStates(progressOf({ running: 1, error: 1 }), ref);
  assert.equal(failing.progress.bar_style, "danger");
  assert.equal(failing.retry.disabled, false);
  const ok = widgetStates(progressOf({ success: 2 }), ref);
  assert.equal(ok.progress.bar_style, "success");
  assert.equal(ok.cancel.disabled, true);
  assert.equal(ok.retry.disabled, true);
});

Deno.test("a cancelled pool shows how many ran and how many were cancelled, not a full bar", () => {
  const cancelled = progressOf({ success: 2, cancelled: 38 });
  const html = renderPoolHtml(cancelled);
  assert.match(html, /<progress value="2" max="40"/);
  assert.match(html, /<b>2\/40<\/b>/);
  assert.match(html, /<b>38<\/b> cancelled/);
  assert.match(html, / · cancelled<\/span>/);
  assert.doesNotMatch(html, /40\/40|· done/);
  assert.match(poolSummaryText(cancelled), /^2\/40 done, 38 cancelled \(2 success, 38 cancelled\)/);
  const states = widgetStates(cancelled, (p: string) => p);
  assert.equal(states.progress.value, 2);
  assert.equal(states.progress.bar_style, "warning");
});

Deno.test("isJobPoolLike knows a JobPool and refuses plain objects", () => {
  const { pool, tasks } = controlledPool(1);
  assert.equal(isJobPoolLike(pool), true);
  assert.equal(isJobPoolLike({ progress() {} }), false);
  assert.equal(isJobPoolLike(null), false);
  tasks[0].resolve();
});

// ------------------------------------------------------------------ the live widget

Deno.test("showing a pool opens every model as a jupyter.widget comm, children first", () => {
  const { transport, widget, pool } = setup(3);
  assert.equal(transport.opened.length, WIDGET_PARTS.length);
  for (const o of transport.opened) {
    assert.equal(o.target, "jupyter.widget");
    assert.deepEqual(o.metadata, { version: "2.1.0" });
    assert.deepEqual((o.data as { buffer_paths: unknown }).buffer_paths, []);
  }
  const ids = new Set<string>();
  for (const o of transport.opened) {
    const refs = JSON.stringify(o.data).match(/IPY_MODEL_(\w+)/g) ?? [];
    for (const r of refs) {
      assert.ok(ids.has(r.slice(10)), `${o.id} refers to ${r} before it exists`);
    }
    ids.add(o.id);
  }
  assert.deepEqual(widget.bundle.data[WIDGET_VIEW_MIME], {
    model_id: widget.modelId,
    version_major: 2,
    version_minor: 1,
  });
  assert.equal(widget.modelId, transport.opened.at(-1)!.id);
  assert.match(String(widget.bundle.data["text/html"]), /0\/3/);
  assert.match(String(widget.bundle.data["text/plain"]), /0\/3 done/);
  assert.equal(widget.bundle.transient.display_id, widget.displayId);
  pool.cancel();
  widget.dispose();
});

Deno.test("a click on Cancel cancels the pool and the next update shows the counts", async () => {
  const { pool, tasks, clock, transport, widget } = setup(10, { maxWorkers: 2 });
  tasks[0].resolve();
  await settle();
  clock.advance(300);
  transport.fromFrontend(widget.modelIdOf("cancel"), {
    method: "custom",
    content: { event: "click" },
  });
  await settle();
  assert.equal(pool.done(), true);
  assert.deepEqual(pool.status(), {
    running: 0,
    timeout: 0,
    error: 0,
    success: 1,
    pending: 0,
    cancelled: 9,
  });
  clock.advance(300);
  const updates = transport.updatesOf(widget.modelIdOf("progress"));
  assert.ok(!updates.some((u) => u.value === 10), "no full bar after a cancel");
  assert.equal(updates.filter((u) => "value" in u).at(-1)?.value ?? 1, 1);
  assert.equal(updates.at(-1)!.bar_style, "warning");
  const summaries = transport.updatesOf(widget.modelIdOf("summary"));
  assert.match(String(summaries.at(-1)!.value), /<b>9<\/b> cancelled/);
  assert.equal(transport.updatesOf(widget.modelIdOf("cancel")).at(-1)!.disabled, true);
  widget.dispose();
});

Deno.test("a click on Retry runs the failed tasks again", async () => {
  const { pool, tasks, clock, transport, widget } = setup(2);
  tasks[0].resolve();
  tasks[1].reject(
    new UdfRuntimeError("u", {
      message: "bad <n>",
      exceptionClass: "Error",
      logs: { stdout: "trying n=1", stderr: "" },
    }),
  );
  await settle();
  clock.advance(300);
  const error = transport.updatesOf(widget.modelIdOf("error")).at(-1)!;
  assert.match(String(error.value), /bad &lt;n&gt;/);
  assert.match(String(error.value), /trying n=1/);
  assert.equal(transport.updatesOf(widget.modelIdOf("retry")).at(-1)!.disabled, false);
  transport.fromFrontend(widget.modelIdOf("retry"), {
    method: "custom",
    content: { event: "click" },
  });
  await settle();
  assert.equal(pool.status().running, 1);
  assert.equal(tasks.length, 3, "the failed task ran again");
  tasks[2].resolve();
  await settle();
  clock.advance(300);
  assert.equal(pool.allSucceeded(), true);
  assert.equal(transport.updatesOf(widget.modelIdOf("progress")).at(-1)!.bar_style, "success");
  assert.equal(transport.updatesOf(widget.modelIdOf("error")).at(-1)!.value, "");
  widget.dispose();
});

Deno.test("updates are throttled to four a second and the final state is always sent", async () => {
  const { pool, tasks, clock, transport, widget } = setup(200, { maxWorkers: 200 });
  // 200 tasks end over one second, one every 5 ms.
  for (let i = 0; i < 200; i++) {
    tasks[i].resolve();
    await settle();
    clock.advance(5);
  }
  clock.advance(1000);
  assert.equal(pool.done(), true);
  const progressUpdates = transport.sent.filter((s) => s.commId === widget.modelIdOf("progress"));
  // Over 1 s: at most one update per 250 ms slot, plus the final one, sent as soon as known.
  assert.ok(progressUpdates.length <= 5, `${progressUpdates.length} updates`);
  for (let i = 1; i < progressUpdates.length - 1; i++) {
    assert.ok(progressUpdates[i].at - progressUpdates[i - 1].at >= 250);
  }
  assert.equal(transport.updatesOf(widget.modelIdOf("progress")).at(-1)!.value, 200);
  const finalHtml = transport.displays.at(-1)!;
  assert.equal(finalHtml.displayId, widget.displayId);
  assert.match(String(finalHtml.bundle.data["text/html"]), /200\/200/);
  assert.ok(finalHtml.bundle.data[WIDGET_VIEW_MIME], "the final display keeps the widget view");
  widget.dispose();
});

Deno.test("the HTML updates in place after the grace time until a widget view is reported", async () => {
  const { tasks, clock, transport, widget } = setup(6, { maxWorkers: 6 });
  tasks[0].resolve();
  await settle();
  clock.advance(500);
  assert.equal(transport.displays.length, 0, "no HTML update within the grace time");
  tasks[1].resolve();
  await settle();
  clock.advance(800);
  assert.equal(transport.displays.length, 1);
  assert.match(String(transport.displays[0].bundle.data["text/html"]), /2\/6/);
  // A widget frontend shows the view: it reports it through _view_count.
  transport.fromFrontend(widget.modelId!, {
    method: "update",
    state: { _view_count: 1 },
    buffer_paths: [],
  });
  assert.equal(widget.viewSeen, true);
  tasks[2].resolve();
  tasks[3].resolve();
  await settle();
  clock.advance(2000);
  assert.equal(transport.displays.length, 1, "no HTML update while a widget view is shown");
  tasks[4].resolve();
  tasks[5].resolve();
  await settle();
  clock.advance(300);
  assert.equal(transport.displays.length, 2, "the final state replaces the display once");
  assert.match(String(transport.displays[1].bundle.data["text/html"]), /6\/6/);
  clock.advance(3000);
  assert.equal(transport.displays.length, 2);
  widget.dispose();
});

Deno.test("request_state is answered with the model's full state", () => {
  const { pool, transport, widget } = setup(2);
  const id = widget.modelIdOf("cancel");
  transport.fromFrontend(id, { method: "request_state" });
  const reply = transport.sent.at(-1)!;
  assert.equal(reply.commId, id);
  const data = reply.data as { method: string; state: Record<string, unknown> };
  assert.equal(data.method, "update");
  assert.equal(data.state._model_name, "ButtonModel");
  assert.equal(data.state.description, "Cancel");
  pool.cancel();
  widget.dispose();
});

Deno.test("live models, for the control comm's update_states, carry the latest state", async () => {
  const { pool, clock, transport, widget } = setup(3);
  const models = widget.liveModels();
  assert.equal(Object.keys(models).length, WIDGET_PARTS.length);
  const cancel = models[widget.modelIdOf("cancel")];
  assert.equal(cancel.model_name, "ButtonModel");
  assert.equal(cancel.model_module, "@jupyter-widgets/controls");
  assert.equal(cancel.model_module_version, "2.0.0");
  assert.equal(cancel.state.disabled, false);
  transport.fromFrontend(widget.modelIdOf("cancel"), {
    method: "custom",
    content: { event: "click" },
  });
  await settle();
  clock.advance(1000);
  assert.equal(widget.liveModels()[widget.modelIdOf("cancel")].state.disabled, true);
  // A model whose comm the frontend closed is not live any more.
  transport.closeFromFrontend(widget.modelIdOf("retry"));
  assert.equal(widget.modelIdOf("retry") in widget.liveModels(), false);
  assert.equal(Object.keys(widget.liveModels()).length, WIDGET_PARTS.length - 1);
  pool.cancel();
  widget.dispose();
});

Deno.test("elapsed time keeps moving while no task ends", () => {
  const clock = new ManualClock();
  const transport = new RecordingTransport(clock);
  // A pool with one task that never ends; its elapsed time follows the test's clock.
  const pool = {
    progress: (): PoolProgress => progressOf({ running: 1 }, { elapsedMs: clock.now(), rate: 0 }),
    onProgress: () => () => {},
    cancel: () => 0,
    retry: () => 0,
  };
  const widget = showJobPool(pool, transport, { clock });
  clock.advance(3500);
  const summaries = transport.updatesOf(widget.modelIdOf("summary")).map((s) => String(s.value));
  assert.equal(summaries.length, 3, "one refresh a second");
  assert.match(summaries[2], /3\.0 s/);
  widget.dispose();
});

Deno.test("the HTML of a running pool has a Cancel slot and script for its display; a done pool's has none", () => {
  const running = renderPoolHtml(progressOf({ pending: 2, running: 1 }), { cancelFor: "disp-1" });
  assert.match(running, /class="fused-job-pool-cancel" data-display-id="disp-1"/);
  assert.match(running, /<script>/);
  assert.ok(running.includes(`new_comm("${POOL_CONTROL_TARGET}"`));
  assert.ok(running.includes("display_id: id"));
  assert.ok(running.includes('var id = "disp-1";'));
  const done = renderPoolHtml(progressOf({ success: 3 }, { done: true }), { cancelFor: "disp-1" });
  assert.doesNotMatch(done, /<script|fused-job-pool-cancel/);
  assert.doesNotMatch(renderPoolHtml(progressOf({ pending: 2 })), /<script/);
});

Deno.test("without widgets no comm is opened and the HTML, with its Cancel, updates once a second", async () => {
  const { tasks, clock, transport, widget } = setup(4, { widgets: false });
  assert.deepEqual(transport.opened, []);
  assert.equal(widget.modelId, undefined);
  assert.deepEqual(Object.keys(widget.bundle.data).sort(), ["text/html", "text/plain"]);
  assert.ok(String(widget.bundle.data["text/html"]).includes(widget.displayId));
  tasks[0].resolve();
  await settle();
  clock.advance(10);
  assert.equal(transport.displays.length, 1, "no grace time: the HTML is the display");
  const html = String(transport.displays[0].bundle.data["text/html"]);
  assert.match(html, /<b>1\/4<\/b>/);
  assert.match(html, /fused-job-pool-cancel/);
  tasks[1].resolve();
  await settle();
  clock.advance(500);
  assert.equal(transport.displays.length, 1, "one update a second at most");
  clock.advance(500);
  assert.equal(transport.displays.length, 2);
  assert.match(String(transport.displays[1].bundle.data["text/html"]), /<b>2\/4<\/b>/);
  for (const t of tasks.slice(2)) t.resolve();
  await settle();
  clock.advance(10);
  const last = transport.displays.at(-1)!;
  assert.match(String(last.bundle.data["text/html"]), /<b>4\/4<\/b>/);
  assert.doesNotMatch(String(last.bundle.data["text/html"]), /<script/);
  assert.deepEqual(transport.sent, [], "nothing went out on any comm");
  widget.dispose();
});
