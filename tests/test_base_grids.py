"""Grid import/export: every validation error with a crafted file, all-or-nothing, exact round trip."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from dispatch import clock
from dispatch.grids.export import export_geojson
from dispatch.grids.importer import GridImport, import_grid_file
from dispatch.grids.locator import current_version_id
from dispatch.grids.models import Area, GridVersion
from tests.test_base_files import MID, E, N, S, W, box, feature, tiny_district, write


def export_text(session: Session, version_id: int | None = None) -> str:
    out = io.StringIO()
    export_geojson(session, out, version_id=version_id)
    return out.getvalue()


def run(session: Session, path: Path, **kwargs: Any) -> GridImport:
    return import_grid_file(session, path, label=kwargs.pop("label", path.name), **kwargs)


def versions(session: Session) -> int:
    return session.exec(select(func.count()).select_from(GridVersion)).one()


def problems(result: GridImport, kind: str) -> list[tuple[int | None, str | None]]:
    return [(p.where, p.code) for p in result.report.problems if p.kind == kind]


def test_export_import_export_is_identical(session: Session, tmp_path: Path) -> None:
    first = export_text(session)
    path = tmp_path / "demo.geojson"
    path.write_text(first, encoding="utf-8")

    result = run(session, path)
    session.commit()

    assert result.report.ok and result.report.problems == [], list(result.report.lines())
    assert result.report.counts == {
        "features": 1830,
        "district": 1,
        "street": 18,
        "community": 202,
        "grid": 1609,
    }
    assert result.version_id is not None and current_version_id(session) == result.version_id
    assert export_text(session, result.version_id) == first
    assert '"duty_officer":"wgy0001"' in first  # officers travel by login name


def test_dry_run_reports_and_writes_nothing(session: Session, tmp_path: Path) -> None:
    before = versions(session)
    result = run(session, write(tmp_path / "ok.geojson", tiny_district()), dry_run=True)
    session.commit()
    assert result.report.ok and result.version_id is None
    assert versions(session) == before


def test_import_creates_a_version_that_routing_locates_in(session: Session, tmp_path: Path) -> None:
    old = current_version_id(session)
    result = run(session, write(tmp_path / "ok.geojson", tiny_district(duty_officer="wgy0002")))
    session.commit()
    assert result.version_id is not None and result.version_id != old
    assert current_version_id(session) == result.version_id
    grids = session.exec(select(Area).where(Area.version_id == result.version_id, Area.level == "grid")).all()
    assert sorted(g.code for g in grids) == ["140213050001001", "140213050001002"]
    assert all(g.duty_officer_id is not None for g in grids)  # one officer may hold several grids


def test_future_effective_time_switches_routing_only_when_it_comes(session: Session, tmp_path: Path) -> None:
    old = current_version_id(session)
    start = clock.now() + timedelta(days=3)
    result = run(session, write(tmp_path / "ok.geojson", tiny_district()), effective_at=start)
    session.commit()
    assert current_version_id(session) == old
    clock.set_clock(lambda: start + timedelta(seconds=1))
    assert current_version_id(session) == result.version_id


@pytest.mark.parametrize(
    ("kind", "where", "mutate"),
    [
        # A bow-tie: the ring crosses itself.
        (
            "self_intersection",
            4,
            lambda f: f[3]["geometry"].update(coordinates=[[[W, S], [MID, N], [MID, S], [W, N], [W, S]]]),
        ),
        ("unclosed_ring", 5, lambda f: f[4]["geometry"]["coordinates"][0].pop()),
        ("too_few_points", 5, lambda f: f[4]["geometry"].update(coordinates=[[[MID, S], [E, S], [MID, S]]])),
        ("bad_geometry_type", 4, lambda f: f[3]["geometry"].update(type="Point", coordinates=[W, S])),
        ("bad_code_format", 5, lambda f: f[4]["properties"].update(code="14021305000100X")),
        ("bad_code_format", 4, lambda f: f[3]["properties"].update(code="140213050001000")),
        ("code_parent_mismatch", 5, lambda f: f[4]["properties"].update(code="140213050002002")),
        ("bad_level", 4, lambda f: f[3]["properties"].update(level="楼栋")),
        ("missing_code", 4, lambda f: f[3]["properties"].pop("code")),
        ("wrong_district", 1, lambda f: f[0]["properties"].update(code="110101")),
        (
            "coordinates_out_of_range",
            5,
            lambda f: f[4]["geometry"].update(
                coordinates=[[[40.05, 113.2], [40.05, 113.3], [40.06, 113.3], [40.05, 113.2]]]
            ),
        ),
        ("unknown_officer", None, lambda f: f[3]["properties"].update(duty_officer="nobody")),
        ("officer_not_grid_officer", None, lambda f: f[3]["properties"].update(duty_officer="dispatcher")),
    ],
)
def test_each_feature_error_is_reported_with_its_number_and_blocks_the_import(
    session: Session, tmp_path: Path, kind: str, where: int | None, mutate: Any
) -> None:
    features = tiny_district()
    mutate(features)
    before = versions(session)
    result = run(session, write(tmp_path / "bad.geojson", features))
    session.commit()
    assert not result.report.ok and result.version_id is None
    assert kind in result.report.kinds(), list(result.report.lines())
    assert where in [w for w, _ in problems(result, kind)]
    assert versions(session) == before


def test_duplicate_and_missing_parent_codes(session: Session, tmp_path: Path) -> None:
    features = tiny_district()
    features[4]["properties"]["code"] = "140213050001001"  # repeats feature 4
    features.append(feature("140213050009001", "grid", box(W, S, MID, N), parent="140213050009"))
    result = run(session, write(tmp_path / "bad.geojson", features))
    assert problems(result, "duplicate_code") == [(5, "140213050001001")]
    assert problems(result, "missing_parent") == [(6, "140213050009001")]


def test_overlap_gap_and_outside_parent_beyond_tolerance(session: Session, tmp_path: Path) -> None:
    features = tiny_district()
    # Grid 001 reaches 0.0005° (~43 m) into grid 002: an overlap of ~43 m × 1.1 km.
    features[3]["geometry"]["coordinates"] = [box(W, S, MID + 0.0005, N)]
    result = run(session, write(tmp_path / "overlap.geojson", features))
    assert problems(result, "overlap") == [(4, "140213050001001")]
    overlap = next(p for p in result.report.problems if p.kind == "overlap")
    assert "140213050001002" in overlap.message and "m²" in overlap.message

    features = tiny_district()
    features[3]["geometry"]["coordinates"] = [box(W, S, MID - 0.0005, N)]  # a strip nobody covers
    result = run(session, write(tmp_path / "gap.geojson", features))
    assert problems(result, "gap") == [(3, "140213050001")]

    features = tiny_district()
    features[4]["geometry"]["coordinates"] = [box(MID, S, E + 0.001, N)]  # sticks out east
    result = run(session, write(tmp_path / "outside.geojson", features))
    assert (5, "140213050001002") in problems(result, "outside_parent")


def test_slivers_within_tolerance_pass(session: Session, tmp_path: Path) -> None:
    features = tiny_district()
    features[3]["geometry"]["coordinates"] = [box(W, S, MID + 1e-8, N)]  # ~1 mm × 1.1 km ≈ 1 m²
    assert run(session, write(tmp_path / "a.geojson", features), tolerance_m2=5.0).report.ok
    assert not run(session, write(tmp_path / "b.geojson", features), tolerance_m2=0.1).report.ok


def test_wrong_winding_is_a_warning_and_fixed(session: Session, tmp_path: Path) -> None:
    features = tiny_district()
    features[3]["geometry"]["coordinates"] = [box(W, S, MID, N)[::-1]]  # clockwise shell
    result = run(session, write(tmp_path / "cw.geojson", features))
    session.commit()
    assert result.report.ok and problems(result, "winding_fixed") == [(4, "140213050001001")]
    grid = session.exec(
        select(Area).where(Area.version_id == result.version_id, Area.code == "140213050001001")
    ).one()
    ccw = "[[113.2,40.05],[113.205,40.05],[113.205,40.06],[113.2,40.06],[113.2,40.05]]"
    assert grid.geometry == '{"type":"Polygon","coordinates":[' + ccw + "]}"


@pytest.mark.parametrize(
    ("top", "kind"),
    [
        ({"crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}}}, "crs_not_wgs84"),
        ({"crs": {"type": "name", "properties": {"name": "EPSG:4547"}}}, "crs_not_wgs84"),
        ({"crs": {"type": "name", "properties": {"name": "GCJ-02"}}}, "gcj02_refused"),
        ({"coordinate_system": "gcj02"}, "gcj02_refused"),
        ({"properties": {"坐标系": "火星坐标"}}, "gcj02_refused"),
    ],
)
def test_declared_non_wgs84_crs_is_refused(
    session: Session, tmp_path: Path, top: dict[str, Any], kind: str
) -> None:
    result = run(session, write(tmp_path / "crs.geojson", tiny_district(), **top))
    assert not result.report.ok and kind in result.report.kinds()
    message = next(p.message for p in result.report.problems if p.kind == kind)
    assert "WGS-84" in message


def test_declared_wgs84_is_accepted(session: Session, tmp_path: Path) -> None:
    crs = {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}
    assert run(session, write(tmp_path / "ok.geojson", tiny_district(), crs=crs)).report.ok


def test_projected_coordinates_without_declaration_are_refused(session: Session, tmp_path: Path) -> None:
    features = tiny_district()
    features[1]["geometry"]["coordinates"] = [box(12_600_000, 4_870_000, 12_601_000, 4_871_000)]  # metres
    result = run(session, write(tmp_path / "m.geojson", features))
    assert problems(result, "coordinates_out_of_range") == [(2, "140213050")]
    assert "投影" in result.report.problems[0].message


def test_malformed_json_is_one_clear_error(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "broken.geojson"
    path.write_text('{"type":"FeatureCollection","features":[{"type":"Feature",', encoding="utf-8")
    result = run(session, path)
    assert [p.kind for p in result.report.errors] == ["malformed_json"]
    assert "JSON" in result.report.errors[0].message


def test_not_a_feature_collection(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "feature.geojson"
    path.write_text('{"type":"Feature","properties":{},"geometry":null}', encoding="utf-8")
    result = run(session, path)
    assert {"not_feature_collection", "no_features"} <= result.report.kinds()
