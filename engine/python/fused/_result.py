"""A nested run's result (client/formats/packed.ts) as a Python value: None, JSON, str, bytes, a
raster as a numpy array (``(array, bounds)`` when it has bounds). An Arrow table cannot be read
without pyarrow, which Debian lacks: that is refused with what to do instead."""

import json


def _part(body, at):
    start, length = at
    return body[start : start + length]


def decode(packed, body):
    """The Python value of a packed result."""
    kind = packed.get("kind")
    if kind == "null":
        return None
    if kind == "json":
        return json.loads(_part(body, packed["at"]))
    if kind == "string":
        return _part(body, packed["at"]).decode()
    if kind == "bytes":
        return bytes(_part(body, packed["at"]))
    if kind == "raster":
        import numpy

        array = numpy.frombuffer(_part(body, packed["at"]), dtype="<" + numpy.dtype(
            packed["dtype"]).str[1:]).reshape(packed["shape"])
        return (array, packed["bounds"]) if packed.get("bounds") else array
    if kind == "multi":
        return {name: decode(entry, body) for name, entry in packed["entries"].items()}
    raise NotImplementedError(
        "the UDF returned a table, which a Python UDF cannot read yet (no pyarrow here): have it "
        "return JSON (records) or write a file with fused.file_path and return its path"
    )
