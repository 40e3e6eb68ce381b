"""The 12345 hotline desk in a real browser, keyboard only: a bad phone number gets the server's 422
next to the phone field; fixed, Enter creates the ticket and the recent list shows it unmasked."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.support import DESK, SQLITE_ONLY, Server, log_in

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
