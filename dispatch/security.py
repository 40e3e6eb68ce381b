"""Security headers on every HTTP answer, a content policy for the pages, only the front-end files the
pages use (never the npm manifests or the rest of node_modules), a cap on request bodies, and no body
read for a caller without a valid token. Plain ASGI middlewares: they add headers as the response starts,
count body bytes as they arrive, and answer before reading a body they refuse."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException

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
SERVED_PACKAGES = (
    "/node_modules/leaflet/dist/",
    "/node_modules/echarts/dist/",
    "/node_modules/swagger-ui-dist/",  # /docs
    "/node_modules/redoc/bundles/",  # /redoc
)
HIDDEN = ("package.json", "package-lock.json")


class SecurityHeaders:
    """Wraps the app: adds the headers, answers 404 for web files that are not meant to be served."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        hidden = path.rsplit("/", 1)[-1] in HIDDEN
        if hidden or (path.startswith("/node_modules/") and not path.startswith(SERVED_PACKAGES)):
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


class BodyLimit:
    """Refuse request bodies over `max_bytes` with 413 before the app reads them: at once when
    Content-Length says so, else as soon as the streamed body passes the cap."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _too_large(send, self.max_bytes)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:  # the app's body parser passes HTTP errors through as they are
                    raise HTTPException(413, _too_large_text(self.max_bytes))
            return message

        await self.app(scope, counted, send)


def _too_large_text(max_bytes: int) -> str:
    return f"请求体过大（上限 {max_bytes // (1024 * 1024)} MB）"


async def _too_large(send: Send, max_bytes: int) -> None:
    body = json.dumps({"detail": _too_large_text(max_bytes), "field": "body"}, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": body})


BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
OPEN_BODIES = frozenset({"/api/auth/token"})  # the login form is the one body sent without a token


class AuthenticateFirst:
    """A request with a body to an API endpoint must carry a bearer token this server signed, still
    valid, before a byte of its body is read or parsed (multipart photos, JSON, forms): without one it
    gets 401 at once. The endpoint still checks the account; this only decides whether the body is worth
    reading, so an unauthenticated client cannot make the API buffer or parse uploads."""

    def __init__(self, app: ASGIApp, token_is_valid: Callable[[str], bool]) -> None:
        self.app = app
        self.token_is_valid = token_is_valid

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope.get("method") in BODY_METHODS
            and scope.get("path", "").startswith("/api/")
            and scope.get("path") not in OPEN_BODIES
        ):
            header = dict(scope.get("headers", [])).get(b"authorization", b"").decode("latin-1")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                await _unauthenticated(send, "需要登录")
                return
            if not self.token_is_valid(token.strip()):
                await _unauthenticated(send, "登录已失效，请重新登录")
                return
        await self.app(scope, receive, send)


async def _unauthenticated(send: Send, message: str) -> None:
    body = json.dumps({"detail": message}, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"www-authenticate", b"Bearer"),
                (b"connection", b"close"),  # the unread body is not worth reading to keep the connection
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
