"""Oversize request bodies are refused with 413 before anything reads them (declared by Content-Length
or streamed without one), so an unauthenticated client cannot make the API buffer hundreds of MB."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from dispatch.config import get_settings


@pytest.fixture
def small_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRID_REQUEST_MAX_BYTES", str(64 * 1024))
    get_settings.cache_clear()


def test_declared_oversize_bodies_get_413(small_limit: None, client: TestClient) -> None:
    answer = client.post("/api/intake/hotline", content=b"x" * (64 * 1024 + 1))
    assert answer.status_code == 413, answer.text
    assert answer.json()["field"] == "body"
    ok = client.post("/api/intake/hotline", content=b"{}")
    assert ok.status_code == 401  # a small body reaches the app (and its login check)


def test_streamed_oversize_bodies_get_413(small_limit: None, client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b"y" * 16 * 1024

    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    answer = client.post("/api/auth/token", content=chunks(), headers=headers)
    assert answer.status_code == 413, answer.text


def _first_answer(port: int, head: str, body_start: bytes) -> bytes:
    """Send a request's head and the start of its body, never the rest; what the server answers (or
    b"" if it is still waiting for the body after 5 s)."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head.encode() + body_start)
        try:
            return sock.recv(65536)
        except TimeoutError:
            return b""


@pytest.mark.e2e
def test_a_body_without_a_valid_token_is_never_read(processes) -> None:  # type: ignore[no-untyped-def]
    """Against the running API: a 20 MB photo upload whose body has barely begun gets 401 at once when
    its token is missing or forged — the server does not wait for, buffer or parse the body. With a
    valid token the same request is read (the server waits for the rest)."""
    import jwt

    from tests.processes import free_port, token, wait_healthy

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    processes.start("api", "api", "--port", str(port))
    wait_healthy(base)
    forged = jwt.encode({"sub": "1", "exp": 4102444800}, "not-the-server-secret-" * 2, algorithm="HS256")
    head = (
        "POST /api/intake/patrol HTTP/1.1\r\nHost: test\r\n"
        "Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 20000000\r\n{auth}\r\n"
    )
    start = (
        b'--XyZ\r\nContent-Disposition: form-data; name="photos"; filename="a.jpg"\r\n\r\n' + b"\xff" * 1000
    )
    for auth in ("", f"Authorization: Bearer {forged}\r\n", "Authorization: Basic d2d5OmRlbW8=\r\n"):
        answer = _first_answer(port, head.format(auth=auth), start)
        assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
        assert b"www-authenticate: bearer" in answer.lower()
    valid = f"Authorization: Bearer {token(base, 'wgy0001')}\r\n"
    assert _first_answer(port, head.format(auth=valid), start) == b""  # reading the body, as it should
    assert httpx.get(f"{base}/api/health/live").status_code == 200
