"""Drives the fused kernel's JobPool widget with Debian's jupyter_client (or nbclient) and prints a
JSON report; tests/job_pool_widget_e2e_test.ts runs it and checks the report.

Usage: /usr/bin/python3 tests/job_pool_widget_driver.py SCENARIO [KERNEL_NAME]
Scenarios:
  cancel     the driver first asks comm_info for jupyter.widget, as a widget manager does when it
             connects; a cell submits 200 slow runs, displays the pool and awaits pool.wait();
             the driver finds the Cancel button among the iopub comm_open messages and clicks
             it (comm_msg {method: custom, content: {event: click}}), as JupyterLab would.
  nbconvert  nbclient executes a notebook with a pool, as `jupyter nbconvert --execute` does:
             nbclient has no widget manager, so no widget comm is opened and the saved output
             must hold the final HTML.
Every wait has a timeout and the whole run is killed by SIGALRM, so CI never hangs here.
"""

import json
import os
import queue
import signal
import sys
import time

from jupyter_client.manager import start_new_kernel

signal.alarm(int(os.environ.get("DRIVER_TIMEOUT", "120")))

TIMEOUT = 30
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

SLOW_POOL = """
import * as fused from "fused";
const slow = fused.udf(
  "export default async function udf({ n = 0 }) { await new Promise((r) => setTimeout(r, 300)); return n; }",
  { name: "slow_widget_e2e" },
);
const args = Array.from({ length: 200 }, (_, n) => ({ n }));
const pool = await fused.submit(slow, args, { collect: false, engine: "local", maxWorkers: 8, cache: false });
display(pool);
await pool.wait();
"waited"
"""

QUICK_POOL = """
import * as fused from "fused";
const quick = fused.udf(
  "export default async function udf({ n = 0 }) { await new Promise((r) => setTimeout(r, 50)); if (n === 2) throw new Error('n <b>2</b> is bad'); return n; }",
  { name: "quick_widget_e2e" },
);
const pool = await fused.submit(quick, [{ n: 1 }, { n: 2 }, { n: 3 }], { collect: false, engine: "local", cache: false });
pool
"""


def wait_reply(kc, msg_id, timeout=TIMEOUT):
    deadline = time.time() + timeout
    while True:
        left = deadline - time.time()
        if left <= 0:
            raise TimeoutError(f"no reply to {msg_id} within {timeout} s")
        msg = kc.get_shell_msg(timeout=left)
        if msg["parent_header"].get("msg_id") == msg_id:
            return msg


class Iopub:
    def __init__(self, kc):
        self.kc = kc
        self.msgs = []

    def pump(self, timeout):
        try:
            msg = self.kc.get_iopub_msg(timeout=timeout)
        except queue.Empty:
            return None
        self.msgs.append(msg)
        return msg

    def until(self, pred, timeout, what):
        deadline = time.time() + timeout
        while True:
            for m in self.msgs:
                if pred(m):
                    return m
            if time.time() > deadline:
                raise TimeoutError(f"{what} did not arrive within {timeout} s")
            self.pump(0.05)

    def drain(self, seconds):
        end = time.time() + seconds
        while time.time() < end:
            self.pump(0.05)


def is_idle(msg_id):
    return lambda m: (
        m["msg_type"] == "status"
        and m["content"]["execution_state"] == "idle"
        and m["parent_header"].get("msg_id") == msg_id
    )


def widget_opens(io):
    return [
        m for m in io.msgs if m["msg_type"] == "comm_open" and m["content"]["target_name"] == "jupyter.widget"
    ]


def model_id(io, pred):
    for m in widget_opens(io):
        if pred(m["content"]["data"]["state"]):
            return m["content"]["comm_id"]
    raise LookupError("no such widget model was opened")


def updates(io, comm_id):
    return [
        m["content"]["data"]["state"]
        for m in io.msgs
        if m["msg_type"] == "comm_msg"
        and m["content"]["comm_id"] == comm_id
        and m["content"]["data"].get("method") == "update"
    ]


def announce_widget_manager(kc):
    """Asks what an ipywidgets manager asks when it connects (JupyterLab's restoreWidgets)."""
    reply = wait_reply(kc, kc.comm_info(target_name="jupyter.widget"))
    return reply["content"]["status"]


def scenario_cancel(kc, io):
    out = {"comm_info_status": announce_widget_manager(kc)}
    cell = kc.execute(SLOW_POOL)
    shown = io.until(
        lambda m: m["msg_type"] == "display_data" and WIDGET_VIEW in m["content"]["data"],
        TIMEOUT,
        "the widget display",
    )
    data = shown["content"]["data"]
    out["display_mimes"] = sorted(data)
    out["display_view"] = data[WIDGET_VIEW]
    out["display_id"] = shown["content"].get("transient", {}).get("display_id")
    opens = widget_opens(io)
    out["open_versions"] = sorted({m["metadata"].get("version") for m in opens})
    out["open_parent_is_cell"] = all(m["parent_header"].get("msg_id") == cell for m in opens)
    out["model_names"] = sorted(m["content"]["data"]["state"]["_model_name"] for m in opens)
    out["root_model"] = next(
        m["content"]["data"]["state"]["_model_name"]
        for m in opens
        if m["content"]["comm_id"] == data[WIDGET_VIEW]["model_id"]
    )
    cancel_id = model_id(io, lambda s: s["_model_name"] == "ButtonModel" and s["description"] == "Cancel")
    progress_id = model_id(io, lambda s: s["_model_name"] == "IntProgressModel")
    summary_id = model_id(io, lambda s: s["_model_name"] == "HTMLModel" and "/200" in s["value"])

    # A few runs finish while the user watches, then the Cancel button is clicked.
    io.until(
        lambda m: m["msg_type"] == "comm_msg"
        and m["content"]["comm_id"] == progress_id
        and m["content"]["data"].get("state", {}).get("value", 0) >= 4,
        60,
        "progress of 4 finished runs",
    )
    out["done_before_click"] = any(
        m["parent_header"].get("msg_id") == cell and m["msg_type"] == "execute_result" for m in io.msgs
    )
    click = kc.session.msg(
        "comm_msg", {"comm_id": cancel_id, "data": {"method": "custom", "content": {"event": "click"}}}
    )
    t0 = time.time()
    kc.shell_channel.send(click)
    reply = wait_reply(kc, cell)
    out["click_to_reply_s"] = time.time() - t0
    out["cell_status"] = reply["content"]["status"]
    io.until(is_idle(cell), TIMEOUT, "idle after the cell")
    result = [m for m in io.msgs if m["msg_type"] == "execute_result" and m["parent_header"].get("msg_id") == cell]
    out["cell_result"] = result[0]["content"]["data"]["text/plain"] if result else None
    io.drain(1.0)  # the final widget state follows the cell's end by at most one throttle slot

    status_cell = kc.execute("console.log(JSON.stringify(pool.status()))")
    wait_reply(kc, status_cell)
    io.until(is_idle(status_cell), TIMEOUT, "idle after the status cell")
    text = "".join(
        m["content"]["text"]
        for m in io.msgs
        if m["msg_type"] == "stream" and m["parent_header"].get("msg_id") == status_cell
    )
    out["status"] = json.loads(text)

    progress = updates(io, progress_id)
    out["progress_values"] = [u["value"] for u in progress if "value" in u]
    out["final_bar_style"] = next((u["bar_style"] for u in reversed(progress) if "bar_style" in u), None)
    summaries = [u["value"] for u in updates(io, summary_id) if "value" in u]
    out["final_summary"] = summaries[-1] if summaries else None
    cancel_updates = updates(io, cancel_id)
    out["cancel_disabled_at_end"] = next((u["disabled"] for u in reversed(cancel_updates) if "disabled" in u), None)
    widget_msgs = [m for m in io.msgs if m["msg_type"] == "comm_msg" and m["content"]["comm_id"] in (progress_id, summary_id)]
    out["update_parents_are_cell"] = all(m["parent_header"].get("msg_id") == cell for m in widget_msgs)
    html_updates = [
        m
        for m in io.msgs
        if m["msg_type"] == "update_display_data"
        and m["content"].get("transient", {}).get("display_id") == out["display_id"]
    ]
    out["html_update_count"] = len(html_updates)
    out["final_html"] = html_updates[-1]["content"]["data"]["text/html"] if html_updates else None
    out["final_html_has_view"] = bool(html_updates) and WIDGET_VIEW in html_updates[-1]["content"]["data"]
    # Throttle: the most updates of the progress model in any one-second window.
    times = [
        float(m["header"]["date"].timestamp())
        for m in io.msgs
        if m["msg_type"] == "comm_msg" and m["content"]["comm_id"] == progress_id
    ]
    out["max_progress_updates_per_s"] = max(
        (sum(1 for t in times if s <= t < s + 1.0) for s in times), default=0
    )
    return out


def scenario_nbconvert(kernel_name):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(QUICK_POOL))
    nb.cells.append(nbformat.v4.new_code_cell("await pool.wait();\nconsole.log(pool.toString())"))
    client = NotebookClient(nb, timeout=60, kernel_name=kernel_name, store_widget_state=True)
    client.execute()
    outputs = nb.cells[0].outputs
    out = {
        "output_types": [o["output_type"] for o in outputs],
        "mimes": sorted(outputs[0]["data"]) if outputs else [],
        "html": outputs[0]["data"].get("text/html") if outputs else None,
        "plain": outputs[0]["data"].get("text/plain") if outputs else None,
        "second": "".join(o.get("text", "") for o in nb.cells[1].outputs),
    }
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    out["stored_models"] = len(state.get("state", {}))
    return out


def main():
    scenario = sys.argv[1]
    kernel_name = sys.argv[2] if len(sys.argv) > 2 else "fused"
    if scenario == "nbconvert":
        print(json.dumps(scenario_nbconvert(kernel_name)))
        return
    km, kc = start_new_kernel(kernel_name=kernel_name, startup_timeout=60)
    io = Iopub(kc)
    try:
        print(json.dumps(globals()[f"scenario_{scenario}"](kc, io)))
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)
        if km.is_alive():
            km.shutdown_kernel(now=True)


if __name__ == "__main__":
    main()
