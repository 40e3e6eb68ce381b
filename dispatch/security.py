"""Security headers on every HTTP answer, a content policy for the pages, and only the front-end files
the pages use (never the npm manifests or the rest of node_modules). A plain ASGI middleware: it adds
headers as the response starts and costs nothing per body chunk."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ALWAYS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
# The pages: scripts and styles from this server only (Leaflet sets inline styles on map elements),
# photos as data:/blob: previews, the console's websocket; never framed.
PAGE_POLICY = (
    b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data: blob:; connect-src 'self' ws: wss:; worker-src 'self'; "
    b"object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
SERVED_PACKAGES = ("/node_modules/leaflet/dist/", "/node_modules/echarts/dist/")
HIDDEN = ("/package.json", "/package-lock.json")


class SecurityHeaders:
    """Wraps the app: adds the headers, answers 404 for web files that are not meant to be served."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if path in HIDDEN or (path.startswith("/node_modules/") and not path.startswith(SERVED_PACKAGES)):
            await _not_found(send)
            return
        page = not path.startswith(("/api/", "/docs", "/redoc", "/openapi.json"))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(ALWAYS)
                if page:
                    headers.append((b"content-security-policy", PAGE_POLICY))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


async def _not_found(send: Send) -> None:
    body = b'{"detail":"Not Found"}'
    await send(
        {
            "type": "http.response.start",
            "status": 404,
            "headers": [(b"content-type", b"application/json"), *ALWAYS],
        }
    )
    await send({"type": "http.response.body", "body": body})
