"""考核: the scoring template (import, export, versions, bad input refused with its line) and the scores —
hand-computed on small cases, and computed both ways on a generated history: through the endpoint and
by walking the ticket log in the test (the rates with test_kpis' independent replay, the deductions and
the formula written out here)."""

from __future__ import annotations

import io
import math
import random
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlmodel import col, select

from dispatch import clock
from dispatch.auth.models import User
from dispatch.db import new_session
from dispatch.grids.models import Area, AreaLevel
from dispatch.tickets.models import Action, Ticket, TicketLog
from dispatch.tickets.supervision import supervise
from tests.helpers import first_grid_places
from tests.test_kpis import History, replay
from tests.workflow_helpers import Desk, department_id

Login = Callable[[str], dict[str, str]]
ADMIN_PATH = "/api/admin/scoring-templates"
UNITS = ("department", "street", "community", "officer")
LOWER_IS_BETTER = {"return_rate", "rework_rate", "extension_rate", "repeat_rate"}


@pytest.fixture
def desk(client: TestClient, login: Login) -> Desk:
    return Desk(client, login)


def put_template(desk: Desk, body: dict[str, Any]) -> dict[str, Any]:
    answer = desk.client.put(ADMIN_PATH, json=body, headers=desk.headers("admin"))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def only(rates: dict[str, float], deductions: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"rates": rates, "deductions": deductions or {}}


def scores(desk: Desk, unit: str, user: str = "leader", expect: int = 200, **params: Any) -> Any:
    if "date_from" not in params and "month" not in params:
        params["date_from"] = (datetime.now(UTC) - timedelta(days=1)).isoformat()
        params["date_to"] = (clock.now() + timedelta(days=1)).isoformat()
    if unit:  # none: the viewer's default
        params["unit"] = unit
    answer = desk.client.get("/api/stats/scores", headers=desk.headers(user), params=params)
    assert answer.status_code == expect, answer.text
    return answer.json() if params.get("format", "json") == "json" and expect == 200 else answer


def by_name(table: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in table["rows"]}


def version_count(desk: Desk) -> int:
    return len(desk.client.get(ADMIN_PATH, headers=desk.headers("admin")).json()["versions"])


# --- the template ---------------------------------------------------------------------------------


def test_demo_template_round_trips_through_yaml_csv_and_json(desk: Desk) -> None:
    listed = desk.client.get(ADMIN_PATH, headers=desk.headers("admin")).json()
    assert [v["source"] for v in listed["versions"]] == ["demo"]
    demo = listed["current"]
    assert demo["version"] == 1 and "考核办法" in demo["title"]
    assert sum(demo["template"]["department"]["rates"].values()) == 100

    exported = desk.client.get(f"{ADMIN_PATH}/export", headers=desk.headers("admin"))
    assert exported.status_code == 200 and "response_rate: 10  # 响应率" in exported.text
    assert exported.headers["content-disposition"] == 'attachment; filename="scoring-template-v1.yaml"'
    again = desk.client.post(
        f"{ADMIN_PATH}/import",
        params={"fmt": "yaml"},
        files={"file": ("t.yaml", exported.content, "application/yaml")},
        headers=desk.headers("admin"),
    )
    assert again.status_code == 200, again.text
    assert again.json()["version"] == 2 and again.json()["template"] == demo["template"]

    as_csv = desk.client.get(f"{ADMIN_PATH}/export", params={"fmt": "csv"}, headers=desk.headers("admin"))
    assert as_csv.text.splitlines()[:2] == [
        "unit,item,weight,points,cap,label",
        "department,response_rate,10,,,部门 · 响应率",
    ]
    from_csv = desk.client.post(
        f"{ADMIN_PATH}/import",
        params={"fmt": "csv", "title": "CSV 导入"},
        files={"file": ("t.csv", as_csv.content, "text/csv")},
        headers=desk.headers("admin"),
    ).json()
    assert from_csv["version"] == 3 and from_csv["title"] == "CSV 导入"
    assert {k: v for k, v in from_csv["template"].items() if k != "title"} == {
        k: v for k, v in demo["template"].items() if k != "title"
    }

    # Chinese names work as well as English ones; a dry run stores nothing.
    body = {
        "title": "中文名称",
        "部门": {
            "权重": {"响应率": 60, "按期办结率": 40},
            "扣分": {"超期": 1, "回退被驳回": {"points": 2, "cap": 4}},
        },
        "街道": only({"closure_rate": 100}),
        "社区": only({"closure_rate": 100}),
        "网格员": only({"closure_rate": 100}),
    }
    dry = desk.client.put(ADMIN_PATH, json=body, params={"dry_run": "true"}, headers=desk.headers("admin"))
    assert dry.status_code == 200 and dry.json()["saved"] is False and version_count(desk) == 3
    saved = put_template(desk, body)
    assert saved["version"] == 4 and saved["source"] == "api"
    assert saved["template"]["department"] == {
        "rates": {"response_rate": 60, "on_time_closure_rate": 40},
        "deductions": {"overdue": {"points": 1, "cap": None}, "overruled_return": {"points": 2, "cap": 4}},
    }
    old = desk.client.get(f"{ADMIN_PATH}/1", headers=desk.headers("admin")).json()
    assert old["template"] == demo["template"]  # versions are kept as they were
    assert desk.client.get(f"{ADMIN_PATH}/99", headers=desk.headers("admin")).status_code == 404


VALID_YAML = """\
title: 测试模板
department:
  rates:
    response_rate: 40
    on_time_handling_rate: 30
    return_rate: 30
  deductions:
    overdue: {points: 1, cap: 10}
    urge: 0.5
street:
  rates:
    closure_rate: 100
community:
  rates:
    closure_rate: 100
officer:
  rates:
    closure_rate: 100
"""
VALID_CSV = """\
unit,item,weight,points,cap
department,response_rate,40,,
department,on_time_handling_rate,30,,
department,return_rate,30,,
department,overdue,,1,10
street,closure_rate,100,,
community,结案率,100,,
网格员,closure_rate,100,,
"""

# (format, what to replace, by what, the problem: line, field, a piece of the message)
BAD_FILES = [
    ("yaml", "return_rate: 30", "return_rate: 25", (6, "department.rates", "合计为 95，应为 100")),
    (
        "yaml",
        "return_rate: 30",
        "speed_rate: 30",
        (6, "department.rates.speed_rate", "未知的指标「speed_rate」"),
    ),
    ("yaml", "urge: 0.5", "late: 0.5", (9, "department.deductions.late", "未知的扣分项「late」")),
    (
        "yaml",
        "on_time_handling_rate: 30",
        "on_time_handling_rate: -30",
        (5, "department.rates.on_time_handling_rate", "不能为负数"),
    ),
    (
        "yaml",
        "    return_rate: 30\n",
        "    return_rate: 15\n    回退率: 15\n",
        (7, "department.rates.回退率", "「回退率」重复，第 6 行已给出"),
    ),
    (
        "yaml",
        "officer:\n  rates:\n    closure_rate: 100\n",
        "",
        (None, "officer", "缺少「网格员」（officer）部分"),
    ),
    ("yaml", "cap: 10}", "cap: 十}", (8, "department.deductions.overdue.cap", "扣分上限不是数字")),
    ("yaml", "street:", "streets:", (10, "streets", "未知的部分「streets」")),
    ("yaml", "title: 测试模板", "title: [", (3, "file", "YAML 格式错误")),
    (
        "csv",
        "department,return_rate,30,,",
        "department,return_rate,31,,",
        (4, "department.rates", "合计为 101"),
    ),
    (
        "csv",
        "street,closure_rate,100,,",
        "street,closure_rates,100,,",
        (6, "item", "未知的指标或扣分项「closure_rates」"),
    ),
    ("csv", "department,return_rate,30,,", "department,return_rate,-30,,", (4, "weight", "不能为负数")),
    (
        "csv",
        "community,结案率,100,,\n",
        "community,结案率,100,,\ncommunity,closure_rate,100,,\n",
        (8, "item", "「结案率」重复，第 7 行已给出"),
    ),
    ("csv", "网格员,closure_rate,100,,\n", "", (None, "officer", "缺少「网格员」（officer）部分")),
    ("csv", "department,overdue,,1,10", "department,overdue,2,1,10", (5, "weight", "只填 points")),
    ("csv", "street,closure_rate", "district,closure_rate", (6, "unit", "未知的考核对象「district」")),
]


@pytest.mark.parametrize(("fmt", "old", "new", "problem"), BAD_FILES)
def test_a_bad_template_file_is_refused_with_its_line_and_nothing_is_stored(
    desk: Desk, fmt: str, old: str, new: str, problem: tuple[int | None, str, str]
) -> None:
    valid = VALID_YAML if fmt == "yaml" else VALID_CSV
    assert old in valid
    answer = desk.client.post(
        f"{ADMIN_PATH}/import",
        params={"fmt": fmt},
        files={"file": (f"t.{fmt}", valid.replace(old, new).encode(), "text/plain")},
        headers=desk.headers("admin"),
    )
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["field"] == "file" and "未保存" in body["detail"]
    line, field, message = problem
    found = [(p["line"], p["field"], p["message"]) for p in body["problems"]]
    assert any(p[0] == line and p[1] == field and message in p[2] for p in found), found
    assert version_count(desk) == 1
    # The valid file itself loads.
    good = desk.client.post(
        f"{ADMIN_PATH}/import",
        params={"fmt": fmt},
        files={"file": (f"t.{fmt}", valid.encode(), "text/plain")},
        headers=desk.headers("admin"),
    )
    assert good.status_code == 200, good.text


def test_text_that_cannot_be_answered_or_stored_is_shown_readably(desk: Desk) -> None:
    """Found by fuzzing: YAML's "\\ud800" escape makes a lone surrogate, which no JSON answer can carry."""
    text = VALID_YAML.replace("return_rate: 30", '"\\ud800rate": 30')
    text = text.replace("title: 测试模板", 'title: "模板\\0"')
    answer = desk.client.post(
        f"{ADMIN_PATH}/import",
        params={"fmt": "yaml"},
        files={"file": ("t.yaml", text.encode(), "text/plain")},
        headers=desk.headers("admin"),
    )
    assert answer.status_code == 422, answer.text
    assert any("未知的指标「?rate」" in p["message"] for p in answer.json()["problems"])
    fixed = text.replace('"\\ud800rate": 30', "return_rate: 30")
    answer = desk.client.post(
        f"{ADMIN_PATH}/import",
        params={"fmt": "yaml"},
        files={"file": ("t.yaml", fixed.encode(), "text/plain")},
        headers=desk.headers("admin"),
    )
    assert answer.status_code == 200 and answer.json()["title"] == "模板\\0"


def test_a_bad_json_template_names_the_field(desk: Desk) -> None:
    body = {"title": "x", "department": only({"response_rate": 50, "closure_rate": 40})}
    answer = desk.client.put(ADMIN_PATH, json=body, headers=desk.headers("admin"))
    assert answer.status_code == 422 and answer.json()["field"] == "body"
    problems = {(p["line"], p["field"]) for p in answer.json()["problems"]}
    assert (None, "department.rates") in problems  # 90, not 100
    assert {(None, "street"), (None, "community"), (None, "officer")} <= problems
    assert version_count(desk) == 1


# --- hand-computed scores -------------------------------------------------------------------------


def test_hand_computed_department_score(desk: Desk, run_worker: Callable[[], None]) -> None:
    """城管 holds two tickets: it signs one; it returns the other, the centre overrules the return, it
    signs that too; the first is urged once by a person; both go overdue (red card, with the automatic
    催办 that does not count as 督办). Nobody called back: 满意率 has no data.

    响应率 2/2 = 1, 回退率 1/2 → 0.5; the weights present are 50 + 30 = 80:
    base = (50 × 1 + 30 × 0.5) × 100 / 80 = 81.25; deductions: 超期 2 × 2 = 4 capped at 3, 督办 1 × 1,
    回退被驳回 1 × 5 → 9; score 72.25."""
    put_template(
        desk,
        {
            "title": "手算",
            "department": only(
                {"response_rate": 50, "return_rate": 30, "satisfaction_rate": 20},
                {
                    "overdue": {"points": 2, "cap": 3},
                    "urge": {"points": 1},
                    "overruled_return": {"points": 5},
                    "unsatisfied": {"points": 4},
                },
            ),
            "street": only({"closure_rate": 100}, {"overdue": {"points": 10}}),
            "community": only({"closure_rate": 100}),
            "officer": only({"closure_rate": 100}),
        },
    )
    first, second = desk.patrol("06010"), desk.patrol("06010")
    run_worker()
    desk.act("cg1", first, "sign")
    desk.act("cg1", second, "return", {"reason": "非本部门"})
    desk.act("dispatcher", second, "overrule", {"note": "属城管职责"})
    desk.act("cg1", second, "sign")
    desk.act("dispatcher", first, "urge", {"message": "请加快办理"})
    for user in ("leader", "admin"):
        desk.headers(user)  # logged in at the true time
    late = max(datetime.fromisoformat(desk.get("cg1", t)["deadline_at"]) for t in (first, second))
    clock.set_clock(lambda: late + timedelta(minutes=1))
    assert supervise()["red"] == 2

    table = scores(desk, "department")
    assert table["template"]["title"] == "手算" and table["no_data_rule"] == "rescale"
    assert table["ranked"] == 1
    (city,) = table["rows"]
    assert city["name"] == "区城市管理局" and city["key"] == str(department_id("cg"))
    assert city["rates"] == {"response_rate": 1.0, "return_rate": 0.5, "satisfaction_rate": None}
    assert city["missing_rates"] == ["satisfaction_rate"]
    assert city["rate_points"] == {"response_rate": 62.5, "return_rate": 18.75, "satisfaction_rate": None}
    assert city["deductions"] == {
        "overdue": {"count": 2, "points": 3.0},
        "urge": {"count": 1, "points": 1.0},
        "unsatisfied": {"count": 0, "points": 0.0},
        "overruled_return": {"count": 1, "points": 5.0},
    }
    assert (city["base"], city["deducted"], city["score"], city["rank"]) == (81.25, 9.0, 72.25, 1)
    assert city["previous_score"] is city["score_change"] is city["rank_change"] is None

    # The street: 结案率 0 and two red cards at 10 points each: floored at 0, not negative.
    (street,) = scores(desk, "street")["rows"]
    assert (street["base"], street["deducted"], street["score"]) == (0.0, 20.0, 0.0)


def test_rank_and_change_from_the_previous_period(desk: Desk, run_worker: Callable[[], None]) -> None:
    """Last period 城管 signed and 公安 returned; this period the other way round: they swap places."""
    put_template(
        desk,
        {
            "title": "只看响应率",
            "department": only({"response_rate": 100}),
            "street": only({"closure_rate": 100}),
            "community": only({"closure_rate": 100}),
            "officer": only({"closure_rate": 100}),
        },
    )
    for user in ("cg1", "ga1", "leader", "wgy0001"):
        desk.headers(user)
    now = datetime.now(UTC)
    for days_ago, signer, returner in ((10, "cg1", "ga1"), (0, "ga1", "cg1")):
        clock.set_clock(lambda days_ago=days_ago: datetime.now(UTC) - timedelta(days=days_ago))
        city, police = desk.patrol("06010"), desk.patrol("09009")
        run_worker()
        mine = {"cg1": city, "ga1": police}
        desk.act(signer, mine[signer], "sign")
        desk.act(returner, mine[returner], "return", {"reason": "非本部门"})
    clock.set_clock(None)
    period = {
        "date_from": (now - timedelta(days=5)).isoformat(),
        "date_to": (now + timedelta(days=1)).isoformat(),
    }
    table = scores(desk, "department", **period)
    assert table["previous"]["date_to"] == table["date_from"]
    rows = by_name(table)
    police, city = rows["市公安局平城分局"], rows["区城市管理局"]
    assert (police["score"], police["rank"], police["previous_score"], police["previous_rank"]) == (
        100,
        1,
        0,
        2,
    )
    assert (police["score_change"], police["rank_change"]) == (100, 1)
    assert (city["score"], city["rank"], city["score_change"], city["rank_change"]) == (0, 2, -100, -1)
    assert [row["name"] for row in table["rows"]] == ["市公安局平城分局", "区城市管理局"]

    # Months: the previous period of a month is the month before.
    month = scores(desk, "department", month="2026-03")
    assert month["rows"] == [] and month["date_from"].startswith("2026-03-01T00:00:00")
    assert (
        month["previous"]["date_from"].startswith("2026-02-01")
        and month["previous"]["date_to"] == month["date_from"]
    )
    assert scores(desk, "department", month="2026-13", expect=422).json()["field"] == "month"
    assert scores(desk, "department", expect=422, date_from=now.isoformat()).json()["field"] == "date_to"


def test_equal_scores_share_a_rank(desk: Desk, run_worker: Callable[[], None]) -> None:
    put_template(
        desk,
        {
            "title": "并列",
            "department": only({"response_rate": 100}),
            "street": only({"closure_rate": 100}),
            "community": only({"closure_rate": 100}),
            "officer": only({"closure_rate": 100}),
        },
    )
    tickets = [desk.patrol("06010"), desk.patrol("09009"), desk.patrol("08001")]
    run_worker()
    desk.act("cg1", tickets[0], "sign")
    desk.act("ga1", tickets[1], "sign")
    table = scores(desk, "department")
    assert [(row["score"], row["rank"]) for row in table["rows"]] == [(100, 1), (100, 1), (0, 3)]


# --- who may read what ----------------------------------------------------------------------------


def test_who_sees_which_scores(desk: Desk, run_worker: Callable[[], None]) -> None:
    grid, community, street = first_grid_places()
    for where in ("140213050", "140213051", "140213052"):
        desk.patrol("09009", street=where)
    desk.patrol("06010")
    run_worker()
    everything = {unit: scores(desk, unit) for unit in UNITS}
    assert {row["key"] for row in everything["street"]["rows"]} == {"140213050", "140213051", "140213052"}
    assert len(everything["department"]["rows"]) == 3  # 古城街道 handles 09 itself
    for user in ("shiftlead", "dispatcher", "admin"):
        assert scores(desk, "department", user)["rows"] == everything["department"]["rows"]

    # Department staff: their own department's row, with its district rank; nothing else.
    own = scores(desk, "department", "cg1")
    assert [row["name"] for row in own["rows"]] == ["区城市管理局"] and own["ranked"] == 3
    assert own["rows"][0]["rank"] in (1, 2, 3)
    assert [row["name"] for row in scores(desk, "", "cg1")["rows"]] == ["区城市管理局"]  # the default
    assert scores(desk, "street", "cg1", expect=403).json()["field"] == "unit"

    # A street centre: its street's communities (the default) and officers; no departments.
    jdzx = scores(desk, "", "jdzx")
    assert jdzx["unit"] == "community" and {row["key"] for row in jdzx["rows"]} == {community.code}
    assert {row["key"] for row in scores(desk, "street", "jdzx")["rows"]} == {street.code}
    officers = scores(desk, "officer", "jdzx")["rows"]
    assert officers and all(code.startswith(street.code) for row in officers for code in row["areas"])
    assert scores(desk, "department", "jdzx", expect=422).json()["field"] == "unit"
    # A community workstation: its grid officers by default.
    sqzx = scores(desk, "", "sqzx")
    assert sqzx["unit"] == "officer" and [row["areas"] for row in sqzx["rows"]] == [[grid.code]]
    assert scores(desk, "street", "sqzx")["rows"] == []

    for user in ("hotline", "wgy0001"):
        scores(desk, "department", user, expect=403)
    assert desk.client.get("/api/stats/scores").status_code == 401


def test_scores_as_csv_and_xlsx(desk: Desk, run_worker: Callable[[], None]) -> None:
    desk.patrol("06010")
    run_worker()
    table = scores(desk, "department")
    (row,) = table["rows"]
    csv = scores(desk, "department", format="csv")
    assert csv.headers["content-type"].startswith("text/csv")
    header, line = csv.content.decode("utf-8-sig").splitlines()
    assert header.startswith("排名,名称,编码,响应率（权重 10）,按时签收率（权重 10）")
    assert "超期次数,超期扣分" in header and header.endswith(
        "得分,上期得分,得分变化,上期排名,排名变化（正数为上升）,无数据指标"
    )
    assert line.startswith(f"1,区城市管理局,{row['key']},0.0,")
    xlsx = scores(desk, "department", format="xlsx")
    assert xlsx.headers["content-disposition"].startswith('attachment; filename="scores-department-')
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    caption, headers, values = (list(r) for r in sheet.iter_rows(max_row=3, values_only=True))
    assert "部门考核得分" in str(caption[0]) and "无数据不计分" in str(caption[0])
    assert headers[:3] == ["排名", "名称", "编码"]
    assert values[headers.index("得分")] == row["score"] and values[1] == "区城市管理局"
    assert sheet.cell(row=3, column=4).number_format == "0.0%"


def test_scores_need_a_template(desk: Desk) -> None:
    with new_session() as session:
        from dispatch.scoring.models import ScoringTemplate

        for row in session.exec(select(ScoringTemplate)):
            session.delete(row)
        session.commit()
    answer = scores(desk, "department", expect=404)
    assert "尚未配置考核模板" in answer.json()["detail"]


# --- reproducible from the log --------------------------------------------------------------------

EVERY_RATE = {
    "response_rate": 12,
    "on_time_sign_rate": 8,
    "on_time_handling_rate": 12.5,
    "closure_rate": 12.5,
    "on_time_closure_rate": 10,
    "return_rate": 10,
    "rework_rate": 10,
    "extension_rate": 5,
    "satisfaction_rate": 15,
    "repeat_rate": 5,
}
EVERY_DEDUCTION = {
    "overdue": {"points": 1.5, "cap": 24},
    "urge": {"points": 0.5, "cap": None},
    "unsatisfied": {"points": 2, "cap": 4},
    "overruled_return": {"points": 3, "cap": None},
}


class UrgedHistory(History):
    """test_kpis' random history, plus 督办 by people now and then."""

    def step(self, ticket: int) -> None:
        if self.state[ticket] in ("dispatched", "signed") and self.rng.random() < 0.2:
            who = self.rng.choice(["dispatcher", "shiftlead", "leader"])
            self._act(who, ticket, "urge", {"message": "请加快办理"})
        super().step(ticket)


def holder_rows(
    logs: dict[int, list[TicketLog]], routed_to: dict[int, int], grids_now: dict[int, str | None]
) -> list[tuple[TicketLog, int | None, str | None]]:
    """Every log row with the department and grid holding its ticket then, walked forward."""
    found = []
    for ticket, rows in logs.items():
        department: int | None = None
        grid: str | None = None
        for row in rows:
            if row.action is Action.ROUTE:
                department, grid = routed_to[ticket], row.data["grid_code"]
            elif row.action is Action.ROUTE_MANUAL:
                grid = row.data["grid_code"]
            elif row.action is Action.DISPATCH:
                department, grid = row.data["department_id"], row.data["grid_code"]
            elif row.action is Action.REDISPATCH:
                department = row.data["department_id"]
            elif row.action is Action.SELF_RESOLVE:
                grid = grids_now[ticket]
            found.append((row, department, grid))
    return found


def expected_scores(
    logs: dict[int, list[TicketLog]],
    routed_to: dict[int, int],
    grids_now: dict[int, str | None],
    officer_of: dict[str, str],
    unit: str,
) -> dict[str, tuple[float | None, dict[str, int]]]:
    """Each unit's score and deduction events, worked out from the log rows with the template above."""
    level = "grid" if unit == "officer" else unit
    rates = replay(logs, routed_to, grids_now, level)
    if unit == "officer":
        rates = {officer_of[grid]: row for grid, row in rates.items() if grid in officer_of}
    events: dict[str, Counter[str]] = defaultdict(Counter)
    for row, department, grid in holder_rows(logs, routed_to, grids_now):
        place = grid or ""
        key = {
            "department": str(department or ""),
            "street": place[:9],
            "community": place[:12],
            "officer": officer_of.get(place, ""),
        }[unit]
        if row.action is Action.WARN_RED:
            events[key]["overdue"] += 1
        elif row.action is Action.URGE and row.actor_id is not None:
            events[key]["urge"] += 1
        elif row.action is Action.CALLBACK and row.data["satisfaction"] == "unsatisfied":
            events[key]["unsatisfied"] += 1
        elif row.action is Action.OVERRULE:
            events[key]["overruled_return"] += 1
    expected: dict[str, tuple[float | None, dict[str, int]]] = {}
    for key in (set(rates) | set(events)) - {""}:
        counted = {name: events[key][name] for name in EVERY_DEDUCTION}
        figures = rates.get(key, {})
        earned, weights = Fraction(0), Fraction(0)
        for name, weight in EVERY_RATE.items():
            rate = figures.get(name)
            if rate is None:
                continue
            value = Fraction(str(rate))
            earned += Fraction(str(weight)) * (1 - value if name in LOWER_IS_BETTER else value)
            weights += Fraction(str(weight))
        taken = Fraction(0)
        for name, rule in EVERY_DEDUCTION.items():
            points = Fraction(str(rule["points"])) * events[key][name]
            taken += points if rule["cap"] is None else min(points, Fraction(str(rule["cap"])))
        if not weights:
            expected[key] = None, counted
            continue
        score = max(Fraction(0), earned * 100 / weights - taken)
        expected[key] = math.floor(score * 100 + Fraction(1, 2)) / 100, counted
    return expected


def test_scores_are_reproducible_from_the_log(desk: Desk, run_worker: Callable[[], None]) -> None:
    put_template(
        desk,
        {"title": "全部指标", **{unit: only(EVERY_RATE, EVERY_DEDUCTION) for unit in UNITS}},
    )
    history = UrgedHistory(desk, random.Random(20261205))
    tickets = history.create(60)
    run_worker()
    history.routed(tickets)
    desk.headers("admin")
    while live := [t for t in tickets if t not in history.done]:
        if history.rng.random() < 0.5:
            history.move_clock()  # what was dispatched before is now late …
            supervise()  # … and supervision shows the red card
        for ticket in live:
            history.step(ticket)

    with new_session() as s:
        entries = s.exec(select(TicketLog).order_by(col(TicketLog.id))).all()
        grids_now = dict(s.exec(select(Ticket.id, Ticket.grid_code)).all())
        officer_of = {
            code: username
            for code, username in s.exec(
                select(Area.code, User.username)
                .join(User, col(User.id) == col(Area.duty_officer_id))
                .where(Area.level == AreaLevel.GRID)
            )
        }
    assert len(set(officer_of.values())) == len(officer_of)  # one grid each: an officer's row is the grid's
    logs: dict[int, list[TicketLog]] = defaultdict(list)
    for entry in entries:
        logs[entry.ticket_id].append(entry)
    # The history holds every kind of deduction event, more than once.
    actions = Counter(e.action for e in entries)
    assert actions[Action.WARN_RED] >= 3 and actions[Action.OVERRULE] >= 2
    assert sum(1 for e in entries if e.action is Action.URGE and e.actor_id is not None) >= 3
    assert sum(1 for e in entries if e.action is Action.URGE and e.actor_id is None) >= 1  # automatic
    assert (
        sum(1 for e in entries if e.action is Action.CALLBACK and e.data["satisfaction"] == "unsatisfied")
        >= 1
    )

    for unit in UNITS:
        table = scores(desk, unit)
        got = {
            row["key"]: (row["score"], {name: d["count"] for name, d in row["deductions"].items()})
            for row in table["rows"]
        }
        want = expected_scores(logs, history.routed_to, grids_now, officer_of, unit)
        assert got == want, unit
        assert len(got) >= 3, unit
        deducted = [row for row in table["rows"] if row["deducted"] > 0]
        assert deducted, unit
        ranks = [row["rank"] for row in table["rows"] if row["rank"] is not None]
        assert ranks == sorted(ranks) and ranks[0] == 1
    departments = scores(desk, "department")["rows"]
    assert len({row["score"] for row in departments}) >= 2  # the history tells departments apart
    assert any(row["deductions"]["overruled_return"]["count"] for row in departments)
    assert any(row["deductions"]["unsatisfied"]["count"] for row in departments)
