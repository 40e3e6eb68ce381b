"""Working-time countdowns and supervision marks in a real browser: a dispatched ticket that the
dispatcher 督办s and gives a co-handling department shows 督办 and 协办 on the console's row and on the
department's workbench, and both count down in working time from the server's working_minutes_left."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.support import DESK, PHONE, SQLITE_ONLY, Server, log_in
from tests.browser.test_browser_panel import report, wait_state

pytestmark = [pytest.mark.e2e, SQLITE_ONLY]

COUNTDOWN = re.compile(r"^(剩余|超期) (\d+ 工作小时 \d+ 分|\d+ 工作分钟)$")


def test_countdown_in_working_time_and_urge_assist_marks(
    server: Server,
    new_context: Callable[..., BrowserContext],
    demo_position: tuple[float, float],
    shot: Callable[[Page, str], Path],
) -> None:
    lon, lat = demo_position
    ticket_id = report(server, lon, lat, "06010", "垃圾桶满溢")
    plain_id = report(server, lon + 3e-4, lat, "06010", "果皮箱破损")
    ticket = wait_state(server, ticket_id, "dispatched")
    wait_state(server, plain_id, "dispatched")
    departments = httpx.get(server.url("api/departments"), headers=server.headers("dispatcher")).json()
    helper = next(
        d
        for d in departments
        if d["name"] != ticket["department_name"] and not d["name"].endswith("街道办事处")
    )
    center = server.headers("dispatcher")
    urged = httpx.post(
        server.url(f"api/tickets/{ticket_id}/urge"), headers=center, json={"message": "请尽快处理"}
    )
    assert urged.status_code == 200, urged.text
    deadline = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    assisted = httpx.post(
        server.url(f"api/tickets/{ticket_id}/assists"),
        headers=center,
        json={"department_id": helper["id"], "part": "清理周边绿化带", "deadline_at": deadline},
    )
    assert assisted.status_code == 200, assisted.text
    listed = {t["id"]: t for t in server.tickets()}
    assert listed[ticket_id]["open_notice_count"] == 1
    assert listed[ticket_id]["assist_department_ids"] == [helper["id"]]
    minutes = listed[ticket_id]["working_minutes_left"]
    assert isinstance(minutes, int)

    console = new_context(DESK).new_page()
    log_in(console, server.url("/"), "dispatcher")
    row = console.locator(f'[data-testid="ticket-row"][data-ticket-id="{ticket_id}"]')
    expect(row.get_by_test_id("ticket-urge")).to_have_text("督办")
    expect(row.get_by_test_id("ticket-assist")).to_have_text("协办")
    expect(row.get_by_test_id("ticket-deadline")).to_have_text(COUNTDOWN)
    plain = console.locator(f'[data-testid="ticket-row"][data-ticket-id="{plain_id}"]')
    expect(plain.get_by_test_id("ticket-urge")).to_have_count(0)
    expect(plain.get_by_test_id("ticket-assist")).to_have_count(0)
    console.wait_for_timeout(300)
    shot(console, "console-marks")

    bench = new_context(DESK).new_page()
    log_in(bench, server.url("workbench.html"), "cg1")
    item = bench.locator(f'[data-testid="queue-row"][data-ticket-id="{ticket_id}"]')
    expect(item.get_by_test_id("row-urge")).to_have_text("督办")
    expect(item.get_by_test_id("row-has-assist")).to_have_text("协办 1")
    countdown = item.get_by_test_id("countdown")
    expect(countdown).to_have_text(COUNTDOWN)
    shown = int(countdown.get_attribute("data-minutes") or "")
    assert minutes - 5 <= shown <= minutes  # the server's figure, counted down for the seconds since
    hours, rest = divmod(abs(shown), 60)
    expected = f"{hours} 工作小时 {rest} 分" if hours else f"{rest} 工作分钟"
    assert countdown.inner_text().endswith(expected)
    plain_item = bench.locator(f'[data-testid="queue-row"][data-ticket-id="{plain_id}"]')
    expect(plain_item.get_by_test_id("row-urge")).to_have_count(0)
    shot(bench, "workbench-marks")

    small = new_context(PHONE).new_page()
    log_in(small, server.url("workbench.html"), "cg1")
    expect(
        small.locator(f'[data-testid="queue-row"][data-ticket-id="{ticket_id}"]').get_by_test_id("countdown")
    ).to_have_text(COUNTDOWN)
    shot(small, "workbench-marks-phone")
