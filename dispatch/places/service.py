"""Importing a department's register of places, and finding places by area or near a ticket."""

from __future__ import annotations

import math

from sqlmodel import Session, col, delete, select

from dispatch import clock
from dispatch.catalog.tabular import read_rows
from dispatch.config import get_settings
from dispatch.gazetteer.importer import read_lonlat
from dispatch.grids.locator import current_locator
from dispatch.grids.report import Report
from dispatch.grids.service import district_extent
from dispatch.places.models import Place, PlaceRead
from dispatch.tickets.duplicates import distance_m

FIXED_COLUMNS = ("kind", "name", "address", "lon", "lat")


def import_register(session: Session, text: str, *, owner: str, dry_run: bool = False) -> Report:
    """Validate every line of a register CSV; if all are valid (and not dry_run), replace that owner's
    places with them, each attached to the grid it lies in. Extra columns become attributes. Flushes only."""
    report = Report(unit="行")
    owner = owner.strip()
    if not owner or len(owner) > 32:
        report.error("bad_owner", "须指明数据来源部门（owner），最多 32 字")
        return report
    rows = read_rows(text, fmt="csv", required=("kind", "name", "lon", "lat"), report=report)
    extent = district_extent(session, margin_deg=get_settings().district_margin_deg)
    now = clock.now()
    places: list[Place] = []
    for row in rows:
        if not row.get("kind") or not row.get("name"):
            report.error("missing_fields", "kind 与 name 不能为空", where=row.line)
            continue
        if len(row.get("name")) > 128 or len(row.get("address")) > 255 or len(row.get("kind")) > 32:
            report.error("too_long", "名称最多 128 字、地址最多 255 字、类型最多 32 字", where=row.line)
            continue
        position = read_lonlat(row, report, extent)
        if position is None:
            continue
        attributes = {k: v for k, v in row.fields.items() if k not in FIXED_COLUMNS and v}
        places.append(
            Place(
                owner=owner,
                kind=row.get("kind"),
                name=row.get("name"),
                address=row.get("address"),
                lon=position[0],
                lat=position[1],
                attributes=attributes,
                imported_at=now,
            )
        )
    report.counts.update(rows=len(rows), places=len(places))
    if not rows and report.ok:
        report.error("no_rows", "文件中没有场所")
    if dry_run or not report.ok:
        return report
    locator = current_locator(session)
    if locator is not None and places:
        for place, hits in zip(places, locator.locate_many([(p.lon, p.lat) for p in places]), strict=True):
            place.grid_code = hits[0].grid_code if hits else None
    session.execute(delete(Place).where(col(Place.owner) == owner))
    session.add_all(places)
    session.flush()
    return report


def _read(place: Place, distance: float | None = None) -> PlaceRead:
    return PlaceRead.model_validate(place, from_attributes=True).model_copy(update={"distance_m": distance})


def in_area(
    session: Session, *, area_code: str, kind: str | None = None, limit: int = 500
) -> list[PlaceRead]:
    """Places in a grid, community or street (by code prefix), optionally of one kind."""
    query = select(Place).where(col(Place.grid_code).startswith(area_code))
    if kind:
        query = query.where(Place.kind == kind)
    return [_read(p) for p in session.exec(query.order_by(col(Place.name)).limit(limit))]


def near(session: Session, *, lon: float, lat: float, radius_m: float, limit: int = 50) -> list[PlaceRead]:
    """Places within `radius_m` of a point, nearest first."""
    dlat = radius_m / 111_000
    dlon = dlat / max(math.cos(math.radians(lat)), 0.01)
    candidates = session.exec(
        select(Place).where(
            col(Place.lon).between(lon - dlon, lon + dlon), col(Place.lat).between(lat - dlat, lat + dlat)
        )
    )
    found = [(distance_m(lon, lat, p.lon, p.lat), p) for p in candidates]
    return [_read(p, round(d, 1)) for d, p in sorted(found, key=lambda x: x[0]) if d <= radius_m][:limit]
