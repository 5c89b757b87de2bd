"""fused-py's API inside a fused-ts Python UDF process.

``@fused.udf`` and ``@fused.cache`` decorate; ``fused.types`` annotates parameters;
``fused.run``, ``fused.submit``, ``fused.load`` and ``fused.download`` go to the host as the run's caller, through
the same capability-checked calls TypeScript UDFs make (engine/_host_calls.ts);
``fused.file_path`` is a path in the caller's data folder, the one folder a UDF may keep files in.
"""

import fcntl
import functools
import hashlib
import inspect
import os
import pickle
import re
import sys
import time
import uuid

from . import _channel, api, types
from ._result import decode as _decode

__all__ = ["api", "cache", "download", "file_path", "load", "run", "submit", "types", "udf"]


def udf(fn=None, **options):
    """Marks the UDF's function; fused-py's keyword arguments (``cache_max_age``,
    ``instance_type``, ``headers``, ...) are kept on it as ``fused_options``."""

    def mark(f):
        f.fused_options = dict(options)
        return f

    return mark(fn) if callable(fn) else mark


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _max_age_seconds(value):
    """fused-py's cache_max_age ("30m", "12h", "90d", whole seconds, 0 for never) in seconds."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    match = re.fullmatch(r"(\d+)([smhd])", str(value).strip().lower())
    if str(value).strip() == "0":
        return 0
    if not match:
        raise ValueError(
            f"Cannot parse cache_max_age {value!r}: use a number followed by s, m, h or d "
            '(e.g. "10m", "48h", "90d"), or whole seconds'
        )
    return int(match[1]) * _UNITS[match[2]]


def _read_cached(path, max_age):
    """The value stored at ``path`` while younger than ``max_age`` seconds, else ``_MISSING``."""
    try:
        if time.time() - os.stat(path).st_mtime < max_age:
            with open(path, "rb") as stored:
                return pickle.load(stored)
    except (OSError, EOFError, pickle.UnpicklingError):
        pass  # not there, or unreadable: computed again
    return _MISSING


_MISSING = object()


def _lock(path, timeout):
    """An exclusive flock on ``path`` (made if missing), waited for at most ``timeout`` seconds;
    the open file holds it (closing releases it), or None when the wait timed out."""
    held = open(path, "a+b")  # noqa: SIM115 - returned to hold the lock
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return held
        except BlockingIOError:
            if time.monotonic() >= deadline:
                held.close()
                return None
            time.sleep(0.02)


def cache(fn=None, *, cache_max_age="12h", cache_reset=False, reset=False, cache_verbose=True,
          concurrent_lock_timeout=120, **options):
    """Keeps a function's results on disk, in the UDF's cache folder of its caller: a later call
    with the same arguments (in this run, a later run, another process) gets the stored value
    while it is younger than ``cache_max_age``. The key is the function's source and its
    arguments (pickled); values are pickled, written whole or not at all. A call that computes
    holds a lock on its key (``flock``), so processes calling with one key at once compute it
    once: the others wait up to ``concurrent_lock_timeout`` seconds, then read its value (or
    compute it themselves after the wait). ``cache_reset`` (or ``reset``) recomputes; other
    fused-py options (``storage``, ``path``, ...) are accepted."""
    max_age = _max_age_seconds(cache_max_age)

    def wrap(f):
        try:
            source = inspect.getsource(f)
        except (OSError, TypeError):  # defined where no source is kept
            source = f.__qualname__
        ident = f"{f.__module__}.{f.__qualname__}\n{source}".encode()

        @functools.wraps(f)
        def cached(*args, **kwargs):
            try:
                call = pickle.dumps((args, sorted(kwargs.items())))
            except Exception:  # arguments pickle cannot write (open files, lambdas): by repr
                call = repr((args, sorted(kwargs.items()))).encode()
            key = hashlib.sha256(ident + b"\0" + call).hexdigest()
            if not max_age:
                return f(*args, **kwargs)
            folder = os.path.join(_channel_or_fail("cache").folders["cacheDir"], "python",
                                  f.__name__)
            path = os.path.join(folder, f"{key}.pickle")
            fresh = cache_reset or reset
            value = _MISSING if fresh else _read_cached(path, max_age)
            if value is _MISSING:
                os.makedirs(folder, exist_ok=True)
                held = _lock(f"{path}.lock", concurrent_lock_timeout)
                try:
                    if held is None:
                        print(f"{f.__name__}: another process held the cache lock over "
                              f"{concurrent_lock_timeout} s; computing here too", file=sys.stderr)
                    elif not fresh:
                        # Whoever held the lock may have just stored the value.
                        value = _read_cached(path, max_age)
                    if value is _MISSING:
                        value = f(*args, **kwargs)
                        _store(path, value, f.__name__)
                        return value
                finally:
                    if held is not None:
                        held.close()
            if cache_verbose:
                print(f"Cached output of {f.__name__} found", file=sys.stderr)
            return value

        return cached

    return wrap(fn) if callable(fn) else wrap


def _store(path, value, name):
    """Writes ``value`` whole to ``path`` (a temporary file renamed); a value pickle cannot write
    is not kept, which the run's logs say."""
    temp = f"{path}.{uuid.uuid4().hex}.tmp"
    try:
        with open(temp, "wb") as out:
            pickle.dump(value, out)
        os.replace(temp, path)
    except Exception as err:
        if os.path.exists(temp):
            os.remove(temp)
        print(f"{name}'s result is not cached: {err}", file=sys.stderr)


def _channel_or_fail(what):
    channel = _channel.current
    if channel is None:
        raise RuntimeError(f"fused.{what} works inside a UDF run by fused-ts")
    return channel


class LoadedUdf:
    """A UDF ``fused.load`` found; pass it to ``fused.run`` or ``fused.submit``."""

    def __init__(self, json_value):
        self.json = json_value
        self.name = json_value.get("name")
        self.code = json_value.get("code")

    def __repr__(self):
        return f"<UDF {self.name!r}>"


_udf_files = {}
"""The running UDF's files by path (``/udf/<name>.py``), as the runner received them."""

PYTHON_UDF_TYPE = "geopandas_v2"
"""``type`` of a Python UDF's JSON, as fused-py writes it (client/udf_json.ts)."""


def load(ref):
    """A saved UDF (its name, owner/name, id or share token) or one at an http(s) URL, as the
    run's caller may read it; text of more than one line is UDF code (Python or TypeScript), as
    ``fused.load`` takes it in TypeScript."""
    if isinstance(ref, str) and "\n" in ref.strip():
        return LoadedUdf({"code": ref})
    value, _ = _channel_or_fail("load").call("load", [str(ref)])
    return LoadedUdf(value)


def _function_udf(fn):
    """The UDF JSON of a function of the running UDF's own files: its file is the code, the
    function the entrypoint, the other files its headers (as its own run had them)."""
    module = sys.modules.get(getattr(fn, "__module__", None) or "")
    path = getattr(module, "__file__", None)
    if path not in _udf_files or fn.__qualname__ != fn.__name__ or getattr(
            module, fn.__name__, None) is not fn:
        raise TypeError(
            f"fused.run cannot send the function {fn.__qualname__!r} to the host: it takes a "
            "function defined at the top level of the UDF's code (or of one of its header files), "
            "a UDF from fused.load, or a saved UDF's name"
        )
    headers = [
        {"module_name": os.path.basename(other)[: -len(".py")], "source_code": source}
        for other, source in _udf_files.items()
        if other != path and other.endswith(".py")
    ]
    json_value = {"name": fn.__name__, "type": PYTHON_UDF_TYPE, "code": _udf_files[path],
                  "entrypoint": fn.__name__, "headers": headers}
    max_age = getattr(fn, "fused_options", {}).get("cache_max_age")
    if max_age is not None:
        json_value["cache_max_age"] = _max_age_seconds(max_age)
    return json_value


def _target(udf_ref):
    """What the host's run call takes for ``udf_ref``: UDF JSON, code, or a saved reference."""
    if isinstance(udf_ref, LoadedUdf):
        return udf_ref.json
    if isinstance(udf_ref, str):
        return load(udf_ref).json if "\n" in udf_ref.strip() else udf_ref
    if inspect.isfunction(udf_ref):
        return _function_udf(udf_ref)
    raise TypeError(
        f"fused.run takes a UDF from fused.load, a function of the UDF's code, its code or a "
        f"saved UDF's name, not {type(udf_ref).__name__}"
    )


def _request(target, engine, params, x=None, y=None, z=None, cache_max_age=None):
    if engine not in ("local", "remote"):
        raise ValueError(f'Unknown engine "{engine}": use "local" or "remote"')
    request = {"udf": target, "engine": engine, "parameters": params, "tables": "columns"}
    if None not in (x, y, z):
        request["tile"] = {"x": int(x), "y": int(y), "z": int(z)}
    if cache_max_age is not None:
        request["cacheMaxAge"] = _max_age_seconds(cache_max_age)
    return request


def run(udf_ref, *args, engine="local", x=None, y=None, z=None, cache_max_age=None, **params):
    """Runs a UDF (a ``fused.load`` result, a function of this UDF's code, UDF code, or a saved
    UDF's reference) as the run's caller, one level deeper; the result comes back as the value it
    returned, a table as a pandas DataFrame (a GeoDataFrame with geometry)."""
    if args:
        raise TypeError("fused.run takes the UDF, then parameters by name")
    request = _request(_target(udf_ref), engine, params, x, y, z, cache_max_age)
    value, body = _channel_or_fail("run").call("run", [request])
    return _decode(value["result"], body)


_NOT_RETRIED = {"UdfRuntimeError", "UdfProcessError", "ValidationError", "UdfCancelledError"}
"""Failures that are the UDF's or its arguments' own: retrying gives the same (client/run.ts)."""


def _plain(value):
    """A numpy or pandas scalar of a DataFrame of arguments as the JSON value it holds."""
    return value.item() if hasattr(value, "item") and not isinstance(value, (list, dict)) else value


def _arg_list(target, arg_list):
    """The arguments of each run, as dicts: a DataFrame's rows, dicts as they are, other values
    for the UDF's first parameter (as fused-py)."""
    if type(arg_list).__name__ in ("DataFrame", "GeoDataFrame"):
        return [{k: _plain(v) for k, v in row.items()} for row in arg_list.to_dict("records")]
    try:
        args = [_plain(a) for a in arg_list]
    except TypeError:
        raise TypeError(
            "fused.submit needs arguments: a list (or other iterable) of values for the UDF's "
            "first parameter or of dicts, or a DataFrame"
        ) from None
    if not args:
        raise ValueError("fused.submit needs at least one argument")
    if all(isinstance(a, dict) for a in args):
        return args
    udf_json = load(target).json if isinstance(target, str) else target
    signature, _ = _channel_or_fail("submit").call("describe", [udf_json])
    names = [p["name"] for p in signature.get("parameters", [])]
    if not names:
        raise ValueError(
            f"Cannot tell which parameter the values are for: the UDF takes no named parameters; "
            "pass dicts such as [{'n': 1}]"
        )
    return [{names[0]: a} for a in args]


def _collect(args, results, flatten):
    """One DataFrame: DataFrame results (and lists of records) concatenated, the arguments as
    leading columns unless a result has a column of that name; any other results as a ``result``
    column beside the arguments (as TypeScript's ``collect``)."""
    import pandas

    def frame_of(value):
        if isinstance(value, pandas.DataFrame):
            return value
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            return pandas.DataFrame(value)
        return None

    frames = [frame_of(v) for v in results] if flatten else []
    if results and frames and all(f is not None for f in frames):
        parts = []
        for given, frame in zip(args, frames):
            frame = frame.copy()
            leading = [name for name in given if name not in frame.columns]
            for position, name in enumerate(leading):
                frame.insert(position, name, [given[name]] * len(frame))
            parts.append(frame)
        return pandas.concat(parts, ignore_index=True)
    table = pandas.DataFrame(args, index=pandas.RangeIndex(len(args)))
    table["result"] = pandas.Series(results, dtype=object, index=table.index)
    return table


def submit(udf_ref, arg_list, *, engine="local", max_workers=None, max_retry=2, debug_mode=False,
           collect=True, execution_type="thread_pool", cache_max_age=None, cache=True,
           ignore_exceptions=False, flatten=True, **params):
    """Runs a UDF once per argument (a list of values for its first parameter or of dicts, or a
    DataFrame of them), each a nested run as the caller, at most ``max_workers`` at once (default
    the CPU count, 32 remote); ``params`` go to every run. Returns one DataFrame (``collect``):
    see ``_collect``. A failed run raises its error unless ``ignore_exceptions``; a failure that is
    not the UDF's own (its process lost, a timeout) is retried ``max_retry`` times, at once.
    ``execution_type`` is accepted as fused-py's: both kinds are the host's one pool here."""
    del execution_type
    if not collect:
        raise NotImplementedError(
            "fused.submit(collect=False) returns a live JobPool, which a Python UDF does not have "
            "here: use collect=True (the default), which waits and returns one DataFrame"
        )
    target = _target(udf_ref)
    args = _arg_list(target, arg_list)
    if cache is False:
        cache_max_age = 0
    if debug_mode:
        return run(LoadedUdf(target) if isinstance(target, dict) else target, engine=engine,
                   cache_max_age=cache_max_age, **{**params, **args[0]})
    workers = max_workers or (32 if engine == "remote" else os.cpu_count() or 1)
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"max_workers must be a positive whole number, got {max_workers!r}")
    requests = [[_request(target, engine, {**params, **a}, cache_max_age=cache_max_age)]
                for a in args]
    outcomes = _channel_or_fail("submit").call_all(
        "run", requests, workers, retries=max_retry,
        retryable=lambda error: error.name not in _NOT_RETRIED)
    kept_args, results = [], []
    for index, (given, outcome) in enumerate(zip(args, outcomes)):
        if isinstance(outcome, _channel.HostCallError):
            if ignore_exceptions:
                continue
            raise _channel.HostCallError(
                outcome.name, f"run #{index} of fused.submit ({given!r}) failed: {outcome}")
        value, body = outcome
        kept_args.append(given)
        results.append(_decode(value["result"], body))
    return _collect(kept_args, results, flatten)


def _data_dir():
    return _channel_or_fail("file_path").folders["dataDir"]


def file_path(path, mkdir=True):
    """``path`` inside the caller's data folder; its folder is made unless ``mkdir=False``."""
    root = os.path.realpath(_data_dir())
    if not isinstance(path, str) or not path.strip() or os.path.isabs(path):
        raise ValueError(f'file_path takes a relative path such as "folder/file.txt", got {path!r}')
    full = os.path.normpath(os.path.join(root, path))
    if os.path.relpath(full, root).split(os.sep)[0] == "..":
        raise ValueError(f'The path "{path}" leaves the data folder: remove the ".." parts')
    if mkdir:
        os.makedirs(full if path.endswith("/") else os.path.dirname(full), exist_ok=True)
    return full


def download(url, file_path):
    """Downloads ``url`` once to ``file_path`` in the caller's data folder (the host checks the
    URL as the caller may reach it) and returns the local path."""
    relative, _ = _channel_or_fail("download").call("download", [str(url), str(file_path)])
    return os.path.join(_data_dir(), relative)
