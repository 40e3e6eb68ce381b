"""Places from other departments' registers: whole-file validation, attachment to grids, queries."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlmodel import Session, col, func, select

from dispatch.places.models import Place
from dispatch.places.service import import_register
from tests.helpers import grids_in, inside

Login = Callable[[str], dict[str, str]]


def csv_text(*rows: str) -> str:
    return "kind,name,address,lon,lat,licence\n" + "\n".join(rows) + "\n"


def test_register_replaces_only_its_own_places(session: Session) -> None:
    grid = grids_in("140213050")[0]
    lon, lat = inside(grid)
    before_other = session.exec(select(func.count()).select_from(Place).where(Place.owner == "民政")).one()
    report = import_register(
        session, csv_text(f"business,测试餐馆,永泰街道1号,{lon},{lat},食品经营许可"), owner="市场监管"
    )
    session.commit()
    assert report.ok
    places = session.exec(select(Place).where(Place.owner == "市场监管")).all()
    assert [(p.name, p.grid_code, p.attributes) for p in places] == [
        ("测试餐馆", grid.code, {"licence": "食品经营许可"})
    ]
    assert (
        session.exec(select(func.count()).select_from(Place).where(Place.owner == "民政")).one()
        == before_other
        > 0
    )


def test_a_bad_file_reports_every_line_and_writes_nothing(session: Session) -> None:
    lon, lat = inside(grids_in("140213050")[0])
    before = session.exec(select(func.count()).select_from(Place)).one()
    report = import_register(
        session,
        csv_text(
            f"business,好餐馆,,{lon},{lat},",
            "business,坏坐标,,abc,40.07,",
            f"business,,,{lon},{lat},",
            "business,北京的店,,116.40,39.90,",
        ),
        owner="市场监管",
    )
    assert not report.ok
    assert [(p.where, p.kind) for p in report.errors] == [
        (3, "bad_coordinates"),
        (4, "missing_fields"),
        (5, "outside_district"),
    ]
    session.rollback()
    assert session.exec(select(func.count()).select_from(Place)).one() == before


def test_places_by_area_and_near_a_ticket(client: TestClient, login: Login, run_worker) -> None:  # type: ignore[no-untyped-def]
    from tests.workflow_helpers import Desk

    desk = Desk(client, login)
    ticket = desk.patrol("06027")  # 油烟污染: the restaurants nearby matter
    run_worker()
    grid = grids_in("140213050")[0]
    in_grid = client.get(
        "/api/places", params={"area_code": grid.code}, headers=desk.headers("dispatcher")
    ).json()
    in_street = client.get(
        "/api/places", params={"area_code": "140213050"}, headers=desk.headers("dispatcher")
    ).json()
    assert all(p["grid_code"] == grid.code for p in in_grid)
    assert len(in_street) >= len(in_grid) and all(p["grid_code"].startswith("140213050") for p in in_street)
    near = client.get(
        f"/api/tickets/{ticket}/nearby-places", params={"radius_m": 2000}, headers=desk.headers("cg1")
    ).json()
    distances = [p["distance_m"] for p in near]
    assert distances == sorted(distances) and all(d <= 2000 for d in distances)
    assert client.get(f"/api/tickets/{ticket}/nearby-places", headers=desk.headers("ga1")).status_code == 404
    assert (
        client.get("/api/places", params={"area_code": "x"}, headers=desk.headers("dispatcher")).status_code
        == 422
    )


def test_demo_registers_are_seeded_with_grids(session: Session) -> None:
    owners = dict(session.exec(select(Place.owner, func.count()).group_by(col(Place.owner))).all())
    assert set(owners) == {"市场监管", "民政", "教育", "住建", "卫健"}
    assert (
        session.exec(select(func.count()).select_from(Place).where(col(Place.grid_code).is_(None))).one() == 0
    )
