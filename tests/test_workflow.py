"""The closed loop through the API: every path a dispatcher, a department and a hotline operator take."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from dispatch import clock
from dispatch.db import new_session
from dispatch.tickets.models import Action, Ticket, TicketLog
from dispatch.tickets.side_models import ExtensionRequest
from dispatch.tickets.supervision import supervise
from tests.helpers import grids_in, inside, user
from tests.workflow_helpers import Desk, department_id, png_bytes

Login = Callable[[str], dict[str, str]]


@pytest.fixture
def desk(client: TestClient, login: Login) -> Desk:
    return Desk(client, login)


@pytest.fixture
def dispatched(desk: Desk, run_worker: Callable[[], None]) -> int:
    """A patrol report of 暴露垃圾 in 永泰街道, routed by a real worker to 区城市管理局 (cg)."""
    ticket_id = desk.patrol("06010")
    run_worker()
    assert desk.get("dispatcher", ticket_id)["state"] == "dispatched"
    return ticket_id


def test_patrol_full_loop_with_photos(desk: Desk, dispatched: int) -> None:
    assert "sign" in desk.get("cg1", dispatched)["allowed_actions"]
    desk.act("cg1", dispatched, "sign")
    answer = desk.client.post(
        f"/api/tickets/{dispatched}/feedback",
        headers=desk.headers("cg1"),
        data={"text": "已清运完毕"},
        files=[("photos", ("after.png", png_bytes(), "image/png"))],
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "feedback" and len(answer.json()["attachment_ids"]) == 1
    closed = desk.act("dispatcher", dispatched, "verify", {"passed": True, "note": "现场核查通过"})
    assert closed["state"] == "closed" and closed["closed_at"]
    assert desk.actions("dispatcher", dispatched) == ["intake", "route", "sign", "feedback", "verify_pass"]
    assert closed["allowed_actions"] == []  # a dispatcher has nothing left to do on a closed patrol ticket


def test_verify_fail_sends_back_for_rework(desk: Desk, dispatched: int) -> None:
    desk.act("cg1", dispatched, "sign")
    desk.client.post(
        f"/api/tickets/{dispatched}/feedback", headers=desk.headers("cg1"), data={"text": "已处理"}
    )
    desk.act("dispatcher", dispatched, "verify", {"passed": False}, expect=422)  # a reason is required
    back = desk.act("dispatcher", dispatched, "verify", {"passed": False, "note": "现场仍有垃圾"})
    assert back["state"] == "signed" and back["rework_count"] == 1


def test_hotline_callback_unsatisfied_reopens(desk: Desk, run_worker: Callable[[], None]) -> None:
    ticket = desk.call("CB-1")
    run_worker()
    desk.act("cg1", ticket, "sign")
    desk.client.post(f"/api/tickets/{ticket}/feedback", headers=desk.headers("cg1"), data={"text": "已清运"})
    closed = desk.act("dispatcher", ticket, "verify", {"passed": True})
    assert "callback" in desk.get("hotline", ticket)["allowed_actions"]
    reopened = desk.act(
        "hotline", ticket, "callback", {"satisfaction": "unsatisfied", "note": "仍未清理干净"}
    )
    assert reopened["state"] == "dispatched" and reopened["satisfaction"] == "unsatisfied"
    assert reopened["deadline_at"] >= closed["deadline_at"]
    assert desk.actions("hotline", ticket)[-2:] == ["callback", "reopen"]


def test_hotline_callback_satisfied_stays_closed(desk: Desk, run_worker: Callable[[], None]) -> None:
    ticket = desk.call("CB-2")
    run_worker()
    desk.act("cg1", ticket, "sign")
    desk.client.post(f"/api/tickets/{ticket}/feedback", headers=desk.headers("cg1"), data={"text": "已清运"})
    desk.act("dispatcher", ticket, "verify", {"passed": True})
    done = desk.act("hotline", ticket, "callback", {"satisfaction": "satisfied"})
    assert done["state"] == "closed" and done["satisfaction"] == "satisfied"


def test_return_then_redispatch_then_overrule(desk: Desk, dispatched: int) -> None:
    desk.act("cg1", dispatched, "return", {"reason": ""}, expect=422)
    returned = desk.act("cg1", dispatched, "return", {"reason": "属于交警职责"})
    assert returned["state"] == "returned" and returned["return_count"] == 1
    ga = department_id("ga")
    moved = desk.act("dispatcher", dispatched, "redispatch", {"department_id": ga, "note": "改派公安"})
    assert moved["state"] == "dispatched" and moved["department_id"] == ga
    desk.get("cg1", dispatched, expect=404)  # no longer cg's ticket
    desk.act("ga1", dispatched, "return", {"reason": "不属于公安职责"})
    again = desk.act("dispatcher", dispatched, "overrule", {"note": "请按职责办理"})
    assert again["department_id"] == ga and again["state"] == "dispatched"


def test_extension_request_and_decision(desk: Desk, dispatched: int) -> None:
    desk.act("cg1", dispatched, "sign")
    ticket = desk.get("cg1", dispatched)
    deadline = datetime.fromisoformat(ticket["deadline_at"])
    past = (clock.now() - timedelta(hours=1)).isoformat()
    desk.act("cg1", dispatched, "extensions", {"new_deadline_at": past, "reason": "需协调"}, expect=422)
    too_far = (deadline + timedelta(days=400)).isoformat()
    desk.act("cg1", dispatched, "extensions", {"new_deadline_at": too_far, "reason": "需协调"}, expect=422)
    wanted = (deadline + timedelta(days=2)).isoformat()
    pending = desk.act("cg1", dispatched, "extensions", {"new_deadline_at": wanted, "reason": "需协调物业"})
    request_id = pending["extensions"][0]["id"]
    assert pending["extensions"][0]["status"] == "pending" and pending["deadline_at"] == ticket["deadline_at"]
    desk.act("cg1", dispatched, f"extensions/{request_id}/approve", expect=403)  # departments cannot approve
    approved = desk.act("shiftlead", dispatched, f"extensions/{request_id}/approve", {"note": "同意"})
    assert datetime.fromisoformat(approved["deadline_at"]) == datetime.fromisoformat(wanted)
    desk.act("shiftlead", dispatched, f"extensions/{request_id}/refuse", {"note": "x"}, expect=409)


def test_suspend_stops_the_clock(desk: Desk, dispatched: int) -> None:
    desk.act("cg1", dispatched, "sign")
    before = datetime.fromisoformat(desk.get("cg1", dispatched)["deadline_at"])
    desk.act("shiftlead", dispatched, "suspend", {"reason": "需汛期后施工"})
    parked = desk.client.post(
        f"/api/tickets/{dispatched}/feedback", headers=desk.headers("cg1"), data={"text": "x"}
    )
    assert parked.status_code == 409  # parked: nothing to feed back
    start = clock.now()
    clock.set_clock(lambda: start + timedelta(days=14))  # two calendar weeks parked
    resumed = desk.act("shiftlead", dispatched, "resume", {"note": "恢复办理"})
    after = datetime.fromisoformat(resumed["deadline_at"])
    assert resumed["state"] == "signed"
    assert after - before >= timedelta(days=13)  # the parked time was given back


def test_co_handling_parts(desk: Desk, dispatched: int) -> None:
    zj = department_id("zj")
    deadline = (clock.now() + timedelta(days=3)).isoformat()
    with_part = desk.act(
        "dispatcher",
        dispatched,
        "assists",
        {"department_id": zj, "part": "核查工地围挡", "deadline_at": deadline},
    )
    task = with_part["assists"][0]["id"]
    assert desk.get("zj1", dispatched)["assists"][0]["department_name"] == "区住房和城乡建设局"
    desk.act("zj1", dispatched, "sign", expect=403)  # co-handlers sign their part, not the case
    assert "escalate" not in desk.get("zj1", dispatched)["allowed_actions"]
    desk.act("zj1", dispatched, "escalate", {"note": "越级上报"}, expect=403)  # only the lead escalates
    assert "escalate" in desk.get("cg1", dispatched)["allowed_actions"]
    desk.act("zj1", dispatched, f"assists/{task}/feedback", {"text": "已核查"}, expect=409)  # sign first
    desk.act("zj1", dispatched, f"assists/{task}/sign")
    done = desk.act("zj1", dispatched, f"assists/{task}/feedback", {"text": "围挡已整改"})
    assert done["assists"][0]["status"] == "done" and done["state"] == "dispatched"  # only the lead closes


def test_urge_must_be_acknowledged(desk: Desk, dispatched: int) -> None:
    urged = desk.act("leader", dispatched, "urge", {"message": "请今日内处理"})
    notice = urged["notices"][0]
    assert notice["acknowledged_at"] is None
    desk.act("ga1", dispatched, f"notices/{notice['id']}/ack", expect=404)  # not ga's ticket
    acked = desk.act("cg1", dispatched, f"notices/{notice['id']}/ack")
    assert acked["notices"][0]["acknowledged_at"] is not None
    desk.act("cg1", dispatched, f"notices/{notice['id']}/ack", expect=409)


def test_escalation_climbs_to_the_district(desk: Desk, dispatched: int) -> None:
    levels = [
        desk.act("dispatcher", dispatched, "escalate", {"note": "需街道吹哨"})["escalation_level"]
        for _ in range(3)
    ]
    assert levels == ["community", "street", "district"]
    desk.act("dispatcher", dispatched, "escalate", expect=409)


def test_self_resolve_closes_with_photo(desk: Desk) -> None:
    lon, lat = inside(grids_in("140213050")[0])
    form = {
        "lon": lon,
        "lat": lat,
        "category_code": "07001",
        "description": "已清除小广告",
        "self_resolved": "true",
    }
    without_photo = desk.client.post("/api/intake/patrol", data=form, headers=desk.headers("wgy0001"))
    assert without_photo.status_code == 422 and without_photo.json()["field"] == "photos"
    answer = desk.client.post(
        "/api/intake/patrol",
        data=form,
        headers=desk.headers("wgy0001"),
        files=[("photos", ("done.png", png_bytes(), "image/png"))],
    )
    assert answer.status_code == 201
    ticket = desk.get("dispatcher", answer.json()["ticket_id"])
    assert ticket["state"] == "closed" and ticket["grid_code"] == grids_in("140213050")[0].code
    assert ticket["self_resolved"] is True
    assert [e["action"] for e in ticket["log"]] == ["intake", "self_resolve"]


def test_merge_duplicates_keeps_every_reporter(desk: Desk, run_worker: Callable[[], None]) -> None:
    first = desk.call("DUP-1")
    second = desk.call("DUP-2", caller_phone="13800001111")
    other_category = desk.call("DUP-3", category="06012")
    run_worker()
    suggested = desk.get("dispatcher", second)["duplicates"]
    assert [d["candidate"]["id"] for d in suggested] == [first]
    desk.act("dispatcher", other_category, "merge", {"into_ticket_id": first}, expect=422)
    merged = desk.act("dispatcher", second, "merge", {"into_ticket_id": first})
    assert merged["id"] == first and merged["repeat_count"] == 1
    assert {r["caller_phone"] for r in desk.get("hotline", first)["reporters"]} == {
        "13511112222",
        "13800001111",
    }
    assert desk.get("dispatcher", second)["state"] == "merged"
    desk.act("dispatcher", other_category, "merge", {"into_ticket_id": first, "confirm": True})


def test_manual_queue_dispatch_and_reject(desk: Desk, run_worker: Callable[[], None]) -> None:
    unplaced = desk.patrol("10001")  # no rule for 其他
    no_position = desk.call("MQ-1", located=False)
    run_worker()
    queue = desk.client.get("/api/tickets?state=manual", headers=desk.headers("dispatcher")).json()["items"]
    reasons = {t["id"]: t["manual_reason"] for t in queue}
    assert reasons[unplaced] == "无匹配的派遣规则"
    # "永泰街道某小区3号楼" resembles several gazetteer entries: candidates, no confident position.
    assert reasons[no_position].startswith("地址无法唯一定位")
    placed = desk.act(
        "dispatcher", unplaced, "dispatch", {"department_id": department_id("cg"), "note": "人工派遣"}
    )
    assert placed["state"] == "dispatched" and placed["deadline_at"] and placed["manual_reason"] is None
    desk.act("dispatcher", no_position, "reject", {"reason": ""}, expect=422)
    rejected = desk.act("dispatcher", no_position, "reject", {"reason": "非本区事项"})
    assert rejected["state"] == "rejected" and rejected["reject_reason"] == "非本区事项"


def test_illegal_move_is_409_with_allowed_actions(desk: Desk, dispatched: int) -> None:
    answer = desk.client.post(
        f"/api/tickets/{dispatched}/verify", json={"passed": True}, headers=desk.headers("dispatcher")
    )
    assert answer.status_code == 409
    assert answer.json()["state"] == "dispatched"
    assert "redispatch" in answer.json()["allowed_actions"]
    desk.act("hotline", dispatched, "sign", expect=404)  # patrol ticket: not even visible to hotline staff
    desk.act("leader", dispatched, "sign", expect=403)


def test_two_staff_sign_at_once_exactly_one_wins(database_url: str, desk: Desk, dispatched: int) -> None:
    headers = [desk.headers("cg1"), desk.headers("cg2")]
    statuses: list[int] = []
    barrier = threading.Barrier(2)

    def sign(h: dict[str, str]) -> None:
        barrier.wait()
        statuses.append(desk.client.post(f"/api/tickets/{dispatched}/sign", headers=h).status_code)

    threads = [threading.Thread(target=sign, args=(h,)) for h in headers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(statuses) == [200, 409]
    assert desk.actions("dispatcher", dispatched).count("sign") == 1


def test_allowed_actions_fit_the_viewer_and_the_ticket(desk: Desk, dispatched: int) -> None:
    zj = department_id("zj")
    deadline = (clock.now() + timedelta(days=3)).isoformat()
    desk.act(
        "dispatcher", dispatched, "assists", {"department_id": zj, "part": "协助", "deadline_at": deadline}
    )
    assert set(desk.get("zj1", dispatched)["allowed_actions"]) == {"assist_sign"}  # no escalate: not lead
    assert "sign" in desk.get("cg1", dispatched)["allowed_actions"]
    desk.act("cg1", dispatched, "sign")
    assert "approve_extension" not in desk.get("shiftlead", dispatched)["allowed_actions"]  # nothing pending
    wanted = (
        datetime.fromisoformat(desk.get("cg1", dispatched)["deadline_at"]) + timedelta(days=1)
    ).isoformat()
    desk.act("cg1", dispatched, "extensions", {"new_deadline_at": wanted, "reason": "协调"})
    assert "request_extension" not in desk.get("cg1", dispatched)["allowed_actions"]  # one pending at a time
    assert {"approve_extension", "refuse_extension"} <= set(
        desk.get("shiftlead", dispatched)["allowed_actions"]
    )
    listed = desk.client.get("/api/tickets", headers=desk.headers("cg1")).json()["items"][0]
    assert listed["assist_department_ids"] == [zj] and listed["working_minutes_left"] > 0
    reporter = desk.get("dispatcher", dispatched)["reporters"][0]
    assert reporter["name"] and reporter["user_id"]  # the grid officer's name


def test_duplicate_hints_while_typing_and_callback_list(desk: Desk, run_worker: Callable[[], None]) -> None:
    first = desk.call("SIM-1")
    lon, lat = inside(grids_in("140213050")[0])
    hints = desk.client.get(
        "/api/tickets/similar",
        headers=desk.headers("hotline"),
        params={
            "category_code": "06010",
            "lon": lon,
            "lat": lat,
            "caller_phone": "13511112222",
            "address": "永泰街道某小区3号楼",
        },
    ).json()
    assert [(h["id"], h["distance_m"], h["same_caller"]) for h in hints] == [(first, 0.0, True)]
    by_caller_only = desk.client.get(
        "/api/tickets/similar",
        headers=desk.headers("hotline"),
        params={"category_code": "06010", "caller_phone": "13511112222", "address": "永泰街道某小区3号楼"},
    ).json()
    assert [(h["id"], h["distance_m"], h["same_caller"]) for h in by_caller_only] == [(first, None, True)]
    other_category = desk.client.get(
        "/api/tickets/similar",
        headers=desk.headers("hotline"),
        params={"category_code": "09006", "lon": lon, "lat": lat},
    ).json()
    assert other_category == []
    run_worker()
    desk.act("cg1", first, "sign")
    desk.client.post(f"/api/tickets/{first}/feedback", headers=desk.headers("cg1"), data={"text": "已办"})
    desk.act("dispatcher", first, "verify", {"passed": True})
    pending = desk.client.get("/api/tickets?callback_pending=true", headers=desk.headers("hotline")).json()[
        "items"
    ]
    assert [t["id"] for t in pending] == [first]
    desk.act("hotline", first, "callback", {"satisfaction": "satisfied"})
    assert (
        desk.client.get("/api/tickets?callback_pending=true", headers=desk.headers("hotline")).json()["items"]
        == []
    )


def _request_extension(desk: Desk, ticket_id: int) -> int:
    deadline = datetime.fromisoformat(desk.get("cg1", ticket_id)["deadline_at"])
    wanted = (deadline + timedelta(days=2)).isoformat()
    answer = desk.act("cg1", ticket_id, "extensions", {"new_deadline_at": wanted, "reason": "需协调物业"})
    return int(answer["extensions"][0]["id"])


def _logged(ticket_id: int, action: Action) -> list[dict[str, Any]]:
    with new_session() as s:
        return [
            e.data
            for e in s.exec(
                select(TicketLog).where(TicketLog.ticket_id == ticket_id, TicketLog.action == action)
            )
        ]


def test_return_cancels_a_pending_extension(desk: Desk, dispatched: int) -> None:
    desk.act("cg1", dispatched, "sign")
    request_id = _request_extension(desk, dispatched)
    returned = desk.act("cg1", dispatched, "return", {"reason": "属于交警职责"})
    extension = returned["extensions"][0]
    assert extension["status"] == "cancelled" and extension["decided_at"]
    assert "回退" in extension["decision_note"]
    assert _logged(dispatched, Action.RETURN)[0]["cancelled_extension_ids"] == [request_id]
    # Back with the same department: the old request can no longer be approved.
    desk.act("dispatcher", dispatched, "overrule", {"note": "请按职责办理"})
    desk.act("cg1", dispatched, "sign")
    assert "approve_extension" not in desk.get("shiftlead", dispatched)["allowed_actions"]
    desk.act("shiftlead", dispatched, f"extensions/{request_id}/approve", {"note": "同意"}, expect=409)
    assert "request_extension" in desk.get("cg1", dispatched)["allowed_actions"]  # a fresh one may be asked


@pytest.mark.parametrize("move", ["redispatch", "overrule"])
def test_redispatch_or_overrule_cancels_a_pending_extension(desk: Desk, dispatched: int, move: str) -> None:
    """A returned ticket that still carries a pending request (as rows written before cancelling existed)."""
    desk.act("cg1", dispatched, "return", {"reason": "非本部门"})
    with new_session() as s:
        ticket = s.get(Ticket, dispatched)
        assert ticket is not None and ticket.deadline_at is not None
        request = ExtensionRequest(
            ticket_id=dispatched,
            requested_by_id=user(s, "cg1").id or 0,
            requested_at=clock.now(),
            old_deadline_at=ticket.deadline_at,
            new_deadline_at=ticket.deadline_at + timedelta(days=1),
            reason="旧申请",
        )
        s.add(request)
        s.commit()
        request_id = request.id
    body = {"department_id": department_id("ga")} if move == "redispatch" else {"note": "请继续办理"}
    moved = desk.act("dispatcher", dispatched, move, body)
    assert [(e["id"], e["status"]) for e in moved["extensions"]] == [(request_id, "cancelled")]
    entry = _logged(dispatched, Action.REDISPATCH if move == "redispatch" else Action.OVERRULE)[0]
    assert entry["cancelled_extension_ids"] == [request_id]


def test_closing_with_open_parts_needs_a_confirmed_reason(desk: Desk, dispatched: int) -> None:
    deadline = (clock.now() + timedelta(days=3)).isoformat()
    zj, ga = department_id("zj"), department_id("ga")
    desk.act(
        "dispatcher",
        dispatched,
        "assists",
        {"department_id": zj, "part": "核查围挡", "deadline_at": deadline},
    )
    with_parts = desk.act(
        "dispatcher",
        dispatched,
        "assists",
        {"department_id": ga, "part": "疏导交通", "deadline_at": deadline},
    )
    done_part, open_part = (a["id"] for a in with_parts["assists"])
    desk.act("zj1", dispatched, f"assists/{done_part}/sign")
    desk.act("zj1", dispatched, f"assists/{done_part}/feedback", {"text": "围挡已整改"})
    desk.act("cg1", dispatched, "sign")
    answer = desk.client.post(
        f"/api/tickets/{dispatched}/feedback", headers=desk.headers("cg1"), data={"text": "已清运"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["open_assist_ids"] == [open_part]  # the lead may feed back; the parts are said
    assert _logged(dispatched, Action.FEEDBACK)[0]["open_assist_ids"] == [open_part]

    refused = desk.act("dispatcher", dispatched, "verify", {"passed": True}, expect=422)
    assert refused["field"] == "confirm_open_parts" and "市公安局平城分局" in refused["detail"]
    assert [(p["id"], p["department_id"], p["status"]) for p in refused["open_parts"]] == [
        (open_part, ga, "pending")
    ]
    no_reason = {"passed": True, "confirm_open_parts": True}
    assert desk.act("dispatcher", dispatched, "verify", no_reason, expect=422)["field"] == "open_parts_reason"
    assert desk.get("dispatcher", dispatched)["state"] == "feedback"  # nothing changed

    confirmed = {**no_reason, "open_parts_reason": "交通已恢复，无需协办", "note": "核查通过"}
    closed = desk.act("dispatcher", dispatched, "verify", confirmed)
    assert closed["state"] == "closed" and closed["open_assist_ids"] == []
    parts = {a["id"]: a for a in closed["assists"]}
    assert parts[open_part]["status"] == "closed" and parts[open_part]["done_at"]
    assert parts[open_part]["close_reason"] == "交通已恢复，无需协办"
    assert parts[done_part]["status"] == "done" and parts[done_part]["close_reason"] is None
    assert desk.actions("dispatcher", dispatched)[-3:] == ["feedback", "assist_close", "verify_pass"]
    assert _logged(dispatched, Action.ASSIST_CLOSE) == [{"task_id": open_part, "department_id": ga}]
    assert _logged(dispatched, Action.VERIFY_PASS)[0]["closed_assist_ids"] == [open_part]
    assert closed["log"][-2]["note"] == "交通已恢复，无需协办"


def test_overdue_part_notice_is_acknowledged_by_its_department(desk: Desk, dispatched: int) -> None:
    deadline = (clock.now() + timedelta(hours=1)).isoformat()
    zj = department_id("zj")
    desk.act(
        "dispatcher",
        dispatched,
        "assists",
        {"department_id": zj, "part": "核查围挡", "deadline_at": deadline},
    )
    desk.headers("zj1"), desk.headers("cg1")  # logged in before the clock moves
    start = clock.now()
    clock.set_clock(lambda: start + timedelta(hours=2))  # within the tokens' lifetime
    counts = supervise()
    assert counts["assist_red"] == 1
    notice = next(n for n in desk.get("zj1", dispatched)["notices"] if n["kind"] == "assist")
    assert notice["department_id"] == zj
    assert "ack_urge" in desk.get("zj1", dispatched)["allowed_actions"]
    desk.act("cg1", dispatched, f"notices/{notice['id']}/ack", expect=403)  # not addressed to the lead
    acked = desk.act("zj1", dispatched, f"notices/{notice['id']}/ack")
    assert next(n for n in acked["notices"] if n["id"] == notice["id"])["acknowledged_at"]
    assert desk.get("zj1", dispatched)["assists"][0]["warning_level"] == "red"
