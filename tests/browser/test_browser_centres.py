"""The command network through the pages: a report in a community lands in its workstation's console
queue; the community escalates (上报) from the ticket panel; the street centre's console shows it in its
own queue and dispatches it to a district department, which signs and reports back on its workbench; the
核查 goes to the grid officer's phone, who answers 已整改 with a photo, and the ticket closes — every
console following each step live, the timeline showing the chain. Screenshots of the three consoles on
the same ticket and of the phone."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.support import DESK, PHONE, SQLITE_ONLY, Server, log_in
from tests.browser.test_browser_officer import photo_file
from tests.browser.test_browser_panel import report
from tests.helpers import first_grid_places

pytestmark = [pytest.mark.e2e, SQLITE_ONLY]
_, COMMUNITY, STREET = first_grid_places()


def open_console(new_context: Callable[..., BrowserContext], server: Server, username: str) -> Page:
    page = new_context(DESK).new_page()
    log_in(page, server.url("/"), username)
    expect(page.get_by_test_id("connection-status")).to_have_attribute("data-state", "open")
    return page


def test_community_street_district_department_and_officer_close_one_ticket(
    server: Server,
    new_context: Callable[..., BrowserContext],
    demo_position: tuple[float, float],
    shot: Callable[[Page, str], Path],
    tmp_path: Path,
) -> None:
    community = open_console(new_context, server, "sqzx")
    street = open_console(new_context, server, "jdzx")
    district = open_console(new_context, server, "dispatcher")
    expect(community.get_by_test_id("current-role")).to_contain_text(f"{COMMUNITY.name}工作站")

    # 飞线充电: routed to the community first; closing it needs the grid officer's on-site 核查.
    ticket = report(server, *demo_position, "06031", "3号楼楼道电动车飞线充电")
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

    # 5. 区城市管理局 signs and reports back with a photo on its workbench.
    bench = new_context(DESK).new_page()
    log_in(bench, server.url("workbench.html"), "cg1")
    bench.locator(f'[data-testid="queue-row"][data-ticket-id="{ticket}"]').click()
    bench_panel = bench.get_by_test_id("ticket-panel")
    bench_panel.get_by_test_id("action-sign").click()
    expect(bench_panel.get_by_test_id("panel-state")).to_contain_text("处置中")
    bench_panel.get_by_test_id("action-feedback").click()
    form = bench_panel.get_by_test_id("action-form")
    form.get_by_test_id("field-text").fill("已拆除飞线，引导至集中充电桩")
    form.get_by_test_id("field-photos").set_input_files(str(photo_file(tmp_path)))
    form.get_by_test_id("action-submit").click()
    expect(bench_panel.get_by_test_id("panel-state")).to_contain_text("待核查")

    # 6. The 核查 appears on the duty officer's phone with the department's photo and a map pin.
    phone = new_context(PHONE).new_page()
    log_in(phone, server.url("officer.html"), "wgy0001")
    expect(phone.get_by_test_id("task-count")).to_have_text("1")
    phone.get_by_test_id("tab-tasks").click()
    task = phone.locator(f'[data-testid="task"][data-number="{number}"]')
    expect(task).to_have_attribute("data-kind", "closure")
    expect(task.get_by_test_id("task-feedback")).to_contain_text("已拆除飞线")
    task.get_by_test_id("task-open").click()
    expect(task.get_by_test_id("task-map")).to_be_visible()
    expect(task.get_by_test_id("task-photo").first).to_have_attribute("data-loaded", "true")
    task.get_by_test_id("task-submit").click()
    expect(task.get_by_test_id("task-error")).to_have_text("请选择核查结果")  # nothing sent
    task.get_by_test_id("answer-fixed").check()
    task.get_by_test_id("task-photo-input").set_input_files(str(photo_file(tmp_path)))
    expect(task.get_by_test_id("task-photo-count")).to_have_text("1/6")
    task.get_by_test_id("task-note").fill("现场已无飞线")
    shot(phone, "officer-phone-verification")
    task.get_by_test_id("task-submit").click()
    expect(phone.get_by_test_id("toast")).to_contain_text("核查回复已发送")
    expect(phone.get_by_test_id("task-empty")).to_be_visible()

    # 7. Closed: every console sees it live; the panel shows the officer's answer and photo.
    for page in (community, street, district):
        expect(row(page)).to_have_attribute("data-state", "closed")
    district_panel = district.get_by_test_id("ticket-panel")
    check = district_panel.get_by_test_id("verification")
    expect(check).to_have_attribute("data-status", "done")
    expect(check).to_contain_text("已整改")
    expect(district_panel.locator('[data-testid="timeline-entry"][data-action="verify_pass"]')).to_have_count(
        1
    )
    for page, name in ((community, "community"), (street, "street"), (district, "district")):
        if page is not district:
            row(page).click()
        page.wait_for_timeout(300)
        shot(page, f"centres-{name}-console-closed")


def test_a_department_assigns_its_own_person_and_a_street_reads_its_own_area(
    server: Server,
    new_context: Callable[..., BrowserContext],
    demo_position: tuple[float, float],
    shot: Callable[[Page, str], Path],
) -> None:
    ticket = report(server, *demo_position, "06010", "垃圾桶满溢")

    # 区城市管理局's workbench: cg1 makes cg2 the 承办人; cg2 finds it under 我承办.
    bench = new_context(DESK).new_page()
    log_in(bench, server.url("workbench.html"), "cg1")
    item = bench.locator(f'[data-testid="queue-row"][data-ticket-id="{ticket}"]')
    expect(item).to_have_count(1)
    item.click()
    panel = bench.get_by_test_id("ticket-panel")
    panel.get_by_test_id("action-assign").click()
    form = panel.get_by_test_id("action-form")
    cg2 = server.get("api/auth/me", "cg2").json()["full_name"]
    form.get_by_test_id("field-user_id").select_option(label=f"{cg2}（cg2）")
    form.get_by_test_id("action-submit").click()
    expect(panel.get_by_test_id("panel-assignee")).to_contain_text(cg2)
    expect(item.get_by_test_id("row-assignee")).to_have_text(cg2)
    other = new_context(DESK).new_page()
    log_in(other, server.url("workbench.html"), "cg2")
    other.get_by_test_id("filter-mine").click()
    expect(other.locator(f'[data-testid="queue-row"][data-ticket-id="{ticket}"]')).to_have_count(1)
    shot(other, "workbench-mine")

    # The street centre's dashboard: only its area's groupings, its own figures.
    board = new_context(DESK).new_page()
    log_in(board, server.url("dashboard.html"), "jdzx")
    expect(board.get_by_test_id("dashboard")).to_have_attribute("data-loading", "false")
    expect(board.get_by_test_id("centre-name")).to_have_text(f"{STREET.name}综治中心（本辖区）")
    for hidden in ("部门", "类别", "全区"):
        expect(board.get_by_test_id("group-by").get_by_text(hidden, exact=True)).to_be_hidden()
    board.get_by_test_id("group-by").get_by_text("社区", exact=True).click()
    expect(board.get_by_test_id("dashboard")).to_have_attribute("data-loading", "false")
    rows = board.get_by_test_id("kpi-row")
    expect(rows).to_have_count(1)  # the one community with a ticket, of its own street
    expect(rows.first).to_have_attribute("data-name", COMMUNITY.name)
    shot(board, "dashboard-street-centre")
