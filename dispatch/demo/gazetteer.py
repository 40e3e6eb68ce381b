"""The demo gazetteer of 平城区: synthetic roads with house numbers, compounds, buildings and landmarks.

Deterministic for a seed; labelled synthetic like the demo grids. Regenerate the shipped CSV with
`python -m dispatch.demo.gazetteer` (writes dispatch/demo/gazetteer.csv).
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from shapely.geometry import LineString, Point, Polygon

from dispatch.demo.geometry import M_PER_DEG_LAT, M_PER_DEG_LON, generate_district

CSV_PATH = Path(__file__).resolve().parent / "gazetteer.csv"
COLUMNS = ("kind", "road", "number", "compound", "building", "name", "aliases", "lon", "lat")
# North-south lines are split into 北路/南路 at the centre, east-west ones into 东街/西街.
NS_ROADS = ("御河", "新建", "魏都", "同泉", "云中", "文兴", "开源", "兴云")
EW_ROADS = ("大庆", "永泰", "迎宾", "振华", "清远", "武定", "古城", "恒安")
SPACING_M = 30.0  # between consecutive house numbers (odd on one side, even on the other)
LANDMARKS = (
    ("大同站", "火车站|大同火车站"),
    ("平城区人民政府", "区政府"),
    ("大同市第一人民医院", "市一院|一院"),
    ("大同市第三人民医院", "市三院|三院"),
    ("平城区第一中学", "平城一中|一中"),
    ("平城区实验小学", "实验小学"),
    ("文瀛湖公园", "文瀛湖"),
    ("御河生态园", "御河公园"),
    ("红旗农贸市场", "红旗市场"),
    ("华林农贸市场", "华林市场"),
    ("大同古城墙", "古城墙|城墙"),
    ("平城区图书馆", "图书馆"),
)
Row = dict[str, str]


def _fmt(value: float) -> str:
    return f"{value:.7f}"


def _houses(
    outline: Polygon, line: LineString, road_west_or_north: str, road_rest: str, centre: float, ns: bool
) -> Iterator[Row]:
    """House numbers along a line inside the district, numbered from the centre outward, odd/even sides."""
    inside = outline.intersection(line)
    if inside.is_empty:
        return
    length_m = line.length * (M_PER_DEG_LAT if ns else M_PER_DEG_LON)
    steps = int(length_m / SPACING_M)
    counters = {road_west_or_north: 0, road_rest: 0}
    offset = 12.0 / (M_PER_DEG_LON if ns else M_PER_DEG_LAT)  # 12 m off the centre line
    points: list[tuple[str, float, float]] = []
    for k in range(steps + 1):
        p = line.interpolate(k / steps, normalized=True)
        if not outline.contains(p):
            continue
        first_half = (p.y >= centre) if ns else (p.x < centre)
        road = road_west_or_north if first_half else road_rest
        points.append((road, p.x, p.y))
    # Numbers grow away from the centre on each half.
    for road in (road_west_or_north, road_rest):
        half = [pt for pt in points if pt[0] == road]
        half.sort(key=lambda pt: abs((pt[2] if ns else pt[1]) - centre))
        for _, x, y in half:
            counters[road] += 1
            n = counters[road]
            side = 1 if n % 2 else -1
            lon, lat = (x + side * offset, y) if ns else (x, y + side * offset)
            yield {"kind": "road_number", "road": road, "number": str(n), "lon": _fmt(lon), "lat": _fmt(lat)}


def generate_rows(seed: int = 20261128) -> list[Row]:
    """Every demo address row, in a stable order."""
    rng = random.Random(seed)
    specs = generate_district(seed)
    outline = specs[0].polygon
    minx, miny, maxx, maxy = outline.bounds
    cx, cy = outline.centroid.x, outline.centroid.y
    rows: list[Row] = []
    for k, name in enumerate(NS_ROADS):
        x = minx + (maxx - minx) * (k + 0.5) / len(NS_ROADS)
        line = LineString([(x, maxy), (x, miny)])
        rows.extend(_houses(outline, line, f"{name}北路", f"{name}南路", cy, ns=True))
    for k, name in enumerate(EW_ROADS):
        y = maxy - (maxy - miny) * (k + 0.5) / len(EW_ROADS)
        line = LineString([(minx, y), (maxx, y)])
        rows.extend(_houses(outline, line, f"{name}西街", f"{name}东街", cx, ns=False))
    for spec in specs:
        if spec.level != "community" or spec.kind != "社区":
            continue
        compound = spec.name.removesuffix("社区") + rng.choice(("小区", "花园", "家园", "苑"))
        centre = spec.polygon.representative_point()
        rows.append({"kind": "compound", "compound": compound, "lon": _fmt(centre.x), "lat": _fmt(centre.y)})
        for b in range(1, rng.randint(4, 12) + 1):
            angle = rng.uniform(0, 2 * math.pi)
            r_m = rng.uniform(20, 120)
            p = Point(
                centre.x + r_m * math.cos(angle) / M_PER_DEG_LON,
                centre.y + r_m * math.sin(angle) / M_PER_DEG_LAT,
            )
            if spec.polygon.contains(p):
                rows.append(
                    {
                        "kind": "building",
                        "compound": compound,
                        "building": str(b),
                        "lon": _fmt(p.x),
                        "lat": _fmt(p.y),
                    }
                )
    streets = [s for s in specs if s.level == "street"]
    for name, aliases in LANDMARKS:
        p = rng.choice(streets).polygon.representative_point()
        rows.append(
            {"kind": "landmark", "name": name, "aliases": aliases, "lon": _fmt(p.x), "lat": _fmt(p.y)}
        )
    for s in streets:
        p = s.polygon.representative_point()
        rows.append(
            {
                "kind": "landmark",
                "name": f"{s.name}办事处",
                "aliases": f"{s.name}办",
                "lon": _fmt(p.x),
                "lat": _fmt(p.y),
            }
        )
    return rows


def write_csv(out: TextIO, rows: list[Row]) -> None:
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row.get(c, "") for c in COLUMNS})


def main() -> None:
    rows = generate_rows()
    with CSV_PATH.open("w", encoding="utf-8", newline="") as out:
        write_csv(out, rows)
    print(f"wrote {len(rows)} address points to {CSV_PATH}")


if __name__ == "__main__":
    main()
