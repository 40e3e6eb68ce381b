"""Every page at the big screen's and the phone's size, with some tickets in it: screenshots into
test-artifacts/ for people to look at, and no page wider than its screen. Logging in on the console's
page sends grid officers and hotline staff to their own pages."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.support import DESK, PHONE, SQLITE_ONLY, Server, log_in

pytestmark = [pytest.mark.e2e, SQLITE_ONLY]

PAGES = [  # (page, user, what shows it is ready)
    ("/", "dispatcher", "console-view"),
    ("officer.html", "wgy0001", "officer-app"),
    ("hotline.html", "hotline", "hotline-desk"),
]


def seed_tickets(server: Server, lon: float, lat: float) -> None:
    reports = [
        ("06010", "垃圾桶满溢，周边散落垃圾"),
        ("09009", "消防通道被私家车堵住"),
        ("10001", "井盖松动"),
    ]
    for i, (code, text) in enumerate(reports):
        answer = httpx.post(
            server.url("api/intake/patrol"),
            headers=server.headers("wgy0001"),
            data={"lon": lon + i * 1e-4, "lat": lat, "category_code": code, "description": text},
        )
        assert answer.status_code == 201, answer.text
    answer = httpx.post(
        server.url("api/intake/hotline"),
        headers=server.headers("hotline"),
        json={
            "call_id": "SHOT-0001",
            "caller_name": "李先生",
            "caller_phone": "13912345678",
            "address": "古城街道鼓楼东街3号",
            "request_type": "complaint",
            "category_code": "06028",
            "content": "夜间施工噪声扰民",
        },
    )
    assert answer.status_code == 201, answer.text


def overflow_px(page: Page) -> int:
    return int(page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth"))


def test_pages_at_desk_and_phone_size(
    server: Server,
    new_context: Callable[..., BrowserContext],
    demo_position: tuple[float, float],
    shot: Callable[[Page, str], Path],
) -> None:
    lon, lat = demo_position
    seed_tickets(server, lon, lat)
    for size_name, size in (("desktop", DESK), ("phone", PHONE)):
        for path, user, ready in PAGES:
            context = new_context(
                size,
                geolocation={"longitude": lon, "latitude": lat, "accuracy": 20},
                permissions=["geolocation"],
            )
            page = context.new_page()
            log_in(page, server.url(path), user)
            expect(page.get_by_test_id(ready)).to_be_visible()
            if user == "wgy0001":
                expect(page.get_by_test_id("position-info")).to_have_attribute("data-state", "ok")
            elif user == "hotline":
                expect(page.get_by_test_id("hotline-row")).to_have_count(1)
            else:
                expect(page.get_by_test_id("ticket-row")).to_have_count(4)
            page.wait_for_timeout(300)  # map redraw after fitting the outlines
            name = {"/": "console", "officer.html": "officer", "hotline.html": "hotline"}[path]
            shot(page, f"{name}-{size_name}")
            assert overflow_px(page) <= 0, f"{name} is wider than the {size_name} screen"
            if user == "wgy0001":
                page.get_by_test_id("category-button").click()
                page.get_by_test_id("category-search").fill("纠纷")
                expect(page.get_by_test_id("category-option")).to_have_count(3)
                shot(page, f"officer-categories-{size_name}")
            context.close()


@pytest.mark.parametrize(("user", "home"), [("wgy0001", "officer.html"), ("hotline", "hotline.html")])
def test_console_login_sends_each_role_to_its_page(
    server: Server, new_context: Callable[..., BrowserContext], user: str, home: str
) -> None:
    page = new_context(DESK).new_page()
    log_in(page, server.url("/"), user)
    page.wait_for_url(server.url(home))
    expect(page.get_by_test_id("current-user")).not_to_be_empty()
