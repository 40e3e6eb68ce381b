"""Tests for the synthetic 平城区 demo geometry (dispatch.demo.geometry)."""

from __future__ import annotations

import math
import re
import time
from collections import defaultdict

import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon

from dispatch.demo.geometry import AreaSpec, generate_district

STREETS = [
    ("140213050", "永泰街道"),
    ("140213051", "古城街道"),
    ("140213052", "新旺街道"),
    ("140213053", "迎宾街道"),
    ("140213054", "振华街道"),
    ("140213055", "清远街道"),
    ("140213056", "武定街道"),
    ("140213057", "御河街道"),
    ("140213058", "开源街道"),
    ("140213059", "大庆路街道"),
    ("140213060", "马军营街道"),
    ("140213061", "卧虎湾街道"),
    ("140213062", "新华街道"),
    ("140213063", "鹿苑街道"),
    ("140213064", "白登山街道"),
    ("140213065", "文瀛湖街道"),
    ("140213066", "水泊寺街道"),
    ("140213067", "小南头街道"),
]
M2_PER_DEG2 = 111_320.0 * math.cos(math.radians(40.07)) * 110_540.0
LEVELS = ["district", "street", "community", "grid"]


@pytest.fixture(scope="module")
def areas() -> list[AreaSpec]:
    started = time.perf_counter()
    result = generate_district()
    print(f"generate_district: {time.perf_counter() - started:.2f} s, {len(result)} areas")
    return result


@pytest.fixture(scope="module")
def children(areas: list[AreaSpec]) -> dict[str, list[AreaSpec]]:
    by_parent: dict[str, list[AreaSpec]] = defaultdict(list)
    for area in areas:
        if area.parent_code is not None:
            by_parent[area.parent_code].append(area)
    return by_parent


def _level(areas: list[AreaSpec], level: str) -> list[AreaSpec]:
    return [a for a in areas if a.level == level]


def test_deterministic_for_a_seed(areas: list[AreaSpec]) -> None:
    again = generate_district()
    assert [a.code for a in again] == [a.code for a in areas]
    assert [a.name for a in again] == [a.name for a in areas]
    assert [a.polygon.wkb for a in again] == [a.polygon.wkb for a in areas]
    other = generate_district(seed=7)
    assert [a.polygon.wkb for a in other] != [a.polygon.wkb for a in areas]


def test_counts_and_real_streets(areas: list[AreaSpec]) -> None:
    (district,) = _level(areas, "district")
    assert (district.code, district.name, district.parent_code) == ("140213", "平城区", None)
    assert [(s.code, s.name) for s in _level(areas, "street")] == STREETS
    communities = _level(areas, "community")
    villages = [c for c in communities if c.kind == "村"]
    assert 150 <= len(communities) <= 260
    assert 30 <= len(villages) <= 70
    assert {c.kind for c in communities} == {"社区", "村"}
    assert all(c.name.endswith(c.kind) for c in communities)
    assert len({c.name for c in communities}) == len(communities)
    assert 1_000 <= len(_level(areas, "grid")) <= 2_000


def test_parents_come_before_children(areas: list[AreaSpec]) -> None:
    ranks = [LEVELS.index(a.level) for a in areas]
    assert ranks == sorted(ranks)
    seen: set[str] = set()
    for area in areas:
        assert area.parent_code is None or area.parent_code in seen
        seen.add(area.code)


def test_polygons_valid_single_ccw_and_rounded(areas: list[AreaSpec]) -> None:
    for area in areas:
        poly = area.polygon
        assert isinstance(poly, Polygon), area.code
        assert poly.is_valid and not poly.is_empty, area.code
        assert poly.exterior.is_ccw, area.code
        coords = shapely.get_coordinates(poly)
        assert np.array_equal(coords, np.round(coords, 7)), area.code


def test_district_in_real_frame(areas: list[AreaSpec]) -> None:
    minx, miny, maxx, maxy = areas[0].polygon.bounds
    assert 113.18 <= minx < maxx <= 113.32
    assert 40.02 <= miny < maxy <= 40.13


def test_code_format_and_uniqueness(areas: list[AreaSpec]) -> None:
    codes = [a.code for a in areas]
    assert len(set(codes)) == len(codes)
    lengths = {"district": 6, "street": 9, "community": 12, "grid": 15}
    for area in areas:
        assert re.fullmatch(r"\d+", area.code), area.code
        assert len(area.code) == lengths[area.level], area.code
        if area.parent_code is not None:
            assert area.code.startswith(area.parent_code), area.code
            assert area.code[len(area.parent_code) :] != "000", area.code
    for grid in _level(areas, "grid"):
        parent = next(c for c in _level(areas, "community") if c.code == grid.parent_code)
        assert grid.name.startswith(parent.name) and grid.name.endswith("网格")


def test_children_lie_within_parent(areas: list[AreaSpec], children: dict[str, list[AreaSpec]]) -> None:
    by_code = {a.code: a for a in areas}
    for parent_code, kids in children.items():
        fence = by_code[parent_code].polygon.buffer(1e-7)
        for kid in kids:
            assert kid.polygon.difference(fence).area < 1e-12, kid.code


def test_siblings_tile_their_parent(areas: list[AreaSpec], children: dict[str, list[AreaSpec]]) -> None:
    by_code = {a.code: a for a in areas}
    for parent_code, kids in children.items():
        parent = by_code[parent_code].polygon
        total = sum(k.polygon.area for k in kids)
        assert abs(total - parent.area) / parent.area < 1e-6, parent_code
        covered = shapely.union_all([k.polygon for k in kids])
        assert parent.difference(covered).area / parent.area < 1e-6, parent_code


def test_sibling_grids_do_not_overlap(areas: list[AreaSpec]) -> None:
    grids = _level(areas, "grid")
    polys = [g.polygon for g in grids]
    tree = shapely.STRtree(polys)
    left, right = tree.query(polys, predicate="intersects")
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        if i < j and grids[i].parent_code == grids[j].parent_code:
            assert polys[i].intersection(polys[j]).area <= 1e-10, (grids[i].code, grids[j].code)


def test_grid_areas_are_plausible(areas: list[AreaSpec]) -> None:
    hectares = sorted(g.polygon.area * M2_PER_DEG2 / 1e4 for g in _level(areas, "grid"))
    print(f"grid ha: min {hectares[0]:.2f} median {hectares[len(hectares) // 2]:.2f} max {hectares[-1]:.2f}")
    assert hectares[0] >= 0.5
    assert hectares[-1] <= 40.0
