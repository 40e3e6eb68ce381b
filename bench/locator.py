"""STRtree locator: point queries one at a time and in batches, on the demo district and on 100k grids.

Run: .venv/bin/python -m bench.locator
"""

from __future__ import annotations

import json
import random
import time

from shapely.geometry import box, mapping

from dispatch.demo.geometry import generate_district
from dispatch.grids.locator import GridLocator
from dispatch.grids.models import Area, AreaLevel


def _areas_from_demo() -> list[Area]:
    return [
        Area(
            version_id=1,
            code=s.code,
            name=s.name,
            level=AreaLevel(s.level),
            parent_code=s.parent_code,
            geometry=json.dumps(mapping(s.polygon)),
        )
        for s in generate_district()
    ]


def _lattice(n_side: int) -> list[Area]:
    step = 0.5 / n_side
    return [
        Area(
            version_id=1,
            code=f"G{i:04d}{j:04d}",
            name="",
            level=AreaLevel.GRID,
            parent_code=None,
            geometry=json.dumps(
                mapping(box(113 + i * step, 40 + j * step, 113 + (i + 1) * step, 40 + (j + 1) * step))
            ),
        )
        for i in range(n_side)
        for j in range(n_side)
    ]


def measure(
    label: str, areas: list[Area], bounds: tuple[float, float, float, float], n: int = 20_000
) -> None:
    started = time.perf_counter()
    locator = GridLocator(1, areas)
    build_s = time.perf_counter() - started
    rng = random.Random(1)
    points = [(rng.uniform(bounds[0], bounds[2]), rng.uniform(bounds[1], bounds[3])) for _ in range(n)]
    started = time.perf_counter()
    for lon, lat in points[:2000]:
        locator.locate(lon, lat)
    single_us = (time.perf_counter() - started) / 2000 * 1e6
    started = time.perf_counter()
    hits = locator.locate_many(points)
    batch_us = (time.perf_counter() - started) / n * 1e6
    found = sum(1 for h in hits if h) / n
    print(
        f"{label:<28} grids={len(locator):>7}  build={build_s:6.2f} s  "
        f"one-at-a-time={single_us:6.1f} µs/pt  batch={batch_us:5.2f} µs/pt  hit-rate={found:.0%}"
    )


def main() -> None:
    demo = _areas_from_demo()
    measure("demo district (平城区)", demo, (113.18, 40.02, 113.32, 40.13))
    measure("lattice 100k grids", _lattice(317), (113.0, 40.0, 113.5, 40.5))


if __name__ == "__main__":
    main()
