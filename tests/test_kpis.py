"""KPIs agree with the ticket log: hand-computed values on a small history, and the KPI service against
the facts a generated history was built from."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dispatch import clock
from tests.workflow_helpers import Desk, department_id, png_bytes

Login = Callable[[str], dict[str, str]]


@pytest.fixture
def desk(client: TestClient, login: Login) -> Desk:
    return Desk(client, login)


def kpis(desk: Desk, group_by: str, fmt: str = "json") -> Any:
    start = (clock.now() - timedelta(days=1)).isoformat()
    end = (clock.now() + timedelta(days=1)).isoformat()
    answer = desk.client.get(
        "/api/stats/kpis",
        headers=desk.headers("leader"),
        params={"date_from": start, "date_to": end, "group_by": group_by, "format": fmt},
    )
    assert answer.status_code == 200, answer.text
    return answer.json() if fmt == "json" else answer


def close(desk: Desk, ticket: int, dept_user: str = "cg1") -> None:
    desk.act(dept_user, ticket, "sign")
    answer = desk.client.post(
        f"/api/tickets/{ticket}/feedback", headers=desk.headers(dept_user), data={"text": "已办"}
    )
    assert answer.status_code == 200
    desk.act("dispatcher", ticket, "verify", {"passed": True})


def test_hand_computed_kpis(desk: Desk, run_worker: Callable[[], None]) -> None:
    done, returned, extended, reworked = (desk.patrol("06010") for _ in range(4))
    called = desk.call("KPI-1")
    run_worker()
    close(desk, done)
    desk.act("cg1", returned, "return", {"reason": "非本部门"})
    desk.act("dispatcher", returned, "redispatch", {"department_id": department_id("ga")})
    desk.act("cg1", extended, "sign")
    deadline = desk.get("cg1", extended)["deadline_at"]
    from datetime import datetime

    wanted = (datetime.fromisoformat(deadline) + timedelta(days=1)).isoformat()
    request_id = desk.act("cg1", extended, "extensions", {"new_deadline_at": wanted, "reason": "协调"})[
        "extensions"
    ][0]["id"]
    desk.act("shiftlead", extended, f"extensions/{request_id}/approve")
    desk.act("cg1", reworked, "sign")
    desk.client.post(f"/api/tickets/{reworked}/feedback", headers=desk.headers("cg1"), data={"text": "已办"})
    desk.act("dispatcher", reworked, "verify", {"passed": False, "note": "未整改到位"})
    close(desk, called)
    desk.act("hotline", called, "callback", {"satisfaction": "basically_satisfied"})
    self_done = desk.client.post(
        "/api/intake/patrol",
        headers=desk.headers("wgy0001"),
        data={
            "lon": 113.25,
            "lat": 40.075,
            "category_code": "07001",
            "description": "已清除",
            "self_resolved": "true",
        },
        files=[("photos", ("p.png", png_bytes(), "image/png"))],
    )
    assert self_done.status_code == 201

    district = kpis(desk, "district")["rows"][0]
    # 6 tickets; 5 dispatched; signed: done, extended, reworked, called (+ the redispatched one? no) = 4.
    assert district["total"] == 6 and district["dispatched"] == 5
    assert district["response_rate"] == round(4 / 5, 4)
    assert district["closed"] == 3  # done, called, self-resolved
    assert district["closure_rate"] == round(3 / 6, 4)  # (5 dispatched + 1 self-resolved)
    assert district["return_rate"] == round(1 / 5, 4)
    assert district["rework_rate"] == round(1 / 3, 4)  # feedback on done, reworked, called
    assert district["extension_rate"] == round(1 / 5, 4)
    assert district["satisfaction_rate"] == 1.0
    assert district["repeat_rate"] == 0.0
    by_department = {row["name"]: row for row in kpis(desk, "department")["rows"]}
    assert (
        by_department["市公安局平城分局"]["total"] == 1
        and by_department["市公安局平城分局"]["response_rate"] == 0.0
    )
    assert by_department["区城市管理局"]["total"] == 4

    csv = kpis(desk, "department", "csv")
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.content.decode("utf-8-sig").splitlines()[0].startswith("编码,名称,受理量,派遣量")
    xlsx = kpis(desk, "category", "xlsx")
    assert xlsx.content[:2] == b"PK"  # a zip container, as XLSX is


def test_kpis_match_a_generated_history(desk: Desk, run_worker: Callable[[], None]) -> None:
    rng = random.Random(42)
    tickets = [desk.patrol(rng.choice(["06010", "06012", "09006"])) for _ in range(12)]
    run_worker()
    expected = {"signed": 0, "fed_back": 0, "closed": 0, "returned": 0, "reworked": 0}
    for ticket in tickets:
        path = rng.choice(["none", "sign", "return", "close", "rework"])
        if path == "none":
            continue
        if path == "return":
            desk.act("cg1", ticket, "return", {"reason": "非本部门"})
            expected["returned"] += 1
            continue
        desk.act("cg1", ticket, "sign")
        expected["signed"] += 1
        if path == "sign":
            continue
        desk.client.post(
            f"/api/tickets/{ticket}/feedback", headers=desk.headers("cg1"), data={"text": "已办"}
        )
        expected["fed_back"] += 1
        passed = path == "close"
        desk.act("dispatcher", ticket, "verify", {"passed": passed, "note": "" if passed else "返工"})
        expected["closed" if passed else "reworked"] += 1
    row = kpis(desk, "district")["rows"][0]
    assert row["total"] == row["dispatched"] == 12
    assert row["response_rate"] == round(expected["signed"] / 12, 4)
    assert row["closed"] == expected["closed"]
    assert row["return_rate"] == round(expected["returned"] / 12, 4)
    fed = expected["fed_back"]
    assert row["rework_rate"] == (round(expected["reworked"] / fed, 4) if fed else None)


def test_kpis_need_a_valid_period_and_role(desk: Desk) -> None:
    answer = desk.client.get(
        "/api/stats/kpis",
        headers=desk.headers("cg1"),
        params={"date_from": "2026-11-01T00:00:00+08:00", "date_to": "2026-12-01T00:00:00+08:00"},
    )
    assert answer.status_code == 403
    answer = desk.client.get(
        "/api/stats/kpis",
        headers=desk.headers("leader"),
        params={"date_from": "2026-12-01T00:00:00+08:00", "date_to": "2026-11-01T00:00:00+08:00"},
    )
    assert answer.status_code == 422 and answer.json()["field"] == "date_to"


def test_heat_counts_tickets_per_grid(desk: Desk, run_worker: Callable[[], None]) -> None:
    for _ in range(3):
        desk.patrol("06010")
    desk.patrol("06010", street="140213051")
    run_worker()
    start = (clock.now() - timedelta(days=1)).isoformat()
    end = (clock.now() + timedelta(days=1)).isoformat()
    answer = desk.client.get(
        "/api/stats/heat", headers=desk.headers("leader"), params={"date_from": start, "date_to": end}
    )
    assert answer.status_code == 200
    assert [g["count"] for g in answer.json()["grids"]] == [3, 1]
