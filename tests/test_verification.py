"""Field verification through the API: 核查 sent to the grid officer's phone after 反馈 of a category that
needs it, 核实 at intake on a dispatcher's request, the answers driving the ticket, 抽查 of 自行处置."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from dispatch import clock
from dispatch.config import get_settings
from dispatch.db import new_session
from dispatch.grids.models import Area
from dispatch.tickets.supervision import supervise
from tests.helpers import first_grid_places, inside
from tests.workflow_helpers import Desk, department_id, png_bytes

FIRST_GRID, COMMUNITY, STREET = first_grid_places()
OFFICER = "wgy0001"  # on duty for the first grid


@pytest.fixture
def desk(client: TestClient, login: Callable[[str], dict[str, str]]) -> Desk:
    return Desk(client, login)


def report(desk: Desk, run_worker: Callable[[], None], category: str, *, by: str = "wgy0002") -> int:
    lon, lat = inside(FIRST_GRID)
    answer = desk.client.post(
        "/api/intake/patrol",
        data={"lon": lon, "lat": lat, "category_code": category, "description": "电动车在楼道飞线充电"},
        headers=desk.headers(by),
    )
    assert answer.status_code == 201, answer.text
    run_worker()
    return int(answer.json()["ticket_id"])


def tasks(desk: Desk, user: str, **params: Any) -> list[dict[str, Any]]:
    answer = desk.client.get("/api/verifications", params=params, headers=desk.headers(user))
    assert answer.status_code == 200, answer.text
    return list(answer.json())


def reply(
    desk: Desk, user: str, task_id: int, answer: str, *, note: str = "", photo: bool = True, ref: str = ""
) -> Any:
    files = [("photos", ("scene.png", png_bytes("blue"), "image/png"))] if photo else []
    data = {"answer": answer, "note": note, **({"client_ref": ref} if ref else {})}
    return desk.client.post(
        f"/api/verifications/{task_id}/answer", data=data, files=files, headers=desk.headers(user)
    )


def fed_back(desk: Desk, ticket: int) -> None:
    """The community's queue → 人工派遣 to 城管 → 签收 → 反馈 with a photo."""
    desk.act("sqzx", ticket, "dispatch", {"department_id": department_id("cg")})
    desk.act("cg1", ticket, "sign")
    answer = desk.client.post(
        f"/api/tickets/{ticket}/feedback",
        data={"text": "已拆除飞线，设置集中充电点"},
        files=[("photos", ("after.png", png_bytes("green"), "image/png"))],
        headers=desk.headers("cg1"),
    )
    assert answer.status_code == 200, answer.text


def test_feedback_of_a_category_that_needs_it_goes_to_the_officer_and_fixed_closes_it(
    desk: Desk, run_worker: Callable[[], None]
) -> None:
    ticket = report(desk, run_worker, "06031")  # 飞线充电: the demo marks it needs_verification
    fed_back(desk, ticket)

    seen = desk.get("sqzx", ticket)
    assert seen["state"] == "feedback"
    [check] = seen["verifications"]
    assert (check["kind"], check["status"], check["holder_name"]) == (
        "closure",
        "pending",
        check["holder_name"],
    )
    assert check["requested_by_name"] == "系统" and seen["log"][-1]["action"] == "verify_request"

    # On the officer's phone: the ticket, where it is, and the department's photos, which they may open.
    [card] = tasks(desk, OFFICER)
    assert (card["id"], card["kind_label"], card["ticket"]["id"]) == (check["id"], "核查", ticket)
    assert (
        card["ticket"]["lon"] is not None and card["ticket"]["feedback_text"] == "已拆除飞线，设置集中充电点"
    )
    [photo] = card["feedback_attachment_ids"]
    picture = desk.client.get(f"/api/tickets/{ticket}/attachments/{photo}", headers=desk.headers(OFFICER))
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/png"
    assert tasks(desk, "wgy0003") == []  # another grid's officer has nothing
    assert reply(desk, "wgy0003", card["id"], "fixed").status_code == 404
    desk.get("wgy0003", ticket, expect=404)

    # Bad answers change nothing.
    assert reply(desk, OFFICER, card["id"], "fixed", photo=False).json()["field"] == "photos"
    assert reply(desk, OFFICER, card["id"], "not_fixed").json()["field"] == "note"
    assert reply(desk, OFFICER, card["id"], "confirmed").json()["field"] == "answer"  # 核实's answer
    assert desk.get("sqzx", ticket)["state"] == "feedback"

    done = reply(desk, OFFICER, card["id"], "fixed", note="飞线已拆除", ref="phone-answer-0001")
    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["answer_label"], done.json()["on_time"]) == (
        "done",
        "已整改",
        True,
    )
    closed = desk.get("sqzx", ticket)
    assert closed["state"] == "closed"
    assert [e["action"] for e in closed["log"][-4:]] == [
        "feedback",
        "verify_request",
        "verify_answer",
        "verify_pass",
    ]
    assert closed["log"][-1]["actor"] == closed["log"][-2]["actor"] != "系统"  # the officer closed it
    assert len(done.json()["attachment_ids"]) == 1

    # The phone resends after a lost answer: the first answer, nothing twice; a new answer: 409.
    again = reply(desk, OFFICER, card["id"], "fixed", ref="phone-answer-0001")
    assert again.status_code == 200 and again.json()["answered_at"] == done.json()["answered_at"]
    assert reply(desk, OFFICER, card["id"], "not_fixed", note="x", ref="phone-answer-0002").status_code == 409
    assert len(desk.get("dispatcher", ticket)["log"]) == len(closed["log"])
    assert tasks(desk, OFFICER) == [] and len(tasks(desk, OFFICER, status="done")) == 1


def test_not_fixed_sends_it_back_to_the_department(desk: Desk, run_worker: Callable[[], None]) -> None:
    ticket = report(desk, run_worker, "06031")
    fed_back(desk, ticket)
    [card] = tasks(desk, OFFICER)
    answer = reply(desk, OFFICER, card["id"], "not_fixed", note="楼道内仍有飞线")
    assert answer.status_code == 200, answer.text
    back = desk.get("cg1", ticket)
    assert (back["state"], back["rework_count"]) == ("signed", 1)
    assert back["log"][-1]["action"] == "verify_fail" and "楼道内仍有飞线" in back["log"][-1]["note"]


def test_centre_deciding_first_cancels_the_check(desk: Desk, run_worker: Callable[[], None]) -> None:
    ticket = report(desk, run_worker, "06031")
    fed_back(desk, ticket)
    [card] = tasks(desk, OFFICER)
    desk.act("sqzx", ticket, "verify", {"passed": True, "note": "视频巡查确认已整改"})
    assert desk.get("sqzx", ticket)["verifications"][0]["status"] == "cancelled"
    assert tasks(desk, OFFICER) == []
    assert reply(desk, OFFICER, card["id"], "fixed").status_code == 409


def test_a_dispatcher_asks_for_intake_verification_and_the_answer_decides(
    desk: Desk, run_worker: Callable[[], None]
) -> None:
    true_one = report(desk, run_worker, "06030")  # 楼道堆物: routed to the community's queue
    false_one = report(desk, run_worker, "06030")
    assert "verify_request" in desk.get("sqzx", true_one)["allowed_actions"]
    assert "verify_request" not in desk.get("jdzx", true_one)["allowed_actions"]  # not the street's to steer
    desk.act("jdzx", true_one, "verification", {"note": "请核实"}, expect=403)
    for ticket in (true_one, false_one):
        asked = desk.act("sqzx", ticket, "verification", {"note": "请到现场核实是否属实"})
        assert asked["verifications"][0]["kind"] == "intake"
        assert asked["verifications"][0]["requested_by_name"] == desk.get("sqzx", ticket)["log"][-1]["actor"]
        assert asked["verifications"][0]["requested_by_name"] != "系统"
        assert "verify_request" not in asked["allowed_actions"]  # one at a time
        desk.act("sqzx", ticket, "verification", {}, expect=409)
    by_ticket = {c["ticket"]["id"]: c for c in tasks(desk, OFFICER)}
    assert by_ticket[true_one]["note"] == "请到现场核实是否属实"
    assert by_ticket[true_one]["report_attachment_ids"] == []

    assert reply(desk, OFFICER, by_ticket[true_one]["id"], "confirmed").status_code == 200
    kept = desk.get("sqzx", true_one)
    assert kept["state"] == "manual" and kept["verifications"][0]["answer_label"] == "属实"
    assert "dispatch" in kept["allowed_actions"]  # the workstation carries on with the finding

    assert reply(desk, OFFICER, by_ticket[false_one]["id"], "unfounded", note="现场无堆物").status_code == 200
    rejected = desk.get("sqzx", false_one)
    assert rejected["state"] == "rejected" and rejected["reject_reason"] == "现场核实不属实：现场无堆物"


def test_no_officer_on_duty_is_refused_naming_the_grid(desk: Desk, run_worker: Callable[[], None]) -> None:
    ticket = report(desk, run_worker, "06030")
    with new_session() as session:
        for grid in session.exec(select(Area).where(Area.code == FIRST_GRID.code)):
            grid.duty_officer_id = None
            session.add(grid)
        session.commit()
    assert "verify_request" not in desk.get("sqzx", ticket)["allowed_actions"]
    refused = desk.act("sqzx", ticket, "verification", {}, expect=422)
    assert refused["field"] == "grid_code"
    fed_back(desk, report(desk, run_worker, "06031"))  # the centre checks itself, as before
    assert tasks(desk, "sqzx") == []


def test_an_overdue_check_is_warned_once(desk: Desk, run_worker: Callable[[], None]) -> None:
    ticket = report(desk, run_worker, "06030")
    desk.act("sqzx", ticket, "verification", {})
    [card] = tasks(desk, OFFICER)
    supervise()
    assert desk.get("sqzx", ticket)["log"][-1]["action"] == "verify_request"  # not due yet
    later = clock.now() + timedelta(days=3)  # past 2 working hours whatever the day
    clock.set_clock(lambda: later)
    assert supervise()["verification"] == 1
    assert supervise()["verification"] == 0
    seen = desk.get("sqzx", ticket)
    assert [e["action"] for e in seen["log"]].count("verify_warn") == 1
    assert seen["verifications"][0]["overdue"] and seen["verifications"][0]["warned"]
    late = reply(desk, OFFICER, card["id"], "confirmed")
    assert late.status_code == 200 and late.json()["on_time"] is False


def test_self_resolved_cases_are_sampled_for_the_workstation(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRID_SELF_RESOLVE_REVIEW_SHARE", "1")
    get_settings.cache_clear()
    lon, lat = inside(FIRST_GRID)
    answer = desk.client.post(
        "/api/intake/patrol",
        data={
            "lon": lon,
            "lat": lat,
            "category_code": "06010",
            "description": "路边垃圾已清理",
            "self_resolved": "true",
        },
        files=[("photos", ("done.png", png_bytes("green"), "image/png"))],
        headers=desk.headers(OFFICER),
    )
    assert answer.status_code == 201, answer.text
    ticket = int(answer.json()["ticket_id"])
    [review] = tasks(desk, "sqzx", kind="review")
    assert (review["ticket"]["id"], review["kind_label"], review["holder_name"]) == (
        ticket,
        "抽查",
        f"{COMMUNITY.name}工作站",
    )
    assert tasks(desk, "jdzx", kind="review")[0]["id"] == review["id"]  # the street sees its area's
    assert reply(desk, "jdzx", review["id"], "passed", photo=False).status_code == 404  # not its to answer
    assert reply(desk, OFFICER, review["id"], "passed", photo=False).status_code == 404
    failed = reply(desk, "sqzx", review["id"], "failed", note="照片看不出已清理", photo=False)
    assert failed.status_code == 200, failed.text
    closed = desk.get("dispatcher", ticket)
    assert closed["state"] == "closed" and closed["log"][-1]["note"] == "抽查：不合格。照片看不出已清理"
