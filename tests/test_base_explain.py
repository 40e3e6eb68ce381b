"""Routing explanation: grid and version, winning rule, department, deadline, and why other rules lost."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from redis import Redis
from sqlmodel import Session, select

from dispatch.admin_cli import main as admin_main
from dispatch.catalog.explain import explain_point, explain_ticket
from dispatch.catalog.explain_views import router
from dispatch.catalog.models import Department, RoutingRule, Urgency
from dispatch.grids.locator import current_version_id
from dispatch.tickets.models import Ticket
from tests.helpers import grids_in, inside, patrol
from tests.test_base_files import app_with, bearer

YONGTAI = "140213050"  # only district-wide rules for 09
GUCHENG = "140213051"  # its street office has its own rule for all of 09


def department_id(session: Session, code: str) -> int:
    return session.exec(select(Department.id).where(Department.code == code)).one() or 0


def test_more_specific_category_wins_and_the_broader_one_says_why(session: Session) -> None:
    lon, lat = inside(grids_in(YONGTAI)[0])
    e = explain_point(session, lon=lon, lat=lat, category_code="09009")
    assert e.department_code == "ga" and e.version_id == current_version_id(session)
    assert [g.code for g in e.grids] == [grids_in(YONGTAI)[0].code]
    assert e.deadline_at is not None and e.manual_reason is None
    outcome = {(v.category_code, v.area_level): (v.outcome, v.department_code) for v in e.candidates}
    assert outcome == {("09009", "区"): ("selected", "ga"), ("09", "区"): ("lost", "cg")}
    lost = next(v for v in e.candidates if v.outcome == "lost")
    assert "大类" in lost.reason and "小类优先" in lost.reason
    assert "市公安局平城分局" in e.summary and "规则 #" in e.summary


def test_more_specific_area_beats_more_specific_category(session: Session) -> None:
    lon, lat = inside(grids_in(GUCHENG)[0])
    e = explain_point(session, lon=lon, lat=lat, category_code="09009", urgency=Urgency.URGENT)
    assert e.department_code == "jd051"
    selected = [v for v in e.candidates if v.outcome == "selected"]
    assert [(v.category_code, v.area_code, v.area_level) for v in selected] == [("09", GUCHENG, "街道")]
    assert selected[0].area_name == "古城街道"
    for v in e.candidates:
        if v.outcome == "lost":
            assert v.area_level == "区" and "区域越小越优先" in v.reason


def test_urgency_changes_the_deadline(session: Session) -> None:
    lon, lat = inside(grids_in(YONGTAI)[0])
    normal = explain_point(session, lon=lon, lat=lat, category_code="24001")  # 15 working days
    urgent = explain_point(session, lon=lon, lat=lat, category_code="24001", urgency=Urgency.URGENT)
    assert normal.deadline_at is not None and urgent.deadline_at is not None
    assert urgent.deadline_at < normal.deadline_at


def test_no_rule_conflict_and_outside(session: Session) -> None:
    lon, lat = inside(grids_in(YONGTAI)[0])
    none = explain_point(session, lon=lon, lat=lat, category_code="10001")
    assert none.department_code is None and none.candidates == [] and none.manual_reason == "无匹配的派遣规则"

    session.add(
        RoutingRule(category_code="09009", area_code="140213", department_id=department_id(session, "cg"))
    )
    session.flush()
    clash = explain_point(session, lon=lon, lat=lat, category_code="09009")
    assert clash.department_code is None and "冲突" in (clash.manual_reason or "")
    assert sorted(v.outcome for v in clash.candidates) == ["conflict", "conflict", "lost"]

    away = explain_point(session, lon=112.0, lat=39.0, category_code="09009")
    assert (
        away.grids == [] and away.manual_reason == "位置不在任何网格内" and "不在任何网格内" in away.summary
    )


def test_a_routed_ticket_is_explained_with_what_routing_recorded(
    session: Session, run_worker: Callable[[], None]
) -> None:
    lon, lat = inside(grids_in(GUCHENG)[0])
    ticket = patrol(session, lon=lon, lat=lat, category="09006")
    run_worker()
    session.expire_all()
    routed = session.get(Ticket, ticket.id)
    assert routed is not None
    e = explain_ticket(session, ticket_id=routed.id or 0)
    assert e.recorded["grid_code"] == routed.grid_code == e.grids[0].code
    assert e.recorded["rule_id"] == e.rule_id
    assert e.recorded["department_id"] == department_id(session, "jd051")
    assert e.deadline_at == routed.deadline_at


@pytest.fixture
def api(database_url: str, redis_db: Redis) -> Iterator[TestClient]:
    with TestClient(app_with(router)) as client:
        yield client


def test_explain_endpoint_roles_and_bad_input(api: TestClient) -> None:
    lon, lat = inside(grids_in(GUCHENG)[0])
    params = {"lon": lon, "lat": lat, "category_code": "09009"}
    for who in ("dispatcher", "shiftlead", "admin"):
        answer = api.get("/api/routing/explain", params=params, headers=bearer(api, who))
        assert answer.status_code == 200, answer.text
        assert answer.json()["department_code"] == "jd051"
    for who in ("wgy0001", "cg1", "hotline", "leader"):
        assert api.get("/api/routing/explain", params=params, headers=bearer(api, who)).status_code == 403
    dispatcher = bearer(api, "dispatcher")
    bad = api.get("/api/routing/explain", params={**params, "category_code": "99999"}, headers=dispatcher)
    assert bad.status_code == 422 and bad.json()["field"] == "category_code"
    bad = api.get("/api/routing/explain", params={**params, "lat": 95}, headers=dispatcher)
    assert bad.status_code == 422 and bad.json()["field"] == "lat"
    bad = api.get("/api/routing/explain", params={"category_code": "09009"}, headers=dispatcher)
    assert bad.status_code == 422 and bad.json()["field"] == "lon"
    missing = api.get("/api/routing/explain", params={"ticket_id": 999999}, headers=dispatcher)
    assert missing.status_code == 404


def test_explain_by_address(api: TestClient, session: Session) -> None:
    from dispatch.demo.gazetteer import CSV_PATH
    from dispatch.gazetteer.importer import import_addresses

    assert import_addresses(session, CSV_PATH.read_text(encoding="utf-8")).ok
    session.commit()
    dispatcher = bearer(api, "dispatcher")
    answer = api.get(
        "/api/routing/explain",
        params={"address": "御河北路12号", "category_code": "06010"},
        headers=dispatcher,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["address_match"]["text"] == "御河北路12号" and answer.json()["grids"]
    vague = api.get(
        "/api/routing/explain", params={"address": "御河路12号", "category_code": "06010"}, headers=dispatcher
    )
    assert (
        vague.status_code == 422
        and vague.json()["field"] == "address"
        and len(vague.json()["candidates"]) >= 2
    )


def test_cli_explain(session: Session, capsys: pytest.CaptureFixture[str]) -> None:
    lon, lat = inside(grids_in(GUCHENG)[0])
    admin_main(["routing", "explain", "--lon", str(lon), "--lat", str(lat), "--category", "09009"])
    out = capsys.readouterr().out
    assert "古城街道办事处" in out and "✔" in out and "区域越小越优先" in out
