"""The account cache (dispatch.auth.cache): requests stop reading the caller's account from the database,
yet a deactivation or a role change committed anywhere — this process, another API process, a bulk
UPDATE — is refused or seen by the very next request, and without Redis nothing cached is trusted."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from redis import Redis
from sqlalchemy import event, text, update
from sqlmodel import col, select

from dispatch import clock
from dispatch.auth import cache
from dispatch.auth.models import Role, User
from dispatch.config import get_settings
from dispatch.db import get_engine, new_session
from dispatch.embedded import start_redis
from tests.processes import Processes, free_port, token, wait_healthy

Headers = dict[str, str]
Login = Callable[[str], Headers]
HEADER = "username,full_name,role,department_code,grids,password"
_USER_READ = re.compile(r'\bFROM "?user"?(\s|$)', re.IGNORECASE)


@pytest.fixture
def user_reads(client: TestClient) -> Iterator[list[str]]:
    """The statements that read the `user` table, as the database receives them."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if _USER_READ.search(statement):
            seen.append(statement)

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def _set(username: str, **values: Any) -> None:
    """Change a user the way any code in any process would: an ORM change, committed."""
    with new_session() as session:
        user = session.exec(select(User).where(User.username == username)).one()
        for name, value in values.items():
            setattr(user, name, value)
        session.add(user)
        session.commit()


def test_repeated_requests_read_the_account_once(
    client: TestClient, login: Login, user_reads: list[str]
) -> None:
    headers = login("dispatcher")
    user_reads.clear()
    for _ in range(5):
        assert client.get("/api/auth/me", headers=headers).status_code == 200
    assert len(user_reads) == 1, user_reads


def test_deactivated_user_is_refused_on_the_next_request(client: TestClient, login: Login) -> None:
    officer, admin = login("wgy0003"), login("admin")
    for _ in range(3):  # cached now
        assert client.get("/api/auth/me", headers=officer).status_code == 200
    answer = client.post("/api/admin/people/wgy0003/deactivate", headers=admin)
    assert answer.status_code == 200, answer.text
    assert client.get("/api/auth/me", headers=officer).status_code == 401
    assert client.post("/api/intake/patrol", headers=officer, data={"lon": "1"}).status_code == 401


def test_role_change_is_seen_on_the_next_request(client: TestClient, login: Login) -> None:
    staff, admin = login("dispatcher"), login("admin")
    heat = "/api/stats/heat?date_from=2026-01-01T00:00&date_to=2026-02-01T00:00"
    assert client.get(heat, headers=staff).status_code == 200
    assert client.get("/api/auth/me", headers=staff).json()["role"] == "dispatcher"
    csv = f"{HEADER}\ndispatcher,派遣员,hotline_operator,,,\n"
    answer = client.post("/api/admin/people/import", headers=admin, files={"file": ("p.csv", csv.encode())})
    assert answer.status_code == 200 and answer.json()["ok"], answer.text
    assert client.get("/api/auth/me", headers=staff).json()["role"] == "hotline_operator"
    assert client.get(heat, headers=staff).status_code == 403
    _set("dispatcher", role=Role.DISPATCHER)  # a change committed outside any request
    assert client.get(heat, headers=staff).status_code == 200


def test_a_bulk_update_is_seen_on_the_next_request(client: TestClient, login: Login) -> None:
    headers = login("leader")
    assert client.get("/api/auth/me", headers=headers).status_code == 200
    with new_session() as session:
        session.execute(update(User).where(col(User.username) == "leader").values(active=False))
        session.commit()
    assert client.get("/api/auth/me", headers=headers).status_code == 401


def test_a_change_nothing_reports_is_seen_after_the_ttl(
    client: TestClient, login: Login, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The floor: a row changed in plain SQL (no ORM event, no version change) is read again at most
    TTL_S after it was cached."""
    monkeypatch.setattr(cache, "TTL_S", 0.5)
    headers = login("leader")
    assert client.get("/api/auth/me", headers=headers).status_code == 200
    with new_session() as session:
        session.execute(text("UPDATE \"user\" SET active = false WHERE username = 'leader'"))
        session.commit()
    time.sleep(0.6)
    assert client.get("/api/auth/me", headers=headers).status_code == 401


def test_without_redis_every_request_reads_the_database(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dispatch.app import create_app

    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    get_settings.cache_clear()
    reads: list[str] = []
    event.listen(get_engine(), "before_cursor_execute", lambda *a: reads.append(a[2]))
    with TestClient(create_app()) as client:
        answer = client.post("/api/auth/token", data={"username": "dispatcher", "password": "demo1234"})
        headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        for _ in range(3):
            reads.clear()
            assert client.get("/api/auth/me", headers=headers).json()["role"] == "dispatcher"
            assert [r for r in reads if _USER_READ.search(r)], reads
        with new_session() as session:  # plain SQL: only a database read can see it
            session.execute(text("UPDATE \"user\" SET active = false WHERE username = 'dispatcher'"))
            session.commit()
        assert client.get("/api/auth/me", headers=headers).status_code == 401


def test_a_token_that_expires_while_remembered_is_refused(client: TestClient) -> None:
    """A token's signature is checked once; its expiry on every request."""
    issued_at = clock.now() - timedelta(seconds=get_settings().token_ttl_s - 3)
    clock.set_clock(lambda: issued_at)
    answer = client.post("/api/auth/token", data={"username": "hotline", "password": "demo1234"})
    clock.set_clock(None)
    headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    assert client.get("/api/auth/me", headers=headers).status_code == 200
    assert client.post("/api/intake/hotline", headers=headers, json={}).status_code == 422  # let in
    time.sleep(3.1)
    assert client.get("/api/auth/me", headers=headers).status_code == 401
    assert client.post("/api/intake/hotline", headers=headers, json={}).status_code == 401


# ------------------------------------------------------------------------- real API processes --


def _two_apis(processes: Processes) -> tuple[str, str]:
    bases = []
    for name in ("api-a", "api-b"):
        port = free_port()
        processes.start(name, "api", "--port", str(port))
        bases.append(f"http://127.0.0.1:{port}")
    for base in bases:
        wait_healthy(base)
    return bases[0], bases[1]


def _me(base: str, bearer: str) -> httpx.Response:
    return httpx.get(f"{base}/api/auth/me", headers={"Authorization": f"Bearer {bearer}"}, timeout=10)


def _deactivate(base: str, admin: str, username: str) -> None:
    answer = httpx.post(
        f"{base}/api/admin/people/{username}/deactivate",
        headers={"Authorization": f"Bearer {admin}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text


@pytest.mark.e2e
def test_two_api_processes_refuse_a_user_deactivated_through_the_other(processes: Processes) -> None:
    a, b = _two_apis(processes)
    admin, first, second = token(a, "admin"), token(a, "wgy0004"), token(b, "wgy0005")
    for _ in range(3):  # both processes have both accounts cached
        for base in (a, b):
            assert _me(base, first).status_code == 200 and _me(base, second).status_code == 200
    _deactivate(a, admin, "wgy0004")
    assert _me(b, first).status_code == 401
    assert _me(a, first).status_code == 401
    _deactivate(b, admin, "wgy0005")
    assert _me(a, second).status_code == 401
    assert _me(b, second).status_code == 401
    assert _me(a, admin).status_code == 200 and _me(b, admin).status_code == 200


class PrivateRedis:
    """A redis-server of this test alone (it is stopped and started again), nothing on disk."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = start_redis(port=self.port, data_dir=self.folder)

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def private_redis(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[PrivateRedis]:
    """A private Redis; REDIS_URL points this test and the processes it starts at it."""
    server = PrivateRedis(tmp_path / "redis")
    server.start()
    monkeypatch.setenv("REDIS_URL", server.url)
    get_settings.cache_clear()
    yield server
    server.stop()


@pytest.mark.e2e
def test_with_redis_stopped_api_processes_read_accounts_from_the_database(
    private_redis: PrivateRedis, processes: Processes
) -> None:
    a, b = _two_apis(processes)
    admin, officer, staff = token(a, "admin"), token(a, "wgy0006"), token(a, "dispatcher")
    for _ in range(3):
        for base in (a, b):
            assert _me(base, officer).status_code == 200 and _me(base, staff).status_code == 200

    private_redis.stop()
    for base in (a, b):  # still authenticated, by the database
        assert _me(base, staff).json()["role"] == "dispatcher"
    _deactivate(a, admin, "wgy0006")  # the version cannot be written: only database reads can tell
    assert _me(b, officer).status_code == 401
    assert _me(a, officer).status_code == 401

    private_redis.start()  # empty: the version key is gone
    assert Redis.from_url(private_redis.url).ping()
    for base in (a, b):
        assert _me(base, officer).status_code == 401
        assert _me(base, staff).json()["role"] == "dispatcher"
