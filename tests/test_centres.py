"""The command network 区 → 街道 → 社区 through the API: a community's queue, 上报 to the street, the street
dispatching to a district department, 核查 by the street, 下派 back down; who sees and may do what."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from dispatch import clock
from tests.helpers import demo_areas, first_grid_places, grids_in, inside, other_communities
from tests.workflow_helpers import Desk, department_id

Login = Callable[[str], dict[str, str]]

FIRST_GRID, COMMUNITY, STREET = first_grid_places()
FAR_COMMUNITY, NEIGHBOUR = other_communities()


def centre_login(area_code: str) -> str:
    """The demo dispatcher of an area's centre: zx<street>d or sq<community>d."""
    return f"zx{area_code[-3:]}d" if len(area_code) == 9 else f"sq{area_code[-6:]}d"


def centre_id(area_code: str) -> int:
    return department_id(centre_login(area_code)[:-1])


@pytest.fixture
def desk(client: TestClient, login: Login) -> Desk:
    return Desk(client, login)


def report_in_community(desk: Desk, run_worker: Callable[[], None], category: str = "06030") -> int:
    """wgy0001 reports 楼道堆物 in their grid; the demo rule sends it to the community workstation."""
    lon, lat = inside(FIRST_GRID)
    answer = desk.client.post(
        "/api/intake/patrol",
        data={"lon": lon, "lat": lat, "category_code": category, "description": "3号楼楼道堆放杂物"},
        headers=desk.headers("wgy0001"),
    )
    assert answer.status_code == 201, answer.text
    run_worker()
    return int(answer.json()["ticket_id"])


def listed(desk: Desk, user: str, **params: Any) -> list[int]:
    answer = desk.client.get("/api/tickets", params=params, headers=desk.headers(user))
    assert answer.status_code == 200, answer.text
    return [t["id"] for t in answer.json()["items"]]


def test_demo_logins_belong_to_the_first_grids_community_and_street(desk: Desk) -> None:
    me = {
        name: desk.client.get("/api/auth/me", headers=desk.headers(name)).json() for name in ("sqzx", "jdzx")
    }
    assert me["sqzx"]["area_code"] == COMMUNITY.code and me["jdzx"]["area_code"] == STREET.code
    assert me["sqzx"]["department_id"] == centre_id(COMMUNITY.code)
    assert me["jdzx"]["department_id"] == centre_id(STREET.code)


def test_community_street_district_each_take_their_step(desk: Desk, run_worker: Callable[[], None]) -> None:
    ticket = report_in_community(desk, run_worker)
    community, street = centre_id(COMMUNITY.code), centre_id(STREET.code)

    # 1. Routed to the community workstation's queue, not to a department.
    seen = desk.get("sqzx", ticket)
    assert (seen["state"], seen["centre_id"], seen["department_id"]) == ("manual", community, None)
    assert seen["centre_name"].endswith("工作站") and seen["escalation_level"] == "community"
    assert seen["community_code"] == COMMUNITY.code and seen["street_code"] == STREET.code
    assert {"dispatch", "escalate", "reject"} <= set(seen["allowed_actions"])
    assert "hand_down" not in seen["allowed_actions"]  # nothing below a community
    assert ticket in listed(desk, "sqzx", state="manual", own_centre=True)
    assert ticket not in listed(desk, "dispatcher", state="manual", own_centre=True)  # not the district's
    assert ticket in listed(desk, "dispatcher", state="manual")  # but the district sees everything
    # The street sees its area's tickets but does not steer what its community holds.
    assert desk.get("jdzx", ticket)["allowed_actions"] == []
    desk.act("jdzx", ticket, "dispatch", {"department_id": department_id("cg")}, expect=403)

    # 2. 上报 needs a reason; then the street centre's queue holds it.
    desk.act("sqzx", ticket, "escalate", {"note": ""}, expect=422)
    up = desk.act("sqzx", ticket, "escalate", {"note": "楼道堆物涉及多个单元，需街道协调物业"})
    assert (up["state"], up["centre_id"], up["escalation_level"]) == ("manual", street, "street")
    assert "上报" in up["manual_reason"]
    assert ticket in listed(desk, "jdzx", state="manual", own_centre=True)
    assert ticket not in listed(desk, "sqzx", state="manual", own_centre=True)
    assert desk.get("sqzx", ticket)["allowed_actions"] == []  # still in its area, no longer its to steer

    # 3. The street dispatches to a district department, which signs and reports back.
    street_view = desk.get("jdzx", ticket)
    assert {"dispatch", "hand_down", "escalate"} <= set(street_view["allowed_actions"])
    dispatched = desk.act(
        "jdzx", ticket, "dispatch", {"department_id": department_id("cg"), "note": "请城管清理"}
    )
    assert (dispatched["state"], dispatched["centre_id"]) == ("dispatched", street)
    desk.act("cg1", ticket, "sign")
    feedback = desk.client.post(
        f"/api/tickets/{ticket}/feedback", headers=desk.headers("cg1"), data={"text": "已清理楼道杂物"}
    )
    assert feedback.status_code == 200, feedback.text

    # 4. 核查 by the centre that dispatched it; the community sees the outcome but cannot verify.
    desk.act("sqzx", ticket, "verify", {"passed": True}, expect=403)
    closed = desk.act("jdzx", ticket, "verify", {"passed": True, "note": "街道核查通过"})
    assert closed["state"] == "closed"
    assert desk.get("sqzx", ticket)["state"] == "closed"
    log = desk.get("dispatcher", ticket)["log"]
    assert [e["action"] for e in log] == [
        "intake", "route_manual", "escalate", "dispatch", "sign", "feedback", "verify_pass",
    ]  # fmt: skip
    assert [e["to_centre"] for e in log[1:3]] == [f"{COMMUNITY.name}工作站", f"{STREET.name}综治中心"]

    # 5. KPIs by centre: each level counts its own part; a centre sees its area's centres only.
    by_centre = centre_kpis(desk, "dispatcher")
    assert by_centre[f"{COMMUNITY.name}工作站"][:3] == (1, 0, 0)  # received it, escalated it at once
    assert by_centre[f"{STREET.name}综治中心"][:3] == (1, 1, 1)  # dispatched and closed under it
    assert by_centre[f"{STREET.name}综治中心"][3] == 1.0  # 响应率: 城管 signed what the street sent
    assert "区指挥中心" not in by_centre  # the district never steered it
    assert set(centre_kpis(desk, "sqzx")) == {f"{COMMUNITY.name}工作站"}
    assert set(centre_kpis(desk, "jdzx")) == {f"{COMMUNITY.name}工作站", f"{STREET.name}综治中心"}


def centre_kpis(desk: Desk, user: str) -> dict[str, tuple[Any, ...]]:
    """KPI rows by centre over every ticket: name → (total, dispatched, closed, response rate)."""
    params = {"date_from": "2000-01-01T00:00:00", "date_to": "2100-01-01T00:00:00", "group_by": "centre"}
    answer = desk.client.get("/api/stats/kpis", params=params, headers=desk.headers(user))
    assert answer.status_code == 200, answer.text
    return {
        r["name"]: (r["total"], r["dispatched"], r["closed"], r["response_rate"])
        for r in answer.json()["rows"]
    }


def test_each_centre_counts_its_own_wait_and_hand_overs(desk: Desk, run_worker: Callable[[], None]) -> None:
    """Per-level clocks: the working time each centre's queue held the ticket, and who handed it on.

    Monday 2026-12-07 (office hours 08:30–12:00, 13:30–17:30): routed to the community at 09:00, 上报 at
    10:30 (the community waited 90 working minutes), 下派 back by the street at 14:00 (the street waited
    90 + 30 = 120), dispatched by the community at 15:00 (60 more: 150 for the community)."""
    at = lambda hour, minute=0: clock.set_clock(  # noqa: E731 - a short stage direction
        lambda: datetime(2026, 12, 7, hour, minute, tzinfo=ZoneInfo("Asia/Shanghai"))
    )
    for user in ("wgy0001", "sqzx", "jdzx", "dispatcher"):
        desk.headers(user)  # logged in now: a token is not valid before it was issued
    at(9)
    ticket = report_in_community(desk, run_worker)
    at(10, 30)
    desk.act("sqzx", ticket, "escalate", {"note": "需街道协调"})
    at(14)
    desk.act("jdzx", ticket, "hand-down", {"centre_id": centre_id(COMMUNITY.code), "note": "社区先行处置"})
    at(15)
    desk.act("sqzx", ticket, "dispatch", {"department_id": department_id("cg")})

    params = {"date_from": "2026-12-07T00:00:00", "date_to": "2026-12-08T00:00:00", "group_by": "centre"}
    answer = desk.client.get("/api/stats/kpis", params=params, headers=desk.headers("dispatcher"))
    rows = {r["name"]: r for r in answer.json()["rows"]}
    figures = {
        name: (r["escalated"], r["handed_down"], r["queued"], r["avg_queue_working_hours"])
        for name, r in rows.items()
    }
    assert figures == {
        f"{COMMUNITY.name}工作站": (1, 0, 1, 2.5),
        f"{STREET.name}综治中心": (0, 1, 1, 2.0),
    }
    # The same from the rollup once the scheduler's fold has run.
    from dispatch.stats.rollup import refresh

    assert refresh() >= 1
    again = desk.client.get("/api/stats/kpis", params=params, headers=desk.headers("dispatcher")).json()
    assert {r["name"]: r for r in again["rows"]} == rows


def test_outside_the_territory_a_ticket_does_not_exist(desk: Desk, run_worker: Callable[[], None]) -> None:
    ticket = report_in_community(desk, run_worker)
    far = centre_login(FAR_COMMUNITY.code)
    desk.get(far, ticket, expect=404)
    desk.act(far, ticket, "escalate", {"note": "越界"}, expect=404)
    desk.get(centre_login(NEIGHBOUR.code), ticket, expect=404)  # the same street, another community
    assert ticket not in listed(desk, far)
    assert ticket in listed(desk, "sqzx") and ticket in listed(desk, "jdzx")


def test_hand_down_goes_only_below_and_inside(desk: Desk, run_worker: Callable[[], None]) -> None:
    ticket = report_in_community(desk, run_worker, category="10001")  # no rule: the district's queue
    assert desk.get("dispatcher", ticket)["centre_id"] is None
    far_street = next(a for a in demo_areas() if a.level == "street" and a.code != STREET.code)
    for target in (far_street.code, FAR_COMMUNITY.code):  # not where the ticket is
        answer = desk.client.post(
            f"/api/tickets/{ticket}/hand-down",
            json={"centre_id": centre_id(target)},
            headers=desk.headers("dispatcher"),
        )
        assert answer.status_code == 422 and answer.json()["field"] == "centre_id", answer.text
    desk.act(
        "dispatcher", ticket, "hand-down", {"centre_id": department_id("cg")}, expect=422
    )  # not a centre
    down = desk.act(
        "dispatcher", ticket, "hand-down", {"centre_id": centre_id(STREET.code), "note": "街道先处置"}
    )
    assert (down["state"], down["centre_id"], down["escalation_level"]) == (
        "manual",
        centre_id(STREET.code),
        "street",
    )
    # The street hands it on to its community; not back to itself, not to another street's community.
    desk.act("jdzx", ticket, "hand-down", {"centre_id": centre_id(STREET.code)}, expect=422)
    desk.act("jdzx", ticket, "hand-down", {"centre_id": centre_id(COMMUNITY.code)})
    held = desk.get("sqzx", ticket)
    assert held["centre_id"] == centre_id(COMMUNITY.code) and "hand_down" not in held["allowed_actions"]
    assert "下派" in held["manual_reason"]
    # The community settles it itself: dispatches to its own staff, who sign.
    desk.act("sqzx", ticket, "dispatch", {"department_id": centre_id(COMMUNITY.code)})
    assert desk.act("sqgz", ticket, "sign")["state"] == "signed"


def test_escalating_from_the_street_reaches_the_district_and_stops_there(
    desk: Desk, run_worker: Callable[[], None]
) -> None:
    ticket = report_in_community(desk, run_worker)
    desk.act("sqzx", ticket, "escalate", {"note": "需街道协调"})
    at_district = desk.act("jdzx", ticket, "escalate", {"note": "需区级部门联合处置"})
    assert (at_district["centre_id"], at_district["escalation_level"]) == (None, "district")
    assert ticket in listed(desk, "dispatcher", state="manual", own_centre=True)
    assert "escalate" not in at_district["allowed_actions"]
    desk.act("dispatcher", ticket, "escalate", {"note": "再上报"}, expect=409)  # the top
    assert desk.get("jdzx", ticket)["allowed_actions"] == []  # the street watches, the district steers


def test_centre_consoles_see_their_area_live(
    client: TestClient, desk: Desk, run_worker: Callable[[], None]
) -> None:
    def socket(user: str) -> Any:
        token = desk.headers(user)["Authorization"].split()[1]
        return client.websocket_connect(f"/api/console/ws?token={token}&batch=1")

    with socket("sqzx") as community, socket(centre_login(FAR_COMMUNITY.code)) as far:
        ticket = report_in_community(desk, run_worker)
        desk.act("sqzx", ticket, "escalate", {"note": "需街道协调"})
        seen: list[tuple[int, str]] = []
        while "escalate" not in [a for _, a in seen]:
            seen += [(m["ticket"]["id"], m["action"]) for m in community.receive_json()]
        assert (ticket, "route_manual") in seen and (ticket, "escalate") in seen
        # The far community got nothing of it: its next message is a later ticket of its own area.
        lon, lat = inside(grids_in(FAR_COMMUNITY.code)[0])
        answer = client.post(
            "/api/intake/patrol",
            data={"lon": lon, "lat": lat, "category_code": "06030", "description": "楼道堆物"},
            headers=desk.headers("wgy0001"),
        )
        assert answer.status_code == 201
        run_worker()
        mine = far.receive_json()
        assert {m["ticket"]["id"] for m in mine} == {answer.json()["ticket_id"]}


def assignees(desk: Desk, user: str, ticket: int) -> list[str]:
    answer = desk.client.get(f"/api/tickets/{ticket}/assignees", headers=desk.headers(user))
    assert answer.status_code == 200, answer.text
    return [p["username"] for p in answer.json()]


def test_a_department_names_its_own_assignee_and_the_signer_takes_an_unassigned_one(
    desk: Desk, run_worker: Callable[[], None]
) -> None:
    first, second = desk.patrol("06010"), desk.patrol("06010")  # 暴露垃圾 → 区城市管理局 (cg)
    run_worker()
    assert assignees(desk, "cg1", first) == ["cg1", "cg2"]  # its staff, nobody else
    assert assignees(desk, "dispatcher", first) == []  # the centre sees it, the department assigns
    hidden = desk.client.get(f"/api/tickets/{first}/assignees", headers=desk.headers("zj1"))
    assert hidden.status_code == 404  # another department's ticket does not exist for zj
    cg2 = desk.client.get("/api/auth/me", headers=desk.headers("cg2")).json()["id"]
    zj1 = desk.client.get("/api/auth/me", headers=desk.headers("zj1")).json()["id"]
    desk.act("zj1", first, "assign", {"user_id": cg2}, expect=404)
    desk.act("dispatcher", first, "assign", {"user_id": cg2}, expect=403)  # not the centre's to assign
    answer = desk.client.post(
        f"/api/tickets/{first}/assign", json={"user_id": zj1}, headers=desk.headers("cg1")
    )
    assert answer.status_code == 422 and answer.json()["field"] == "user_id"
    assigned = desk.act("cg1", first, "assign", {"user_id": cg2})
    assert (assigned["assignee_id"], assigned["state"]) == (cg2, "dispatched")
    assert desk.actions("cg1", first)[-1] == "assign"
    mine = {
        t["id"]
        for t in desk.client.get("/api/tickets?assignee=me", headers=desk.headers("cg2")).json()["items"]
    }
    free = {
        t["id"]
        for t in desk.client.get("/api/tickets?assignee=none", headers=desk.headers("cg1")).json()["items"]
    }
    assert first in mine and second not in mine and second in free and first not in free
    assert desk.act("cg2", first, "sign")["assignee_id"] == cg2  # assigned: signing keeps it
    signed = desk.act("cg1", second, "sign")
    assert signed["assignee_name"] and signed["assignee_id"] != cg2  # unassigned: the signer takes it
    # Back with the centre, then with another department: nobody there is its 承办人 yet.
    desk.act("cg2", first, "return", {"reason": "非本部门职责"})
    assert desk.get("dispatcher", first)["assignee_id"] is None


def test_a_centre_assigns_its_queue_to_its_own_dispatchers(
    desk: Desk, run_worker: Callable[[], None]
) -> None:
    ticket = report_in_community(desk, run_worker)
    people = assignees(desk, "sqzx", ticket)
    assert "sqzx" in people and centre_login(COMMUNITY.code) in people and "dispatcher" not in people
    assert assignees(desk, "jdzx", ticket) == []  # the street watches it, does not hold it
    other = desk.client.get("/api/auth/me", headers=desk.headers(centre_login(COMMUNITY.code))).json()["id"]
    assert desk.act("sqzx", ticket, "assign", {"user_id": other})["assignee_id"] == other
    up = desk.act("sqzx", ticket, "escalate", {"note": "需街道协调"})
    assert up["assignee_id"] is None and "jdzx" in assignees(desk, "jdzx", ticket)


def test_per_person_figures_of_a_unit(desk: Desk, run_worker: Callable[[], None]) -> None:
    first, second = desk.patrol("06010"), desk.patrol("06010")  # both → 区城市管理局 (cg)
    run_worker()
    desk.act("cg1", first, "sign")
    desk.act("cg2", second, "sign")
    answer = desk.client.post(
        f"/api/tickets/{first}/feedback", headers=desk.headers("cg1"), data={"text": "已清运"}
    )
    assert answer.status_code == 200, answer.text
    period = {"date_from": "2000-01-01T00:00:00", "date_to": "2100-01-01T00:00:00"}
    mine = desk.client.get("/api/stats/people", params=period, headers=desk.headers("cg1"))
    assert mine.status_code == 200, mine.text
    rows = {r["name"]: r for r in mine.json()["rows"]}
    names = {
        u: desk.client.get("/api/auth/me", headers=desk.headers(u)).json()["full_name"]
        for u in ("cg1", "cg2")
    }
    figures = ("assigned", "open", "overdue", "handled", "on_time")
    assert {rows[names[u]][k] for u in ("cg1",) for k in ("assigned", "handled", "on_time")} == {1}
    assert [rows[names["cg2"]][k] for k in figures] == [1, 1, 0, 0, 0]
    assert rows[names["cg1"]]["open"] == 0 and rows[names["cg1"]]["avg_working_hours"] is not None
    # The district centre reads any department's; another department may not.
    cg = department_id("cg")
    centre = desk.client.get(
        "/api/stats/people", params={**period, "department_id": cg}, headers=desk.headers("dispatcher")
    )
    assert centre.json()["rows"] == mine.json()["rows"]
    other = desk.client.get(
        "/api/stats/people", params={**period, "department_id": cg}, headers=desk.headers("zj1")
    )
    assert other.status_code == 403
