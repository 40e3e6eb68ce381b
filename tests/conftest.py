"""Real-service fixtures: a fresh database per test (cloned from a migrated, seeded template) on SQLite
and on PostgreSQL, and real Redis. Set GRID_TEST_BACKENDS=sqlite to skip PostgreSQL on a laptop;
CI runs both and fails (never skips) when a service is unreachable."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from redis import Redis
from sqlmodel import Session

from dispatch import clock
from dispatch.config import get_settings
from dispatch.db import engine_for, new_session
from dispatch.grids import locator
from dispatch.grids import service as grid_service
from tests.processes import Processes

PG_ADMIN_URL = os.environ.get("GRID_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
TEST_REDIS_URL = os.environ.get("GRID_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
BACKENDS = [b for b in os.environ.get("GRID_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]


def _sqlalchemy_url(pg_url: str, database: str) -> str:
    base = pg_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{database}"


TEST_SECRET = "tests-only-secret-key-long-enough-for-hs256-0123456789"


def _use_database(monkeypatch: pytest.MonkeyPatch, url: str, data_dir: Path) -> None:
    monkeypatch.setenv("GRID_SECRET_KEY", TEST_SECRET)  # the API process refuses the default one
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("REDIS_URL", TEST_REDIS_URL)
    monkeypatch.setenv("GRID_DATA_DIR", str(data_dir))
    # 抽查 draws at random: off unless a test turns it on, so no other test's log gains a review task
    monkeypatch.setenv("GRID_SELF_RESOLVE_REVIEW_SHARE", "0")
    get_settings.cache_clear()


def _build_template(url: str) -> None:
    from dispatch.demo.seed import seed_demo
    from dispatch.migrate import upgrade_to_head

    upgrade_to_head()
    with new_session() as session:
        seed_demo(session)
        session.commit()
    engine_for(url).dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("sqlite-template")
    path = folder / "template.sqlite3"
    with pytest.MonkeyPatch.context() as mp:
        _use_database(mp, f"sqlite:///{path}", folder)
        _build_template(f"sqlite:///{path}")
    get_settings.cache_clear()
    yield path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    name = f"gd_template_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _sqlalchemy_url(PG_ADMIN_URL, name)
    with pytest.MonkeyPatch.context() as mp:
        _use_database(mp, url, Path("/tmp"))
        _build_template(url)
    get_settings.cache_clear()
    yield name
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A fresh, migrated database holding the demo district, private to this test."""
    if request.param == "sqlite":
        path = tmp_path / "test.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
        _use_database(monkeypatch, url, tmp_path)
        yield url
        engine_for(url).dispose()
        return
    template = request.getfixturevalue("pg_template")
    name = f"gd_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    url = _sqlalchemy_url(PG_ADMIN_URL, name)
    _use_database(monkeypatch, url, tmp_path)
    yield url
    engine_for(url).dispose()
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_db() -> Iterator[Redis]:
    """The test Redis database, emptied before the test."""
    client = Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=2)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(autouse=True)
def _fresh_process_state() -> Iterator[None]:
    """Per-process caches keyed by grid version id: every test's database numbers its versions anew."""
    locator._cache.clear()
    grid_service._extents.clear()
    yield
    clock.set_clock(None)
    locator._cache.clear()
    grid_service._extents.clear()
    get_settings.cache_clear()


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    with new_session() as s:
        yield s


@pytest.fixture
def client(database_url: str, redis_db: Redis) -> Iterator[TestClient]:
    from dispatch.app import create_app

    with TestClient(create_app()) as test_client:
        yield test_client


@pytest.fixture
def login(client: TestClient) -> Callable[[str], dict[str, str]]:
    """Bearer headers for a demo account (password demo1234)."""

    def headers(username: str) -> dict[str, str]:
        response = client.post("/api/auth/token", data={"username": username, "password": "demo1234"})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    return headers


@pytest.fixture
def run_worker(redis_db: Redis) -> Callable[[], None]:
    """Run a real RQ worker (in this process) until the queues are empty."""
    from workers.worker import run_worker as work

    return lambda: work(burst=True)


@pytest.fixture
def processes(database_url: str, redis_db: Redis, tmp_path: Path) -> Iterator[Processes]:
    """Start `grid-dispatch` processes on this test's database and Redis; all are killed at the end."""
    procs = Processes(tmp_path)
    yield procs
    procs.stop_all()
    for log in sorted(tmp_path.glob("*.log")):  # shown by pytest only when the test fails
        print(f"----- {log.name}\n{log.read_text(errors='replace')[-4000:]}")
