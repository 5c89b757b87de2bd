"""A nested run's result (client/formats/packed.ts) as a Python value: None, JSON, str, bytes, a
raster as a numpy array (``(array, bounds)`` when it has bounds), and a table as a pandas
DataFrame. The host sends a table column by column (engine/_py_result.ts ``tableToPython``: the
encoding fused/_encode.py sends the other way), since Debian has no pyarrow; a table with
GeoParquet metadata becomes a GeoDataFrame when geopandas is there. dtypes are those pyarrow's
``to_pandas`` gives: a column of integers with nulls is float64 with NaN, booleans or strings with
nulls are objects with None, dates are ``datetime.date`` objects, timestamps ``datetime64[ns]``.
"""

import datetime
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
    if kind == "pytable":
        return _table(packed, body)
    if kind == "multi":
        return {name: decode(entry, body) for name, entry in packed["entries"].items()}
    raise ValueError(f"the host sent a result of unknown kind {kind!r}")


_EPOCH = datetime.date(1970, 1, 1)


def _variable(column, body, valid):
    """The values of a utf8, binary or wkb column: str or bytes, None where null."""
    import numpy

    offsets = numpy.frombuffer(_part(body, column["offsets"]), dtype="<i4")
    data = bytes(_part(body, column["data"]))
    text = column["type"] == "utf8"
    values = numpy.empty(len(offsets) - 1, dtype=object)
    for i in range(len(values)):
        if valid is None or valid[i]:
            chunk = data[offsets[i] : offsets[i + 1]]
            values[i] = chunk.decode() if text else chunk
    return values


def _series(column, rows, body, index):
    import numpy
    import pandas

    kind = column["type"]
    valid = None
    if column.get("validity") is not None:
        valid = numpy.frombuffer(_part(body, column["validity"]), dtype="u1").astype(bool)
    name = column["name"]
    if kind in ("utf8", "binary", "wkb"):
        return pandas.Series(_variable(column, body, valid), index=index, name=name)
    if kind == "date32":
        days = numpy.frombuffer(_part(body, column["data"]), dtype="<i4")
        values = numpy.empty(rows, dtype=object)
        for i, day in enumerate(days):
            if valid is None or valid[i]:
                values[i] = _EPOCH + datetime.timedelta(days=int(day))
        return pandas.Series(values, index=index, name=name)
    if kind == "timestamp":
        ns = numpy.frombuffer(_part(body, column["data"]), dtype="<i8").view("datetime64[ns]").copy()
        if valid is not None:
            ns[~valid] = numpy.datetime64("NaT")
        series = pandas.Series(ns, index=index, name=name)
        if column.get("tz"):
            series = series.dt.tz_localize("UTC").dt.tz_convert(column["tz"])
        return series
    if kind == "bool":
        values = numpy.frombuffer(_part(body, column["data"]), dtype="u1").astype(bool)
        if valid is not None:
            values = numpy.where(valid, values, None).astype(object)
        return pandas.Series(values, index=index, name=name)
    values = numpy.frombuffer(_part(body, column["data"]), dtype="<" + numpy.dtype(kind).str[1:])
    values = values.astype(numpy.dtype(kind))  # a writable copy, in the machine's byte order
    if valid is not None:
        # As pyarrow's to_pandas: integers with nulls become float64, nulls NaN.
        values = values.astype("float64" if values.dtype.kind in "iu" else values.dtype)
        values[~valid] = numpy.nan
    return pandas.Series(values, index=index, name=name)


def _table(packed, body):
    import pandas

    rows = packed["rows"]
    index = pandas.RangeIndex(rows)
    columns = packed["columns"]
    frame = pandas.DataFrame(
        {c["name"]: _series(c, rows, body, index) for c in columns}, index=index,
        columns=[c["name"] for c in columns],
    )
    geo = packed.get("geo")
    if geo is None:
        return frame
    try:
        import geopandas
        import pyproj
        import shapely.wkb
    except ImportError:  # a venv without geopandas: the geometry stays WKB bytes
        return frame
    for column in columns:
        if column["type"] == "wkb":
            frame[column["name"]] = geopandas.GeoSeries(
                [None if v is None else shapely.wkb.loads(v) for v in frame[column["name"]]],
                index=index,
            )
    crs = geo.get("crs")
    if isinstance(crs, dict):
        crs = pyproj.CRS.from_json_dict(crs)
    return geopandas.GeoDataFrame(frame, geometry=geo["column"], crs=crs)
