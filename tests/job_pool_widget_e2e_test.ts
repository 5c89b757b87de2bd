/**
 * End-to-end tests of the JobPool widget through the real kernel, driven by Debian's
 * jupyter_client and nbclient (tests/job_pool_widget_driver.py), with the kernelspec installed
 * into a temporary prefix. Every Python run has its own timeout and is killed on ours.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { PYTHON, sharedKernelEnv } from "./_jupyter.ts";

const HERE = new URL(".", import.meta.url).pathname;
const ROOT = new URL("..", import.meta.url).pathname;
const dec = new TextDecoder();

/** Environment that points Jupyter at a temp prefix with the kernelspec (once per test run). */
function jupyterEnv(): Promise<Record<string, string>> {
  return sharedKernelEnv("fused-widget-e2e");
}

/** Runs one scenario of the driver and returns its JSON report. */
async function scenario(name: string): Promise<Record<string, unknown>> {
  const out = await new Deno.Command(PYTHON, {
    args: [join(HERE, "job_pool_widget_driver.py"), name],
    cwd: ROOT,
    env: await jupyterEnv(),
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(150_000),
  }).output();
  const stderr = dec.decode(out.stderr);
  assert.equal(out.code, 0, `driver ${name} failed:\n${stderr}`);
  return JSON.parse(dec.decode(out.stdout).trim().split("\n").at(-1)!);
}

Deno.test("clicking Cancel over the wire ends a cell awaiting pool.wait() within 2 s", async () => {
  const r = await scenario("cancel");
  assert.equal(r.comm_info_status, "ok");
  // The display: a widget view of the root box, with HTML and text fallbacks, updatable by id.
  assert.deepEqual(r.display_mimes, [
    "application/vnd.jupyter.widget-view+json",
    "text/html",
    "text/plain",
  ]);
  const view = r.display_view as Record<string, unknown>;
  assert.equal(view.version_major, 2);
  assert.equal(view.version_minor, 1);
  assert.equal(r.root_model, "VBoxModel");
  assert.equal(typeof r.display_id, "string");
  assert.deepEqual(r.open_versions, ["2.1.0"]);
  assert.equal(r.open_parent_is_cell, true);
  for (
    const name of [
      "IntProgressModel",
      "ProgressStyleModel",
      "HTMLModel",
      "HTMLStyleModel",
      "ButtonModel",
      "ButtonStyleModel",
      "HBoxModel",
      "VBoxModel",
      "LayoutModel",
    ]
  ) {
    assert.ok((r.model_names as string[]).includes(name), `no ${name} was opened`);
  }
  // The click, sent as JupyterLab sends it, was heard while the cell awaited.
  assert.equal(r.done_before_click, false);
  assert.ok((r.click_to_reply_s as number) < 2, `the cell ended ${r.click_to_reply_s} s after`);
  assert.equal(r.cell_status, "ok");
  assert.equal(r.cell_result, '"waited"');
  const status = r.status as Record<string, number>;
  assert.equal(status.pending + status.running, 0);
  assert.ok(status.cancelled > 0, "the remaining runs were cancelled");
  assert.ok(status.success >= 4 && status.success < 200, `success: ${status.success}`);
  assert.equal(status.success + status.cancelled, 200);
  // The widget's state messages show the counts, throttled, ending with the final state.
  const values = r.progress_values as number[];
  assert.ok(values.some((v) => v >= 4 && v < 200), "progress was reported before the click");
  assert.equal(values.at(-1), status.success, "the bar ends at the runs that ran, not full");
  assert.equal(r.final_bar_style, "warning");
  assert.match(String(r.final_summary), new RegExp(`<b>${status.success}</b> success`));
  assert.match(String(r.final_summary), new RegExp(`<b>${status.cancelled}</b> cancelled`));
  assert.equal(r.cancel_disabled_at_end, true);
  assert.equal(r.update_parents_are_cell, true);
  assert.ok((r.max_progress_updates_per_s as number) <= 5, `${r.max_progress_updates_per_s}/s`);
  // No widget view was reported (jupyter_client has no widget manager): the HTML updated in place.
  assert.ok((r.html_update_count as number) >= 1);
  assert.match(String(r.final_html), new RegExp(`<b>${status.success}/200</b>`));
  assert.match(String(r.final_html), new RegExp(`<b>${status.cancelled}</b> cancelled`));
  assert.equal(r.final_html_has_view, true);
});

Deno.test("nbconvert, which has no widget manager, saves the final HTML of a pool and no widgets", async () => {
  const r = await scenario("nbconvert");
  assert.deepEqual(r.output_types, ["display_data"], "a pool value is a live display");
  assert.deepEqual(r.mimes, ["text/html", "text/plain"]);
  // The pool finished while the second cell awaited it; the first cell's output shows that.
  assert.match(String(r.html), /<b>3\/3<\/b>/);
  assert.match(String(r.html), /n &lt;b&gt;2&lt;\/b&gt; is bad/);
  assert.equal(String(r.html).includes("<b>2</b> is bad"), false, "the error was not escaped");
  assert.match(String(r.plain), /^JobPool: 3\/3 done \(2 success, 1 error\)/);
  assert.equal(r.second, "<JobPool with 3 jobs [1 error, 2 success]>\n");
  assert.doesNotMatch(String(r.html), /<script/, "the saved final HTML is static");
  assert.equal(r.stored_models, 0, "no widget comm was opened");
});
