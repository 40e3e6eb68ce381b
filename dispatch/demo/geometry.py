"""Synthetic demo geometry of 平城区 (140213): district, 街道, 社区/村 and 单元网格.

The shapes are synthetic (Voronoi cells cut by a square lattice) but the frame is real: WGS-84
lon/lat inside 113.18–113.32 E / 40.02–40.13 N, with the 18 real 街道 names and codes. All levels
are cut from one snap-rounded planar subdivision on a 1e-7 degree grid, so each level tiles its
parent exactly and every coordinate is already rounded to 7 decimals.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass, replace
from itertools import product

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import LineString, MultiPoint, Point, Polygon
from shapely.geometry.polygon import orient

DISTRICT_CODE = "140213"
DISTRICT_NAME = "平城区"
STREETS: tuple[tuple[str, str], ...] = (  # real 街道 codes and names, in code order
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
)
GRID_DEG = 1e-7  # coordinate precision: 7 decimals
LAT0_DEG = 40.07
M_PER_DEG_LAT = 110_540.0
M_PER_DEG_LON = 111_320.0 * math.cos(math.radians(LAT0_DEG))
X_STRETCH = M_PER_DEG_LON / M_PER_DEG_LAT  # lon scale that makes degree space isotropic
CELL_M = 350.0  # lattice cell side of the 单元网格
MIN_GRID_HA = 0.5  # smaller lattice pieces are merged into a neighbouring grid
CENTRE = (113.25, 40.075)
OUTER_STREETS = 8  # streets farthest from the centre hold the 村
VILLAGES_PER_OUTER_STREET = 6
_SQ_FIRST = "安和康泰福兴华平宁祥瑞丰景春明光阳云文锦育德惠佳乐盛嘉欣富"
_SQ_SECOND = "园苑里坊府城庭泉源馨桥门湾居"
_VIL_FIRST = "王李张刘赵孙马高郭杨周吴韩段任宋贾侯薛白曹魏田霍"
_VIL_SECOND = "庄堡营屯窑寨店湾庙坊"


@dataclass(frozen=True)
class AreaSpec:
    """One area of the demo hierarchy; ``polygon`` is a valid, CCW, 7-decimal WGS-84 Polygon."""

    code: str  # "140213" | "140213050" | "140213050001" | "140213050001001"
    name: str  # Chinese
    level: str  # "district" | "street" | "community" | "grid"
    parent_code: str | None
    polygon: Polygon
    kind: str = ""  # for communities: "社区" or "村"; else ""


def area_ha(polygon: Polygon) -> float:
    """Return the approximate area of a lon/lat polygon in hectares (local equirectangular)."""
    return float(polygon.area) * M_PER_DEG_LON * M_PER_DEG_LAT / 1e4


def _iso_dist(a: Point, b: Point) -> float:
    """Return the distance between two lon/lat points in latitude degrees (isotropic)."""
    return math.hypot((a.x - b.x) * X_STRETCH, a.y - b.y)


def _outline(rng: random.Random) -> Polygon:
    """Return a convex, slightly irregular district outline inside the real frame."""
    pts = []
    for i in range(12):
        angle = 2 * math.pi * (i + rng.uniform(-0.3, 0.3)) / 12
        r = rng.uniform(0.92, 1.0)
        pts.append((CENTRE[0] + 0.068 * r * math.cos(angle), CENTRE[1] + 0.053 * r * math.sin(angle)))
    hull = MultiPoint(pts).convex_hull
    assert isinstance(hull, Polygon)
    return hull


def _scatter(rng: random.Random, poly: Polygon, n: int) -> list[Point]:
    """Return n seeded points inside poly, spread out by a (relaxing) minimum distance."""
    minx, miny, maxx, maxy = poly.bounds
    spacing = 0.6 * math.sqrt(poly.area * X_STRETCH / n)
    pts: list[Point] = []
    tries = 0
    while len(pts) < n:
        tries += 1
        if tries % 400 == 0:
            spacing *= 0.9
        p = Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
        if poly.contains(p) and all(_iso_dist(p, q) >= spacing for q in pts):
            pts.append(p)
    return pts


def _voronoi(points: list[Point], parent: Polygon) -> list[Polygon]:
    """Return the (isotropic) Voronoi cells of points clipped to convex parent, in point order."""
    stretch = {"xfact": X_STRETCH, "yfact": 1.0, "origin": (0.0, 0.0)}
    back = {"xfact": 1 / X_STRETCH, "yfact": 1.0, "origin": (0.0, 0.0)}
    cells = shapely.voronoi_polygons(
        affinity.scale(MultiPoint(points), **stretch),
        extend_to=affinity.scale(parent, **stretch).envelope.buffer(0.01),
        ordered=True,
    )
    return [parent.intersection(affinity.scale(c, **back)) for c in cells.geoms]


def _reading_order(polys: list[Polygon], row_deg: float) -> list[int]:
    """Return indices of polys sorted north→south by row band, then west→east."""
    cents = [p.centroid for p in polys]
    return sorted(
        range(len(polys)), key=lambda i: (-math.floor(cents[i].y / row_deg), cents[i].x, cents[i].y)
    )


def _names(rng: random.Random, first: str, second: str, suffix: str) -> list[str]:
    """Return a seeded shuffle of all distinct two-character names plus suffix."""
    names = sorted({a + b + suffix for a, b in product(first, second) if a != b})
    rng.shuffle(names)
    return names


def _finish(geom: shapely.Geometry) -> Polygon:
    """Return geom as a valid, CCW Polygon with 7-decimal coordinates, or raise ValueError."""
    geom = shapely.transform(geom, lambda xy: np.round(xy, 7))
    if not isinstance(geom, Polygon) or geom.is_empty or not geom.is_valid:
        raise ValueError(f"demo geometry is not a single valid polygon: {geom.geom_type}")
    return orient(geom, 1.0)


def _merge_small(pieces: list[Polygon]) -> list[Polygon]:
    """Return pieces with each one under MIN_GRID_HA unioned into the edge-sharing neighbour with the
    longest common boundary whose union is a single Polygon (kept as is if there is none)."""
    out: list[Polygon | None] = list(pieces)
    for i in sorted(range(len(pieces)), key=lambda k: pieces[k].area):
        small = out[i]
        if small is None or area_ha(small) >= MIN_GRID_HA:
            continue
        shared = [
            (small.boundary.intersection(b.boundary).length, j)
            for j, b in enumerate(out)
            if b is not None and j != i
        ]
        for length, j in sorted(shared, reverse=True):
            merged = shapely.union(small, out[j], grid_size=GRID_DEG)
            if length > 0 and isinstance(merged, Polygon):
                out[j], out[i] = merged, None
                break
    return [p for p in out if p is not None]


def _grid_pieces(outline: Polygon, streets: list[Polygon], comms: list[Polygon]) -> list[list[Polygon]]:
    """Return, per community, its lattice pieces: one snap-rounded subdivision tiling the outline."""
    minx, miny, maxx, maxy = outline.bounds
    cell_lon, cell_lat = CELL_M / M_PER_DEG_LON, CELL_M / M_PER_DEG_LAT
    lines = [outline.exterior, *(p.exterior for p in streets), *(p.exterior for p in comms)]
    for i in range(1, math.ceil((maxx - minx) / cell_lon)):
        x = minx + i * cell_lon
        lines.append(LineString([(x, miny - 0.01), (x, maxy + 0.01)]).intersection(outline))
    for i in range(1, math.ceil((maxy - miny) / cell_lat)):
        y = maxy - i * cell_lat
        lines.append(LineString([(minx - 0.01, y), (maxx + 0.01, y)]).intersection(outline))
    noded = shapely.unary_union([g for g in lines if not g.is_empty], grid_size=GRID_DEG)
    tree = shapely.STRtree(comms)
    groups: list[dict[tuple[int, int], list[Polygon]]] = [defaultdict(list) for _ in comms]
    for face in shapely.get_parts(shapely.polygonize(shapely.get_parts(noded))):
        rp = face.representative_point()
        hits = tree.query(rp, predicate="within")
        if len(hits) != 1:  # boundary doubt: pick the community holding most of the face
            hits = [max(tree.query(face), key=lambda k: face.intersection(comms[k]).area)]
        cell = (math.floor((maxy - rp.y) / cell_lat), math.floor((rp.x - minx) / cell_lon))
        groups[int(hits[0])][cell].append(face)
    return [
        [
            part
            for faces in cells.values()
            for part in shapely.get_parts(shapely.union_all(faces, grid_size=GRID_DEG))
        ]
        for cells in groups
    ]


def generate_district(seed: int = 20261128) -> list[AreaSpec]:
    """Return the demo district's areas, parents before children (district, streets, communities, grids), deterministic for a seed."""  # noqa: E501
    rng = random.Random(seed)
    outline = _outline(rng)
    centre = outline.centroid
    streets = _voronoi(_scatter(rng, outline, len(STREETS)), outline)
    streets = [streets[i] for i in _reading_order(streets, 0.03)]
    by_distance = sorted(range(len(streets)), key=lambda i: -_iso_dist(streets[i].centroid, centre))
    outer = set(by_distance[:OUTER_STREETS])
    sq_names = _names(rng, _SQ_FIRST, _SQ_SECOND, "社区")
    vil_names = _names(rng, _VIL_FIRST, _VIL_SECOND, "村")

    drafts: list[AreaSpec] = []  # communities with their unrounded Voronoi polygons
    for s, ((s_code, _), s_poly) in enumerate(zip(STREETS, streets, strict=True)):
        n_vil = VILLAGES_PER_OUTER_STREET if s in outer else 0
        n = n_vil + (rng.randint(2, 4) if s in outer else rng.randint(11, 15))
        cells = _voronoi(_scatter(rng, s_poly, n), s_poly)
        far = set(sorted(range(n), key=lambda j: -_iso_dist(cells[j].centroid, centre))[:n_vil])
        for seq, j in enumerate(_reading_order(cells, math.sqrt(s_poly.area / n)), 1):
            kind, name = ("村", vil_names.pop()) if j in far else ("社区", sq_names.pop())
            drafts.append(AreaSpec(f"{s_code}{seq:03d}", name, "community", s_code, cells[j], kind))

    grids: list[AreaSpec] = []
    communities: list[AreaSpec] = []
    row_deg, top = CELL_M / M_PER_DEG_LAT, outline.bounds[3]  # lattice rows, counted from the north
    for draft, raw in zip(drafts, _grid_pieces(outline, streets, [d.polygon for d in drafts]), strict=True):
        pieces = [_finish(p) for p in _merge_small(raw)]
        cents = [p.centroid for p in pieces]
        order = sorted(
            range(len(pieces)), key=lambda i: (math.floor((top - cents[i].y) / row_deg), cents[i].x)
        )
        for seq, i in enumerate(order, 1):
            code, name = f"{draft.code}{seq:03d}", f"{draft.name}第{seq}网格"
            grids.append(AreaSpec(code, name, "grid", draft.code, pieces[i]))
        polygon = _finish(shapely.union_all(pieces, grid_size=GRID_DEG))
        communities.append(replace(draft, polygon=polygon))

    street_specs: list[AreaSpec] = []
    for s_code, s_name in STREETS:
        parts = [c.polygon for c in communities if c.parent_code == s_code]
        polygon = _finish(shapely.union_all(parts, grid_size=GRID_DEG))
        street_specs.append(AreaSpec(s_code, s_name, "street", DISTRICT_CODE, polygon))
    district_poly = _finish(shapely.union_all([s.polygon for s in street_specs], grid_size=GRID_DEG))
    district = AreaSpec(DISTRICT_CODE, DISTRICT_NAME, "district", None, district_poly)
    return [district, *street_specs, *communities, *grids]
