"""A run's parameters, coerced to what the UDF's annotations and defaults say, as fused-py does:
values given as strings (an HTTP query) become ``int``, ``float``, ``bool``, ``list``, ``dict`` or
``Bounds``; names the UDF does not take are refused, naming those it takes.
"""

import inspect
import json
import typing

from . import types as fused_types


class ParameterError(Exception):
    """A parameter the UDF does not take, or a value that cannot become its type."""


_TRUE = {"true", "1", "yes", "y", "on", "t"}
_FALSE = {"false", "0", "no", "n", "off", "f", ""}


def _unwrap(annotation):
    """``Optional[X]``, ``X | None`` and ``Annotated[X, ...]`` as ``X``; ``List[int]`` as ``list``."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin is typing.Union or type(annotation).__name__ == "UnionType":
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _unwrap(options[0]) if len(options) == 1 else annotation
    if origin in (list, dict, tuple):
        return origin
    return annotation


def _box(bounds, columns=None):
    import geopandas
    import shapely.geometry

    return geopandas.GeoDataFrame(
        dict(columns or {}), geometry=[shapely.geometry.box(*bounds)], crs="EPSG:4326"
    )


def _bounds_of(name, value):
    if isinstance(value, str):
        text = value.strip()
        value = json.loads(text) if text.startswith("[") else text.split(",")
    try:
        numbers = [float(v) for v in value]
    except (TypeError, ValueError):
        numbers = []
    if len(numbers) != 4:
        raise ParameterError(
            f'Parameter "{name}" must be bounds [west, south, east, north], got {value!r}'
        )
    return fused_types.Bounds(numbers)


def coerce(name, value, annotation, default):
    """The value the UDF gets for ``name``."""
    kind = _unwrap(annotation)
    if kind is inspect.Parameter.empty or kind is typing.Any:
        kind = type(default) if default not in (None, inspect.Parameter.empty) else None
    if value is None or kind is None:
        return value
    try:
        if isinstance(kind, type) and issubclass(kind, fused_types._GeoDataFrameType):
            if isinstance(value, dict) and {"x", "y", "z"} <= set(value):
                return _box(value["bounds"], {k: [value[k]] for k in "xyz"})
            return _box(_bounds_of(name, value))
        if kind is fused_types.Bounds:
            return _bounds_of(name, value)
        if kind is bool:
            if isinstance(value, str):
                text = value.strip().lower()
                if text not in _TRUE | _FALSE:
                    raise ValueError("not true or false")
                return text in _TRUE
            return bool(value)
        if kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError("not a whole number")
            return int(float(value)) if isinstance(value, str) and "." in value else int(value)
        if kind is float:
            return float(value)
        if kind is str:
            return value if isinstance(value, str) else json.dumps(value)
        if kind in (list, dict, tuple):
            parsed = json.loads(value) if isinstance(value, str) else value
            if kind is tuple and isinstance(parsed, list):
                parsed = tuple(parsed)
            if not isinstance(parsed, kind):
                raise ValueError(f"not a {kind.__name__}")
            return parsed
    except ParameterError:
        raise
    except (TypeError, ValueError) as err:
        raise ParameterError(
            f'Parameter "{name}" must be {getattr(kind, "__name__", kind)}, got {value!r} ({err})'
        ) from None
    return value


def build_arguments(fn, given, defaults, injected):
    """The keyword arguments of a call: defaults it takes, given values, then a tile's values."""
    signature = inspect.signature(fn)
    params = signature.parameters
    rest = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    named = [
        n
        for n, p in params.items()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    ]
    raw = {n: v for n, v in (defaults or {}).items() if rest or n in params}
    unknown = [n for n in (given or {}) if not rest and n not in params]
    if unknown:
        takes = ", ".join(named) or "no parameters"
        raise ParameterError(
            f"The UDF takes no parameter {', '.join(repr(n) for n in unknown)}: it takes {takes}"
        )
    raw.update(given or {})
    tile = (injected or {}).get("tile")
    for n, v in (injected or {}).items():
        if n in params:
            kind = _unwrap(params[n].annotation)
            geo = isinstance(kind, type) and issubclass(kind, fused_types._GeoDataFrameType)
            raw[n] = dict(tile, bounds=injected["bounds"]) if geo and tile else v
    args = {}
    for n, v in raw.items():
        p = params.get(n)
        args[n] = coerce(n, v, p.annotation, p.default) if p else v
    return args
