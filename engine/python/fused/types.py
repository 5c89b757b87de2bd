"""Parameter types of fused-py (``fused.types``), as UDF code annotates its parameters.

``Bounds`` is a list ``[west, south, east, north]`` in degrees; ``TileXYZ`` a tile's ``x``, ``y``,
``z``; ``Tile``, ``TileGDF``, ``ViewportGDF`` and ``Bbox`` are GeoDataFrames of one box (with
``x``, ``y``, ``z`` columns for a tile). The runner builds these values from a run's parameters
and, for tile runs, from the tile (fused/_params.py).
"""


class Bounds(list):
    """``[west, south, east, north]`` in degrees (EPSG:4326)."""


class TileXYZ(dict):
    """A tile's ``{"x": ..., "y": ..., "z": ...}``."""


class _GeoDataFrameType:
    """Marks a parameter the runner passes as a geopandas GeoDataFrame of one box."""


class TileGDF(_GeoDataFrameType):
    """The tile as a GeoDataFrame: columns ``x``, ``y``, ``z`` and its box as ``geometry``."""


class Tile(TileGDF):
    """fused-py's older name of :class:`TileGDF`."""


class ViewportGDF(_GeoDataFrameType):
    """The viewport as a GeoDataFrame of one box."""


class Bbox(_GeoDataFrameType):
    """A bounding box as a GeoDataFrame of one box."""


GEODATAFRAME_TYPES = (TileGDF, Tile, ViewportGDF, Bbox)

__all__ = ["Bbox", "Bounds", "Tile", "TileGDF", "TileXYZ", "ViewportGDF"]
