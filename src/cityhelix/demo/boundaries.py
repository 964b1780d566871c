"""The demo province's district boundaries as GeoJSON, for the console's offline base map.

The demo knows each district as a centre and a radius; the boundaries are the Voronoi cells
of the centres, clipped to the province's outline (the hull of the districts' discs grown by
a margin). Deterministic, so the file shipped in `web/static/geo/` can be checked against it:
`python -m cityhelix.demo.boundaries > src/cityhelix/web/static/geo/province.geojson`.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from shapely import MultiPoint, Point, union_all, voronoi_polygons
from shapely.geometry import mapping

from cityhelix.demo.province import Province, read_province

_KM_PER_DEGREE = 111.32
#: how far the province's outline reaches past its outermost district, in km
_MARGIN_KM = 4.0


def _disc(lon: float, lat: float, radius_km: float) -> Any:
    """A disc of `radius_km` around (lon, lat), in degrees (an ellipse: longitude shrinks)."""
    from shapely import affinity

    circle = Point(lon, lat).buffer(radius_km / _KM_PER_DEGREE, quad_segs=16)
    return affinity.scale(circle, xfact=1.0 / math.cos(math.radians(lat)), yfact=1.0)


def boundaries(province: Province) -> dict[str, Any]:
    """A FeatureCollection: one Polygon per district (name, key, code) and the outline."""
    discs = [_disc(d.lon, d.lat, d.radius_km + _MARGIN_KM) for d in province.districts]
    outline = union_all(discs).convex_hull
    centres = MultiPoint([(d.lon, d.lat) for d in province.districts])
    cells = list(voronoi_polygons(centres, extend_to=outline).geoms)
    features = []
    for district in province.districts:
        centre = Point(district.lon, district.lat)
        cell = next(c for c in cells if c.contains(centre)) if len(cells) > 1 else outline
        shape = cell.intersection(outline)
        geometry = json.loads(json.dumps(mapping(shape.simplify(0.0005)), default=list))
        features.append(
            {
                "type": "Feature",
                "properties": {"key": district.key, "name": district.name, "code": district.code},
                "geometry": _rounded(geometry),
            }
        )
    return {"type": "FeatureCollection", "name": province.name, "features": features}


def _rounded(value: Any) -> Any:
    """Coordinates to 5 decimals (about a metre): a smaller file, the same map."""
    if isinstance(value, float):
        return round(value, 5)
    if isinstance(value, list | tuple):
        return [_rounded(item) for item in value]
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    return value


if __name__ == "__main__":
    json.dump(boundaries(read_province()), sys.stdout, ensure_ascii=False, separators=(",", ":"))
    sys.stdout.write("\n")
