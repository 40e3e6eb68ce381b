"""Oversize request bodies are refused with 413 before anything reads them (declared by Content-Length
or streamed without one), so an unauthenticated client cannot make the API buffer hundreds of MB."""

from __future__ import annotations

from collections.abc import Iterator

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
