"""Address gazetteer: normalisation, matching realistic hotline address strings, and CSV import checks."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from redis import Redis
from sqlalchemy import func
from sqlmodel import Session, select

from dispatch.demo.gazetteer import CSV_PATH, generate_rows
from dispatch.gazetteer.importer import import_addresses
from dispatch.gazetteer.matcher import locate_address
from dispatch.gazetteer.models import AddressPoint
from dispatch.gazetteer.normalize import house_number, normalize
from dispatch.gazetteer.views import router
from tests.test_base_files import app_with, bearer


@pytest.fixture
def gazetteer(session: Session) -> Session:
    """The demo gazetteer, which the seeded template database already holds (seed_demo imports it)."""
    shipped = sum(1 for _ in CSV_PATH.read_text(encoding="utf-8").splitlines()) - 1
    assert session.exec(select(func.count()).select_from(AddressPoint)).one() == shipped
    return session


def demo_compound() -> tuple[str, str]:
    """A compound of the demo gazetteer with a building 3: (compound name, its 3号楼 text)."""
    rows = list(csv.DictReader(CSV_PATH.open(encoding="utf-8")))
    row = next(r for r in rows if r["kind"] == "building" and r["building"] == "3")
    return row["compound"], f"{row['compound']}3号楼"


def test_shipped_demo_file_is_what_the_generator_makes() -> None:
    rows = list(csv.DictReader(CSV_PATH.open(encoding="utf-8")))
    assert rows == [{k: r.get(k, "") for k in rows[0]} for r in generate_rows()]
    assert len(rows) > 5000


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("山西省大同市平城区御河北路１２号", "御河北路12号"),
        ("御河北路十二號附近", "御河北路12号"),
        ("御河北路 12 号 对面", "御河北路12号"),
        ("御河北路一百零五号", "御河北路105号"),
        ("御河北路12号院", "御河北路12号"),
        ("文馨苑小区3#楼", "文馨苑3号楼"),
        ("文馨苑三栋", "文馨苑3号楼"),
    ],
)
def test_normalize(text: str, normalized: str) -> None:
    assert normalize(text, drop=("平城区",)) == normalized


def test_house_number_with_and_without_road_suffix() -> None:
    assert house_number("御河北路12号") == house_number("御河北路12") is not None
    assert house_number("御河北12号") is not None and house_number("御河北12号").number == 12  # type: ignore[union-attr]
    assert house_number("文馨苑3号楼") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("御河北路12号", "御河北路12号"),
        ("山西省大同市平城区御河北路１２号", "御河北路12号"),  # full-width digits, administrative prefixes
        ("御河街道御河北路12号", "御河北路12号"),  # 街道 prefix
        ("平城区御河街道御河北路12號", "御河北路12号"),  # traditional 號
        ("御河北路十二号附近", "御河北路12号"),  # Chinese numerals, trailing noise
        ("御和北路12号", "御河北路12号"),  # typo in the road name
        ("御河北12号", "御河北路12号"),  # 路 left out
        ("永太西街5号", "永泰西街5号"),  # homophone typo
        ("迎宾东街 8 号", "迎宾东街8号"),  # spaces
        ("火车站", "大同站"),  # landmark alias
        ("大同火车站对面", "大同站"),
        ("市一院门口", "大同市第一人民医院"),
        ("古城墙", "大同古城墙"),
        ("御河街道办事处", "御河街道办事处"),  # the prefix itself is the place
    ],
)
def test_realistic_addresses_are_located(gazetteer: Session, text: str, expected: str) -> None:
    point, candidates = locate_address(gazetteer, text)
    assert point is not None, [(c.text, c.score) for c in candidates]
    assert point.text == expected
    assert point.grid_code is not None and len(point.grid_code) == 15


def test_building_with_hash_and_compound_with_suffix(gazetteer: Session) -> None:
    compound, building = demo_compound()
    point, _ = locate_address(gazetteer, f"{compound}小区3#楼")
    assert point is not None and point.text == building
    point, _ = locate_address(gazetteer, f"{compound}小区")
    assert point is not None and point.text == compound


def test_ambiguous_address_lists_candidates(gazetteer: Session) -> None:
    point, candidates = locate_address(gazetteer, "御河路12号")  # 北路 or 南路?
    assert point is None
    assert {"御河北路12号", "御河南路12号"} <= {c.text for c in candidates[:2]}


def test_missing_house_number_offers_the_nearest(gazetteer: Session) -> None:
    point, candidates = locate_address(gazetteer, "御河北路999号")
    assert point is None
    assert candidates[0].text.startswith("御河北路") and not candidates[0].exact


def test_nothing_similar(gazetteer: Session) -> None:
    assert locate_address(gazetteer, "XYZ") == (None, [])
    assert locate_address(gazetteer, "   ") == (None, [])


def test_import_reports_every_bad_line_and_writes_nothing(gazetteer: Session) -> None:
    before = gazetteer.exec(select(func.count()).select_from(AddressPoint)).one()
    text = "\n".join(
        [
            "kind,road,number,compound,building,name,aliases,lon,lat",
            "house,御河北路,1,,,,,113.25,40.07",  # 2: bad kind
            "road_number,御河北路,,,,,,113.25,40.07",  # 3: no number
            "road_number,御河北路,1,,,,,東經,40.07",  # 4: not a number
            "landmark,,,,,远方,,116.39,39.90",  # 5: outside the district (Beijing)
            "landmark,,,,,大同站,,113.25,40.07",  # 6: fine
            "landmark,,,,,大同站,,113.26,40.08",  # 7: repeats line 6
            "road_number,御河北路,十二,,,,,113.25,40.07",  # 8: number not digits
        ]
    )
    report = import_addresses(gazetteer, text)
    gazetteer.commit()
    found = sorted((p.where, p.kind) for p in report.errors)
    assert found == [
        (2, "bad_kind"),
        (3, "missing_fields"),
        (4, "bad_coordinates"),
        (5, "outside_district"),
        (7, "duplicate_address"),
        (8, "bad_number"),
    ]
    assert gazetteer.exec(select(func.count()).select_from(AddressPoint)).one() == before


def test_missing_column_is_one_error(session: Session) -> None:
    report = import_addresses(session, "kind,road,number\nroad_number,御河北路,1\n")
    assert [(p.kind, p.where) for p in report.errors] == [("missing_columns", 1)]


@pytest.fixture
def api(database_url: str, redis_db: Redis) -> Iterator[TestClient]:
    with TestClient(app_with(router)) as client:
        yield client


def test_locate_and_import_over_http(api: TestClient, tmp_path: Path) -> None:
    admin = bearer(api, "admin")
    body = CSV_PATH.read_bytes()
    dry = api.post("/api/admin/gazetteer/import?dry_run=true", headers=admin, files={"file": ("g.csv", body)})
    assert dry.status_code == 200 and dry.json()["ok"] and dry.json()["counts"]["points"] > 5000
    assert api.post("/api/admin/gazetteer/import", headers=admin, files={"file": ("g.csv", body)}).json()[
        "ok"
    ]

    hotline = bearer(api, "hotline")
    answer = api.get("/api/gazetteer/locate", params={"q": "御河北路１２号"}, headers=hotline).json()
    assert answer["point"]["text"] == "御河北路12号"
    assert answer["point"]["grid_name"] and answer["point"]["grid_name"].endswith(
        "网格"
    )  # named for the desk
    answer = api.get("/api/gazetteer/locate", params={"q": "御河路12号"}, headers=hotline).json()
    assert answer["point"] is None and len(answer["candidates"]) >= 2
    assert api.get("/api/gazetteer/locate", params={"q": "x"}, headers=bearer(api, "cg1")).status_code == 403
    gbk = api.post(
        "/api/admin/gazetteer/import", headers=admin, files={"file": ("g.csv", "kind,名称".encode("gbk"))}
    )
    assert gbk.status_code == 422 and gbk.json()["field"] == "file"
