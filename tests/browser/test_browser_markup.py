"""Base data is text, never markup: a street name an admin imports with HTML in it shows as those
characters on the console's map and runs nothing (it used to execute through the street label)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.support import DESK, SQLITE_ONLY, Server, log_in

pytestmark = [pytest.mark.e2e, SQLITE_ONLY]

MARKUP = '<img src=x onerror="window.__xss=1">永泰街道'


def test_an_imported_name_with_markup_shows_as_text(
    server: Server, new_context: Callable[..., BrowserContext], shot: Callable[[Page, str], Path]
) -> None:
    admin = server.headers("admin")
    district = json.loads(httpx.get(server.url("api/admin/grids/export"), headers=admin, timeout=60).text)
    street = next(f for f in district["features"] if f["properties"]["code"] == "140213050")
    street["properties"]["name"] = MARKUP
    imported = httpx.post(
        server.url("api/admin/grids/import"),
        headers=admin,
        files={"file": ("district.geojson", json.dumps(district).encode())},
        timeout=120,
    )
    assert imported.status_code == 200 and imported.json()["ok"], imported.text

    page = new_context(DESK).new_page()
    log_in(page, server.url("/"), "dispatcher")
    label = page.locator(".street-label", has_text="onerror")
    expect(label).to_have_text(MARKUP)
    assert page.evaluate("window.__xss") is None
    assert page.locator(".street-label img").count() == 0
    shot(page, "markup-as-text")
