"""The work calendar in a real browser: on the first working day of a year whose calendar was never
loaded, shift leads and admins see a banner on the console saying so (dispatchers are not bothered);
once an admin loads the year it is gone. The pages count working time down over the periods the
server serves, so a countdown stands still across 国庆 instead of counting Mon–Fri."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect
from redis import Redis

from tests.browser.support import DESK, SQLITE_ONLY, Server, log_in
from tests.processes import FakeClock, Processes, free_port, wait_healthy
from tests.test_calendar import YEAR_2027

pytestmark = [pytest.mark.e2e, SQLITE_ONLY]


@pytest.fixture
def server_in_2027(database_url: str, redis_db: Redis, tmp_path: Path) -> Iterator[Server]:
    """The API process with its wall clock on Monday 2027-01-04 10:00 China time."""
    fake = FakeClock(tmp_path)
    fake.set(datetime(2027, 1, 4, 10, tzinfo=ZoneInfo("Asia/Shanghai")))
    procs = Processes(tmp_path)
    procs.extra_env = fake.env()
    port = free_port()
    procs.start("api", "api", "--port", str(port))
    try:
        wait_healthy(f"http://127.0.0.1:{port}")
        yield Server(f"http://127.0.0.1:{port}")
    finally:
        procs.stop_all()


def test_banner_until_the_year_is_loaded(
    server_in_2027: Server,
    new_context: Callable[..., BrowserContext],
    shot: Callable[[Page, str], Path],
) -> None:
    server = server_in_2027
    lead = new_context(DESK).new_page()
    log_in(lead, server.url("/"), "shiftlead")
    banner = lead.get_by_test_id("system-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("缺少 2027 年工作日历")
    shot(lead, "calendar-banner")

    dispatcher = new_context(DESK).new_page()
    log_in(dispatcher, server.url("/"), "dispatcher")
    expect(dispatcher.get_by_test_id("console-view")).to_be_visible()
    expect(dispatcher.get_by_test_id("system-banner")).to_be_hidden()

    loaded = httpx.post(
        server.url("api/admin/calendar/import"),
        headers=server.headers("admin"),
        files={"file": ("2027.yaml", YEAR_2027.encode(), "application/yaml")},
    )
    assert loaded.status_code == 200, loaded.text
    lead.reload()
    expect(lead.get_by_test_id("console-view")).to_be_visible()
    expect(lead.get_by_test_id("system-banner")).to_be_hidden()


def test_countdown_stands_still_across_national_day(
    server_in_2027: Server, new_context: Callable[..., BrowserContext]
) -> None:
    page = new_context(DESK).new_page()
    log_in(page, server_in_2027.url("/"), "dispatcher")
    expect(page.get_by_test_id("console-view")).to_be_visible()
    # From Wed 2026-09-30 17:00 to Thu 10-08 09:00 China time: 30 working minutes on 09-30 and 30 on
    # 10-08; the break 10-01..10-07 counts nothing (Monday–Friday counting would add its 5 weekdays).
    minutes = page.evaluate(
        """async () => {
            const labels = await import('/labels.js');
            const api = await import('/api.js');
            const from = Date.parse('2026-09-30T17:00:00+08:00');
            const to = Date.parse('2026-10-08T09:00:00+08:00');
            const guessed = labels.officeMinutesBetween(from, to);
            labels.setWorkingPeriods(await api.getJSON('/api/calendar?from=2026-09-29&to=2026-10-12'));
            return [guessed, labels.officeMinutesBetween(from, to)];
        }"""
    )
    assert minutes == [30 + 5 * 450 + 30, 60]
