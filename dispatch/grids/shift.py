"""Whole-district shift check: a grid file whose areas all moved one way from the current version.

A file exported from a Chinese web map carries GCJ-02 (火星坐标) or BD-09 (百度) coordinates: every
boundary is some 500–1,000 m off, yet each shape is valid and the file declares no CRS. Real boundary
edits move a few areas, each its own way; so areas matched by code that mostly moved by nearly one
vector of more than MIN_SHIFT_M are reported, naming GCJ-02/BD-09 when the vector is their offset.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import shapely

from dispatch.grids.report import Report, Severity
from dispatch.grids.topology import M_PER_DEG_LAT, M_PER_DEG_LON_EQUATOR

MIN_MATCHED = 10  # fewer areas matched by code: a different partition, not a comparable file
MIN_SHIFT_M = 50.0  # a common move smaller than this is drawing noise, not a datum problem
UNIFORM_TOLERANCE_M = 20.0  # an area "moved the same way" when within this of the common vector …
UNIFORM_TOLERANCE_SHARE = 0.05  # … or within this share of the vector's length, whichever is larger
UNIFORM_SHARE = 0.5  # a majority of matched areas moving the same way is a shift of the whole file
ACCEPT_HINT = "如确属整体平移，可加 --accept-shift（API：accept_shift=true）后导入"

_GCJ_A = 6_378_245.0  # Krasovsky 1940 semi-major axis used by GCJ-02
_GCJ_EE = 0.006_693_421_622_965_943_23
_BD_X_PI = math.pi * 3000.0 / 180.0
_COMPASS = ("东", "东北", "北", "西北", "西", "西南", "南", "东南")
_CHUNK = 2000

Centroids = dict[str, tuple[float, float]]


def wgs84_to_gcj02(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 (火星坐标) of WGS-84 lon/lat, by the published formula; points outside China are unchanged."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    x, y = lon - 105.0, lat - 35.0
    d_lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    d_lon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    d_lat += common + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    d_lat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    d_lon += common + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    d_lon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    rad_lat = np.radians(lat)
    magic = 1.0 - _GCJ_EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = d_lat * 180.0 / ((_GCJ_A * (1.0 - _GCJ_EE)) / (magic * sqrt_magic) * np.pi)
    d_lon = d_lon * 180.0 / (_GCJ_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    outside = (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)
    return np.where(outside, lon, lon + d_lon), np.where(outside, lat, lat + d_lat)


def gcj02_to_bd09(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 (百度坐标) of GCJ-02 lon/lat, by the published formula."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    z = np.hypot(lon, lat) + 0.00002 * np.sin(lat * _BD_X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _BD_X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def centroids(rows: Iterable[tuple[str, str]]) -> Centroids:
    """Lon/lat centroid of each (code, GeoJSON geometry text), parsed in chunks (bounded memory)."""
    found: Centroids = {}
    chunk: list[tuple[str, str]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= _CHUNK:
            _add_centroids(found, chunk)
            chunk.clear()
    _add_centroids(found, chunk)
    return found


def _add_centroids(found: Centroids, chunk: list[tuple[str, str]]) -> None:
    if not chunk:
        return
    geoms = shapely.from_geojson(np.array([text for _, text in chunk], dtype=object))
    xy = shapely.get_coordinates(shapely.centroid(geoms))
    for (code, _), (x, y) in zip(chunk, xy.tolist(), strict=True):
        found[code] = (x, y)


@dataclass(frozen=True)
class Shift:
    """How the areas matched by code moved: the common vector (metres east/north) and who followed it."""

    matched: int
    east_m: float
    north_m: float
    uniform: int  # matched areas within tolerance of the common vector
    cause: str | None  # "gcj02", "bd09", "gcj02_reversed" when the move is that offset, else None

    @property
    def distance_m(self) -> float:
        return math.hypot(self.east_m, self.north_m)

    @property
    def direction(self) -> str:
        """The compass direction of the move, in Chinese (8 points)."""
        angle = math.degrees(math.atan2(self.north_m, self.east_m)) % 360
        return _COMPASS[round(angle / 45) % 8]


def measure_shift(current: Centroids, new: Centroids) -> Shift | None:
    """The common move of the new areas against the current ones of the same code, or None when there is
    no whole-file shift (too few matches, a small common move, or no majority moving the same way)."""
    codes = sorted(current.keys() & new.keys())
    if len(codes) < MIN_MATCHED:
        return None
    old = np.array([current[c] for c in codes])
    moved = _metres(old, np.array([new[c] for c in codes]))
    common = np.median(moved, axis=0)
    distance = float(np.hypot(*common))
    if distance <= MIN_SHIFT_M:
        return None
    tolerance = max(UNIFORM_TOLERANCE_M, UNIFORM_TOLERANCE_SHARE * distance)
    uniform = int(np.count_nonzero(np.hypot(*(moved - common).T) <= tolerance))
    cause = _offset_cause(old, moved)
    if cause is None and uniform < UNIFORM_SHARE * len(codes):
        return None
    return Shift(len(codes), float(common[0]), float(common[1]), uniform, cause)


def _metres(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """(east, north) metres from each old lon/lat to its new one (local equirectangular)."""
    lon_scale = M_PER_DEG_LON_EQUATOR * np.cos(np.radians(old[:, 1]))
    return np.column_stack(((new[:, 0] - old[:, 0]) * lon_scale, (new[:, 1] - old[:, 1]) * M_PER_DEG_LAT))


def _offset_cause(old: np.ndarray, moved: np.ndarray) -> str | None:
    """Which Chinese map offset of the current places the moves follow for a majority, if any."""
    gcj_lon, gcj_lat = wgs84_to_gcj02(old[:, 0], old[:, 1])
    bd_lon, bd_lat = gcj02_to_bd09(gcj_lon, gcj_lat)
    gcj = _metres(old, np.column_stack((gcj_lon, gcj_lat)))
    bd = _metres(old, np.column_stack((bd_lon, bd_lat)))
    candidates = {"gcj02": gcj, "bd09": bd, "gcj02_reversed": -gcj}
    best, best_share = None, UNIFORM_SHARE
    for cause, expected in candidates.items():
        if float(np.median(np.hypot(*expected.T))) <= MIN_SHIFT_M:
            continue  # outside China: no offset to recognise
        near = np.hypot(*(moved - expected).T) <= UNIFORM_TOLERANCE_M
        share = float(np.count_nonzero(near)) / len(moved)
        if share >= best_share:
            best, best_share = cause, share
    return best


def report_shift(report: Report, shift: Shift, *, version_id: int, accepted: bool) -> None:
    """Report the shift: an error naming its likely cause, or a warning when the admin accepted it."""
    moved = (
        f"与当前网格版本 {version_id} 相比，{shift.matched} 个同编码区域中有 {shift.uniform} 个"
        f"整体向{shift.direction}平移约 {shift.distance_m:.0f} 米"
    )
    if shift.cause == "gcj02":
        kind = "gcj02_shift"
        message = (
            f"{moved}，与 GCJ-02（火星坐标）偏移一致：文件很可能是从国内网络地图（高德、腾讯等）导出的"
            " GCJ-02 坐标，须先转换为 WGS-84 / CGCS2000 经纬度再导入"
        )
    elif shift.cause == "bd09":
        kind = "bd09_shift"
        message = (
            f"{moved}，与 BD-09（百度坐标）偏移一致：文件很可能是从百度地图导出的坐标，"
            "须先转换为 WGS-84 / CGCS2000 经纬度再导入"
        )
    elif shift.cause == "gcj02_reversed":
        kind = "gcj02_reversed"
        message = (
            f"{moved}，正好抵消 GCJ-02（火星坐标）偏移：可能是当前版本为 GCJ-02 坐标、新文件已改正，"
            "也可能是新文件被错误地做了反向转换；请核对来源坐标系"
        )
    else:
        kind = "uniform_shift"
        message = (
            f"{moved}：真实的边界调整只会移动少数网格，全区同向平移多半是坐标系或转换错误，请核对来源坐标系"
        )
    if accepted:
        report.add(Severity.WARNING, kind, f"{message}（已按 accept-shift 确认整体平移，照常导入）")
    else:
        report.add(Severity.ERROR, kind, f"{message}；{ACCEPT_HINT}")
