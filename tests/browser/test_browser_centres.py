"""The command network through the pages: a report in a community lands in its workstation's console
queue; the community escalates (上报) from the ticket panel; the street centre's console shows it in its
own queue and dispatches it to a district department; the district centre's console follows every step
and the timeline shows the chain. Screenshots of the three consoles on the same ticket."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.support import DESK, SQLITE_ONLY, Server, log_in
from tests.helpers import first_grid_places

pytestmark = [pytest.mark.e2e, SQLITE_ONLY]
_, COMMUNITY, STREET = first_grid_places()


def open_console(new_context: Callable[..., BrowserContext], server: Server, username: str) -> Page:
    page = new_context(DESK).new_page()
    log_in(page, server.url("/"), username)
    expect(page.get_by_test_id("connection-status")).to_have_attribute("data-state", "open")
    return page


def test_community_street_and_district_consoles_on_one_ticket(
    server: Server,
    new_context: Callable[..., BrowserContext],
    demo_position: tuple[float, float],
    shot: Callable[[Page, str], Path],
) -> None:
    community = open_console(new_context, server, "sqzx")
    street = open_console(new_context, server, "jdzx")
    district = open_console(new_context, server, "dispatcher")
    expect(community.get_by_test_id("current-role")).to_contain_text(f"{COMMUNITY.name}工作站")

    lon, lat = demo_position
    answer = httpx.post(
        server.url("api/intake/patrol"),
        headers=server.headers("wgy0001"),
        data={"lon": lon, "lat": lat, "category_code": "06030", "description": "3号楼楼道堆放杂物，堵塞通道"},
    )
    assert answer.status_code == 201, answer.text
    ticket = answer.json()["ticket_id"]
    number = server.get(f"api/tickets/{ticket}").json()["number"]

    def row(page: Page):  # type: ignore[no-untyped-def]
        return page.locator(f'[data-testid="ticket-row"][data-number="{number}"]')

    # 1. The workstation's queue has it, live; the district sees it but not in its own queue.
    expect(row(community)).to_have_attribute("data-state", "manual")
    expect(row(community).get_by_test_id("ticket-department")).to_have_text(f"{COMMUNITY.name}工作站待处置")
    expect(community.get_by_test_id("filter-manual").locator(".quick-count")).to_have_text("1")
    expect(row(district)).to_have_attribute("data-state", "manual")
    expect(district.get_by_test_id("filter-manual").locator(".quick-count")).to_have_text("0")

    # 2. The community escalates from the panel, with a reason.
    row(community).click()
    panel = community.get_by_test_id("ticket-panel")
    expect(panel.get_by_test_id("panel-centre")).to_contain_text(f"{COMMUNITY.name}工作站")
    panel.get_by_test_id("action-escalate").click()
    panel.get_by_test_id("action-form").get_by_test_id("field-note").fill("涉及多个单元，需街道协调物业")
    panel.get_by_test_id("action-submit").click()
    expect(panel.get_by_test_id("panel-centre")).to_contain_text(f"{STREET.name}综治中心")
    expect(panel.get_by_test_id("action-escalate")).to_have_count(0)  # no longer its to steer
    expect(community.get_by_test_id("filter-manual").locator(".quick-count")).to_have_text("0")

    # 3. The street centre sees it arrive in its queue and dispatches it to a district department.
    expect(street.get_by_test_id("filter-manual").locator(".quick-count")).to_have_text("1")
    row(street).click()
    street_panel = street.get_by_test_id("ticket-panel")
    expect(street_panel.get_by_test_id("panel-centre")).to_contain_text(f"{STREET.name}综治中心")
    street_panel.get_by_test_id("action-dispatch").click()
    form = street_panel.get_by_test_id("action-form")
    form.get_by_test_id("field-department_id").select_option(label="区城市管理局")
    form.get_by_test_id("field-note").fill("请城管执法清理")
    form.get_by_test_id("action-submit").click()
    expect(street_panel.get_by_test_id("panel-state")).to_contain_text("已派遣")

    # 4. Every level follows it live; the district's timeline shows the chain.
    for page in (community, street, district):
        expect(row(page)).to_have_attribute("data-state", "dispatched")
        expect(row(page).get_by_test_id("ticket-department")).to_have_text("区城市管理局")
    row(district).click()
    district_panel = district.get_by_test_id("ticket-panel")
    expect(district_panel.get_by_test_id("timeline-centre")).to_have_count(2)
    expect(district_panel.get_by_test_id("timeline-centre").first).to_contain_text(f"{STREET.name}综治中心")
    for page, name in ((community, "community"), (street, "street"), (district, "district")):
        page.wait_for_timeout(300)
        shot(page, f"centres-{name}-console")
