"""Grid import of 100,000 generated grids: validation and import time, and peak memory.

Run: .venv/bin/python -m bench.grid_import [--grids-per-community 500] [--tracemalloc]
Uses a fresh SQLite database in a temporary folder unless DATABASE_URL is set (then it must be an
empty, migrated database). Peak memory is the process's peak RSS (ru_maxrss), and with --tracemalloc
the peak of Python allocations during each stage (slower).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

LON0, LAT0, COLS, ROWS = 113.18, 40.02, 400, 250  # 400 × 250 = 100,000 grid cells
D_LON, D_LAT = 0.14 / COLS, 0.11 / ROWS
STREETS, COMMUNITIES_PER_STREET = 20, 10  # street: 20 columns; community: 20 columns × 25 rows


def _x(i: int) -> float:
    return round(LON0 + i * D_LON, 7)


def _y(j: int) -> float:
    return round(LAT0 + j * D_LAT, 7)


def _box(i0: int, j0: int, i1: int, j1: int) -> dict[str, Any]:
    w, s, e, n = _x(i0), _y(j0), _x(i1), _y(j1)
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


def _feature(code: str, level: str, parent: str | None, geometry: dict[str, Any]) -> str:
    props = {"code": code, "name": f"{level}{code}", "level": level, "parent_code": parent}
    return json.dumps({"type": "Feature", "properties": props, "geometry": geometry}, ensure_ascii=False)


def write_district(out: TextIO) -> int:
    """Write the generated district as a FeatureCollection, one feature at a time; returns the grid count."""
    cols_per_street = COLS // STREETS
    rows_per_community = ROWS // COMMUNITIES_PER_STREET
    out.write('{"type":"FeatureCollection","features":[\n')
    out.write(_feature("140213", "district", None, _box(0, 0, COLS, ROWS)))
    grids = 0
    for s in range(STREETS):
        street = f"140213{s + 50:03d}"
        i0 = s * cols_per_street
        out.write(",\n" + _feature(street, "street", "140213", _box(i0, 0, i0 + cols_per_street, ROWS)))
        for c in range(COMMUNITIES_PER_STREET):
            community = f"{street}{c + 1:03d}"
            j0 = c * rows_per_community
            box = _box(i0, j0, i0 + cols_per_street, j0 + rows_per_community)
            out.write(",\n" + _feature(community, "community", street, box))
            seq = 0
            for j in range(j0 + rows_per_community - 1, j0 - 1, -1):  # north → south
                for i in range(i0, i0 + cols_per_street):  # west → east
                    seq += 1
                    grids += 1
                    geometry = _box(i, j, i + 1, j + 1)
                    out.write(",\n" + _feature(f"{community}{seq:03d}", "grid", community, geometry))
    out.write("\n]}\n")
    return grids


def measure(label: str, fn: Callable[[], Any], *, trace: bool) -> Any:
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - started
    traced = ""
    if trace:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        traced = f"  python-peak={peak / 2**20:7.1f} MiB"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{label:<34} {elapsed:7.1f} s  peak-rss={rss:7.1f} MiB{traced}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tracemalloc", action="store_true")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-grid-import-"))
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{folder / 'bench.sqlite3'}")
    os.environ.setdefault("GRID_DATA_DIR", str(folder))

    from dispatch.admin_cli import StderrProgress
    from dispatch.db import new_session
    from dispatch.grids.importer import import_grid_file
    from dispatch.migrate import upgrade_to_head

    upgrade_to_head()
    path = folder / "district.geojson"
    with path.open("w", encoding="utf-8") as out:
        grids = measure("generate file", lambda: write_district(out), trace=False)
    print(f"file: {grids} grids, {path.stat().st_size / 2**20:.1f} MiB", flush=True)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"baseline peak-rss (interpreter + libraries) {baseline:.1f} MiB", flush=True)

    def validate() -> None:
        with new_session() as session:
            report = import_grid_file(
                session, path, label="bench", dry_run=True, progress=StderrProgress()
            ).report
            assert report.ok, list(report.lines())[:20]

    def load() -> int:
        with new_session() as session:
            result = import_grid_file(session, path, label="bench", progress=StderrProgress())
            session.commit()
            assert result.version_id is not None
            return result.version_id

    measure("validate (--dry-run)", validate, trace=args.tracemalloc)
    measure("validate + import + commit", load, trace=args.tracemalloc)


if __name__ == "__main__":
    main()
