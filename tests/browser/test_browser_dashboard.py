"""The leader dashboard in a real browser: a leader opens it from the console's link; the
KPI table shows the period's numbers (rates in %), the ECharts bar chart and the grid heat map are
drawn, another grouping reloads the table, and 导出 CSV downloads the table with the bearer token."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.support import DESK, PHONE, SQLITE_ONLY, Server, log_in
from tests.browser.test_browser_panel import report, wait_state
from tests.helpers import grids_in, inside

# More reports across the district, none of them for 区城市管理局: (street, category, text).
ELSEWHERE = [
    ("140213051", "08001", "夜间施工扰民"),
    ("140213052", "23001", "田间焚烧秸秆"),
    ("140213053", "22002", "小区供暖不热"),
    ("140213054", "08001", "工地围挡缺失"),
    ("140213055", "20001", "邻里漏水纠纷"),
    ("140213056", "23001", "焚烧垃圾冒黑烟"),
    ("140213057", "22002", "暖气片漏水"),
    ("140213058", "21001", "楼道堆放杂物"),
    ("140213059", "08004", "工地扬尘"),
    ("140213060", "20001", "物业费纠纷"),
]

pytestmark = [pytest.mark.e2e, SQLITE_ONLY]


def test_dashboard_kpis_chart_heat_map_and_csv_export(
    server: Server,
    new_context: Callable[..., BrowserContext],
    demo_position: tuple[float, float],
    shot: Callable[[Page, str], Path],
) -> None:
    lon, lat = demo_position
    first = report(server, lon, lat, "06010", "垃圾桶满溢")
    report(server, lon + 3e-4, lat, "09006", "占道经营")
    manual = report(server, lon, lat + 2e-4, "10001", "井盖松动")
    others = [report(server, *inside(grids_in(street)[2]), code, text) for street, code, text in ELSEWHERE]
    wait_state(server, manual, "manual")
    for other in others:
        wait_state(server, other, "dispatched")
    wait_state(server, first, "dispatched")
    sign = httpx.post(server.url(f"api/tickets/{first}/sign"), headers=server.headers("cg1"))
    assert sign.status_code == 200, sign.text

    # A leader opens the dashboard from the console's link.
    page = new_context(DESK, accept_downloads=True).new_page()
    log_in(page, server.url("/"), "leader")
    page.get_by_test_id("link-dashboard").click()
    page.wait_for_url(server.url("dashboard.html"))
    expect(page.get_by_test_id("dashboard")).to_have_attribute("data-loading", "false")
    expect(page.get_by_test_id("period-month")).to_have_attribute("aria-pressed", "true")

    cg = page.locator('[data-testid="kpi-row"][data-name="区城市管理局"]')
    expect(cg.locator('[data-col="total"]')).to_have_text("2")
    expect(cg.locator('[data-col="dispatched"]')).to_have_text("2")
    expect(cg.locator('[data-col="response_rate"]')).to_have_text("50.0%")
    expect(page.locator('[data-testid="kpi-row"][data-name="未派遣"] [data-col="total"]')).to_have_text("1")
    expect(page.get_by_test_id("card-total")).to_contain_text("13")
    departments = page.get_by_test_id("kpi-row").count()
    assert departments >= 6
    expect(page.get_by_test_id("chart")).to_have_attribute("data-bars", str(departments))
    assert page.locator("#chart canvas").count() == 1
    expect(page.get_by_test_id("heat-map")).to_have_attribute("data-grids", "11")
    expect(page.get_by_test_id("heat-info")).to_contain_text("13 件工单")
    page.wait_for_timeout(400)
    shot(page, "dashboard-desktop")

    with page.expect_download() as info:
        page.get_by_test_id("export-csv").click()
    download = info.value
    assert download.suggested_filename.startswith("kpi-department-")
    assert download.suggested_filename.endswith(".csv")
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    assert text.splitlines()[0].startswith("编码,名称,受理量,派遣量,结案量,响应率")
    assert any(line.split(",")[1:4] == ["区城市管理局", "2", "2"] for line in text.splitlines())

    with page.expect_download() as info:
        page.get_by_test_id("export-xlsx").click()
    assert Path(info.value.path()).read_bytes()[:2] == b"PK"  # a zip: the xlsx container

    # By category: one row per 小类.
    page.get_by_test_id("group-by").get_by_text("类别").click()
    expect(page.get_by_test_id("kpi-row")).to_have_count(9)
    expect(page.locator('[data-testid="kpi-row"][data-key="10001"] [data-col="total"]')).to_have_text("1")

    phone = new_context(PHONE).new_page()
    log_in(phone, server.url("dashboard.html"), "leader")
    expect(phone.get_by_test_id("dashboard")).to_have_attribute("data-loading", "false")
    expect(phone.get_by_test_id("kpi-row")).to_have_count(departments)
    phone.wait_for_timeout(400)
    shot(phone, "dashboard-phone")
    assert int(phone.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")) <= 0

    # Dispatchers may open it too; department staff are sent to their workbench.
    other = new_context(DESK).new_page()
    log_in(other, server.url("dashboard.html"), "dispatcher")
    expect(other.get_by_test_id("dashboard")).to_have_attribute("data-loading", "false")
    other.get_by_test_id("console-link").click()
    expect(other.get_by_test_id("console-view")).to_be_visible()
    staff = new_context(DESK).new_page()
    log_in(staff, server.url("dashboard.html"), "cg1")
    staff.wait_for_url(server.url("workbench.html"))
