"""The whole closed loop through the pages, not the API: a grid officer reports from a phone, the
dispatcher's console shows it live, routing sends it to 区城市管理局, department staff sign it and report
the result with a photo in the workbench (which flags the new work live), and the dispatcher closes it
after the check from the console's ticket panel."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.support import DESK, PHONE, SQLITE_ONLY, Server, log_in
from tests.browser.test_browser_officer import fill_report, open_officer_app, phone, photo_file

pytestmark = [pytest.mark.e2e, SQLITE_ONLY]


def overflow_px(page: Page) -> int:
    return int(page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth"))


def test_report_dispatch_sign_feedback_close_through_the_pages(
    server: Server,
    new_context: Callable[..., BrowserContext],
    demo_position: tuple[float, float],
    shot: Callable[[Page, str], Path],
    tmp_path: Path,
) -> None:
    console = new_context(DESK).new_page()
    log_in(console, server.url("/"), "dispatcher")
    expect(console.get_by_test_id("connection-status")).to_have_attribute("data-state", "open")

    # Department staff log in on the console's page and land in their workbench.
    bench = new_context(DESK).new_page()
    log_in(bench, server.url("/"), "cg1")
    bench.wait_for_url(server.url("workbench.html"))
    expect(bench.get_by_test_id("department-name")).to_have_text("区城市管理局")
    expect(bench.get_by_test_id("connection-status")).to_have_attribute("data-state", "open")
    expect(bench.get_by_test_id("queue-empty")).to_be_visible()

    # 1. The grid officer reports from the phone.
    officer = phone(new_context, *demo_position)
    open_officer_app(officer, server)
    fill_report(officer, "垃圾", "06010", "路口垃圾堆放，影响通行")
    officer.get_by_test_id("photo-input").set_input_files(str(photo_file(tmp_path)))
    expect(officer.get_by_test_id("photo-thumb")).to_have_count(1)
    officer.get_by_test_id("submit-report").click()
    expect(officer.get_by_test_id("toast")).to_contain_text("上报成功")
    officer.get_by_test_id("tab-mine").click()
    mine = officer.locator('[data-testid="my-report"][data-status="sent"]').first
    expect(mine).to_be_visible()
    number = mine.get_attribute("data-number")
    assert number
    (ticket,) = [t for t in server.tickets() if t["number"] == number]

    # 2. The console shows the row and the marker live; routing sent it to 区城市管理局.
    row = console.locator(f'[data-testid="ticket-row"][data-number="{number}"]')
    expect(row).to_have_attribute("data-state", "dispatched")
    expect(row.get_by_test_id("ticket-department")).to_have_text("区城市管理局")
    expect(console.locator(f'.ticket-marker[data-ticket-id="{ticket["id"]}"]')).to_have_count(1)

    # 3. The workbench flags the new work live, with its deadline and the time left.
    expect(bench.get_by_test_id("live-badge")).to_be_visible()
    item = bench.locator(f'[data-testid="queue-row"][data-number="{number}"]')
    expect(item).to_have_attribute("data-state", "dispatched")
    expect(item.get_by_test_id("row-new")).to_be_visible()
    expect(item.get_by_test_id("countdown")).to_contain_text("剩余")
    expect(item.get_by_test_id("row-deadline")).to_contain_text("时限")
    bench.get_by_test_id("live-badge").click()
    expect(bench.get_by_test_id("live-badge")).to_be_hidden()

    # 4. cg1 signs and reports the result with a photo.
    item.click()
    panel = bench.get_by_test_id("ticket-panel")
    expect(panel.get_by_test_id("panel-number")).to_have_text(number)
    expect(panel.get_by_test_id("ticket-photo")).to_have_attribute("data-loaded", "true")
    panel.get_by_test_id("action-sign").click()
    expect(panel.get_by_test_id("panel-state")).to_have_text("处置中")
    expect(item).to_have_attribute("data-state", "signed")
    panel.get_by_test_id("action-feedback").click()
    form = panel.get_by_test_id("action-form")
    form.get_by_test_id("action-submit").click()
    expect(form.get_by_test_id("action-error")).to_have_text("请填写处置结果")
    form.get_by_test_id("field-text").fill("已清运垃圾约两立方，路面冲洗干净")
    form.get_by_test_id("field-photos").set_input_files(str(photo_file(tmp_path)))
    expect(form.get_by_test_id("photo-thumb")).to_have_count(1)
    shot(bench, "workbench-feedback-desktop")
    form.get_by_test_id("action-submit").click()
    expect(panel.get_by_test_id("panel-state")).to_have_text("待核查")
    expect(panel.get_by_test_id("panel-feedback")).to_have_text("已清运垃圾约两立方，路面冲洗干净")
    expect(panel.get_by_test_id("ticket-photo")).to_have_count(2)
    expect(item).to_have_attribute("data-state", "feedback")
    expect(panel.get_by_test_id("action-feedback")).to_have_count(0)
    expect(panel.get_by_test_id("action-status")).to_have_text("反馈结果：已完成")

    # 5. The console sees 待核查 live; the dispatcher opens the panel and closes the case.
    expect(row).to_have_attribute("data-state", "feedback")
    row.click()
    console_panel = console.get_by_test_id("ticket-panel")
    expect(console_panel.get_by_test_id("panel-state")).to_have_text("待核查")
    expect(console_panel.get_by_test_id("ticket-photo")).to_have_count(2)
    console_panel.get_by_test_id("action-verify_pass").click()
    console_panel.get_by_test_id("action-form").get_by_test_id("field-note").fill("现场核查已整改")
    console_panel.get_by_test_id("action-submit").click()
    expect(console_panel.get_by_test_id("panel-state")).to_have_text("已结案")
    expect(console_panel.get_by_test_id("timeline-entry").first).to_contain_text("核查通过")
    expect(row.get_by_test_id("ticket-state")).to_have_text("已结案")
    expect(row).to_have_attribute("data-state", "closed")
    console.wait_for_timeout(300)
    shot(console, "console-panel-closed-desktop")

    # The closed case leaves the department's queue live.
    expect(item).to_have_count(0)
    detail = server.get(f"api/tickets/{ticket['id']}").json()
    assert detail["state"] == "closed"
    assert [e["action"] for e in detail["log"]] == [
        "intake",
        "route",
        "sign",
        "feedback",
        "verify_pass",
    ]
    assert len(detail["attachment_ids"]) == 2

    # The workbench on a phone: the queue (two more reports arrive), then the panel full screen.
    lon, lat = demo_position
    small = new_context(PHONE).new_page()
    log_in(small, server.url("workbench.html"), "cg2")
    expect(small.get_by_test_id("connection-status")).to_have_attribute("data-state", "open")
    for i, (code, text) in enumerate([("09006", "早市摊位占用人行道"), ("06010", "垃圾桶满溢")]):
        answer = httpx.post(
            server.url("api/intake/patrol"),
            headers=server.headers("wgy0001"),
            data={"lon": lon + (i + 1) * 1e-4, "lat": lat, "category_code": code, "description": text},
        )
        assert answer.status_code == 201, answer.text
    expect(small.get_by_test_id("queue-row")).to_have_count(2)
    expect(small.get_by_test_id("live-count")).to_have_text("2")
    # The big-screen workbench got them live too: a fuller queue for the screenshot.
    expect(bench.get_by_test_id("queue-row")).to_have_count(2)
    bench.get_by_test_id("queue-row").first.click()
    expect(panel.get_by_test_id("panel-state")).to_have_text("已派遣(待签收)")
    bench.wait_for_timeout(300)
    shot(bench, "workbench-desktop")
    shot(small, "workbench-phone")
    assert overflow_px(small) <= 0
    small.get_by_test_id("queue-row").first.click()
    expect(small.get_by_test_id("panel-state")).to_have_text("已派遣(待签收)")
    small.wait_for_timeout(300)
    shot(small, "workbench-panel-phone")
    assert overflow_px(small) <= 0
