"""The 12345 hotline desk in a real browser, keyboard only: a bad phone number gets the server's 422
next to the phone field; fixed, Enter creates the ticket and the recent list shows it unmasked."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.support import DESK, PHONE, SQLITE_ONLY, Server, log_in
from tests.browser.test_browser_panel import wait_state

pytestmark = [pytest.mark.e2e, SQLITE_ONLY]


def focused_id(page: Page) -> str:
    return str(page.evaluate("document.activeElement && document.activeElement.id"))


def test_keyboard_only_entry_with_server_validation(
    server: Server, new_context: Callable[..., BrowserContext], shot: Callable[[Page, str], Path]
) -> None:
    page = new_context(DESK).new_page()
    log_in(page, server.url("hotline.html"), "hotline")
    expect(page.get_by_test_id("hotline-desk")).to_be_visible()
    expect(page.get_by_test_id("call-id")).to_have_value(re.compile(r"^RX-\d{14}-[0-9a-f]{4}$"))
    assert focused_id(page) == "caller_phone"  # autofocus: the operator types at once

    keys = page.keyboard
    keys.type("1380000")  # one digit short of a mobile number, and no area code: invalid
    keys.press("Tab")
    assert focused_id(page) == "caller_name"
    keys.type("王女士")
    keys.press("Tab")
    keys.type("御河西路18号院")
    keys.press("Tab")  # the optional coordinates (closed)
    keys.press("Tab")  # request type: the first radio of the group
    keys.press("ArrowRight")
    keys.press("ArrowRight")  # 咨询 → 求助 → 投诉
    expect(page.locator('input[name="request_type"][value="complaint"]')).to_be_checked()
    keys.press("Tab")
    assert focused_id(page) == "category-input"
    keys.type("噪声")
    expect(page.locator('[data-testid="category-option"][aria-selected="true"]')).to_have_attribute(
        "data-code", "06028"
    )
    keys.press("Enter")  # picks the highlighted category, does not submit
    expect(page.get_by_test_id("category-input")).to_have_attribute("data-code", "06028")
    keys.press("Tab")
    assert focused_id(page) == "content"
    keys.type("楼下饭店每晚十一点后仍有噪声")
    keys.press("Control+Enter")

    error = page.get_by_test_id("error-caller_phone")
    expect(error).to_be_visible()
    expect(error).to_contain_text("号码格式不正确")
    expect(page.get_by_test_id("caller-phone")).to_have_attribute("aria-invalid", "true")
    assert focused_id(page) == "caller_phone"  # the first field named by the server
    assert server.tickets("hotline") == []
    shot(page, "hotline-desk-error")

    keys.press("Control+A")
    keys.type("13800001111")
    keys.press("Enter")  # Enter in a field submits the form
    result = page.get_by_test_id("result-number")
    expect(result).to_have_text(re.compile(r"^RX\d{14,}$"))
    number = result.inner_text()
    expect(page.get_by_test_id("error-caller_phone")).to_be_hidden()
    assert focused_id(page) == "caller_phone"  # ready for the next call
    expect(page.get_by_test_id("caller-phone")).to_have_value("")

    row = page.locator(f'[data-testid="hotline-row"][data-number="{number}"]')
    expect(row).to_be_visible()
    expect(row.get_by_test_id("hotline-phone")).to_have_text("13800001111")  # hotline staff: unmasked
    expect(row).to_contain_text("投诉")
    expect(row).to_contain_text("噪声扰民")
    shot(page, "hotline-desk")

    (ticket,) = server.tickets("hotline")
    assert (ticket["number"], ticket["caller_name"], ticket["category_code"], ticket["request_type"]) == (
        number,
        "王女士",
        "06028",
        "complaint",
    )
    assert server.tickets("dispatcher")[0]["caller_phone"] == "138****1111"  # others see it masked


def test_address_search_fills_the_position_and_a_second_call_gets_a_duplicate_hint(
    server: Server, new_context: Callable[..., BrowserContext], shot: Callable[[Page, str], Path]
) -> None:
    # "市场" names two markets: the gazetteer answers candidates, no confident point.
    located = server.get("api/gazetteer/locate?q=市场", "hotline").json()
    assert located["point"] is None
    texts = [c["text"] for c in located["candidates"]]
    index = texts.index("华林农贸市场")
    target = located["candidates"][index]

    page = new_context(DESK).new_page()
    log_in(page, server.url("hotline.html"), "hotline")
    expect(page.get_by_test_id("hotline-desk")).to_be_visible()
    page.get_by_test_id("caller-phone").fill("13900002222")
    page.get_by_test_id("caller-name").fill("李先生")
    address = page.get_by_test_id("address")
    address.click()
    page.keyboard.type("市场")
    options = page.get_by_test_id("address-option")
    expect(options).to_have_count(len(texts))
    expect(page.get_by_test_id("address-note")).to_contain_text("未能唯一确定位置")
    for _ in range(index):
        page.keyboard.press("ArrowDown")
    expect(options.nth(index)).to_have_attribute("aria-selected", "true")
    shot(page, "hotline-address-candidates")
    page.keyboard.press("Enter")  # picks the candidate, does not submit
    expect(page.get_by_test_id("address-options")).to_be_hidden()
    expect(address).to_have_value("华林农贸市场")
    note = page.get_by_test_id("address-note")
    expect(note).to_contain_text("已选定位：华林农贸市场")
    expect(note).to_contain_text(target["grid_code"])
    expect(page.get_by_test_id("lon")).to_have_value(f"{target['lon']:.7f}")
    expect(page.get_by_test_id("lat")).to_have_value(f"{target['lat']:.7f}")
    assert server.tickets("hotline") == []

    page.locator('input[name="request_type"][value="report"]').check()
    page.get_by_test_id("category-input").click()
    page.keyboard.type("噪声")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("category-input")).to_have_attribute("data-code", "06028")
    page.get_by_test_id("content").fill("市场门口早上五点卸货噪声很大")
    expect(page.get_by_test_id("similar-hints")).to_be_hidden()  # nothing like it yet
    page.get_by_test_id("submit-call").click()
    number = page.get_by_test_id("result-number").inner_text()
    (ticket,) = server.tickets("hotline")
    assert ticket["number"] == number
    assert (round(ticket["lon"], 6), round(ticket["lat"], 6)) == (
        round(target["lon"], 6),
        round(target["lat"], 6),
    )
    for _ in range(100):  # the worker places it in the candidate's grid
        ticket = server.tickets("hotline")[0]
        if ticket["grid_code"]:
            break
        page.wait_for_timeout(200)
    assert ticket["grid_code"] == target["grid_code"]
    expect(address).to_have_value("")
    expect(page.get_by_test_id("address-note")).to_be_hidden()

    # The same caller calls again about the same place: the full name is a confident match, applied
    # at once; with the category known, the first ticket shows up as a possible duplicate.
    page.get_by_test_id("caller-phone").fill("13900002222")
    page.get_by_test_id("caller-name").fill("李先生")
    address.click()
    page.keyboard.type("华林农贸市场")
    expect(page.get_by_test_id("address-note")).to_contain_text("已自动定位：华林农贸市场")
    expect(page.get_by_test_id("lon")).to_have_value(f"{target['lon']:.7f}")
    page.get_by_test_id("category-input").click()
    page.keyboard.type("噪声")
    page.keyboard.press("Enter")
    hints = page.get_by_test_id("similar-hints")
    expect(hints).to_be_visible()
    expect(hints).to_contain_text("可能重复（1）")
    hint = page.locator(f'[data-testid="similar-item"][data-number="{number}"]')
    expect(hint).to_have_attribute("data-same-caller", "true")
    expect(hint.get_by_test_id("similar-same-caller")).to_have_text("同一来电人")
    expect(hint.get_by_test_id("similar-distance")).to_have_text("同一位置")
    page.get_by_test_id("content").fill("还是卸货噪声")
    shot(page, "hotline-desk-duplicate")

    phone = new_context(PHONE).new_page()
    log_in(phone, server.url("hotline.html"), "hotline")
    expect(phone.get_by_test_id("hotline-desk")).to_be_visible()
    phone.get_by_test_id("address").click()
    phone.keyboard.type("市场")
    expect(phone.get_by_test_id("address-option")).to_have_count(len(texts))
    shot(phone, "hotline-phone")
    assert int(phone.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")) <= 0


def closed_hotline_ticket(server: Server, lon: float, lat: float, call_id: str, name: str) -> dict[str, Any]:
    """A 12345 call placed at (lon, lat), handled by 区城市管理局 and closed after the check, via the API."""
    call = {
        "call_id": call_id,
        "caller_name": name,
        "caller_phone": "13700003333",
        "lon": lon,
        "lat": lat,
        "request_type": "complaint",
        "category_code": "06010",
        "content": "垃圾桶满溢无人清运",
    }
    answer = httpx.post(server.url("api/intake/hotline"), json=call, headers=server.headers("hotline"))
    assert answer.status_code == 201, answer.text
    ticket_id = int(answer.json()["ticket_id"])
    wait_state(server, ticket_id, "dispatched")
    for user, path, kwargs in (
        ("cg1", "sign", {}),
        ("cg1", "feedback", {"data": {"text": "已清运并加派保洁"}}),
        ("dispatcher", "verify", {"json": {"passed": True}}),
    ):
        done = httpx.post(
            server.url(f"api/tickets/{ticket_id}/{path}"), headers=server.headers(user), **kwargs
        )
        assert done.status_code == 200, done.text
    return wait_state(server, ticket_id, "closed")


def test_callback_tab_records_satisfaction_and_removes_the_row(
    server: Server,
    new_context: Callable[..., BrowserContext],
    demo_position: tuple[float, float],
    shot: Callable[[Page, str], Path],
) -> None:
    lon, lat = demo_position
    happy = closed_hotline_ticket(server, lon, lat, "CB-20261128-0001", "赵女士")
    unhappy = closed_hotline_ticket(server, lon + 2e-4, lat, "CB-20261128-0002", "钱先生")

    page = new_context(DESK).new_page()
    log_in(page, server.url("hotline.html"), "hotline")
    expect(page.get_by_test_id("callback-count")).to_have_text("2")
    page.get_by_test_id("tab-callback").click()
    expect(page.get_by_test_id("callback-view")).to_be_visible()
    rows = page.get_by_test_id("callback-row")
    expect(rows).to_have_count(2)
    first = page.locator(f'[data-testid="callback-row"][data-number="{happy["number"]}"]')
    expect(first).to_contain_text("已清运并加派保洁")
    expect(first).to_contain_text("13700003333")  # hotline staff: unmasked, to call back
    shot(page, "hotline-callback")
    phone = new_context(PHONE).new_page()
    log_in(phone, server.url("hotline.html"), "hotline")
    phone.get_by_test_id("tab-callback").click()
    expect(phone.get_by_test_id("callback-row")).to_have_count(2)
    shot(phone, "hotline-callback-phone")
    assert int(phone.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")) <= 0

    # Keyboard: in the row, 1 = 满意, Enter registers it.
    first.get_by_test_id("callback-satisfied").focus()
    page.keyboard.press("1")
    expect(first.get_by_test_id("callback-satisfied")).to_be_checked()
    page.keyboard.press("Enter")
    expect(first).to_have_count(0)
    expect(page.get_by_test_id("callback-status")).to_contain_text(f"已登记回访 {happy['number']}：满意")
    expect(page.get_by_test_id("callback-count")).to_have_text("1")

    # 不满意 needs the reason; then the ticket goes back to the department.
    second = page.locator(f'[data-testid="callback-row"][data-number="{unhappy["number"]}"]')
    second.get_by_test_id("callback-unsatisfied").check()
    second.get_by_test_id("callback-submit").click()
    expect(second.get_by_test_id("callback-error")).to_contain_text("请填写原因")
    second.get_by_test_id("callback-note").fill("垃圾桶仍然满溢")
    page.keyboard.press("Enter")
    expect(second).to_have_count(0)
    expect(page.get_by_test_id("callback-status")).to_contain_text("不满意，已退回 区城市管理局 重办")
    expect(page.get_by_test_id("callback-empty")).to_be_visible()
    expect(page.get_by_test_id("callback-count")).to_be_hidden()

    assert server.get(f"api/tickets/{happy['id']}").json()["satisfaction"] == "satisfied"
    reopened = server.get(f"api/tickets/{unhappy['id']}").json()
    assert reopened["satisfaction"] == "unsatisfied"
    assert reopened["state"] != "closed"
    assert server.get("api/tickets?callback_pending=true", "hotline").json()["items"] == []
