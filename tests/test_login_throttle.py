"""Guessing passwords does not work: after 10 wrong passwords for an account, logins to it are refused
(429, even with the right password) for the rest of the 15-minute window; other accounts are not
affected; a right password clears the count. Unknown accounts cost a password check like known ones,
so answer times do not reveal which usernames exist."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from dispatch.auth import service


def attempt(client: TestClient, username: str, password: str) -> Any:
    return client.post("/api/auth/token", data={"username": username, "password": password})


def test_ten_wrong_passwords_lock_the_account_for_the_window(client: TestClient) -> None:
    for _ in range(10):
        assert attempt(client, "cg1", "guess").status_code == 401
    locked = attempt(client, "cg1", "demo1234")
    assert locked.status_code == 429, locked.text
    assert "登录失败次数过多" in locked.json()["detail"]
    assert 0 < locked.json()["retry_after_s"] <= 15 * 60
    assert attempt(client, "cg2", "demo1234").status_code == 200  # another account is not locked


def test_a_right_password_clears_the_count(client: TestClient) -> None:
    for _ in range(9):
        assert attempt(client, "ga1", "guess").status_code == 401
    assert attempt(client, "ga1", "demo1234").status_code == 200
    for _ in range(9):
        assert attempt(client, "ga1", "guess").status_code == 401
    assert attempt(client, "ga1", "demo1234").status_code == 200


def test_unknown_accounts_cost_a_password_check_too(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[str] = []
    verify = service._hasher.verify

    def counted(password: str, hashed: str) -> bool:
        checks.append(password)
        return bool(verify(password, hashed))

    monkeypatch.setattr(service._hasher, "verify", counted)
    assert attempt(client, "no-such-user", "guess").status_code == 401
    assert attempt(client, "cg1", "guess").status_code == 401
    assert checks == ["guess", "guess"]  # one real check each: the same work, the same answer
