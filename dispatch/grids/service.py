"""Reading the grid hierarchy: GeoJSON for maps, names for display, the district's extent for validation."""

from __future__ import annotations

import json
from typing import Any

from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from sqlmodel import Session, col, select

from dispatch.grids.locator import current_version_id
from dispatch.grids.models import Area, AreaLevel


def feature_collection(session: Session, *, level: AreaLevel) -> dict[str, Any]:
    """The current version's areas of one level as an RFC 7946 FeatureCollection."""
    version_id = current_version_id(session)
    areas = session.exec(
        select(Area).where(Area.version_id == version_id, Area.level == level).order_by(col(Area.code))
    ).all()
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": a.code,
                "properties": {
                    "code": a.code,
                    "name": a.name,
                    "level": a.level,
                    "parent_code": a.parent_code,
                },
                "geometry": json.loads(a.geometry),
            }
            for a in areas
        ],
    }


def names_for(session: Session, codes: set[str]) -> dict[str, str]:
    """Display names of the given area codes in the current version."""
    if not codes:
        return {}
    version_id = current_version_id(session)
    rows = session.exec(
        select(Area.code, Area.name).where(Area.version_id == version_id, col(Area.code).in_(codes))
    ).all()
    return dict(rows)


_extents: dict[tuple[int, float], BaseGeometry | None] = {}


def district_extent(session: Session, *, margin_deg: float) -> BaseGeometry | None:
    """The district outline grown by a margin: positions outside it are refused at intake. A version's
    shapes never change once imported, so the outline is read and buffered once per version and margin;
    each call only asks which version is current."""
    version_id = current_version_id(session)
    if version_id is None:
        return None
    key = (version_id, margin_deg)
    if key not in _extents:
        geometry = session.exec(
            select(Area.geometry).where(Area.version_id == version_id, Area.level == AreaLevel.DISTRICT)
        ).first()
        if len(_extents) >= 8:
            _extents.clear()
        _extents[key] = shape(json.loads(geometry)).buffer(margin_deg) if geometry is not None else None
    return _extents[key]
