"""Grid polygons for maps."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from dispatch.auth.deps import CurrentUser
from dispatch.db import SessionDep
from dispatch.grids import service
from dispatch.grids.models import AreaLevel

router = APIRouter(prefix="/api/grids", tags=["grids"])


@router.get("")
def list_areas(_: CurrentUser, session: SessionDep, level: AreaLevel = AreaLevel.GRID) -> dict[str, Any]:
    """The current version's areas of one level as a GeoJSON FeatureCollection (WGS-84)."""
    return service.feature_collection(session, level=level)
