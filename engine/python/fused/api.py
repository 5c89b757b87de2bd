"""fused-py's file calls (``fused.api.list``, ``get``, ``download``, ``upload``, ``delete``,
``sign_url``, ``sign_url_prefix``) on ``fd://`` paths of the caller's store, through the host
calls TypeScript UDFs use (``files.*`` in engine/_host_calls.ts), as the run's caller: the host
checks each path, the quota and the caller's rights; this module only shapes the calls.
"""

import os
import pathlib
import uuid

from . import _channel

__all__ = ["delete", "download", "get", "list", "sign_url", "sign_url_prefix", "upload"]

UPLOAD_MESSAGE_BYTES = 64 * 2**20
"""Bytes an upload of bytes may carry in one message; a file in the data folder is streamed."""


def _call(method, args, body=b""):
    channel = _channel.current
    if channel is None:
        raise RuntimeError(f"fused.api.{method.removeprefix('files.')} works inside a UDF run by "
                           "fused-ts")
    try:
        return channel.call(method, args, body)
    except _channel.HostCallError as err:
        if err.name == "FileNotFoundError":
            # As fused-py raises it: Python's own class, so `except FileNotFoundError` works.
            raise FileNotFoundError(str(err)) from None
        raise


def list(path, details=False):  # noqa: A001 - fused-py's name
    """The paths under ``path`` (``fd://folder/``), or dicts describing each with ``details``."""
    value, _ = _call("files.list", [str(path), bool(details)])
    return value


def get(path):
    """The bytes of the file at ``path``."""
    _, body = _call("files.get", [str(path)])
    return body


def download(path, local_path):
    """Writes the file at ``path`` to ``local_path`` (under ``fused.file_path()``: the one
    folder a UDF keeps files in), whole or not at all, and returns ``local_path``."""
    data = get(path)
    local_path = os.fspath(local_path)
    if local_path.endswith("/"):
        local_path = os.path.join(local_path, os.path.basename(str(path).rstrip("/")))
    os.makedirs(os.path.dirname(os.path.abspath(local_path)), exist_ok=True)
    temp = f"{local_path}.{uuid.uuid4().hex}.tmp"
    try:
        with open(temp, "wb") as f:
            f.write(data)
        os.replace(temp, local_path)
    finally:
        if os.path.exists(temp):
            os.remove(temp)
    return local_path


def upload(local_path, remote_path, timeout=None):
    """Uploads bytes, or a file of the caller's data folder (the host streams it), to
    ``remote_path``; a remote path ending in ``/`` gets the file's name. A string is a path: to
    upload text, encode it first. ``timeout`` is accepted for fused-py's signature; the run's own
    timeout bounds the call."""
    del timeout
    remote = str(remote_path)
    if isinstance(local_path, (bytes, bytearray, memoryview)):
        data = bytes(local_path)
        if len(data) > UPLOAD_MESSAGE_BYTES:
            raise ValueError(
                f"Cannot upload {len(data)} bytes to {remote} as one message (at most "
                f"{UPLOAD_MESSAGE_BYTES}): write them to a file under fused.file_path() and upload "
                "that path, which the host streams"
            )
        _call("files.upload", [remote], data)
        return None
    if hasattr(local_path, "read"):
        return upload(local_path.read(), remote)
    if not isinstance(local_path, (str, os.PathLike)):
        raise TypeError(
            f"fused.api.upload takes bytes, a file object or a path, not {type(local_path).__name__}"
            " (a DataFrame: write it to a file under fused.file_path() first; there is no pyarrow "
            "here to write Parquet)"
        )
    full = os.path.realpath(os.fspath(local_path))
    if not os.path.isfile(full):
        raise FileNotFoundError(
            f"No file {os.fspath(local_path)}: to upload text, encode it first (text.encode())"
        )
    if remote.endswith("/"):
        remote += os.path.basename(full)
    _call("files.uploadFile", [pathlib.Path(full).as_uri(), remote])
    return None


def delete(path, max_deletion_depth=3):
    """Deletes the file or folder at ``path``, at most ``max_deletion_depth`` levels deep (or
    ``"unlimited"``); True when something was deleted."""
    value, _ = _call("files.delete", [str(path), max_deletion_depth])
    return value


def sign_url(path):
    """An HTTPS URL that reads ``path`` without a token, for a limited time."""
    value, _ = _call("files.signUrl", [str(path)])
    return value


def sign_url_prefix(path):
    """Signed URLs of every file under ``path``, by key."""
    value, _ = _call("files.signUrlPrefix", [str(path)])
    return value
