"""Grid import against the current version: a file that moves the whole district (GCJ-02 coordinates from a
Chinese web map, BD-09, or any uniform shift) is refused unless the admin accepts the shift."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from redis import Redis
from shapely.geometry import mapping, shape
from shapely.geometry.polygon import orient
from sqlalchemy import func
from sqlmodel import Session, select

from dispatch.admin_cli import main as admin_main
from dispatch.grids.admin_views import router
from dispatch.grids.export import export_geojson
from dispatch.grids.importer import import_grid_file
from dispatch.grids.locator import current_version_id
from dispatch.grids.models import GridVersion
from dispatch.grids.shift import gcj02_to_bd09, wgs84_to_gcj02
from tests.test_base_files import app_with, bearer

Move = Callable[[np.ndarray], np.ndarray]  # (N, 2) lon/lat → (N, 2) lon/lat
SHIFT_KINDS = {"gcj02_shift", "bd09_shift", "gcj02_reversed", "uniform_shift"}
LAT0 = 40.075  # the demo district's middle latitude


def to_gcj02(xy: np.ndarray) -> np.ndarray:
    return np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1]))


def to_bd09(xy: np.ndarray) -> np.ndarray:
    gcj = to_gcj02(xy)
    return np.column_stack(gcj02_to_bd09(gcj[:, 0], gcj[:, 1]))


def north_west_300_m(xy: np.ndarray) -> np.ndarray:
    step_m = 300 / math.sqrt(2)
    d_lon = step_m / (111_320.0 * math.cos(math.radians(LAT0)))
    return xy + np.array([-d_lon, step_m / 110_540.0])


def moved(collection: dict[str, Any], move: Move) -> dict[str, Any]:
    """The collection with `move` applied to every coordinate of every feature."""
    features = []
    for feature in collection["features"]:
        geometry = shapely.transform(shape(feature["geometry"]), move)
        features.append({**feature, "geometry": mapping(geometry)})
    return {**collection, "features": features}


def merged_pairs(collection: dict[str, Any], pairs: int) -> dict[str, Any]:
    """A legitimate edit: in `pairs` communities, two neighbouring grids merged into the first one."""
    features = collection["features"]
    by_parent: dict[str, list[dict[str, Any]]] = {}
    for f in features:
        if f["properties"]["level"] == "grid":
            by_parent.setdefault(f["properties"]["parent_code"], []).append(f)
    dropped: set[str] = set()
    replaced: dict[str, dict[str, Any]] = {}
    for siblings in list(by_parent.values())[:: len(by_parent) // pairs][:pairs]:
        first = siblings[0]
        a = shape(first["geometry"])
        b_feature = next(
            f for f in siblings[1:] if a.intersection(shape(f["geometry"])).geom_type.endswith("LineString")
        )
        union = a.union(shape(b_feature["geometry"]))
        assert union.geom_type == "Polygon"
        replaced[first["properties"]["code"]] = {**first, "geometry": mapping(orient(union))}
        dropped.add(b_feature["properties"]["code"])
    kept = [
        replaced.get(f["properties"]["code"], f) for f in features if f["properties"]["code"] not in dropped
    ]
    assert len(kept) == len(features) - pairs
    return {**collection, "features": kept}


class DemoFiles:
    """The demo export and variants of it, written once per module (the demo is the same on every backend)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._demo: dict[str, Any] | None = None

    def path(self, session: Session, name: str, make: Callable[[dict[str, Any]], dict[str, Any]]) -> Path:
        target = self.folder / f"{name}.geojson"
        if not target.exists():
            if self._demo is None:
                out = io.StringIO()
                export_geojson(session, out)
                self._demo = json.loads(out.getvalue())
            target.write_text(json.dumps(make(self._demo), ensure_ascii=False), encoding="utf-8")
        return target

    def demo(self, session: Session) -> Path:
        return self.path(session, "demo", lambda c: c)

    def gcj02(self, session: Session) -> Path:
        return self.path(session, "gcj02", lambda c: moved(c, to_gcj02))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> DemoFiles:
    return DemoFiles(tmp_path_factory.mktemp("grid-shift"))


def versions(session: Session) -> int:
    return session.exec(select(func.count()).select_from(GridVersion)).one()


def shift_problems(report: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["severity"], p["kind"]) for p in report["problems"] if p["kind"] in SHIFT_KINDS]


def test_gcj02_formula_matches_a_published_reference_point() -> None:
    lon, lat = wgs84_to_gcj02(np.array([123.0, 183.0]), np.array([45.0, 45.0]))
    assert lon[0] == pytest.approx(123.00607541, abs=1e-7) and lat[0] == pytest.approx(45.00197815, abs=1e-7)
    assert (lon[1], lat[1]) == (183.0, 45.0)  # outside China: no offset


@pytest.mark.parametrize(
    ("name", "move", "kind", "cause"),
    [
        ("gcj02", to_gcj02, "gcj02_shift", "与 GCJ-02（火星坐标）偏移一致"),
        ("bd09", to_bd09, "bd09_shift", "与 BD-09（百度坐标）偏移一致"),
        ("nw300", north_west_300_m, "uniform_shift", "整体向西北平移约 300 米"),
    ],
    ids=["gcj02", "bd09", "uniform-300m"],
)
def test_cli_dry_run_refuses_a_shifted_district_naming_the_cause(
    session: Session,
    files: DemoFiles,
    capsys: pytest.CaptureFixture[str],
    name: str,
    move: Move,
    kind: str,
    cause: str,
) -> None:
    before = (versions(session), current_version_id(session))
    path = files.path(session, name, lambda c: moved(c, move))

    with pytest.raises(SystemExit) as exit_info:
        admin_main(["grids", "import", str(path), "--dry-run", "--quiet"])

    assert exit_info.value.code == 2
    out = capsys.readouterr().out
    errors = [line for line in out.splitlines() if line.startswith("错误")]
    assert len(errors) == 1, out  # the shapes themselves are fine: only the shift is wrong
    assert errors[0].startswith("错误 整个文件: 与当前网格版本") and f"({kind})" in errors[0]
    assert cause in errors[0] and "--accept-shift" in errors[0]
    assert "1830 个同编码区域中有 1830 个" in errors[0]
    if kind != "uniform_shift":
        assert "转换为 WGS-84 / CGCS2000" in errors[0]
    assert "不能导入，未写入任何数据" in out
    session.expire_all()
    assert (versions(session), current_version_id(session)) == before


def test_cli_accept_shift_imports_with_a_warning_and_shifting_back_is_caught(
    session: Session, files: DemoFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    gcj02, demo = files.gcj02(session), files.demo(session)
    old = current_version_id(session)

    admin_main(["grids", "import", str(gcj02), "--dry-run", "--accept-shift", "--quiet"])
    out = capsys.readouterr().out
    assert (
        "警告 整个文件: 与当前网格版本" in out and "(gcj02_shift)" in out and "已按 accept-shift 确认" in out
    )
    assert "可以导入" in out and "试运行" in out

    admin_main(["grids", "import", str(gcj02), "--accept-shift", "--label", "火星坐标", "--quiet"])
    assert "已导入为网格版本" in capsys.readouterr().out
    session.expire_all()
    shifted = current_version_id(session)
    assert shifted is not None and shifted != old

    # the current version is now GCJ-02: the correct file moves everything back by the same offset
    with pytest.raises(SystemExit) as exit_info:
        admin_main(["grids", "import", str(demo), "--quiet"])
    assert exit_info.value.code == 2
    out = capsys.readouterr().out
    assert f"与当前网格版本 {shifted} 相比" in out and "正好抵消 GCJ-02（火星坐标）偏移" in out
    assert "(gcj02_reversed)" in out
    session.expire_all()
    assert current_version_id(session) == shifted


def test_accept_shift_does_not_override_a_declared_gcj02_crs(session: Session, files: DemoFiles) -> None:
    declared = files.path(session, "gcj02-declared", lambda c: {"crs": "GCJ-02", **moved(c, to_gcj02)})
    result = import_grid_file(session, declared, label="declared", accept_shift=True)
    assert not result.report.ok and result.version_id is None
    kinds = {(p.severity.value, p.kind) for p in result.report.problems}
    assert kinds == {("error", "gcj02_refused"), ("warning", "gcj02_shift")}


@pytest.fixture
def api(database_url: str, redis_db: Redis) -> Iterator[TestClient]:
    with TestClient(app_with(router)) as client:
        yield client


def test_api_refuses_gcj02_upload_unless_accept_shift(
    api: TestClient, session: Session, files: DemoFiles
) -> None:
    admin = bearer(api, "admin")
    upload = {"file": ("gaode.geojson", files.gcj02(session).read_bytes())}
    listed = api.get("/api/admin/grids/versions", headers=admin).json()

    for query in ("?dry_run=true", ""):
        answer = api.post(f"/api/admin/grids/import{query}", headers=admin, files=upload)
        body = answer.json()
        assert answer.status_code == 200 and body["ok"] is False and body["version_id"] is None
        assert shift_problems(body) == [("error", "gcj02_shift")]
        error = next(p for p in body["problems"] if p["kind"] == "gcj02_shift")
        assert "GCJ-02（火星坐标）" in error["message"] and "accept_shift=true" in error["message"]
    assert api.get("/api/admin/grids/versions", headers=admin).json() == listed

    answer = api.post("/api/admin/grids/import?accept_shift=true", headers=admin, files=upload)
    body = answer.json()
    assert body["ok"] is True and body["version_id"] is not None, body
    assert shift_problems(body) == [("warning", "gcj02_shift")]
    current = [v["id"] for v in api.get("/api/admin/grids/versions", headers=admin).json() if v["current"]]
    assert current == [body["version_id"]]


def test_a_few_redrawn_grids_are_an_edit_not_a_shift(session: Session, files: DemoFiles) -> None:
    edited = files.path(session, "merged", lambda c: merged_pairs(c, 6))
    for path in (files.demo(session), edited):
        dry = import_grid_file(session, path, label=path.name, dry_run=True)
        assert dry.report.ok and dry.report.problems == [], list(dry.report.lines())

    result = import_grid_file(session, edited, label="合并 6 对网格")
    session.commit()
    assert result.version_id is not None and current_version_id(session) == result.version_id
    assert result.report.counts["grid"] == 1609 - 6

    # the same edit exported from a web map is still caught
    edited_gcj02 = files.path(session, "merged-gcj02", lambda c: moved(merged_pairs(c, 6), to_gcj02))
    shifted = import_grid_file(session, edited_gcj02, label="gcj", dry_run=True)
    assert [p.kind for p in shifted.report.errors] == ["gcj02_shift"]
