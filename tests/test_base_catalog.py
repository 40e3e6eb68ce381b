"""Departments, categories and routing rules: CSV/YAML round trips, whole-file validation, admin CRUD."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from redis import Redis
from sqlalchemy import func
from sqlmodel import Session, select

from dispatch.admin_cli import main as admin_main
from dispatch.catalog.admin_views import router
from dispatch.catalog.io import export_catalog, import_catalog
from dispatch.catalog.models import Category, Department, RoutingRule
from tests.test_base_files import app_with, bearer


def count(session: Session, table: type) -> int:
    return session.exec(select(func.count()).select_from(table)).one()


@pytest.mark.parametrize("kind", ["departments", "categories", "rules"])
@pytest.mark.parametrize("fmt", ["csv", "yaml"])
def test_export_import_export_is_identical(session: Session, kind: str, fmt: str) -> None:
    first = export_catalog(session, kind, fmt=fmt)
    report = import_catalog(session, kind, first, fmt=fmt)
    session.commit()
    assert report.ok and report.errors == [], list(report.lines())
    assert export_catalog(session, kind, fmt=fmt) == first


def test_rule_file_problems_each_with_its_line_and_nothing_written(session: Session) -> None:
    rules_before = count(session, RoutingRule)
    text = "\n".join(
        [
            "category_code,area_code,department_code,note",
            "06010,140213,cg,",  # 2 ok
            "99999,140213,cg,",  # 3 unknown category
            "06010,140213999,cg,",  # 4 unknown area
            "06012,140213,nobody,",  # 5 unknown department
            "06010,140213,sthj,",  # 6 conflict with line 2
            "06010,140213,cg,again",  # 7 duplicate of line 2
        ]
    )
    report = import_catalog(session, "rules", text)
    session.commit()
    assert sorted((p.where, p.kind) for p in report.errors) == [
        (3, "unknown_category"),
        (4, "unknown_area"),
        (5, "unknown_department"),
        (6, "conflict"),
        (7, "duplicate"),
    ]
    conflict = next(p for p in report.errors if p.kind == "conflict")
    assert "第 2 行" in conflict.message and "cg" in conflict.message and "sthj" in conflict.message
    assert count(session, RoutingRule) == rules_before


def test_rules_import_replaces_the_rule_set(session: Session) -> None:
    report = import_catalog(session, "rules", "category_code,area_code,department_code\n06,140213,zj\n")
    session.commit()
    assert report.ok
    rules = session.exec(select(RoutingRule)).all()
    zj = session.exec(select(Department).where(Department.code == "zj")).one()
    assert [(r.category_code, r.area_code, r.department_id) for r in rules] == [("06", "140213", zj.id)]


def test_yaml_rules_report_yaml_line_numbers(session: Session) -> None:
    text = (
        "- category_code: '06010'\n  area_code: '140213'\n  department_code: cg\n"
        "- category_code: '06010'\n  area_code: '140213'\n  department_code: ga\n"
    )
    report = import_catalog(session, "rules", text, fmt="yaml")
    assert [(p.where, p.kind) for p in report.errors] == [(4, "conflict")]
    broken = import_catalog(session, "rules", "- [unclosed", fmt="yaml")
    assert [p.kind for p in broken.errors] == ["malformed_yaml"]


def test_category_and_department_checks(session: Session) -> None:
    text = "\n".join(
        [
            "code,name,parent_code,limit_normal,limit_normal_unit,limit_urgent,limit_urgent_unit,default_department_code,needs_verification",
            "25,燃气安全,,3,working_days,2,hours,yj,true",  # 2 ok: a new 大类
            "25001,燃气泄漏,25,4,working_hours,1,hours,,是",  # 3 ok, parent from the same file
            "2600,错码,,3,working_days,2,hours,,",  # 4 bad code
            "27001,孤儿,27,3,working_days,2,hours,,",  # 5 unknown parent
            "25002,错单位,25,3,weeks,2,hours,,",  # 6 bad unit
            "25003,错部门,25,3,working_days,2,hours,nobody,",  # 7 unknown default department
            "25004,负数,25,-1,working_days,2,hours,,",  # 8 bad limit
            "25001,重复,25,3,working_days,2,hours,,",  # 9 duplicate of line 3
        ]
    )
    report = import_catalog(session, "categories", text)
    assert sorted((p.where, p.kind) for p in report.errors) == [
        (4, "bad_code"),
        (5, "unknown_parent"),
        (6, "bad_unit"),
        (7, "unknown_department"),
        (8, "bad_limit"),
        (9, "duplicate"),
    ]
    ok = import_catalog(session, "categories", "\n".join(text.splitlines()[:3]))
    session.commit()
    assert ok.ok
    gas = session.get(Category, "25001")
    assert gas is not None and gas.needs_verification and gas.limit_urgent_unit.value == "hours"
    assert session.get(Category, "25").default_department_code == "yj"  # type: ignore[union-attr]

    departments = import_catalog(
        session, "departments", "code,name,kind\nCG,城管,department\ntj,统计局,office\n"
    )
    assert sorted((p.where, p.kind) for p in departments.errors) == [(2, "bad_code"), (3, "bad_kind")]
    kept = import_catalog(session, "departments", "code,name\ntj,区统计局\n")
    assert kept.ok and "kept" in kept.kinds()  # the others stay: tickets refer to them


@pytest.fixture
def api(database_url: str, redis_db: Redis) -> Iterator[TestClient]:
    with TestClient(app_with(router)) as client:
        yield client


def test_admin_crud_for_departments_and_rules(api: TestClient) -> None:
    admin = bearer(api, "admin")
    created = api.put("/api/admin/departments/tj", json={"name": "区统计局"}, headers=admin)
    assert created.status_code == 200 and created.json()["code"] == "tj"
    rule = api.post(
        "/api/admin/rules",
        json={"category_code": "10001", "area_code": "140213", "department_code": "tj", "note": "试行"},
        headers=admin,
    )
    assert rule.status_code == 201, rule.text
    rule_id = rule.json()["id"]
    clash = api.post(
        "/api/admin/rules",
        json={"category_code": "10001", "area_code": "140213", "department_code": "cg"},
        headers=admin,
    )
    assert (
        clash.status_code == 422 and clash.json()["rule_id"] == rule_id and "冲突" in clash.json()["detail"]
    )
    unknown = api.post(
        "/api/admin/rules",
        json={"category_code": "10001", "area_code": "999", "department_code": "cg"},
        headers=admin,
    )
    assert unknown.status_code == 422 and unknown.json()["field"] == "area_code"
    in_use = api.delete("/api/admin/departments/tj", headers=admin)
    assert in_use.status_code == 422 and "规则" in in_use.json()["detail"]
    moved = api.put(
        f"/api/admin/rules/{rule_id}",
        json={"category_code": "10001", "area_code": "140213", "department_code": "cg"},
        headers=admin,
    )
    assert moved.status_code == 200
    assert api.delete("/api/admin/departments/tj", headers=admin).status_code == 204
    assert api.delete(f"/api/admin/rules/{rule_id}", headers=admin).status_code == 204
    assert api.delete(f"/api/admin/rules/{rule_id}", headers=admin).status_code == 404
    assert api.get("/api/admin/rules", headers=bearer(api, "dispatcher")).status_code == 403


def test_import_and_export_over_http(api: TestClient) -> None:
    admin = bearer(api, "admin")
    exported = api.get("/api/admin/catalog/rules/export?fmt=yaml", headers=admin)
    assert exported.status_code == 200 and "department_code" in exported.text
    dry = api.post(
        "/api/admin/catalog/rules/import?fmt=yaml&dry_run=true",
        headers=admin,
        files={"file": ("rules.yaml", exported.text.encode())},
    )
    assert dry.status_code == 200 and dry.json()["ok"], dry.text


def test_cli_import_reports_and_exits_2(
    session: Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "rules.csv"
    bad.write_text(
        "category_code,area_code,department_code\n06010,140213,cg\n06010,140213,ga\n", encoding="utf-8"
    )
    with pytest.raises(SystemExit) as exit_info:
        admin_main(["catalog", "import", "rules", str(bad)])
    assert exit_info.value.code == 2
    assert "错误 第 3 行: 与第 2 行同样具体" in capsys.readouterr().out
    out = tmp_path / "categories.yaml"
    admin_main(["catalog", "export", "categories", "--format", "yaml", "-o", str(out)])
    admin_main(["catalog", "import", "categories", str(out), "--dry-run"])
    assert "可以导入" in capsys.readouterr().out


def test_centres_in_the_department_file(session: Session) -> None:
    """A centre names a street or community of the current grids, one centre per area; a department
    names none. Every problem is on its line and nothing is written."""
    street, community = "140213050", "140213050001"
    text = "\n".join(
        [
            "code,name,kind,area_code",
            f"zxnew,新街道中心,centre,{street}9",  # 2 not an area
            "zxnone,无辖区中心,centre,",  # 3 a centre without an area
            f"cgx,带辖区的部门,department,{community}",  # 4 a department with an area
            f"zx999,抢辖区,centre,{street}",  # 5 the area is zx050's
            "zxgrid,网格中心,centre,140213050001001",  # 6 a grid, not a street or community
            f"zx050,永泰街道综治中心（更名）,centre,{street}",  # 7 the same area as line 5
        ]
    )
    report = import_catalog(session, "departments", text)
    assert sorted((p.where, p.kind) for p in report.errors) == [
        (2, "bad_area"),
        (3, "centre_area"),
        (4, "centre_area"),
        (5, "area_taken"),
        (6, "bad_area"),
        (7, "duplicate"),
    ]
    assert session.exec(select(Department).where(Department.code == "zxnew")).first() is None
    # Alone, line 7 renames the centre that holds the area.
    ok = import_catalog(session, "departments", "code,name,kind,area_code\n" + text.splitlines()[-1])
    session.commit()
    assert ok.ok, list(ok.lines())
    renamed = session.exec(select(Department).where(Department.code == "zx050")).one()
    assert (renamed.name, renamed.area_code) == ("永泰街道综治中心（更名）", street)
