"""The grid officer's phone app in a real browser: report with GPS, category search and a photo, seen
live on the dispatcher's console; a report made offline is sent once when the network returns."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from playwright.sync_api import BrowserContext, Page, Route, expect

from tests.browser.support import DESK, PHONE, SQLITE_ONLY, Server, log_in

pytestmark = [pytest.mark.e2e, SQLITE_ONLY]


def photo_file(tmp_path: Path) -> Path:
    """A 2400×1800 PNG, bigger than the app's 1600 px limit."""
    image = Image.new("RGB", (2400, 1800), (90, 140, 90))
    for x in range(0, 2400, 200):
        image.paste((200, 180, 60), (x, 0, x + 100, 1800))
    path = tmp_path / "scene.png"
    image.save(path)
    return path


def phone(new_context: Callable[..., BrowserContext], lon: float, lat: float, **options: Any) -> Page:
    context = new_context(
        PHONE,
        geolocation={"longitude": lon, "latitude": lat, "accuracy": 12},
        permissions=["geolocation"],
        **options,
    )
    return context.new_page()


def open_officer_app(page: Page, server: Server) -> None:
    log_in(page, server.url("officer.html"), "wgy0001")
    expect(page.get_by_test_id("officer-app")).to_be_visible()
    # The GPS fix is placed in its grid once the outlines are loaded.
    expect(page.get_by_test_id("position-info")).to_have_attribute("data-state", "ok")


def fill_report(page: Page, search: str, code: str, text: str) -> None:
    page.get_by_test_id("category-button").click()
    page.get_by_test_id("category-search").fill(search)
    page.locator(f'[data-testid="category-option"][data-code="{code}"]').first.click()
    expect(page.get_by_test_id("category-button")).to_have_attribute("data-code", code)
    page.get_by_test_id("description").fill(text)


def test_officer_reports_and_console_shows_it_dispatched(
    server: Server,
    new_context: Callable[..., BrowserContext],
    demo_position: tuple[float, float],
    shot: Callable[[Page, str], Path],
    tmp_path: Path,
) -> None:
    console = new_context(DESK).new_page()
    log_in(console, server.url("/"), "dispatcher")
    expect(console.get_by_test_id("connection-status")).to_have_attribute("data-state", "open")

    page = phone(new_context, *demo_position)
    open_officer_app(page, server)
    grid_code = page.get_by_test_id("position-info").get_attribute("data-grid")
    assert grid_code and grid_code.startswith("140213050")
    # Installable: the manifest is served and the service worker controls the app's scope only.
    assert httpx.get(server.url("manifest.webmanifest")).json()["start_url"] == "./officer.html"
    scope = page.evaluate("navigator.serviceWorker.ready.then((r) => r.scope)")
    assert scope == server.url("officer")

    fill_report(page, "垃圾", "06010", "人行道上堆放生活垃圾，约两立方")
    page.get_by_test_id("photo-input").set_input_files(str(photo_file(tmp_path)))
    expect(page.get_by_test_id("photo-thumb")).to_have_count(1)
    expect(page.get_by_test_id("photo-count")).to_have_text("1/6")
    shot(page, "officer-phone-report")

    page.get_by_test_id("submit-report").click()
    expect(page.get_by_test_id("toast")).to_contain_text("上报成功")
    page.get_by_test_id("tab-mine").click()
    mine = page.locator('[data-testid="my-report"][data-status="sent"]').first
    expect(mine).to_be_visible()
    number = mine.get_attribute("data-number")
    assert number

    row = console.locator(f'[data-testid="ticket-row"][data-number="{number}"]')
    expect(row).to_have_attribute("data-state", "dispatched")
    expect(row.get_by_test_id("ticket-department")).to_have_text("区城市管理局")
    shot(console, "console-desktop")

    # My list follows the ticket's progress (refresh), in Chinese.
    page.get_by_test_id("refresh-button").click()
    expect(
        page.locator(f'[data-testid="my-report"][data-number="{number}"] [data-testid="report-state"]')
    ).to_have_text("已派遣")
    shot(page, "officer-phone-mine")

    # The photo arrived compressed: a JPEG whose long side is at most 1600 px.
    ticket = next(t for t in server.tickets() if t["number"] == number)
    detail = server.get(f"api/tickets/{ticket['id']}").json()
    assert ticket["grid_code"] == grid_code
    assert len(detail["attachment_ids"]) == 1
    photo = server.get(f"api/tickets/{ticket['id']}/attachments/{detail['attachment_ids'][0]}")
    assert photo.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(photo.content)).size == (1600, 1200)


def test_offline_report_is_kept_and_sent_exactly_once(
    server: Server,
    new_context: Callable[..., BrowserContext],
    demo_position: tuple[float, float],
    shot: Callable[[Page, str], Path],
) -> None:
    # Service workers blocked so that Playwright sees (and can cut) every request of the page.
    page = phone(new_context, *demo_position, service_workers="block")
    open_officer_app(page, server)

    page.context.set_offline(True)
    expect(page.get_by_test_id("net-status")).to_have_attribute("data-state", "offline")
    fill_report(page, "占道", "09006", "早市摊位占用人行道")
    page.get_by_test_id("submit-report").click()
    expect(page.get_by_test_id("toast")).to_contain_text("待发送")
    expect(page.get_by_test_id("pending-count")).to_have_text("1")
    page.get_by_test_id("tab-mine").click()
    pending = page.locator('[data-testid="my-report"][data-status="pending"]')
    expect(pending).to_have_count(1)
    expect(pending.get_by_test_id("report-state")).to_have_text("待发送")
    shot(page, "officer-phone-offline")
    assert server.tickets() == []  # nothing reached the server

    # The network returns, but the first answer is lost on the way back: the server has the report,
    # the phone does not know it and keeps it pending.
    answers: list[int] = []

    def lose_answer(route: Route) -> None:
        answers.append(route.fetch().status)
        route.abort("connectionreset")

    page.route("**/api/intake/patrol", lose_answer, times=1)
    page.context.set_offline(False)  # the page's `online` event starts a sync
    for _ in range(100):
        if answers:
            break
        page.wait_for_timeout(100)
    assert answers == [201]
    assert len(server.tickets()) == 1
    expect(pending).to_have_count(1)

    # Sync triggered twice at once (button and online event): the same client_ref, one ticket; the
    # server answers the resend with 200 and the first ticket.
    statuses: list[int] = []
    page.on("response", lambda r: statuses.append(r.status) if "/api/intake/patrol" in r.url else None)
    page.get_by_test_id("refresh-button").click()
    page.evaluate("window.dispatchEvent(new Event('online'))")
    page.evaluate("window.dispatchEvent(new Event('online'))")
    expect(page.locator('[data-testid="my-report"][data-status="pending"]')).to_have_count(0)
    expect(page.get_by_test_id("pending-count")).to_be_hidden()

    tickets = server.tickets()
    assert len(tickets) == 1, tickets
    number = tickets[0]["number"]
    sent = page.locator(f'[data-testid="my-report"][data-number="{number}"]')
    expect(sent).to_have_count(1)
    expect(sent).to_have_attribute("data-status", "sent")
    page.wait_for_timeout(1000)  # let any straggling retry run: still one ticket
    assert len(server.tickets()) == 1
    assert statuses and set(statuses) == {200}, statuses


def test_self_resolve_needs_a_photo_and_closes_the_ticket_at_once(
    server: Server,
    new_context: Callable[..., BrowserContext],
    demo_position: tuple[float, float],
    shot: Callable[[Page, str], Path],
    tmp_path: Path,
) -> None:
    page = phone(new_context, *demo_position)
    open_officer_app(page, server)
    fill_report(page, "垃圾", "06010", "绿化带内散落垃圾，已当场清理干净")
    expect(page.get_by_test_id("self-handle")).to_be_enabled()

    # Without a photo: explained in Chinese, nothing stored or sent.
    page.get_by_test_id("self-handle").click()
    error = page.locator('[data-error-for="photos"]')
    expect(error).to_be_visible()
    expect(error).to_contain_text("自行处置需要至少 1 张现场照片")
    expect(page.get_by_test_id("toast")).to_contain_text("自行处置需要至少 1 张现场照片")
    shot(page, "officer-phone-self-resolve-no-photo")
    assert server.tickets() == []

    page.get_by_test_id("photo-input").set_input_files(str(photo_file(tmp_path)))
    expect(page.get_by_test_id("photo-thumb")).to_have_count(1)
    expect(error).to_be_hidden()
    expect(page.get_by_test_id("self-handle")).to_contain_text("直接结案")
    shot(page, "officer-phone-self-resolve")
    page.get_by_test_id("self-handle").click()
    expect(page.get_by_test_id("toast")).to_contain_text("已自行处置并结案")
    expect(page.get_by_test_id("photo-thumb")).to_have_count(0)  # a fresh draft

    (ticket,) = server.tickets()
    assert ticket["state"] == "closed"
    detail = server.get(f"api/tickets/{ticket['id']}").json()
    assert len(detail["attachment_ids"]) == 1
    assert [entry["action"] for entry in detail["log"]][:2] == ["intake", "self_resolve"]

    page.get_by_test_id("tab-mine").click()
    mine = page.locator(f'[data-testid="my-report"][data-number="{ticket["number"]}"]')
    expect(mine).to_have_count(1)
    expect(mine.get_by_test_id("report-state")).to_have_text("已结案")
    expect(mine).to_contain_text("自行处置")
    shot(page, "officer-phone-mine-self-resolved")
