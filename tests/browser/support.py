"""What browser tests share besides fixtures: sizes, the running server, logging in through a page."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import Page

from tests.processes import token

PHONE = {"width": 360, "height": 740}
DESK = {"width": 1920, "height": 1080}

# Each browser test module sets `pytestmark = [pytest.mark.e2e, SQLITE_ONLY]`: browser tests run on
# SQLite only (a direct parametrization overrides the sqlite/postgresql params of `database_url`).
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


class Server:
    """The running system as a browser sees it, plus API shortcuts for checks."""

    def __init__(self, base: str) -> None:
        self.base = base
        self._tokens: dict[str, str] = {}

    def url(self, path: str = "") -> str:
        return f"{self.base}/{path.lstrip('/')}"

    def headers(self, username: str) -> dict[str, str]:
        if username not in self._tokens:
            self._tokens[username] = token(self.base, username)
        return {"Authorization": f"Bearer {self._tokens[username]}"}

    def tickets(self, username: str = "dispatcher") -> list[dict[str, Any]]:
        answer = httpx.get(self.url("api/tickets?limit=1000"), headers=self.headers(username))
        answer.raise_for_status()
        return list(answer.json()["items"])

    def get(self, path: str, username: str = "dispatcher") -> httpx.Response:
        return httpx.get(self.url(path), headers=self.headers(username))


def log_in(page: Page, url: str, username: str) -> None:
    """Open a page and log in through its own login form (password demo1234)."""
    page.goto(url)
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill("demo1234")
    page.get_by_test_id("login-submit").click()
