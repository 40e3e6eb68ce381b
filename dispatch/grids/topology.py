"""Whole-family checks: children overlap each other, leave gaps, or stick out of their parent."""

from __future__ import annotations

import numpy as np
import shapely

from dispatch.grids.report import Report

M_PER_DEG_LAT = 110_540.0
M_PER_DEG_LON_EQUATOR = 111_320.0
_MAX_GAPS_LISTED = 5

Member = tuple[int, str, str | None]  # (feature number, code, GeoJSON text or None if refused)


def area_m2(geoms: np.ndarray) -> np.ndarray:
    """Areas of lon/lat geometries in square metres (local equirectangular; fine at grid scale)."""
    bounds = shapely.bounds(geoms).reshape(-1, 4)
    lat = (bounds[:, 1] + bounds[:, 3]) / 2  # NaN for empty geometries, whose area is 0 anyway
    scale = M_PER_DEG_LAT * M_PER_DEG_LON_EQUATOR * np.cos(np.radians(np.nan_to_num(lat)))
    return np.asarray(shapely.area(geoms) * scale)


def check_family(report: Report, parent: Member, children: list[Member], *, tolerance_m2: float) -> None:
    """Report overlaps between siblings, children outside the parent and gaps, each beyond tolerance_m2."""
    p_number, p_code, p_text = parent
    if not children:
        report.warning("no_children", "没有下级区域：落在此处的事件将找不到网格", where=p_number, code=p_code)
        return
    if p_text is None:
        return  # the parent's own geometry was refused and reported
    complete = all(text is not None for _, _, text in children)
    members: list[Member] = [(n, c, t) for n, c, t in children if t is not None]
    if not members:
        return
    parent_geom = shapely.from_geojson(p_text)
    kids = shapely.from_geojson(np.array([text for _, _, text in members], dtype=object))
    children = members
    _overlaps(report, children, kids, tolerance_m2)
    outside = area_m2(shapely.difference(kids, parent_geom))
    for i in np.flatnonzero(outside > tolerance_m2).tolist():
        number, code, _ = children[i]
        report.error(
            "outside_parent",
            f"有约 {outside[i]:.1f} m² 超出上级区域 {p_code}（第 {p_number} 要素）",
            where=number,
            code=code,
        )
    if not complete:
        return  # a refused child would show up as a gap: its own error says enough
    gaps = shapely.get_parts(shapely.difference(parent_geom, shapely.union_all(kids)))
    gap_areas = area_m2(gaps) if len(gaps) else np.array([])
    big = sorted(np.flatnonzero(gap_areas > tolerance_m2).tolist(), key=lambda k: -gap_areas[k])
    for k in big[:_MAX_GAPS_LISTED]:
        point = shapely.point_on_surface(gaps[k])
        report.error(
            "gap",
            f"下级区域之间有约 {gap_areas[k]:.1f} m² 未被覆盖（缝隙），"
            f"位于 ({point.x:.6f}, {point.y:.6f}) 附近",
            where=p_number,
            code=p_code,
        )
    if len(big) > _MAX_GAPS_LISTED:
        report.error("gap", f"另有 {len(big) - _MAX_GAPS_LISTED} 处缝隙", where=p_number, code=p_code)


def _overlaps(
    report: Report,
    children: list[tuple[int, str, str | None]],
    kids: np.ndarray,
    tolerance_m2: float,
) -> None:
    left, right = shapely.STRtree(kids).query(kids, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    if not len(left):
        return
    shared = area_m2(shapely.intersection(kids[left], kids[right]))
    for i, j, m2 in zip(left.tolist(), right.tolist(), shared.tolist(), strict=True):
        if m2 > tolerance_m2:
            (a_number, a_code, _), (b_number, b_code, _) = children[i], children[j]
            report.error(
                "overlap",
                f"与 {b_code}（第 {b_number} 要素）重叠约 {m2:.1f} m²",
                where=a_number,
                code=a_code,
            )
