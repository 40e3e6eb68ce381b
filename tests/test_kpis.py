"""KPIs agree with the ticket log: hand-computed values on a small history, the KPI service against the
facts a generated history was built from, and each fact charged to the department (street, grid) that
held the ticket when it happened — checked on the worked example and against an independent replay of a
seeded random history's log."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, func, select

from dispatch import clock
from dispatch.catalog.models import Department
from dispatch.db import new_session
from dispatch.stats.models import KpiTicket, KpiWatermark
from dispatch.stats.rollup import compute, refresh
from dispatch.stats.service import GroupBy, compute_from_log, holders
from dispatch.tickets.models import Action, Ticket, TicketLog
from tests.helpers import grids_in, inside
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
    police, city = by_department["市公安局平城分局"], by_department["区城市管理局"]
    assert police["total"] == 1 and police["response_rate"] == 0.0 and police["return_rate"] == 0.0
    # 城管 held the returned ticket before it went to 公安: its return counts there.
    assert city["total"] == 5 and city["return_rate"] == round(1 / 5, 4)

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


# --- Each fact counts for the holder at the time (department / street / community / grid) -------------

FIGURES = (
    "total",
    "dispatched",
    "closed",
    "response_rate",
    "on_time_sign_rate",
    "on_time_handling_rate",
    "closure_rate",
    "on_time_closure_rate",
    "return_rate",
    "rework_rate",
    "extension_rate",
    "satisfaction_rate",
    "repeat_rate",
)


def figures(row: dict[str, Any]) -> dict[str, Any]:
    return {name: row[name] for name in FIGURES}


def rows_by_name(desk: Desk, group_by: str) -> dict[str, dict[str, Any]]:
    return {row["name"]: figures(row) for row in kpis(desk, group_by)["rows"]}


def log_rows(ticket_id: int) -> tuple[Ticket, list[TicketLog]]:
    with new_session() as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None
        entries = s.exec(
            select(TicketLog).where(TicketLog.ticket_id == ticket_id).order_by(col(TicketLog.id))
        ).all()
        return ticket, list(entries)


def test_each_fact_counts_for_the_department_that_held_the_ticket(
    desk: Desk, run_worker: Callable[[], None]
) -> None:
    """The worked example of dispatch/stats/service.py: routed to A (城管), A returns it, the centre
    redispatches it to B (公安), B signs, feeds back, it is closed and the caller is satisfied."""
    ticket = desk.call("KPI-HOLDER")
    run_worker()
    desk.act("cg1", ticket, "return", {"reason": "非本部门"})
    desk.act("dispatcher", ticket, "redispatch", {"department_id": department_id("ga")})
    close(desk, ticket, "ga1")
    desk.act("hotline", ticket, "callback", {"satisfaction": "satisfied"})

    cg, ga = department_id("cg"), department_id("ga")
    found, entries = log_rows(ticket)
    held = [(e.action, h.department_id) for e, h in zip(entries, holders(found, entries), strict=True)]
    assert held == [
        (Action.INTAKE, None),
        (Action.ROUTE, cg),  # the route row does not name the department: derived from the return
        (Action.RETURN, cg),
        (Action.REDISPATCH, ga),
        (Action.SIGN, ga),
        (Action.FEEDBACK, ga),
        (Action.VERIFY_PASS, ga),
        (Action.CALLBACK, ga),
    ]
    departments = rows_by_name(desk, "department")
    assert departments == {
        "区城市管理局": {
            "total": 1,
            "dispatched": 1,
            "closed": 0,
            "response_rate": 0.0,
            "on_time_sign_rate": None,
            "on_time_handling_rate": None,
            "closure_rate": 0.0,
            "on_time_closure_rate": None,
            "return_rate": 1.0,
            "rework_rate": None,
            "extension_rate": 0.0,
            "satisfaction_rate": None,
            "repeat_rate": 0.0,
        },
        "市公安局平城分局": {
            "total": 1,
            "dispatched": 1,
            "closed": 1,
            "response_rate": 1.0,
            "on_time_sign_rate": 1.0,
            "on_time_handling_rate": 1.0,
            "closure_rate": 1.0,
            "on_time_closure_rate": 1.0,
            "return_rate": 0.0,
            "rework_rate": 0.0,
            "extension_rate": 0.0,
            "satisfaction_rate": 1.0,
            "repeat_rate": 0.0,
        },
    }
    whole = {**departments["市公安局平城分局"], "return_rate": 1.0}  # the place saw both holdings
    for group_by in ("street", "community", "grid", "district"):
        (row,) = kpis(desk, group_by)["rows"]
        assert figures(row) == whole, group_by
    assert kpis(desk, "grid")["rows"][0]["key"] == grids_in("140213050")[0].code


def test_a_department_holding_a_ticket_twice_counts_it_once(
    desk: Desk, run_worker: Callable[[], None]
) -> None:
    ticket = desk.patrol("06010")
    run_worker()
    desk.act("cg1", ticket, "sign")
    desk.act("cg1", ticket, "return", {"reason": "非本部门"})
    desk.act("dispatcher", ticket, "redispatch", {"department_id": department_id("ga")})
    desk.act("ga1", ticket, "return", {"reason": "非本部门"})
    desk.act("dispatcher", ticket, "redispatch", {"department_id": department_id("cg")})
    close(desk, ticket)
    rows = rows_by_name(desk, "department")
    city, police = rows["区城市管理局"], rows["市公安局平城分局"]
    assert (city["total"], city["dispatched"], city["closed"]) == (1, 1, 1)
    assert city["response_rate"] == city["return_rate"] == city["closure_rate"] == 1.0
    assert (police["total"], police["response_rate"], police["return_rate"]) == (1, 0.0, 1.0)
    assert police["closure_rate"] == 0.0


# A seeded random history through the API, and an independent replay of its log.

STREETS = ("140213050", "140213051", "140213052")
CATEGORIES = ("06010", "06012", "09009", "08001")
TARGETS = ("cg", "ga", "zj")  # where the centre redispatches: few, so departments get tickets back


class History:
    """Drives tickets through the API at random (seeded), moving the clock so some moves are late.

    Remembers the one thing the log does not say: the department routing chose for each routed ticket
    (read from the ticket right after routing, before anyone else touched it).
    """

    def __init__(self, desk: Desk, rng: random.Random) -> None:
        self.desk, self.rng = desk, rng
        self.state: dict[int, str] = {}
        self.department: dict[int, int | None] = {}
        self.routed_to: dict[int, int] = {}
        self.hotline: set[int] = set()
        self.done: set[int] = set()
        self.offset = timedelta(0)
        with new_session() as s:
            self.users = {i: f"{code}1" for i, code in s.exec(select(Department.id, Department.code))}
        self.targets = [department_id(code) for code in TARGETS]
        self.into = 0  # the ticket duplicates are merged into

    def create(self, count: int, batch: str = "GEN") -> list[int]:
        rng, tickets = self.rng, []
        for n in range(count):
            lon, lat = inside(rng.choice(grids_in(rng.choice(STREETS))))
            category, kind = rng.choice(CATEGORIES), rng.random()
            if kind < 0.45:
                answer = self.desk.client.post(
                    "/api/intake/patrol",
                    headers=self.desk.headers("wgy0001"),
                    data={"lon": lon, "lat": lat, "category_code": category, "description": "巡查发现"},
                )
                assert answer.status_code == 201, answer.text
                ticket = int(answer.json()["ticket_id"])
            elif kind < 0.9:
                located = rng.random() < 0.75  # the others wait in the manual queue
                where = {"lon": lon, "lat": lat} if located else {"address": "不存在的地址"}
                ticket = self.desk.call(f"{batch}-{n}", category, located=False, **where)
                self.hotline.add(ticket)
            else:
                answer = self.desk.client.post(
                    "/api/intake/patrol",
                    headers=self.desk.headers("wgy0001"),
                    data={
                        "lon": lon,
                        "lat": lat,
                        "category_code": category,
                        "description": "已清除",
                        "self_resolved": "true",
                    },
                    files=[("photos", ("p.png", png_bytes(), "image/png"))],
                )
                assert answer.status_code == 201, answer.text
                ticket = int(answer.json()["ticket_id"])
            tickets.append(ticket)
        return tickets

    def routed(self, tickets: list[int]) -> None:
        """Note where routing put each ticket, and log everyone in while the clock is still true (a
        token issued at a moved clock would not be valid yet)."""
        for ticket in tickets:
            detail = self.desk.get("dispatcher", ticket)
            self.state[ticket], self.department[ticket] = detail["state"], detail["department_id"]
            if detail["state"] == "dispatched":
                self.routed_to[ticket] = detail["department_id"]
        wanted = {self.users[d] for d in [*self.targets, *self.routed_to.values()]}
        for user in [*sorted(wanted), "dispatcher", "shiftlead", "hotline", "leader"]:
            self.desk.headers(user)
        self.into = next(t for t in tickets if self.state[t] == "dispatched" and t not in self.hotline)
        self.done.add(self.into)
        self.done.update(t for t in tickets if self.state[t] == "closed")  # self-resolved

    def move_clock(self) -> None:
        self.offset += timedelta(days=2)
        offset = self.offset
        clock.set_clock(lambda: datetime.now(UTC) + offset)

    def _act(self, user: str, ticket: int, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        detail = self.desk.act(user, ticket, path, body)
        self.state[ticket], self.department[ticket] = detail["state"], detail["department_id"]
        return detail

    def step(self, ticket: int) -> None:
        """One random move that the ticket's state allows; a ticket may also be left as it is for good."""
        rng, state, roll = self.rng, self.state[ticket], self.rng.random()
        staff = self.users.get(self.department[ticket] or 0, "")
        if state == "manual":
            if roll < 0.75:
                grid = rng.choice(grids_in(rng.choice(STREETS))).code
                body = {"department_id": rng.choice(self.targets), "grid_code": grid}
                self._act("dispatcher", ticket, "dispatch", body)
            elif roll < 0.9:
                self._act("dispatcher", ticket, "reject", {"reason": "不属受理范围"})
            else:
                self.merge(ticket)
        elif state == "dispatched":
            if roll < 0.55:
                self._act(staff, ticket, "sign")
            elif roll < 0.75:
                self._act(staff, ticket, "return", {"reason": "非本部门"})
            elif roll < 0.87:
                others = [d for d in self.targets if d != self.department[ticket]]
                self._act("dispatcher", ticket, "redispatch", {"department_id": rng.choice(others)})
            elif roll < 0.92:
                self.merge(ticket)
            else:
                self.done.add(ticket)
        elif state == "signed":
            if roll < 0.5:
                answer = self.desk.client.post(
                    f"/api/tickets/{ticket}/feedback", headers=self.desk.headers(staff), data={"text": "已办"}
                )
                assert answer.status_code == 200, answer.text
                self.state[ticket] = answer.json()["state"]
            elif roll < 0.7:
                self.extension(ticket, staff, approve=rng.random() < 0.7)
            elif roll < 0.8:
                self._act(staff, ticket, "return", {"reason": "非本部门"})
            elif roll < 0.92:
                helper = next(d for d in self.targets if d != self.department[ticket])
                deadline = (clock.now() + timedelta(days=3)).isoformat()
                body = {"department_id": helper, "part": "配合处置", "deadline_at": deadline}
                self._act("dispatcher", ticket, "assists", body)
            else:
                self.done.add(ticket)
        elif state == "returned":
            if roll < 0.55:
                self._act("dispatcher", ticket, "redispatch", {"department_id": rng.choice(self.targets)})
            elif roll < 0.8:
                self._act("dispatcher", ticket, "overrule", {"note": "请继续办理"})
            elif roll < 0.9:
                self._act("dispatcher", ticket, "reject", {"reason": "不属受理范围"})
            else:
                self.merge(ticket)
        elif state == "feedback":
            if roll < 0.65:
                body = {"passed": True, "confirm_open_parts": True, "open_parts_reason": "主办已办结"}
                self._act("dispatcher", ticket, "verify", body)
            else:
                self._act("dispatcher", ticket, "verify", {"passed": False, "note": "未整改到位"})
        elif state == "closed" and ticket in self.hotline and roll < 0.9:
            satisfaction = "unsatisfied" if roll < 0.45 else rng.choice(["satisfied", "basically_satisfied"])
            self._act("hotline", ticket, "callback", {"satisfaction": satisfaction})  # 不满意 reopens
            if satisfaction != "unsatisfied":
                self.done.add(ticket)
        else:
            self.done.add(ticket)
        if self.state[ticket] in ("rejected", "merged"):
            self.done.add(ticket)

    def merge(self, ticket: int) -> None:
        self.desk.act("dispatcher", ticket, "merge", {"into_ticket_id": self.into, "confirm": True})
        self.state[ticket] = "merged"

    def extension(self, ticket: int, staff: str, *, approve: bool) -> None:
        deadline = datetime.fromisoformat(self.desk.get(staff, ticket)["deadline_at"])
        wanted = (max(deadline, clock.now()) + timedelta(hours=2)).isoformat()
        detail = self._act(staff, ticket, "extensions", {"new_deadline_at": wanted, "reason": "需协调"})
        (pending,) = [e["id"] for e in detail["extensions"] if e["status"] == "pending"]
        if approve:
            self._act("shiftlead", ticket, f"extensions/{pending}/approve")
        else:
            self._act("shiftlead", ticket, f"extensions/{pending}/refuse", {"note": "理由不足"})


def replay(
    logs: dict[int, list[TicketLog]], routed_to: dict[int, int], grids_now: dict[int, str | None], level: str
) -> dict[str, dict[str, Any]]:
    """The KPI rows as the rule states them, replayed row by row into sets of (ticket, key) pairs.

    Written apart from the service: the department a route row sent the ticket to is what the test saw
    right after routing, and each fact is a set of holdings rather than a flag on a record.
    """

    def key_of(department: int | None, grid: str | None) -> str:
        place = grid or ""
        return {
            "department": str(department or ""),
            "street": place[:9],
            "community": place[:12],
            "grid": place,
            "district": "all",
        }[level]

    holdings: set[tuple[int, str]] = set()
    has: dict[str, set[tuple[int, str]]] = defaultdict(set)
    first_sign: dict[tuple[int, str], bool] = {}
    last_feedback: dict[tuple[int, str], bool] = {}
    last_callback: dict[tuple[int, str], bool] = {}
    closing: dict[tuple[int, str], bool] = {}  # holding -> closed on time, while it stays closed
    for ticket, rows in logs.items():
        department: int | None = None
        grid: str | None = None
        mine: set[tuple[int, str]] = set()
        for row in rows:
            a, data = row.action, row.data
            if a is Action.ROUTE:
                department, grid = routed_to[ticket], data["grid_code"]
            elif a is Action.ROUTE_MANUAL:
                grid = data["grid_code"]
            elif a is Action.DISPATCH:
                department, grid = data["department_id"], data["grid_code"]
            elif a is Action.REDISPATCH:
                department = data["department_id"]
            elif a is Action.SELF_RESOLVE:
                grid = grids_now[ticket]
            unit = (ticket, key_of(department, grid))
            on_time = bool(data.get("on_time"))
            if a in (Action.ROUTE, Action.DISPATCH, Action.REDISPATCH, Action.REOPEN):
                has["dispatched"].add(unit)
                mine.add(unit)
            if a is Action.REOPEN:
                closing.pop(unit, None)
            elif a is Action.SIGN:
                first_sign.setdefault(unit, on_time)
            elif a is Action.FEEDBACK:
                last_feedback[unit] = on_time
            elif a is Action.VERIFY_PASS:
                closing[unit] = on_time
            elif a is Action.SELF_RESOLVE:
                closing[unit] = True
                has["self_resolved"].add(unit)
            elif a is Action.CALLBACK:
                last_callback[unit] = data["satisfaction"] in ("satisfied", "basically_satisfied")
            elif a is Action.RETURN:
                has["returned"].add(unit)
            elif a is Action.VERIFY_FAIL:
                has["reworked"].add(unit)
            elif a is Action.APPROVE_EXTENSION:
                has["extended"].add(unit)
            elif a is Action.MERGE:
                has["merged"].add(unit)
            else:
                continue
            mine.add(unit)
        holdings |= mine or {(ticket, key_of(department, grid))}

    def count(units: Any, key: str, value: bool | None = None) -> int:
        if isinstance(units, dict):
            return sum(1 for unit, v in units.items() if unit[1] == key and (value is None or v == value))
        return sum(1 for unit in units if unit[1] == key)

    def ratio(numerator: int, denominator: int) -> float | None:
        return round(numerator / denominator, 4) if denominator else None

    expected = {}
    for key in {k for _, k in holdings}:
        dispatched, signed, fed = (
            count(has["dispatched"], key),
            count(first_sign, key),
            count(last_feedback, key),
        )
        closed, called = count(closing, key), count(last_callback, key)
        expected[key] = {
            "total": count(holdings, key),
            "dispatched": dispatched,
            "closed": closed,
            "response_rate": ratio(signed, dispatched),
            "on_time_sign_rate": ratio(count(first_sign, key, True), signed),
            "on_time_handling_rate": ratio(count(last_feedback, key, True), fed),
            "closure_rate": ratio(closed, dispatched + count(has["self_resolved"], key)),
            "on_time_closure_rate": ratio(count(closing, key, True), closed),
            "return_rate": ratio(count(has["returned"], key), dispatched),
            "rework_rate": ratio(count(has["reworked"], key), fed),
            "extension_rate": ratio(count(has["extended"], key), dispatched),
            "satisfaction_rate": ratio(count(last_callback, key, True), called),
            "repeat_rate": ratio(count(has["merged"], key), count(holdings, key)),
        }
    return expected


def test_kpis_charge_each_holder_in_a_generated_history(desk: Desk, run_worker: Callable[[], None]) -> None:
    history = History(desk, random.Random(20261202))
    tickets = history.create(56)
    run_worker()
    history.routed(tickets)
    while live := [t for t in tickets if t not in history.done]:
        if history.rng.random() < 0.5:
            history.move_clock()  # what was dispatched before is now late
        for ticket in live:
            history.step(ticket)

    with new_session() as s:
        entries = s.exec(select(TicketLog).order_by(col(TicketLog.id))).all()
        grids_now = dict(s.exec(select(Ticket.id, Ticket.grid_code)).all())
    logs: dict[int, list[TicketLog]] = defaultdict(list)
    for entry in entries:
        logs[entry.ticket_id].append(entry)
    assert set(logs) == set(tickets)
    # The history holds what the rule is about (else the seed no longer exercises it).
    actions = [e.action for e in entries]
    for needed in (
        Action.RETURN,
        Action.REDISPATCH,
        Action.REOPEN,
        Action.APPROVE_EXTENSION,
        Action.VERIFY_FAIL,
    ):
        assert actions.count(needed) >= 2, needed
    for needed in (Action.OVERRULE, Action.MERGE, Action.SELF_RESOLVE, Action.DISPATCH, Action.ADD_ASSIST):
        assert needed in actions, needed
    signs = [bool(e.data["on_time"]) for e in entries if e.action is Action.SIGN]
    assert True in signs and False in signs

    start = datetime.now(UTC) - timedelta(days=1)
    period = {"date_from": start.isoformat(), "date_to": (clock.now() + timedelta(days=1)).isoformat()}
    for level in ("department", "street", "community", "grid", "district"):
        answer = desk.client.get(
            "/api/stats/kpis", headers=desk.headers("leader"), params={**period, "group_by": level}
        )
        assert answer.status_code == 200, answer.text
        got = {row["key"]: figures(row) for row in answer.json()["rows"]}
        assert got == replay(logs, history.routed_to, grids_now, level), level
    by_department = replay(logs, history.routed_to, grids_now, "department")
    assert len(by_department) >= 3
    assert sum(r["total"] for r in by_department.values()) > len(tickets)  # some tickets changed hands


# The rollup: the same figures as the log, whatever has been folded in when a period is read.


def test_rollup_agrees_with_the_log_before_between_and_after_refreshes(
    desk: Desk, run_worker: Callable[[], None]
) -> None:
    history = History(desk, random.Random(20261204))
    for user in sorted(set(history.users.values())):  # logged in at the true time: a token issued
        desk.headers(user)  # at a moved clock would not be valid yet
    created: list[int] = []
    for round_ in range(3):  # three batches, each created two days after the one before
        batch = history.create(14, f"ROLLUP{round_}")
        run_worker()
        history.routed(batch)
        created += batch
        for step in range(3):
            for ticket in [t for t in created if t not in history.done]:
                history.step(ticket)
            if (round_ + step) % 2:
                assert refresh(log_rows_per_pass=25) > 0  # a partial fold, in many small passes
            assert_rollup_agrees(created)
        history.move_clock()
    assert refresh() > 0
    with new_session() as session:
        mark = session.exec(select(KpiWatermark.log_id)).one()
        assert mark == session.exec(select(func.max(TicketLog.id))).one()
        shared = session.exec(select(func.count()).select_from(KpiTicket)).one()
    assert shared == len(created)  # every ticket's share stored, once
    assert refresh() == 0  # nothing new: nothing folded twice
    assert_rollup_agrees(created)


def assert_rollup_agrees(tickets: list[int]) -> None:
    """Every grouping, for whole days, part-days at either end and a stretch inside one day."""
    with new_session() as session:
        first = min(session.exec(select(Ticket.created_at).where(col(Ticket.id).in_(tickets))))
    sh = ZoneInfo("Asia/Shanghai")
    midnight = datetime.combine(first.astimezone(sh).date(), datetime.min.time(), tzinfo=sh)
    periods = [
        (midnight - timedelta(days=1), midnight + timedelta(days=9)),  # whole days only
        (first - timedelta(minutes=1), midnight + timedelta(days=6, hours=15)),  # part-days at both ends
        (first - timedelta(minutes=1), first + timedelta(minutes=30)),  # inside one day
        (midnight + timedelta(days=2), midnight + timedelta(days=3)),  # the second batch's day alone
    ]
    with new_session() as session:
        for date_from, date_to in periods:
            for group_by in GroupBy:
                rolled = compute(session, group_by=group_by, date_from=date_from, date_to=date_to)
                replayed = compute_from_log(session, group_by=group_by, date_from=date_from, date_to=date_to)
                assert rolled == replayed, (group_by, date_from, date_to)
