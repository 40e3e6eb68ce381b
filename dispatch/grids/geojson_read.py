"""Streaming GeoJSON reading: the file's CRS declaration and each feature checked on its own.

The project stores WGS-84 longitude/latitude (RFC 7946, CRS84). A file that declares another CRS —
a projected one, or China's GCJ-02 / BD-09 offsets — is refused, never silently shifted.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import ijson  # type: ignore[import-untyped]
import shapely

from dispatch.grids.models import AreaLevel
from dispatch.grids.report import Report

WGS84 = "WGS-84 经纬度（EPSG:4326 / CRS84，经度在前）"
_WGS84_NAMES = {
    "urn:ogc:def:crs:ogc:1.3:crs84",
    "urn:ogc:def:crs:ogc::crs84",
    "crs84",
    "epsg:4326",
    "urn:ogc:def:crs:epsg::4326",
    "http://www.opengis.net/def/crs/ogc/1.3/crs84",
    "http://www.opengis.net/def/crs/epsg/0/4326",
    "wgs84",
    "wgs-84",
    "wgs 84",
}
_CGCS2000_NAMES = {"epsg:4490", "urn:ogc:def:crs:epsg::4490", "cgcs2000"}
_OFFSET_CRS = re.compile(r"gcj[-_ ]?0?2|火星|bd[-_ ]?0?9|百度", re.IGNORECASE)
_CRS_KEYS = {"crs", "srs", "coordinate_system", "coord_sys", "coordsys", "spatial_reference", "坐标系"}

LEVEL_ALIASES: dict[str, AreaLevel] = {
    "district": AreaLevel.DISTRICT,
    "区": AreaLevel.DISTRICT,
    "street": AreaLevel.STREET,
    "街道": AreaLevel.STREET,
    "community": AreaLevel.COMMUNITY,
    "社区": AreaLevel.COMMUNITY,
    "grid": AreaLevel.GRID,
    "网格": AreaLevel.GRID,
}
CODE_DIGITS: dict[AreaLevel, int] = {
    AreaLevel.DISTRICT: 6,
    AreaLevel.STREET: 9,
    AreaLevel.COMMUNITY: 12,
    AreaLevel.GRID: 15,
}
CODE_FORMAT = "区划代码 6 位 + 街道 3 位 + 社区 3 位 + 网格序号 3 位"


class MalformedGeoJSON(Exception):
    """The file is not parseable JSON (the message says where)."""


@dataclass(frozen=True)
class Header:
    """What the file says about itself outside its features."""

    root_type: str | None
    declarations: tuple[tuple[str, str], ...]  # (json path, string) of CRS-like declarations
    feature_count: int


@dataclass(frozen=True)
class FeatureRecord:
    """One feature whose properties passed; `geometry` is normalised GeoJSON text (CCW shells), or None
    when the geometry was refused (already reported)."""

    number: int
    code: str
    name: str
    level: AreaLevel
    parent_code: str | None
    kind: str
    duty_officer: str | None
    geometry: str | None


def scan_header(path: Path) -> Header:
    """Read the file once, keeping only what is outside the features (bounded memory) and counting them."""
    root_type: str | None = None
    declarations: list[tuple[str, str]] = []
    count = 0
    try:
        with path.open("rb") as f:
            for prefix, event, value in ijson.parse(f):
                if prefix.startswith("features"):
                    if prefix == "features.item" and event == "start_map":
                        count += 1
                    continue
                if event != "string":
                    continue
                if prefix == "type":
                    root_type = value
                elif _is_crs_path(prefix) or _OFFSET_CRS.search(value):
                    declarations.append((prefix, value))
    except ijson.JSONError as exc:
        raise MalformedGeoJSON(f"不是有效的 JSON：{exc}（已读到第 {count} 个要素）") from exc
    return Header(root_type, tuple(declarations), count)


def _is_crs_path(prefix: str) -> bool:
    return any(part in _CRS_KEYS for part in prefix.split("."))


def check_header(header: Header, report: Report) -> None:
    """Refuse files that are not a FeatureCollection or that declare a CRS other than WGS-84."""
    if header.root_type != "FeatureCollection":
        report.error(
            "not_feature_collection", f"顶层 type 必须是 FeatureCollection（实为 {header.root_type}）"
        )
    for path, value in header.declarations:
        name = value.strip().lower()
        if _OFFSET_CRS.search(value):
            report.error(
                "gcj02_refused",
                f"文件声明了偏移坐标系「{value}」（{path}）。GCJ-02/BD-09 是加密偏移坐标，"
                f"本系统存储 {WGS84}；"
                "请在来源系统导出 WGS-84 坐标后再导入（不做近似反算，以免网格边界偏移数米）",
            )
        elif path.endswith("type") and name in ("name", "link", "epsg"):
            continue  # the legacy "crs" object's own type member
        elif name in _CGCS2000_NAMES:
            report.warning(
                "cgcs2000_as_wgs84",
                f"文件声明 CGCS2000 地理坐标（{value}），与 WGS-84 相差厘米级，按 WGS-84 导入",
            )
        elif name not in _WGS84_NAMES:
            report.error(
                "crs_not_wgs84",
                f"文件声明的坐标系「{value}」（{path}）不是 WGS-84 经纬度，可能是投影坐标系；"
                f"本系统存储 {WGS84}，请先转换再导入",
            )


def iter_features(path: Path) -> Iterator[tuple[int, Any]]:
    """Each feature with its 1-based number, parsed one at a time (the file is never held in memory)."""
    number = 0
    try:
        with path.open("rb") as f:
            for number, raw in enumerate(ijson.items(f, "features.item", use_float=True), start=1):
                yield number, raw
    except ijson.JSONError as exc:
        raise MalformedGeoJSON(f"不是有效的 JSON：{exc}（在第 {number + 1} 个要素附近）") from exc


def check_feature(number: int, raw: Any, report: Report, *, district_code: str) -> FeatureRecord | None:
    """The feature as a record if its properties are acceptable (geometry None if that is not); else None.

    Every problem found is reported. A record with a bad geometry still takes part in the code checks.
    """
    if not isinstance(raw, dict) or raw.get("type") != "Feature":
        report.error("not_a_feature", "不是 GeoJSON Feature 对象", where=number)
        return None
    props = raw.get("properties")
    if not isinstance(props, dict):
        report.error("missing_properties", "缺少 properties", where=number)
        return None
    fields = _check_properties(number, props, report, district_code=district_code)
    geometry = _check_geometry(number, raw.get("geometry"), report, code=fields[0] if fields else None)
    if fields is None:
        return None
    code, name, level, parent_code, kind, officer = fields
    return FeatureRecord(number, code, name, level, parent_code, kind, officer, geometry)


_Fields = tuple[str, str, AreaLevel, str | None, str, str | None]


def _check_properties(
    number: int, props: dict[str, Any], report: Report, *, district_code: str
) -> _Fields | None:
    raw_code = props.get("code")
    code = str(raw_code) if isinstance(raw_code, str | int) and not isinstance(raw_code, bool) else ""
    level = LEVEL_ALIASES.get(str(props.get("level", "")).strip())
    name = props.get("name")
    ok = True
    if level is None:
        report.error(
            "bad_level",
            f"level「{props.get('level')}」无效，应为 district/street/community/grid",
            where=number,
            code=code or None,
        )
        ok = False
    if not isinstance(name, str) or not name.strip():
        report.error("missing_name", "缺少名称 name", where=number, code=code or None)
        ok = False
    if not code:
        report.error("missing_code", "缺少编码 code", where=number)
        return None
    parent = props.get("parent_code")
    parent_code = str(parent) if isinstance(parent, str | int) and not isinstance(parent, bool) else None
    if level is not None:
        digits = CODE_DIGITS[level]
        if not (code.isascii() and code.isdigit() and len(code) == digits) or (
            level is not AreaLevel.DISTRICT and code.endswith("000")
        ):
            report.error(
                "bad_code_format",
                f"编码「{code}」不符合{level.value}级格式：{digits} 位数字（{CODE_FORMAT}，序号不为 000）",
                where=number,
                code=code,
            )
            ok = False
        elif level is AreaLevel.DISTRICT:
            if code != district_code:
                report.error(
                    "wrong_district",
                    f"区划代码 {code} 与本系统配置的 {district_code}（GRID_DISTRICT_CODE）不一致",
                    where=number,
                    code=code,
                )
                ok = False
            if parent_code:
                report.error("district_has_parent", "区级要素不应有上级 parent_code", where=number, code=code)
                ok = False
        elif parent_code is None:
            parent_code = code[:-3]
        elif code[:-3] != parent_code:
            report.error(
                "code_parent_mismatch",
                f"编码「{code}」不以上级编码「{parent_code}」开头（{CODE_FORMAT}）",
                where=number,
                code=code,
            )
            ok = False
    officer = props.get("duty_officer")
    if officer is not None and not isinstance(officer, str):
        report.error("bad_duty_officer", "duty_officer 应为网格员登录名", where=number, code=code)
        ok = False
    kind = props.get("kind") or ""
    if not ok or level is None or not isinstance(name, str):
        return None
    return code, name.strip(), level, parent_code, str(kind), officer or None


def _check_geometry(number: int, geometry: Any, report: Report, *, code: str | None) -> str | None:
    if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        got = geometry.get("type") if isinstance(geometry, dict) else geometry
        report.error(
            "bad_geometry_type",
            f"几何类型应为 Polygon 或 MultiPolygon（实为 {got}）",
            where=number,
            code=code,
        )
        return None
    coords: Any = geometry.get("coordinates")
    polygons: Any = [coords] if geometry["type"] == "Polygon" else coords
    if not _well_formed(polygons):
        report.error(
            "bad_coordinates",
            "coordinates 结构不正确（应为 [经度, 纬度] 坐标组成的环）",
            where=number,
            code=code,
        )
        return None
    for polygon in polygons:
        for ring in polygon:
            for lon, lat, *_ in ring:
                if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                    hint = (
                        "经纬度顺序颠倒？GeoJSON 要求经度在前"
                        if -90 <= lon <= 90 and -180 <= lat <= 180
                        else "坐标像是投影坐标（米）"
                    )
                    report.error(
                        "coordinates_out_of_range",
                        f"坐标 ({lon}, {lat}) 超出经纬度范围：{hint}；本系统存储 {WGS84}",
                        where=number,
                        code=code,
                    )
                    return None
            if len(ring) < 4:
                report.error(
                    "too_few_points",
                    f"环只有 {len(ring)} 个坐标点（至少 4 个，首尾相同）",
                    where=number,
                    code=code,
                )
                return None
            if list(ring[0][:2]) != list(ring[-1][:2]):
                report.error(
                    "unclosed_ring",
                    f"环未闭合：首点 {ring[0][:2]} 与末点 {ring[-1][:2]} 不同",
                    where=number,
                    code=code,
                )
                return None
    fixed = [[_wound(ring, shell=(i == 0)) for i, ring in enumerate(polygon)] for polygon in polygons]
    if fixed != polygons:
        report.warning(
            "winding_fixed",
            "环的方向不符合 RFC 7946（外环应逆时针、内环顺时针），已自动纠正",
            where=number,
            code=code,
        )
    text = json.dumps(
        {"type": geometry["type"], "coordinates": fixed[0] if geometry["type"] == "Polygon" else fixed},
        separators=(",", ":"),
    )
    shape = shapely.from_geojson(text)
    reason = shapely.is_valid_reason(shape)
    if reason != "Valid Geometry":
        kind = "self_intersection" if "Self-intersection" in reason else "invalid_polygon"
        label = "多边形自相交" if kind == "self_intersection" else "多边形无效"
        report.error(kind, f"{label}：{reason}", where=number, code=code)
        return None
    if shape.area <= 0:
        report.error("empty_polygon", "多边形面积为 0", where=number, code=code)
        return None
    return text


def _well_formed(polygons: Any) -> bool:
    if not isinstance(polygons, list) or not polygons:
        return False
    for polygon in polygons:
        if not isinstance(polygon, list) or not polygon:
            return False
        for ring in polygon:
            if not isinstance(ring, list):
                return False
            for pos in ring:
                if not (isinstance(pos, list) and 2 <= len(pos) <= 3):
                    return False
                if not all(
                    isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in pos
                ):
                    return False
    return True


def _wound(ring: list[list[float]], *, shell: bool) -> list[list[float]]:
    """The ring counter-clockwise if it is a shell, clockwise if it is a hole (RFC 7946 §3.1.6)."""
    twice_area = sum(a[0] * b[1] - b[0] * a[1] for a, b in pairwise(ring))
    if (twice_area > 0) != shell:
        return ring[::-1]
    return ring
