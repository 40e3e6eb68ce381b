"""The console's ticket panel in a real browser: a ticket no routing rule places (10001 其他事件) waits in
the manual queue with its reason; the dispatcher filters the queue, opens the ticket, dispatches it to a
department from the panel, and sees the server's 422 in Chinese next to a form it cannot accept."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.support import DESK, PHONE, SQLITE_ONLY, Server, log_in

pytestmark = [pytest.mark.e2e, SQLITE_ONLY]


def report(server: Server, lon: float, lat: float, code: str, text: str) -> int:
    answer = httpx.post(
        server.url("api/intake/patrol"),
        headers=server.headers("wgy0001"),
        data={"lon": lon, "lat": lat, "category_code": code, "description": text},
    )
    assert answer.status_code == 201, answer.text
    return int(answer.json()["ticket_id"])


def wait_state(server: Server, ticket_id: int, wanted: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        ticket = server.get(f"api/tickets/{ticket_id}").json()
        if ticket["state"] == wanted:
            return dict(ticket)
        time.sleep(0.2)
    raise AssertionError(f"ticket {ticket_id} never reached {wanted}")


def test_dispatcher_dispatches_a_manual_queue_ticket_from_the_panel(
    server: Server,
    new_context: Callable[..., BrowserContext],
    demo_position: tuple[float, float],
    shot: Callable[[Page, str], Path],
) -> None:
    lon, lat = demo_position
    report(server, lon + 2e-4, lat, "06010", "垃圾桶满溢")
    manual_id = report(server, lon, lat, "10001", "井盖松动，行人易绊倒")
    manual = wait_state(server, manual_id, "manual")
    assert manual["manual_reason"]

    page = new_context(DESK).new_page()
    log_in(page, server.url("/"), "dispatcher")
    expect(page.get_by_test_id("connection-status")).to_have_attribute("data-state", "open")
    page.get_by_test_id("filter-manual").click()
    rows = page.locator('[data-testid="ticket-row"]:visible')
    expect(rows).to_have_count(1)
    row = page.locator(f'[data-testid="ticket-row"][data-number="{manual["number"]}"]')
    expect(row.get_by_test_id("ticket-place")).to_contain_text("原因：")

    row.click()
    panel = page.get_by_test_id("ticket-panel")
    expect(panel).to_be_visible()
    expect(panel.get_by_test_id("panel-number")).to_have_text(manual["number"])
    expect(panel.get_by_test_id("panel-state")).to_have_text("待人工派遣")
    expect(panel.get_by_test_id("panel-manual-reason")).to_have_text(manual["manual_reason"])
    expect(panel.get_by_test_id("timeline-entry")).to_have_count(2)  # 受理, 转人工派遣
    expect(panel.get_by_test_id("timeline-entry").first).to_contain_text("转人工派遣")

    # A dispatch without a department is refused in Chinese before any request.
    panel.get_by_test_id("action-dispatch").click()
    form = panel.get_by_test_id("action-form")
    form.get_by_test_id("action-submit").click()
    expect(form.get_by_test_id("action-error")).to_have_text("请填写责任部门")
    form.get_by_test_id("field-department_id").select_option(label="区城市管理局")
    form.get_by_test_id("field-note").fill("井盖归城管维护")
    shot(page, "console-panel-dispatch-desktop")
    form.get_by_test_id("action-submit").click()

    expect(panel.get_by_test_id("panel-state")).to_have_text("已派遣(待签收)")
    expect(panel.get_by_test_id("panel-department")).to_have_text("区城市管理局")
    expect(panel.get_by_test_id("timeline-entry").first).to_contain_text("人工派遣")
    expect(panel.get_by_test_id("timeline-entry").first).to_contain_text("井盖归城管维护")
    expect(row).to_have_attribute("data-state", "dispatched")
    expect(row.get_by_test_id("ticket-department")).to_have_text("区城市管理局")

    # The server's 422 (a co-handling deadline in the past) is shown next to the form, in Chinese.
    panel.get_by_test_id("action-add_assist").click()
    form = panel.get_by_test_id("action-form")
    form.get_by_test_id("field-department_id").select_option(label="区住房和城乡建设局")
    form.get_by_test_id("field-part").fill("检查井盖下方管线")
    form.get_by_test_id("field-deadline_at").fill("2020-01-01T09:00")
    form.get_by_test_id("action-submit").click()
    expect(form.get_by_test_id("action-error")).to_have_text("协办期限：协办期限必须晚于当前时间")
    expect(form.get_by_test_id("field-deadline_at")).to_have_attribute("aria-invalid", "true")
    shot(page, "console-panel-desktop")

    detail = server.get(f"api/tickets/{manual_id}").json()
    assert detail["state"] == "dispatched"
    assert detail["department_name"] == "区城市管理局"
    assert detail["assists"] == []

    # The panel on a phone-sized console: full screen, closable.
    phone = new_context(PHONE).new_page()
    log_in(phone, server.url("/"), "dispatcher")
    phone.locator(f'[data-testid="ticket-row"][data-number="{manual["number"]}"]').click()
    expect(phone.get_by_test_id("panel-state")).to_have_text("已派遣(待签收)")
    phone.wait_for_timeout(300)
    shot(phone, "console-panel-phone")
    assert int(phone.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")) <= 0
    phone.get_by_test_id("panel-close").click()
    expect(phone.get_by_test_id("ticket-panel")).to_be_hidden()


def act(server: Server, username: str, ticket_id: int, path: str, **kwargs: Any) -> dict[str, Any]:
    answer = httpx.post(
        server.url(f"api/tickets/{ticket_id}/{path}"), headers=server.headers(username), **kwargs
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_closing_with_an_open_part_asks_for_a_reason(
    server: Server,
    new_context: Callable[..., BrowserContext],
    demo_position: tuple[float, float],
    shot: Callable[[Page, str], Path],
) -> None:
    lon, lat = demo_position
    ticket_id = report(server, lon, lat, "06010", "路边垃圾堆放，占用人行道")
    dispatched = wait_state(server, ticket_id, "dispatched")
    zj = next(d["id"] for d in server.get("api/departments").json() if d["name"] == "区住房和城乡建设局")
    act(
        server,
        "dispatcher",
        ticket_id,
        "assists",
        json={"department_id": zj, "part": "清理工地外溢渣土", "deadline_at": dispatched["deadline_at"]},
    )
    act(server, "cg1", ticket_id, "sign")
    act(server, "cg1", ticket_id, "feedback", data={"text": "垃圾已清运"})

    page = new_context(DESK).new_page()
    log_in(page, server.url("/"), "dispatcher")
    page.locator(f'[data-testid="ticket-row"][data-number="{dispatched["number"]}"]').click()
    panel = page.get_by_test_id("ticket-panel")
    expect(panel.get_by_test_id("panel-state")).to_have_text("待核查")
    expect(panel.get_by_test_id("assists-open")).to_have_text("尚有 1 项协办未完成，结案时须确认关闭")

    panel.get_by_test_id("action-verify_pass").click()
    form = panel.get_by_test_id("action-form")
    form.get_by_test_id("action-submit").click()
    confirm = form.get_by_test_id("open-parts-confirm")
    expect(confirm).to_contain_text("尚有 1 项协办未完成")
    expect(confirm.get_by_test_id("open-part")).to_contain_text("区住房和城乡建设局 清理工地外溢渣土")
    expect(form.get_by_test_id("action-submit")).to_have_text("确认结案并关闭协办")
    form.get_by_test_id("action-submit").click()
    expect(form.get_by_test_id("action-error")).to_have_text("请填写关闭协办的理由")
    form.get_by_test_id("field-open_parts_reason").fill("渣土已由城管一并清运")
    shot(page, "console-panel-close-open-parts-desktop")
    form.get_by_test_id("action-submit").click()

    expect(panel.get_by_test_id("panel-state")).to_have_text("已结案")
    expect(panel.get_by_test_id("assist")).to_have_attribute("data-status", "closed")
    expect(panel.get_by_test_id("assist")).to_contain_text("结案时关闭：渣土已由城管一并清运")
    detail = server.get(f"api/tickets/{ticket_id}").json()
    assert [e["action"] for e in detail["log"]][-2:] == ["assist_close", "verify_pass"]
