"""Gazetteer import: a whole CSV of address points validated line by line, then it replaces the old one."""

from __future__ import annotations

import math

from shapely.geometry import Point
from sqlmodel import Session, col, delete

from dispatch.catalog.tabular import Row, read_rows
from dispatch.config import get_settings
from dispatch.gazetteer.matcher import display_text
from dispatch.gazetteer.models import AddressKind, AddressPoint
from dispatch.gazetteer.normalize import normalize
from dispatch.grids.locator import current_locator
from dispatch.grids.report import Report
from dispatch.grids.service import district_extent

COLUMNS = ("kind", "road", "number", "compound", "building", "name", "aliases", "lon", "lat")
_NEEDS: dict[AddressKind, tuple[str, ...]] = {
    AddressKind.ROAD_NUMBER: ("road", "number"),
    AddressKind.COMPOUND: ("compound",),
    AddressKind.BUILDING: ("compound", "building"),
    AddressKind.LANDMARK: ("name",),
}


def import_addresses(session: Session, text: str, *, dry_run: bool = False) -> Report:
    """Validate every line; if all are valid and not dry_run, replace the gazetteer with them (flushes only).

    Coordinates must be WGS-84 lon/lat inside the district (GCJ-02 points land ~500 m off and are refused
    when that puts them outside; convert them at the source).
    """
    report = Report(unit="行")
    rows = read_rows(text, fmt="csv", required=("kind", "lon", "lat"), report=report)
    extent = district_extent(session, margin_deg=get_settings().district_margin_deg)
    seen: dict[tuple[str, str], int] = {}
    points: list[AddressPoint] = []
    for row in rows:
        point = _check(row, report, extent)
        if point is None:
            continue
        point.norm = normalize(point.text)
        key = (point.kind.value, point.norm)
        if key in seen:
            report.error(
                "duplicate_address", f"地址「{point.text}」重复：与第 {seen[key]} 行相同", where=row.line
            )
            continue
        seen[key] = row.line
        points.append(point)
    report.counts.update(rows=len(rows), points=len(points))
    for kind in AddressKind:
        report.counts[kind.value] = sum(1 for p in points if p.kind is kind)
    if not rows and report.ok:
        report.error("no_rows", "文件中没有地址")
    if dry_run or not report.ok:
        return report
    locator = current_locator(session)
    if locator is not None:
        for point, hits in zip(points, locator.locate_many([(p.lon, p.lat) for p in points]), strict=True):
            point.grid_code = hits[0].grid_code if hits else None
    session.execute(delete(AddressPoint).where(col(AddressPoint.id).is_not(None)))
    session.add_all(points)
    session.flush()
    return report


def _check(row: Row, report: Report, extent: object) -> AddressPoint | None:
    try:
        kind = AddressKind(row.get("kind"))
    except ValueError:
        choices = "/".join(k.value for k in AddressKind)
        report.error("bad_kind", f"类型「{row.get('kind')}」无效，应为 {choices}", where=row.line)
        return None
    missing = [f for f in _NEEDS[kind] if not row.get(f)]
    if missing:
        report.error("missing_fields", f"{kind.value} 需要填写 {', '.join(missing)}", where=row.line)
        return None
    if kind is AddressKind.ROAD_NUMBER and not row.get("number").isdigit():
        report.error("bad_number", f"门牌号「{row.get('number')}」应为数字", where=row.line)
        return None
    position = read_lonlat(row, report, extent)
    if position is None:
        return None
    lon, lat = position
    point = AddressPoint(
        kind=kind,
        road=row.get("road"),
        number=row.get("number"),
        compound=row.get("compound"),
        building=row.get("building"),
        name=row.get("name"),
        aliases=row.get("aliases"),
        text="",
        norm="",
        lon=lon,
        lat=lat,
    )
    point.text = display_text(point)
    return point


def read_lonlat(row: Row, report: Report, extent: object) -> tuple[float, float] | None:
    """The row's WGS-84 (lon, lat) if numeric, in range and inside the district; else None, reported."""
    try:
        lon, lat = float(row.get("lon")), float(row.get("lat"))
    except ValueError:
        report.error(
            "bad_coordinates", f"经纬度「{row.get('lon')}, {row.get('lat')}」不是数字", where=row.line
        )
        return None
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        report.error(
            "coordinates_out_of_range", f"坐标 ({lon}, {lat}) 超出 WGS-84 经纬度范围", where=row.line
        )
        return None
    if extent is not None and not extent.intersects(Point(lon, lat)):  # type: ignore[attr-defined]
        report.error(
            "outside_district", f"坐标 ({lon}, {lat}) 不在本区范围内（需 WGS-84 经纬度）", where=row.line
        )
        return None
    return lon, lat
