"""fused-py's API inside a fused-ts Python UDF process.

``@fused.udf`` and ``@fused.cache`` decorate; ``fused.types`` annotates parameters;
``fused.run``, ``fused.load`` and ``fused.download`` go to the host as the run's caller, through
the same capability-checked calls TypeScript UDFs make (engine/_host_calls.ts);
``fused.file_path`` is a path in the caller's data folder, the one folder a UDF may keep files in.
"""

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

__all__ = ["api", "cache", "download", "file_path", "load", "run", "types", "udf"]


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


def cache(fn=None, *, cache_max_age="12h", cache_reset=False, reset=False, cache_verbose=True,
          **options):
    """Keeps a function's results on disk, in the UDF's cache folder of its caller: a later call
    with the same arguments (in this run, a later run, another process) gets the stored value
    while it is younger than ``cache_max_age``. The key is the function's source and its
    arguments (pickled); values are pickled, written whole or not at all. ``cache_reset`` (or
    ``reset``) recomputes; other fused-py options (``storage``, ``path``, ...) are accepted."""
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
            folder = os.path.join(_channel_or_fail("cache").folders["cacheDir"], "python",
                                  f.__name__)
            path = os.path.join(folder, f"{key}.pickle")
            if max_age and not (cache_reset or reset):
                try:
                    if time.time() - os.stat(path).st_mtime < max_age:
                        with open(path, "rb") as stored:
                            value = pickle.load(stored)
                        if cache_verbose:
                            print(f"Cached output of {f.__name__} found", file=sys.stderr)
                        return value
                except (OSError, EOFError, pickle.UnpicklingError):
                    pass  # not there, or unreadable: computed again below
            value = f(*args, **kwargs)
            if max_age:
                os.makedirs(folder, exist_ok=True)
                temp = f"{path}.{uuid.uuid4().hex}.tmp"
                try:
                    with open(temp, "wb") as out:
                        pickle.dump(value, out)
                    os.replace(temp, path)
                except Exception as err:  # a value pickle cannot write is returned, not kept
                    if os.path.exists(temp):
                        os.remove(temp)
                    print(f"{f.__name__}'s result is not cached: {err}", file=sys.stderr)
            return value

        return cached

    return wrap(fn) if callable(fn) else wrap


def _channel_or_fail(what):
    channel = _channel.current
    if channel is None:
        raise RuntimeError(f"fused.{what} works inside a UDF run by fused-ts")
    return channel


class LoadedUdf:
    """A UDF ``fused.load`` found; pass it to ``fused.run``."""

    def __init__(self, json_value):
        self.json = json_value
        self.name = json_value.get("name")
        self.code = json_value.get("code")

    def __repr__(self):
        return f"<UDF {self.name!r}>"


def load(ref):
    """A saved UDF (its name, owner/name, id or share token) or one at an http(s) URL, as the
    run's caller may read it."""
    value, _ = _channel_or_fail("load").call("load", [str(ref)])
    return LoadedUdf(value)


def run(udf_ref, *args, engine="local", x=None, y=None, z=None, cache_max_age=None, **params):
    """Runs a UDF (a ``fused.load`` result, or a saved UDF's reference) as the run's caller, one
    level deeper; the result comes back as the value it returned (tables as pandas DataFrames are
    not decoded here yet: see fused/_result.py)."""
    if args:
        raise TypeError("fused.run takes the UDF, then parameters by name")
    if isinstance(udf_ref, LoadedUdf):
        target = udf_ref.json
    elif isinstance(udf_ref, str):
        target = udf_ref
    else:
        raise TypeError(
            "fused.run takes a UDF from fused.load or a saved UDF's name; a Python function "
            "cannot be sent to the host"
        )
    request = {"udf": target, "engine": engine, "parameters": params}
    if None not in (x, y, z):
        request["tile"] = {"x": int(x), "y": int(y), "z": int(z)}
    if cache_max_age is not None:
        request["cacheMaxAge"] = cache_max_age
    value, body = _channel_or_fail("run").call("run", [request])
    return _decode(value["result"], body)


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
