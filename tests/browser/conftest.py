"""Browser tests: Debian's chromium, driven by Playwright, against a real API process and a real RQ
worker process on a fresh database (SQLite only: the back end is covered on both databases elsewhere,
and each browser test costs seconds). Playwright never downloads a browser here: it launches
/usr/bin/chromium (tests/browser/install-chromium.sh installs it). CI fails when it is missing; a
developer's run skips with the reason."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis import Redis

from tests.helpers import grids_in, inside
from tests.processes import Processes, free_port, wait_healthy

CHROMIUM = os.environ.get("GRID_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

if not os.environ.get("CI"):  # CI has it (dev dependency): an import error there fails the run
    pytest.importorskip("playwright", reason="pip install playwright (the package only, no browser download)")

from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright  # noqa: E402

from tests.browser.support import DESK, PHONE, Server  # noqa: E402


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing: run tests/browser/install-chromium.sh"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def server(database_url: str, redis_db: Redis, tmp_path: Path) -> Iterator[Server]:
    """A real API process and a real RQ worker process on this test's fresh database."""
    procs = Processes(tmp_path)
    port = free_port()
    procs.start("api", "api", "--port", str(port))
    procs.start("worker", "worker")
    try:
        wait_healthy(f"http://127.0.0.1:{port}")
        yield Server(f"http://127.0.0.1:{port}")
    finally:
        procs.stop_all()
        for log in sorted(tmp_path.glob("*.log")):  # shown by pytest only when the test fails
            print(f"----- {log.name}\n{log.read_text(errors='replace')[-4000:]}")


@pytest.fixture
def demo_position() -> tuple[float, float]:
    """(lon, lat) inside the first demo grid of 永泰街道 (06010 there routes to 区城市管理局)."""
    return inside(grids_in("140213050")[0])


@pytest.fixture
def new_context(browser: Browser) -> Iterator[Callable[..., BrowserContext]]:
    """Browser contexts in China's locale and time zone; closed after the test."""
    opened: list[BrowserContext] = []

    def make(viewport: dict[str, int] = DESK, **options: Any) -> BrowserContext:
        phone = viewport == PHONE
        context = browser.new_context(
            viewport=viewport,
            locale="zh-CN",
            timezone_id="Asia/Shanghai",
            is_mobile=phone,
            has_touch=phone,
            **options,
        )
        context.set_default_timeout(20_000)
        opened.append(context)
        return context

    yield make
    for context in opened:
        context.close()


@pytest.fixture
def shot() -> Callable[[Page, str], Path]:
    """Save a screenshot into test-artifacts/ (gitignored) and return its path."""
    ARTIFACTS.mkdir(exist_ok=True)

    def take(page: Page, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path))
        return path

    return take
