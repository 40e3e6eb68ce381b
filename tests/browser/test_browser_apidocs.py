"""The API documentation works on an intranet: /docs (Swagger UI) and /redoc render the OpenAPI with
every script, style sheet, font and icon from this server, and not one request leaves it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.support import DESK, SQLITE_ONLY, Server

pytestmark = [pytest.mark.e2e, SQLITE_ONLY]


@pytest.mark.parametrize(
    ("path", "rendered"),
    [
        ("docs", ".swagger-ui .opblock-tag-section"),  # the operations, grouped by tag
        ("redoc", "[role=menuitem], .menu-content li"),  # ReDoc's side menu of operations
    ],
)
def test_api_docs_render_from_this_server_alone(
    server: Server,
    new_context: Callable[..., BrowserContext],
    shot: Callable[[Page, str], Path],
    path: str,
    rendered: str,
) -> None:
    context = new_context(DESK)
    port = urlsplit(server.url()).port
    reached_network: list[str] = []  # outside requests that got past the page's own policy
    context.route(
        lambda url: url.startswith("http") and urlsplit(url).port != port,
        lambda route: (reached_network.append(route.request.url), route.abort()),
    )
    page = context.new_page()
    page.goto(server.url(path))
    expect(page.locator(rendered).first).to_be_visible(timeout=30_000)
    expect(page.get_by_text("/api/tickets/{ticket_id}").first).to_be_attached()
    shot(page, f"api-{path}")
    # ReDoc shows a decorative Redocly logo from its CDN; the page's content policy stops the browser
    # from asking for it (the logo then hides itself). Nothing the page needs, and nothing at all,
    # goes out.
    assert reached_network == [], f"{path} asked the internet for {reached_network}"
