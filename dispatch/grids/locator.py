"""Point-in-grid lookup over an STRtree, built once per process and rebuilt when the grid version changes."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import shape
from sqlmodel import Session, col, select

from dispatch import clock
from dispatch.grids.models import Area, AreaLevel, GridVersion


@dataclass(frozen=True)
class GridPlace:
    """A grid and its ancestors, most specific first: (grid, community, street, district)."""

    grid_code: str
    grid_name: str
    chain: tuple[str, ...]
    duty_officer_id: int | None

    @property
    def community_code(self) -> str | None:
        return self.chain[1] if len(self.chain) >= 4 else None

    @property
    def street_code(self) -> str | None:
        return self.chain[2] if len(self.chain) >= 4 else None


class GridLocator:
    """Finds the grids covering points; a point on a shared boundary is covered by every grid touching it."""

    def __init__(self, version_id: int, areas: Sequence[Area]) -> None:
        self.version_id = version_id
        parent = {a.code: a.parent_code for a in areas}
        grids = [a for a in areas if a.level == AreaLevel.GRID]
        self._places = [GridPlace(a.code, a.name, _chain(a.code, parent), a.duty_officer_id) for a in grids]
        self._by_code = {p.grid_code: p for p in self._places}
        self.parent = parent  # every area's parent code, for the hierarchy above the grids
        self.level = {a.code: a.level for a in areas}
        self._polygons = np.array([shape(json.loads(a.geometry)) for a in grids], dtype=object)
        self._tree = shapely.STRtree(self._polygons)

    def __len__(self) -> int:
        return len(self._places)

    def place(self, grid_code: str) -> GridPlace | None:
        """The grid with this code and its ancestors, or None if this version has no such grid."""
        return self._by_code.get(grid_code)

    def contains(self, outer: str, inner: str) -> bool:
        """Whether area `inner` lies inside area `outer` (or is it)."""
        return outer in _chain(inner, self.parent)

    def locate(self, lon: float, lat: float) -> list[GridPlace]:
        """Every grid covering the point (none outside all grids, several on a shared boundary)."""
        return self.locate_many([(lon, lat)])[0]

    def locate_many(self, points: Sequence[tuple[float, float]]) -> list[list[GridPlace]]:
        """`locate` for many points in one vectorised STRtree query."""
        result: list[list[GridPlace]] = [[] for _ in points]
        if not points:
            return result
        geoms = shapely.points(np.asarray(points, dtype=float))
        point_idx, grid_idx = self._tree.query(geoms, predicate="intersects")
        for p, g in zip(point_idx.tolist(), grid_idx.tolist(), strict=True):
            result[p].append(self._places[g])
        for hits in result:
            hits.sort(key=lambda place: place.grid_code)
        return result


def _chain(code: str, parent: dict[str, str | None]) -> tuple[str, ...]:
    chain = [code]
    seen = {code}
    while (up := parent.get(chain[-1])) is not None and up not in seen:
        chain.append(up)
        seen.add(up)
    return tuple(chain)


def current_version_id(session: Session) -> int | None:
    """Id of the grid version routing uses now: the active one with the latest effective time not in the
    future (ties: the newest); if none is in effect yet, the newest active one."""
    in_effect = session.exec(
        select(GridVersion.id)
        .where(col(GridVersion.active), col(GridVersion.effective_at) <= clock.now())
        .order_by(col(GridVersion.effective_at).desc(), col(GridVersion.id).desc())
    ).first()
    if in_effect is not None:
        return in_effect
    return session.exec(
        select(GridVersion.id).where(col(GridVersion.active)).order_by(col(GridVersion.id).desc())
    ).first()


_cache: dict[str, GridLocator] = {}
_cache_lock = threading.Lock()


def current_locator(session: Session) -> GridLocator | None:
    """This process's locator for the current grid version (built on first use, rebuilt on a new version)."""
    version_id = current_version_id(session)
    if version_id is None:
        return None
    cached = _cache.get("locator")
    if cached is not None and cached.version_id == version_id:
        return cached
    with _cache_lock:
        cached = _cache.get("locator")
        if cached is None or cached.version_id != version_id:
            areas = session.exec(select(Area).where(Area.version_id == version_id)).all()
            cached = GridLocator(version_id, areas)
            _cache["locator"] = cached
        return cached
