"""核实 through the pages: the community workstation asks for an on-site check from the ticket panel; the
grid officer's phone, offline, takes the answer with a photo and keeps it; back online it is sent once,
and the workstation's panel shows the finding."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.support import PHONE, SQLITE_ONLY, Server, log_in
from tests.browser.test_browser_centres import open_console
from tests.browser.test_browser_officer import photo_file
from tests.browser.test_browser_panel import report

pytestmark = [pytest.mark.e2e, SQLITE_ONLY]


def test_intake_check_answered_offline_is_sent_once(
    server: Server,
    new_context: Callable[..., BrowserContext],
    demo_position: tuple[float, float],
    shot: Callable[[Page, str], Path],
    tmp_path: Path,
) -> None:
    community = open_console(new_context, server, "sqzx")
    ticket = report(server, *demo_position, "06030", "5号楼楼道堆放纸箱")
    number = server.get(f"api/tickets/{ticket}").json()["number"]
    row = community.locator(f'[data-testid="ticket-row"][data-number="{number}"]')
    expect(row).to_have_attribute("data-state", "manual")

    # The workstation sends a 核实 to the grid's officer from the panel.
    row.click()
    panel = community.get_by_test_id("ticket-panel")
    panel.get_by_test_id("action-verify_request").click()
    panel.get_by_test_id("action-form").get_by_test_id("field-note").fill("请核实纸箱是否堵塞通道")
    panel.get_by_test_id("action-submit").click()
    check = panel.get_by_test_id("verification")
    expect(check).to_have_attribute("data-status", "pending")
    expect(check).to_contain_text("核实")
    expect(panel.get_by_test_id("action-verify_request")).to_have_count(0)  # one at a time
    expect(row.get_by_test_id("ticket-verifying")).to_have_text("核实中")  # the list shows it waits
    expect(community.get_by_test_id("filter-verifying").locator(".quick-count")).to_have_text("1")

    # The phone loads the task, then loses the network (service worker off: Playwright cuts it all).
    phone = new_context(PHONE, service_workers="block").new_page()
    log_in(phone, server.url("officer.html"), "wgy0001")
    phone.get_by_test_id("tab-tasks").click()
    task = phone.locator(f'[data-testid="task"][data-number="{number}"]')
    expect(task).to_have_attribute("data-kind", "intake")
    expect(task).to_contain_text("请核实纸箱是否堵塞通道")
    phone.context.set_offline(True)
    phone.get_by_test_id("task-refresh").click()
    expect(phone.get_by_test_id("task-info")).to_contain_text("无网络")
    expect(task).to_be_visible()  # kept on the phone

    task.get_by_test_id("task-open").click()
    task.get_by_test_id("answer-confirmed").check()
    task.get_by_test_id("task-photo-input").set_input_files(str(photo_file(tmp_path)))
    expect(task.get_by_test_id("task-photo-thumb")).to_have_count(1)
    task.get_by_test_id("task-submit").click()
    expect(phone.get_by_test_id("toast")).to_contain_text("已保存在本机")
    expect(task.get_by_test_id("task-deadline")).to_have_text("待发送")
    shot(phone, "officer-phone-verification-offline")
    assert server.get(f"api/tickets/{ticket}", "sqzx").json()["verifications"][0]["status"] == "pending"

    # Back online: sent once; the workstation's panel shows the finding, the ticket waits for dispatch.
    phone.context.set_offline(False)
    phone.evaluate("window.dispatchEvent(new Event('online'))")
    expect(phone.get_by_test_id("toast")).to_contain_text("已发送")
    community.reload()
    expect(row).to_have_attribute("data-state", "manual")
    row.click()
    check = community.get_by_test_id("ticket-panel").get_by_test_id("verification")
    expect(check).to_have_attribute("data-status", "done")
    expect(check).to_contain_text("属实")
    expect(row.get_by_test_id("ticket-verifying")).to_have_count(0)
    shot(community, "community-console-verification")
    detail = server.get(f"api/tickets/{ticket}", "sqzx").json()
    assert [e["action"] for e in detail["log"]].count("verify_answer") == 1
    assert len(detail["verifications"][0]["attachment_ids"]) == 1
