"""A UDF's return value as bytes for the host (engine/_py_result.ts decodes it once).

Without pyarrow (Debian has none), a DataFrame goes column by column: numbers as raw
little-endian buffers, booleans and validity as one byte a row, strings and WKB as int32 offsets
plus bytes, datetimes as int64 nanoseconds, dates as int32 days; a GeoDataFrame's geometry as WKB with its CRS as
PROJJSON. numpy arrays become rasters (with bounds for ``(array, bounds)``), an xarray DataArray
too (bounds from its coordinates); str, bytes, dict,
list and None go as the host's other results do (client/formats/packed.ts).
"""

import datetime
import json
import math

MAX_JSON_BYTES = 128 * 2**20

ALLOWED = (
    "a UDF may return a pandas DataFrame or GeoDataFrame, a GeoSeries, a numpy array (a raster, "
    "or (array, [west, south, east, north])), an xarray DataArray, str, bytes, a dict or list of "
    "JSON values, or None"
)


class UnsupportedResult(Exception):
    """A value no result format carries."""


class Body:
    """Body parts, each starting at a multiple of 8 (as client/formats/packed.ts BodyWriter)."""

    def __init__(self):
        self.parts = []
        self.length = 0

    def add(self, data):
        data = memoryview(data).cast("B")
        pad = (8 - self.length % 8) % 8
        if pad:
            self.parts.append(bytes(pad))
            self.length += pad
        at = [self.length, len(data)]
        self.parts.append(data)
        self.length += len(data)
        return at


_RASTER_DTYPES = {
    "uint8": "uint8",
    "int8": "int8",
    "uint16": "uint16",
    "int16": "int16",
    "uint32": "uint32",
    "int32": "int32",
    "float32": "float32",
    "float64": "float64",
    "bool": "uint8",
}
_NUMERIC = {
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float32",
    "float64",
}


def _json(value, what):
    data = json.dumps(value, allow_nan=False, default=_json_default).encode()
    if len(data) > MAX_JSON_BYTES:
        raise UnsupportedResult(
            f"{what} of {len(data)} bytes is over the {MAX_JSON_BYTES}-byte limit for JSON results: "
            "return a DataFrame or bytes instead"
        )
    return data


def _json_default(value):
    import numpy

    if isinstance(value, numpy.generic):
        return value.item()
    if isinstance(value, numpy.ndarray):
        return value.tolist()
    raise UnsupportedResult(f"{type(value).__name__} is not a JSON value; {ALLOWED}")


def _raster(array, body, bounds=None):
    import numpy

    dtype = _RASTER_DTYPES.get(array.dtype.name)
    if dtype is None:
        raise UnsupportedResult(
            f"a numpy array of {array.dtype} cannot be a raster: use uint8, int8, (u)int16, "
            "(u)int32, float32 or float64"
        )
    data = numpy.ascontiguousarray(array, dtype=numpy.dtype(dtype).newbyteorder("<"))
    packed = {"kind": "raster", "at": body.add(data.tobytes()), "dtype": dtype,
              "shape": list(array.shape)}
    if bounds is not None:
        packed["bounds"] = [float(b) for b in bounds]
    return packed


_X_NAMES = ("x", "lon", "longitude")
_Y_NAMES = ("y", "lat", "latitude")


def _data_array(array, body):
    """An xarray DataArray as a raster: north up, west left, its bounds from the cell-center
    coordinates of its x/y (or lon/lat) dimensions when both have two or more evenly spaced
    values; without them, its values alone."""
    import numpy

    dims = list(array.dims)
    x = next((d for d in _X_NAMES if d in dims), None)
    y = next((d for d in _Y_NAMES if d in dims), None)
    if x is None or y is None or x not in array.coords or y not in array.coords or min(
            array.sizes[x], array.sizes[y]) < 2:
        return _raster(array.values, body)
    array = array.transpose(..., y, x)
    xs, ys = array[x].values.astype("float64"), array[y].values.astype("float64")
    if xs[0] > xs[-1]:
        array, xs = array.isel({x: slice(None, None, -1)}), xs[::-1]
    if ys[0] < ys[-1]:
        array, ys = array.isel({y: slice(None, None, -1)}), ys[::-1]
    dx, dy = numpy.diff(xs), -numpy.diff(ys)
    if not (numpy.allclose(dx, dx[0]) and numpy.allclose(dy, dy[0])):
        raise UnsupportedResult(
            f"the DataArray's {x}/{y} coordinates are not evenly spaced, so it is no raster: "
            "return (array.values, [west, south, east, north]) instead"
        )
    half_x, half_y = dx[0] / 2, dy[0] / 2
    bounds = [xs[0] - half_x, ys[-1] - half_y, xs[-1] + half_x, ys[0] + half_y]
    return _raster(array.values, body, bounds)


def _offsets(chunks, body):
    import numpy

    lengths = numpy.fromiter((len(c) for c in chunks), dtype="<i8", count=len(chunks))
    offsets = numpy.zeros(len(chunks) + 1, dtype="<i8")
    numpy.cumsum(lengths, out=offsets[1:])
    if offsets[-1] > 2**31 - 1:
        raise UnsupportedResult("a text or geometry column over 2 GiB cannot be returned")
    return body.add(offsets.astype("<i4").tobytes()), body.add(b"".join(chunks))


def _column(name, series, body, geometry):
    import numpy
    import pandas

    dtype = series.dtype
    out = {"name": str(name)}
    mask = series.isna().to_numpy()
    valid = ~mask
    if geometry:
        import shapely.wkb

        chunks = [shapely.wkb.dumps(g) if ok else b"" for g, ok in zip(series.array, valid)]
        out["type"] = "wkb"
        out["offsets"], out["data"] = _offsets(chunks, body)
    elif pandas.api.types.is_datetime64_any_dtype(dtype):
        values = series.dt.tz_convert("UTC") if isinstance(dtype, pandas.DatetimeTZDtype) else series
        ns = values.to_numpy(dtype="datetime64[ns]").view("<i8").copy()
        ns[mask] = 0
        out["type"] = "timestamp"
        out["tz"] = str(dtype.tz) if isinstance(dtype, pandas.DatetimeTZDtype) else None
        out["data"] = body.add(ns.tobytes())
    elif pandas.api.types.is_bool_dtype(dtype) and not pandas.api.types.is_object_dtype(dtype):
        out["type"] = "bool"
        out["data"] = body.add(series.to_numpy(dtype="u1", na_value=0).tobytes())
    elif getattr(dtype, "numpy_dtype", dtype).name in _NUMERIC:
        # numpy dtypes and pandas' nullable ones (Int64, Float64: their numpy_dtype)
        kind = getattr(dtype, "numpy_dtype", dtype).name
        # NaN is null, as pyarrow's from_pandas (fused-py's path to Parquet) makes it.
        values = series.to_numpy(dtype=kind, na_value=0)
        out["type"] = kind
        out["data"] = body.add(numpy.ascontiguousarray(values, dtype="<" + numpy.dtype(kind).str[1:]).tobytes())
    else:
        values = series.astype(object).to_numpy()
        present = [v for v in values[valid]]
        scalar = _scalar_type(present)
        if scalar is not None:
            # An object column of Python bools or numbers (with None): typed as pandas would be.
            typed = pandas.Series(numpy.where(valid, values, 0 if scalar != "bool" else False))
            out = _column(name, typed.astype(scalar), body, False)
            if mask.any():
                out["validity"] = body.add(valid.astype("u1").tobytes())
            return out
        if present and all(isinstance(v, datetime.date) and not isinstance(v, datetime.datetime)
                           for v in present):
            # datetime.date values: days since 1970-01-01 (Arrow's date32, as pyarrow makes it).
            epoch = datetime.date(1970, 1, 1).toordinal()
            days = [v.toordinal() - epoch if ok else 0 for v, ok in zip(values, valid)]
            out["type"] = "date32"
            out["data"] = body.add(numpy.array(days, dtype="<i4").tobytes())
        else:
            if all(isinstance(v, str) for v in present):
                out["type"] = "utf8"
                chunks = [v.encode() if ok else b"" for v, ok in zip(values, valid)]
            elif present and all(hasattr(v, "wkb") for v in present):
                out["type"] = "wkb"
                chunks = [v.wkb if ok else b"" for v, ok in zip(values, valid)]
            elif all(isinstance(v, (bytes, bytearray)) for v in present):
                out["type"] = "binary"
                chunks = [bytes(v) if ok else b"" for v, ok in zip(values, valid)]
            else:
                kinds = sorted({type(v).__name__ for v in present})
                raise UnsupportedResult(
                    f'column "{name}" holds {", ".join(kinds)} values: a returned column must hold '
                    "numbers, booleans, strings, bytes, dates, datetimes or geometries (convert it, "
                    f'e.g. df["{name}"] = df["{name}"].astype(str))'
                )
            out["offsets"], out["data"] = _offsets(chunks, body)
    if mask.any():
        out["validity"] = body.add(valid.astype("u1").tobytes())
    return out


def _scalar_type(values):
    """"bool", "int64" or "float64" when every value is one (ints and floats: float64)."""
    if not values:
        return None
    if all(isinstance(v, bool) for v in values):
        return "bool"
    if any(isinstance(v, bool) for v in values):
        return None
    if all(isinstance(v, int) for v in values) and all(-(2**63) <= v < 2**63 for v in values):
        return "int64"
    if all(isinstance(v, (int, float)) for v in values):
        return "float64"
    return None


def _table(frame, body):
    import pandas

    geometry = None
    crs = None
    if hasattr(frame, "geometry") and getattr(frame, "_geometry_column_name", None) in frame:
        geometry = frame._geometry_column_name
        crs = frame.crs.to_json_dict() if frame.crs is not None else None
    if not isinstance(frame.index, pandas.RangeIndex) or frame.index.name is not None:
        frame = frame.reset_index()
    names = [str(c) for c in frame.columns]
    duplicate = sorted({n for n in names if names.count(n) > 1})
    if duplicate:
        raise UnsupportedResult(f"the DataFrame has duplicate column names {duplicate}: rename them")
    columns = [
        _column(name, frame[name], body, name == geometry) for name in frame.columns
    ]
    packed = {"kind": "pytable", "rows": len(frame), "columns": columns}
    if geometry is not None:
        packed["geo"] = {"column": str(geometry), "crs": crs}
    return packed


def encode(value, body):
    """The packed description of ``value``, its bytes added to ``body``."""
    if value is None:
        return {"kind": "null"}
    if isinstance(value, str):
        return {"kind": "string", "at": body.add(_check(value.encode(), "a string"))}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"kind": "bytes", "at": body.add(bytes(value))}
    module = type(value).__module__.split(".")[0]
    if module in ("pandas", "geopandas"):
        import pandas

        if isinstance(value, pandas.Series):
            if type(value).__name__ == "GeoSeries":
                import geopandas

                value = geopandas.GeoDataFrame(geometry=value)
            else:
                value = value.to_frame(name=value.name if value.name is not None else "value")
        if isinstance(value, pandas.DataFrame):
            return _table(value, body)
    if module == "numpy":
        import numpy

        if isinstance(value, numpy.ndarray):
            return _raster(value, body)
        if isinstance(value, numpy.generic):
            return {"kind": "json", "at": body.add(_json(value.item(), "JSON"))}
    if module == "xarray" and type(value).__name__ == "DataArray":
        return _data_array(value, body)
    if isinstance(value, tuple) and len(value) == 2 and _is_bounds(value[1]):
        array = value[0]
        if type(array).__module__.split(".")[0] == "xarray":
            array = array.values
        if type(array).__module__.split(".")[0] == "numpy":
            return _raster(array, body, value[1])
    if isinstance(value, (dict, list, tuple, int, float, bool)):
        if isinstance(value, float) and not math.isfinite(value):
            raise UnsupportedResult(f"{value} is not a JSON number; return None or a string")
        return {"kind": "json", "at": body.add(_json(value, "JSON"))}
    raise UnsupportedResult(f"it is a {type(value).__module__}.{type(value).__name__}; {ALLOWED}")


def _check(data, what):
    if len(data) > MAX_JSON_BYTES:
        raise UnsupportedResult(
            f"{what} of {len(data)} bytes is over the {MAX_JSON_BYTES}-byte limit: return bytes"
        )
    return data


def _is_bounds(value):
    try:
        return len(value) == 4 and all(isinstance(float(v), float) for v in value)
    except (TypeError, ValueError):
        return False
