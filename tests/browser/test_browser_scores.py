"""The 考核红黑榜 on the leader dashboard in a real browser: eight departments handled tickets last month
and this month with different outcomes; the leader sees this month's top and bottom five by score with
their change from last month, switches to streets and grid officers, and downloads the score sheet;
a street centre's dashboard ranks the communities of its own street."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from openpyxl import load_workbook
from playwright.sync_api import BrowserContext, Page, expect

from dispatch import clock
from dispatch.db import new_session
from tests.browser.support import DESK, SQLITE_ONLY, Server, log_in
from tests.browser.test_browser_panel import report, wait_state
from tests.helpers import grids_in, inside, patrol

pytestmark = [pytest.mark.e2e, SQLITE_ONLY]

# (category, its department's staff, what happened last month, what happens this month)
PLAN = [
    ("06010", "cg1", "close", "return"),
    ("09009", "ga1", "return", "close"),
    ("08001", "zj1", "sign", "sign"),
    ("08004", "sthj1", "none", "close"),
    ("21001", "yj1", "close", "none"),
    ("22002", "gr1", "sign", "return"),
    ("22003", "sw1", "return", "sign"),
    ("20001", "jd0501", "close", "close"),  # 邻里纠纷: the street's own office (永泰街道办事处)
]


def handle(server: Server, ticket: int, staff: str, outcome: str) -> None:
    wait_state(server, ticket, "dispatched")

    def post(user: str, path: str, **kwargs: object) -> None:
        answer = httpx.post(
            server.url(f"api/tickets/{ticket}/{path}"), headers=server.headers(user), **kwargs
        )  # type: ignore[arg-type]
        assert answer.status_code == 200, answer.text

    if outcome == "return":
        post(staff, "return", json={"reason": "非本部门职责"})
    if outcome in ("sign", "close"):
        post(staff, "sign")
    if outcome == "close":
        post(staff, "feedback", data={"text": "已处置完毕"})
        post("dispatcher", "verify", json={"passed": True, "note": ""})


def test_leader_sees_the_red_and_black_lists_with_the_change_from_last_month(
    server: Server,
    new_context: Callable[..., BrowserContext],
    demo_position: tuple[float, float],
    shot: Callable[[Page, str], Path],
) -> None:
    lon, lat = demo_position
    zone = ZoneInfo("Asia/Shanghai")
    today = datetime.now(zone)
    last_month = datetime(today.year, today.month, 1, 10, tzinfo=zone) - timedelta(days=3)
    # Last month's tickets are reported with this process's clock moved back (the server routes them
    # when they arrive); this month's through the API.
    clock.set_clock(lambda: last_month)
    try:
        with new_session() as session:
            earlier = [patrol(session, lon=lon, lat=lat, category=code).id or 0 for code, *_ in PLAN]
    finally:
        clock.set_clock(None)
    for ticket, (_, staff, outcome, _) in zip(earlier, PLAN, strict=True):
        handle(server, ticket, staff, outcome)
    now = [report(server, lon, lat, code, "巡查发现问题") for code, *_ in PLAN]
    for street in ("140213051", "140213052"):
        report(server, *inside(grids_in(street)[0]), "08001", "工地围挡破损")
    for ticket, (_, staff, _, outcome) in zip(now, PLAN, strict=True):
        handle(server, ticket, staff, outcome)

    expected = server.get("api/stats/scores?unit=department", "leader").json()
    assert expected["ranked"] == 8
    ranked = expected["rows"]
    assert ranked[0]["score"] > ranked[-1]["score"]

    page = new_context(DESK, accept_downloads=True).new_page()
    log_in(page, server.url("dashboard.html"), "leader")
    card = page.get_by_test_id("rank-card")
    expect(card).to_have_attribute("data-loading", "false")
    expect(card).to_have_attribute("data-unit", "department")
    expect(page.get_by_test_id("rank-info")).to_contain_text("平城区网格化社会治理考核办法（演示）")
    top = page.get_by_test_id("rank-top").get_by_test_id("rank-row")
    bottom = page.get_by_test_id("rank-bottom").get_by_test_id("rank-row")
    expect(top).to_have_count(5)
    expect(bottom).to_have_count(3)  # eight ranked: the last three (worst first), none shown twice
    best, worst = ranked[0], ranked[-1]
    expect(top.first).to_have_attribute("data-key", best["key"])
    expect(top.first.get_by_test_id("rank-score")).to_have_text(f"{best['score']:.2f}")
    expect(bottom.first).to_have_attribute("data-key", worst["key"])
    # 公安 closed this month after returning last month: up; 城管 the other way round: down.
    police = next(r for r in ranked if r["name"] == "市公安局平城分局")
    city = next(r for r in ranked if r["name"] == "区城市管理局")
    assert police["rank_change"] > 0 and city["rank_change"] < 0
    moves = page.locator(f'[data-testid="rank-row"][data-key="{police["key"]}"] [data-testid="rank-move"]')
    expect(moves).to_have_text(f"↑{police['rank_change']}")
    expect(moves).to_have_class("db-move db-move-up")
    down = page.locator(f'[data-testid="rank-row"][data-key="{city["key"]}"] [data-testid="rank-move"]')
    expect(down).to_have_text(f"↓{-city['rank_change']}")
    page.wait_for_timeout(400)
    shot(page, "dashboard-scores")

    with page.expect_download() as info:
        page.get_by_test_id("rank-xlsx").click()
    assert info.value.suggested_filename.startswith("scores-department-")
    sheet = load_workbook(io.BytesIO(Path(info.value.path()).read_bytes())).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[1][:3] == ("排名", "名称", "编码")
    assert [r[1] for r in rows[2:]] == [r["name"] for r in ranked]

    # Streets and grid officers.
    page.get_by_test_id("rank-unit").get_by_text("街道").click()
    expect(card).to_have_attribute("data-unit", "street")
    expect(card).to_have_attribute("data-ranked", "3")
    page.get_by_test_id("rank-unit").get_by_text("网格员").click()
    expect(card).to_have_attribute("data-unit", "officer")
    expect(top.first).to_have_attribute("data-key", "wgy0001")

    # A street centre ranks the communities of its street (no 部门 chip).
    centre = new_context(DESK).new_page()
    log_in(centre, server.url("dashboard.html"), "jdzx")
    centre_card = centre.get_by_test_id("rank-card")
    expect(centre_card).to_have_attribute("data-loading", "false")
    expect(centre_card).to_have_attribute("data-unit", "community")
    expect(centre.get_by_test_id("rank-unit").get_by_text("部门")).to_be_hidden()
    keys = centre.get_by_test_id("rank-row").evaluate_all("rows => rows.map(r => r.dataset.key)")
    assert keys and all(key.startswith("140213050") for key in keys)
