"""The Python UDF process: connects to its host over a unix socket (engine/_frames.ts), imports the UDF
files each run message carries from memory (no module folder is mounted, so one process image may
serve any UDF of its caller; nothing is written, so a caller over their disk quota still runs),
calls their entrypoint with coerced parameters (fused/_params.py), captures ``print``,
and sends results back as bytes it encoded (fused/_encode.py). Started by the host inside the OS
wall only (engine/_sandbox.ts), with ``python3 -E -s -B _runner.py CONFIG``.
"""

import errno
import importlib.abc
import importlib.machinery
import importlib.util
import inspect
import io
import json
import os
import sys
import threading
import time
import traceback
from urllib.parse import unquote

import fused
from fused import _channel, _encode, _params

config = json.loads(sys.argv[1])
channel = _channel.Channel(config["socket"])
channel.folders = {k: config[k] for k in ("dataDir", "cacheDir", "tempDir")}
_channel.current = channel
os.environ["TMPDIR"] = config["tempDir"]
BASE_ENV = dict(os.environ)
UDF_FOLDER = "/udf"
"""Where the UDF's files seem to be (tracebacks, ``__file__``): they are only in memory."""
LOG_HALF = 512 * 1024
STREAM_EVERY_S = 0.05
STREAM_CAP = 4 * 2**20


class Streaming:
    """Output of a run that asked for it (batch jobs tail their logs), sent at most every 50 ms
    and up to STREAM_CAP characters; the run's logs keep theirs either way."""

    def __init__(self, run_id):
        self.run_id = run_id
        self.pending = {"stdout": "", "stderr": ""}
        self.last = 0.0
        self.sent = 0
        self.lock = threading.Lock()
        self.timer = None

    def add(self, stream, text):
        with self.lock:
            if self.sent >= STREAM_CAP:
                return
            kept = text[: STREAM_CAP - self.sent]
            self.sent += len(kept)
            self.pending[stream] += kept
            if self.sent >= STREAM_CAP:
                self.pending["stderr"] += (f"[live output stops after {STREAM_CAP} characters; "
                                           "the run's logs keep its start and end]\n")
        self.flush(force=False)

    def _quiet(self):
        with self.lock:
            self.timer = None
        self.flush(force=False)

    def flush(self, force=True):
        """Sends the pending output; unless forced, whole lines at most every STREAM_EVERY_S."""
        with self.lock:
            if not (self.pending["stdout"] or self.pending["stderr"]):
                return
            now = time.monotonic()
            if not force and now - self.last < STREAM_EVERY_S:
                # A quiet stretch after this still sends it: once, STREAM_EVERY_S later.
                if self.timer is None:
                    self.timer = threading.Timer(STREAM_EVERY_S, self._quiet)
                    self.timer.daemon = True
                    self.timer.start()
                return
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            # Whole lines only (print writes a line in pieces), but everything at the end.
            pending, kept = {}, {}
            for name, text in self.pending.items():
                cut = len(text) if force else text.rfind("\n") + 1
                pending[name], kept[name] = text[:cut], text[cut:]
            self.pending = kept
            self.last = now
        if pending["stdout"] or pending["stderr"]:
            channel.send({"type": "output", "id": self.run_id, **pending})


streaming = None


class Capture(io.TextIOBase):
    """A stream that keeps the first and the last LOG_HALF characters written to it past a cap
    and counts the rest, as a TypeScript UDF's logs (engine/_child.ts LogBuffer)."""

    def __init__(self, name):
        self.name = name
        self.head = []
        self.head_size = 0
        self.tail = []
        self.tail_size = 0
        self.cut = 0

    def writable(self):
        return True

    def write(self, text):
        if streaming is not None:
            streaming.add(self.name, text)
        length = len(text)
        if self.head_size < LOG_HALF:
            room = LOG_HALF - self.head_size
            self.head.append(text[:room])
            self.head_size += min(room, len(text))
            text = text[room:]
        if text:
            self.tail.append(text)
            self.tail_size += len(text)
            if self.tail_size > 2 * LOG_HALF:
                kept = "".join(self.tail)[-LOG_HALF:]
                self.cut += self.tail_size - LOG_HALF
                self.tail, self.tail_size = [kept], LOG_HALF
        return length

    def take(self):
        cut = (f"\n[... {self.cut} characters of output cut: a run keeps the first and last "
               f"{LOG_HALF // 1024} KiB of each stream ...]\n") if self.cut else ""
        out = "".join(self.head) + cut + "".join(self.tail)
        self.head, self.head_size, self.tail, self.tail_size, self.cut = [], 0, [], 0, 0
        return out


stdout, stderr = Capture("stdout"), Capture("stderr")
sys.stdout, sys.stderr = stdout, stderr
modules = {}


class UdfSources(importlib.abc.MetaPathFinder, importlib.abc.SourceLoader):
    """The UDF's files by path, importable (headers by their module name) and readable by
    ``inspect`` and tracebacks through this loader, never written to a disk."""

    def __init__(self, files):
        self.files = files
        self.paths = {}

    def spec(self, name, path):
        """The spec of module ``name`` from the UDF file ``path``."""
        self.paths[name] = path
        return importlib.util.spec_from_file_location(name, path, loader=self)

    def find_spec(self, name, path=None, target=None):
        file = os.path.join(UDF_FOLDER, f"{name}.py")
        return self.spec(name, file) if path is None and file in self.files else None

    def get_filename(self, fullname):
        return self.paths[fullname]

    def get_data(self, path):
        if path not in self.files:
            raise OSError(f"no UDF file {path}")
        return self.files[path].encode()


sources = UdfSources(fused._udf_files)  # fused.run of a function sends them
# After the built-in and frozen modules, before sys.path: headers as a folder first on sys.path were.
sys.meta_path.insert(sys.meta_path.index(importlib.machinery.PathFinder), sources)


def udf_path(msg):
    """The UDF's main file, its files (a process serves one UDF version) kept from the message."""
    for name, source in msg["files"].items():
        sources.files.setdefault(os.path.join(UDF_FOLDER, name), source)
    return os.path.join(UDF_FOLDER, os.path.basename(unquote(msg["url"].removeprefix("file://"))))


def load(path, entrypoint):
    """The UDF's function (its module loaded once per process; its headers import by name)."""
    key = (path, entrypoint)
    if key not in modules:
        spec = sources.spec("udf_module", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["udf_module"] = module  # inspect finds its source (fused.cache keys by it)
        module.fused = fused  # as in fused-py's workbench, `@fused.udf` needs no import
        spec.loader.exec_module(module)
        fn = getattr(module, entrypoint, None)
        if not callable(fn):
            found = [n for n, v in vars(module).items() if inspect.isfunction(v)]
            raise _params.ParameterError(
                f'The UDF has no function "{entrypoint}" (it defines {", ".join(found) or "none"}): '
                "decorate its function with @fused.udf or name it udf"
            )
        modules[key] = fn
    return modules[key]


_TYPE_NAMES = {int: "number", float: "number", bool: "boolean", str: "string", list: "array",
               dict: "object", fused.types.Bounds: "bounds"}


def signature_of(fn):
    parameters = []
    rest = False
    for name, p in inspect.signature(fn).parameters.items():
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            rest = True
            continue
        if p.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        entry = {"name": name}
        kind = _params._unwrap(p.annotation)
        if kind is inspect.Parameter.empty and p.default not in (None, inspect.Parameter.empty):
            kind = type(p.default)
        if kind in _TYPE_NAMES:
            entry["type"] = _TYPE_NAMES[kind]
        if p.default is not inspect.Parameter.empty:
            try:
                json.dumps(p.default, allow_nan=False)
                entry["default"] = p.default
            except (TypeError, ValueError):
                pass
        parameters.append(entry)
    return {"parameters": parameters, "hasRest": rest, "schema": False}


class ResultTooLarge(Exception):
    """A result over the run's maxResultBytes."""


def failure_of(err, path):
    """The failure message of an exception: the UDF's own frames and line."""
    if isinstance(err, _params.ParameterError):
        return {"kind": "validation", "message": str(err), "exceptionClass": "ValidationError"}
    if isinstance(err, _encode.UnsupportedResult):
        return {"kind": "runtime", "message": f"returned an unsupported value ({err})",
                "exceptionClass": "UnsupportedResultError"}
    if isinstance(err, ResultTooLarge):
        return {"kind": "runtime", "message": str(err), "exceptionClass": "ResultTooLargeError"}
    folder = os.path.dirname(path)
    frames = [f for f in traceback.extract_tb(err.__traceback__)
              if f.filename.startswith(folder + os.sep)]
    if isinstance(err, SyntaxError) and err.filename == path:
        lineno = err.lineno
    else:
        lineno = next((f.lineno for f in reversed(frames) if f.filename == path), None)
    name = err.name if isinstance(err, _channel.HostCallError) else type(err).__name__
    message = str(err) or name
    if isinstance(err, OSError) and err.errno == errno.EFBIG:
        # Python ignores SIGXFSZ: the quota's file cap (RLIMIT_FSIZE) is this error, not a stop.
        message += (" (the caller's disk quota caps each file a UDF writes, and while they hold "
                    "their whole quota a UDF may read and delete files but write none: delete "
                    "files to free space)")
    elif isinstance(err, FileNotFoundError) and str(err.filename or "").startswith(UDF_FOLDER + "/"):
        message += (f" (only a UDF's .py files travel with it, and {UDF_FOLDER} is in memory: put "
                    "the files it reads in its data folder, fused.file_path(), or in fd:// and "
                    "read them with fused.api.get)")
    elif isinstance(err, (PermissionError, FileNotFoundError, ConnectionError, OSError)):
        message += (" (a UDF runs in a sandbox: no network, environment, or files outside its own "
                    "folders unless the run allows them; fused.file_path() is its data folder)")
    stack = "\n".join(
        f"    at {os.path.relpath(f.filename, folder)}:{f.lineno} in {f.name}" for f in frames
    )
    failure = {"kind": "runtime", "message": message, "exceptionClass": name, "stack": stack}
    if lineno:
        failure["lineno"] = lineno
    return failure


def processes():
    return sum(1 for entry in os.listdir("/proc") if entry.isdigit())


BASELINE = processes()


def logs():
    return {"stdout": stdout.take(), "stderr": stderr.take()}


def handle(msg):
    global streaming
    channel.run_id = msg["id"]
    # One process may serve any UDF of its caller (a spare): each run names its cache folder.
    channel.folders["cacheDir"] = msg.get("cacheDir", config["cacheDir"])
    streaming = Streaming(msg["id"]) if msg.get("streamOutput") else None
    path = UDF_FOLDER
    reply = None
    try:
        path = udf_path(msg)
        fn = load(path, msg["entrypoint"])
        if msg["type"] == "describe":
            reply = {"type": "signature", "id": msg["id"], "signature": signature_of(fn)}
            parts = []
        else:
            os.environ.clear()
            os.environ.update(BASE_ENV, **msg.get("env", {}))
            args = _params.build_arguments(fn, msg.get("given"), msg.get("defaults"),
                                           msg.get("injected"))
            value = fn(**args)
            body = _encode.Body()
            result = _encode.encode(value, body)
            if body.length > msg["maxResultBytes"]:
                raise ResultTooLarge(
                    f"the result is {body.length} bytes, over the limit of {msg['maxResultBytes']} "
                    "(options.maxResultBytes): return less data, or write it to a file "
                    "(fused.file_path) and return its path"
                )
            reply = {"type": "result", "id": msg["id"], "result": result}
            parts = body.parts
    except BaseException as err:  # the UDF's SystemExit and KeyboardInterrupt are its failure too
        reply = {"type": "failure", "id": msg["id"], "failure": failure_of(err, path)}
        parts = []
    if streaming is not None:
        streaming.flush()
        streaming = None
    reply["logs"] = logs()
    if processes() > BASELINE:
        # What the UDF started still runs: this process is not clean for another run.
        reply["retire"] = "the UDF left processes running"
    channel.send(reply, parts)


def preload(names):
    """Imports the libraries a spare process has ready before it knows its UDF (engine/_pool.ts):
    those the interpreter lacks are skipped, as a venv may not have them."""
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a missing or broken library is the UDF's to meet
            pass


def main():
    preload(config.get("preload", []))
    channel.send({"type": "ready"})
    skipped = set()
    while True:
        frame = channel.next_message()
        if frame is None:
            return
        msg, _ = frame
        if msg.get("type") == "skip":
            skipped.add(msg["id"])
        elif msg.get("type") in ("run", "describe"):
            if msg["id"] in skipped:
                skipped.discard(msg["id"])
            else:
                handle(msg)


main()
os._exit(0)
