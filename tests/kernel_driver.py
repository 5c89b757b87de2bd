"""Drives the fused kernel with Debian's jupyter_client through one scenario and prints a JSON
report of what happened; tests/kernel_e2e_test.ts runs it and checks the report.

Usage: /usr/bin/python3 tests/kernel_driver.py SCENARIO [KERNEL_NAME]
Scenarios: basics, interrupt_await, interrupt_sync, comm, async_output, restart, stdin.
`compare KERNEL...` benchmarks kernels side by side (bench/kernel_bench.ts uses it).
Every wait has a timeout and the whole run is killed by SIGALRM, so CI never hangs here.
"""

import json
import os
import queue
import signal
import statistics
import sys
import time

from jupyter_client.manager import KernelManager, start_new_kernel

signal.alarm(int(os.environ.get("DRIVER_TIMEOUT", "90")))

TIMEOUT = 15


def wait_reply(kc, msg_id, channel="shell", timeout=TIMEOUT):
    """The reply to msg_id on a channel (other replies are skipped)."""
    get = kc.get_shell_msg if channel == "shell" else kc.get_control_msg
    deadline = time.time() + timeout
    while True:
        left = deadline - time.time()
        if left <= 0:
            raise TimeoutError(f"no reply to {msg_id} within {timeout} s")
        msg = get(timeout=left)
        if msg["parent_header"].get("msg_id") == msg_id:
            return msg


class Iopub:
    """Collects iopub messages by parent msg_id, so late output can be checked afterwards."""

    def __init__(self, kc):
        self.kc = kc
        self.by_parent = {}

    def pump(self, timeout):
        try:
            msg = self.kc.get_iopub_msg(timeout=timeout)
        except queue.Empty:
            return None
        pid = msg["parent_header"].get("msg_id")
        self.by_parent.setdefault(pid, []).append(msg)
        return msg

    def until_idle(self, msg_id, timeout=TIMEOUT):
        deadline = time.time() + timeout
        while not any(
            m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
            for m in self.by_parent.get(msg_id, [])
        ):
            if time.time() > deadline:
                raise TimeoutError(f"no idle for {msg_id} within {timeout} s")
            self.pump(0.1)
        return self.by_parent[msg_id]

    def drain(self, seconds):
        end = time.time() + seconds
        while time.time() < end:
            self.pump(0.05)

    def outputs(self, msg_id, kind=None):
        return [
            m
            for m in self.by_parent.get(msg_id, [])
            if m["msg_type"] not in ("status", "execute_input") and (kind is None or m["msg_type"] == kind)
        ]


def run(kc, io, code, timeout=TIMEOUT, **kw):
    """Executes a cell and waits for its reply and idle; returns (reply content, msg_id)."""
    msg_id = kc.execute(code, **kw)
    reply = wait_reply(kc, msg_id, timeout=timeout)
    io.until_idle(msg_id, timeout=timeout)
    return reply["content"], msg_id


def text_result(io, msg_id):
    res = io.outputs(msg_id, "execute_result")
    return res[0]["content"]["data"].get("text/plain") if res else None


def kernel_info_latency(kc):
    t0 = time.time()
    msg_id = kc.kernel_info()
    wait_reply(kc, msg_id, timeout=5)
    return time.time() - t0


def interrupt_scenario(km, kc, io, busy_code):
    out = {}
    run(kc, io, "const keep = 41")
    msg_id = kc.execute(busy_code)
    time.sleep(0.5)
    t0 = time.time()
    km.interrupt_kernel()
    reply = wait_reply(kc, msg_id, timeout=10)
    out["interrupt_to_reply_s"] = time.time() - t0
    out["reply_status"] = reply["content"]["status"]
    out["ename"] = reply["content"].get("ename")
    io.until_idle(msg_id)
    out["kernel_info_s"] = kernel_info_latency(kc)
    content, nid = run(kc, io, "keep + 1")
    out["next_status"] = content["status"]
    out["next_result"] = text_result(io, nid)
    return out


def scenario_basics(km, kc, io):
    msg_id = kc.kernel_info()
    info = wait_reply(kc, msg_id)["content"]
    content, mid = run(kc, io, "1+1")
    time.sleep(1.5)  # a few heartbeat round trips (jupyter_client pings every second)
    return {
        "heartbeat": kc.is_alive(),
        "language": info["language_info"]["name"],
        "implementation": info["implementation"],
        "protocol_version": info["protocol_version"],
        "status": content["status"],
        "execution_count": content["execution_count"],
        "result": text_result(io, mid),
        "order": [m["msg_type"] for m in io.by_parent[mid]],
    }


def scenario_interrupt_await(km, kc, io):
    return interrupt_scenario(km, kc, io, "await new Promise(() => {})")


def scenario_interrupt_sync(km, kc, io):
    return interrupt_scenario(km, kc, io, "while (true) {}")


COMM_SETUP = """
let release = () => {};
const got: unknown[] = [];
Jupyter.registerCommTarget("fused.test", (comm, open) => {
  got.push(open.data);
  comm.onMessage((data, msg) => {
    got.push(data);
    comm.send({ echo: data, buffers: msg.buffers.length }, { buffers: msg.buffers });
    if ((data as { stop?: boolean }).stop) release();
  });
});
"""


def scenario_comm(km, kc, io):
    out = {}
    content, _ = run(kc, io, COMM_SETUP)
    out["setup_status"] = content["status"]
    cell = kc.execute('await new Promise<void>((r) => release = r); "released after " + got.length')
    time.sleep(0.3)
    comm_id = "comm-from-frontend"
    kc.shell_channel.send(kc.session.msg("comm_open", {"comm_id": comm_id, "target_name": "fused.test", "data": {"hello": 1}}))
    msg = kc.session.msg("comm_msg", {"comm_id": comm_id, "data": {"ping": 1}})
    kc.session.send(kc.shell_channel.socket, msg, buffers=[b"\x01\x02\x03"])
    # The echo must come back while the cell is still awaiting.
    echo = None
    deadline = time.time() + 10
    while echo is None and time.time() < deadline:
        m = io.pump(0.1)
        if m and m["msg_type"] == "comm_msg" and m["content"]["comm_id"] == comm_id:
            echo = m
    out["echo_data"] = echo and echo["content"]["data"]
    out["echo_buffers"] = echo and [bytes(b).hex() for b in echo["buffers"]]
    info_id = kc.comm_info()
    out["comm_info"] = wait_reply(kc, info_id)["content"]["comms"]
    out["cell_done_before_stop"] = any(
        m["msg_type"] == "execute_result" for m in io.by_parent.get(cell, [])
    )
    kc.shell_channel.send(kc.session.msg("comm_msg", {"comm_id": comm_id, "data": {"stop": True}}))
    reply = wait_reply(kc, cell)
    io.until_idle(cell)
    out["cell_status"] = reply["content"]["status"]
    out["cell_result"] = text_result(io, cell)
    return out


def scenario_async_output(km, kc, io):
    first_content, first = run(kc, io, 'setTimeout(() => console.log("late"), 300); "A"')
    second_content, second = run(kc, io, 'await new Promise((r) => setTimeout(r, 800)); "B"')
    io.drain(0.3)
    streams = lambda mid: "".join(m["content"]["text"] for m in io.outputs(mid, "stream"))
    return {
        "first_status": first_content["status"],
        "second_status": second_content["status"],
        "first_streams": streams(first),
        "second_streams": streams(second),
        "second_result": text_result(io, second),
    }


def scenario_restart(km, kc, io):
    run(kc, io, "const before = 7")
    content, mid = run(kc, io, "before * 6")
    out = {"before": text_result(io, mid)}
    pid_before = km.provisioner.pid if km.provisioner else None
    t0 = time.time()
    km.restart_kernel(now=False)
    kc.wait_for_ready(timeout=30)
    out["restart_s"] = time.time() - t0
    out["new_process"] = (km.provisioner.pid if km.provisioner else None) != pid_before
    io.drain(0.2)
    content, mid = run(kc, io, "typeof before")
    out["after"] = text_result(io, mid)
    content, mid = run(kc, io, "1 + 1")
    out["works"] = text_result(io, mid)
    return out


def scenario_stdin(km, kc, io):
    msg_id = kc.execute('const name = prompt("Your name?"); `hello ${name}`', allow_stdin=True)
    req = kc.get_stdin_msg(timeout=10)
    kc.input("Ada")
    reply = wait_reply(kc, msg_id)
    io.until_idle(msg_id)
    return {
        "prompt": req["content"]["prompt"],
        "parent_is_cell": req["parent_header"]["msg_id"] == msg_id,
        "status": reply["content"]["status"],
        "result": text_result(io, msg_id),
    }


def scenario_serve_quiet(km, kc, io):
    """%fused serve, then a run through the service that reads request.signal (no cache)."""
    import tempfile

    with tempfile.TemporaryDirectory() as data_dir:
        cells = [
            f"%fused serve --port 0 --data-dir {data_dir}",
            "%%fused quiet_udf --run --no-cache --engine remote\nexport default function udf({ n = 1 }) { return n; }",
            "%fused serve --stop",
        ]
        out = {"statuses": [], "streams": []}
        for code in cells:
            content, msg_id = run(kc, io, code)
            out["statuses"].append(content["status"])
            out["streams"] += [
                {"name": m["content"]["name"], "text": m["content"]["text"]} for m in io.outputs(msg_id, "stream")
            ]
            if code.startswith("%%fused"):
                out["result"] = text_result(io, msg_id)
        return out


def log_cell(kc, io, failures):
    """Time of a cell logging 20,000 lines (until idle) and the lines seen, or None on timeout."""
    t0 = time.perf_counter()
    try:
        _, mid = run(kc, io, "for (let i = 0; i < 20000; i++) console.log(i)", timeout=60)
    except (TimeoutError, queue.Empty) as e:
        # Stock deno jupyter sometimes never answers this cell; count it, do not hang.
        failures.append(repr(e))
        io.drain(1)
        return None, 0
    elapsed = time.perf_counter() - t0
    io.drain(0.5)  # output published after idle still counts as seen (but is not timed)
    lines = sum(m["content"]["text"].count("\n") for m in io.outputs(mid, "stream"))
    io.by_parent.clear()
    return elapsed, lines


def startup_once(kernel_name):
    """Seconds from launching the kernel process to its first kernel_info_reply."""
    km = KernelManager(kernel_name=kernel_name)
    t0 = time.perf_counter()
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        # DEALER sockets queue the request until the kernel's port accepts the connection.
        wait_reply(kc, kc.kernel_info(), timeout=30)
        return time.perf_counter() - t0
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def compare(names):
    """Benchmarks kernels side by side, alternating between them at every step so that load
    from other processes on the machine hits all of them alike."""
    rounds = int(os.environ.get("BENCH_ROUNDS", "200"))
    kernels = {}
    try:
        for name in names:
            km, kc = start_new_kernel(kernel_name=name, startup_timeout=60)
            kernels[name] = (km, kc, Iopub(kc))
        trivial = {n: [] for n in names}
        for i in range(rounds + 10):
            for name, (km, kc, io) in kernels.items():
                t0 = time.perf_counter()
                run(kc, io, "1+1")
                if i >= 10:  # warm-up rounds are not counted
                    trivial[name].append(time.perf_counter() - t0)
                io.by_parent.clear()
        logs = {n: [] for n in names}
        lines = {n: [] for n in names}
        failures = {n: [] for n in names}
        for _ in range(int(os.environ.get("BENCH_LOG_ROUNDS", "3"))):
            for name, (km, kc, io) in kernels.items():
                elapsed, seen = log_cell(kc, io, failures[name])
                if elapsed is not None:
                    logs[name].append(elapsed)
                    lines[name].append(seen)
    finally:
        for km, kc, io in kernels.values():
            kc.stop_channels()
            km.shutdown_kernel(now=True)
    # Kernels named in BENCH_START_ONLY (comma-separated) join the start rounds only.
    start_names = names + [n for n in os.environ.get("BENCH_START_ONLY", "").split(",") if n]
    starts = {n: [] for n in start_names}
    for _ in range(int(os.environ.get("BENCH_STARTS", "5"))):
        for name in start_names:
            starts[name].append(startup_once(name))
    report = {
        name: {
            "trivial_median_s": statistics.median(trivial[name]),
            "log_20000_median_s": statistics.median(logs[name]) if logs[name] else None,
            "log_lines_seen": min(lines[name]) if lines[name] else 0,
            "log_failures": failures[name],
        }
        for name in names
    }
    for name in start_names:
        report.setdefault(name, {})["startup_median_s"] = statistics.median(starts[name])
    return report


def main():
    scenario = sys.argv[1]
    kernel_name = sys.argv[2] if len(sys.argv) > 2 else "fused"
    if scenario == "compare":
        print(json.dumps(compare(sys.argv[2:])))
        return
    fn = globals()[f"scenario_{scenario}"]
    t0 = time.time()
    km, kc = start_new_kernel(kernel_name=kernel_name, startup_timeout=60)
    ready_s = time.time() - t0
    io = Iopub(kc)
    try:
        report = fn(km, kc, io)
        report["ready_s"] = ready_s
        print(json.dumps(report))
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)
        if km.is_alive():
            km.shutdown_kernel(now=True)


if __name__ == "__main__":
    main()
