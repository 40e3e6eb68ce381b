"""`grid-dispatch backup` / `restore`, run as the district's IT staff would: the real CLI in a subprocess
against a real database, restored into a fresh one (a new SQLite file, a new PostgreSQL database).

A backup restores to the same rows; restore refuses to overwrite tickets without --yes, refuses a backup of
the other backend, and refuses a corrupt or truncated backup without touching the target; a backup
taken while another connection writes is a consistent snapshot; an older backup is migrated to head.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from PIL import Image
from redis import Redis
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from dispatch.db import engine_for, new_session
from dispatch.events.photos import check_photo
from dispatch.events.schemas import PatrolIntake
from dispatch.events.service import accept_patrol
from dispatch.migrate import alembic_config, upgrade_to_head
from dispatch.models import metadata
from tests.conftest import BACKENDS, PG_ADMIN_URL, _sqlalchemy_url
from tests.helpers import grids_in, hotline, inside, user

TABLES = ("ticket", "event", "ticket_log", "attachment")
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `grid-dispatch …` as a separate process with this test's environment (plus `env`)."""
    return subprocess.run(
        [sys.executable, "-m", "dispatch.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def rows(url: str) -> dict[str, Any]:
    """Every row of the ticket tables, the revision and the schema differences, read afresh from `url`."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            found: dict[str, Any] = {
                table: [
                    dict(r._mapping) for r in connection.execute(text(f'SELECT * FROM "{table}" ORDER BY id'))
                ]
                for table in TABLES
            }
            found["users"] = connection.execute(text('SELECT count(*) FROM "user"')).scalar_one()
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            found["revision"] = context.get_current_revision()
            found["schema_diff"] = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    return found


def counts(found: dict[str, Any]) -> dict[str, int]:
    return {table: len(found[table]) for table in TABLES}


def png(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def make_tickets() -> int:
    """A 12345 call and a patrol report with a photo, through the service layer; the patrol ticket's id."""
    with new_session() as session:
        hotline(session, call_id="BACKUP-CALL-1", caller_name="王女士", content="楼道堆放杂物，堵塞消防通道")
        lon, lat = inside(grids_in("140213050")[0])
        report = PatrolIntake(lon=lon, lat=lat, category_code="06010", description="井盖破损，备份测试")
        photo = check_photo("manhole.png", png((32, 24)), max_bytes=100_000, index=0)
        ticket, _ = accept_patrol(session, report=report, photos=[photo], by=user(session, "wgy0001"))
        session.commit()
        assert ticket.id is not None
        return ticket.id


def release(url: str) -> None:
    """Close this process's pooled connections, as the operator stops the API before a restore."""
    engine_for(url).dispose()


@pytest.fixture
def fresh_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of the same backend as `database_url` (nothing in it, not even tables)."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'fresh' / 'restored.sqlite3'}"
        return
    name = f"gd_restore_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _sqlalchemy_url(PG_ADMIN_URL, name)
    yield url
    engine_for(url).dispose()
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def backup(tmp_path: Path, name: str) -> tuple[Path, dict[str, Any]]:
    suffix = "sqlite" if os.environ["DATABASE_URL"].startswith("sqlite") else "dump"
    path = tmp_path / f"{name}.{suffix}"
    done = cli("backup", "--output", str(path))
    assert done.returncode == 0, done.stderr
    return path, json.loads(Path(f"{path}.json").read_text(encoding="utf-8"))


def test_backup_restores_the_same_rows_into_a_fresh_database(
    database_url: str, fresh_url: str, tmp_path: Path, redis_db: Redis, run_worker: Callable[[], None]
) -> None:
    patrol_id = make_tickets()
    run_worker()  # routing adds its log rows and moves the tickets on
    before = rows(database_url)
    assert counts(before)["attachment"] == 1 and counts(before)["ticket_log"] >= 4
    release(database_url)

    done = cli("backup")
    assert done.returncode == 0, done.stderr
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    [path] = (tmp_path / "backups").glob(
        f"grid-dispatch-{backend}-*Z.{'sqlite' if backend == 'sqlite' else 'dump'}"
    )
    assert f"备份完成 (backup written): {path}" in done.stdout
    assert f"工单 tickets {len(before['ticket'])}" in done.stdout
    assert f"事件 events {len(before['event'])}" in done.stdout
    assert not list((tmp_path / "backups").glob("*.partial"))
    manifest = json.loads(Path(f"{path}.json").read_text(encoding="utf-8"))
    assert manifest["backend"] == backend
    assert manifest["revision"] == HEAD
    assert manifest["counts"] == counts(before)
    assert manifest["size_bytes"] == path.stat().st_size

    done = cli("restore", str(path), DATABASE_URL=fresh_url)
    assert done.returncode == 0, done.stderr
    assert "已恢复 (restored)" in done.stdout and "停止 API" in done.stdout
    after = rows(fresh_url)
    assert after == before
    assert after["schema_diff"] == [] and after["revision"] == HEAD
    patrol = next(t for t in after["ticket"] if t["id"] == patrol_id)
    assert patrol["description"] == "井盖破损，备份测试"
    assert patrol["state"] in {"dispatched", "manual"}
    photo = after["attachment"][0]
    assert photo["ticket_id"] == patrol_id and len(bytes(photo["data"])) == photo["size_bytes"] > 0


def test_restore_refuses_to_replace_tickets_without_yes(database_url: str, tmp_path: Path) -> None:
    make_tickets()
    path, manifest = backup(tmp_path, "before-more")
    with new_session() as session:
        hotline(session, call_id="BACKUP-CALL-LATER", content="备份之后受理的工单")
    current = rows(database_url)
    release(database_url)
    assert len(current["ticket"]) == manifest["counts"]["ticket"] + 1

    refused = cli("restore", str(path))
    assert refused.returncode == 2
    assert f"已有 {len(current['ticket'])} 张工单" in refused.stderr and "--yes" in refused.stderr
    assert rows(database_url) == current

    again = cli("backup", "--output", str(path))
    assert again.returncode == 2 and "已存在" in again.stderr

    done = cli("restore", str(path), "--yes")
    assert done.returncode == 0, done.stderr
    assert f"已替换原有的 {len(current['ticket'])} 张工单" in done.stdout
    restored = rows(database_url)
    assert counts(restored) == manifest["counts"]
    assert "备份之后受理的工单" not in str(restored["event"])


@pytest.mark.parametrize("damage", ["flipped_byte", "truncated_without_manifest"])
def test_a_damaged_backup_is_refused_and_the_target_untouched(
    database_url: str, tmp_path: Path, damage: str
) -> None:
    make_tickets()
    path, _ = backup(tmp_path, "damaged")
    data = bytearray(path.read_bytes())
    if damage == "flipped_byte":
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    else:
        path.write_bytes(bytes(data[: len(data) * 2 // 3]))
        Path(f"{path}.json").unlink()
    with new_session() as session:
        hotline(session, call_id="BACKUP-CALL-AFTER", content="损坏的备份不能覆盖它")
    current = rows(database_url)
    release(database_url)

    done = cli("restore", str(path), "--yes")
    assert done.returncode == 2, done.stdout
    assert "未恢复 (not restored)" in done.stderr
    if damage == "flipped_byte":
        assert "SHA-256" in done.stderr
    else:
        assert "损坏" in done.stderr or "回滚" in done.stderr, done.stderr
    assert rows(database_url) == current


def test_restore_refuses_a_backup_of_the_other_backend(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if database_url.startswith("sqlite"):
        if "postgresql" not in BACKENDS:
            pytest.skip("PostgreSQL not under test")
        other = _sqlalchemy_url(PG_ADMIN_URL, request.getfixturevalue("pg_template"))
        path, kind = tmp_path / "other.dump", "PostgreSQL"
    else:
        other = f"sqlite:///{request.getfixturevalue('sqlite_template')}"
        path, kind = tmp_path / "other.sqlite", "SQLite"
    made = cli("backup", "--output", str(path), DATABASE_URL=other)
    assert made.returncode == 0, made.stderr
    release(database_url)

    done = cli("restore", str(path), "--yes")
    assert done.returncode == 2
    assert f"这是 {kind} 的备份" in done.stderr and "只能恢复到同类数据库" in done.stderr


def test_backup_while_another_connection_writes_is_consistent(
    database_url: str, fresh_url: str, tmp_path: Path, redis_db: Redis
) -> None:
    written: list[int] = []
    stop = threading.Event()
    failures: list[BaseException] = []

    def write() -> None:
        try:
            with new_session() as session:
                while not stop.is_set():
                    n = len(written)
                    ticket = hotline(session, call_id=f"LIVE-{n}", content=f"并发写入 {n}")
                    assert ticket.id is not None
                    written.append(ticket.id)
        except BaseException as exc:
            failures.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        while len(written) < 5:
            stop.wait(0.05)
        written_before = len(written)
        path, manifest = backup(tmp_path, "live")
        written_during = len(written) - written_before
    finally:
        stop.set()
        writer.join(timeout=60)
    assert not failures, failures
    assert written_during > 0, "the writer should keep writing while the backup runs"

    done = cli("restore", str(path), DATABASE_URL=fresh_url)
    assert done.returncode == 0, done.stderr
    restored = rows(fresh_url)
    # The manifest counts what the backup holds, and the backup holds whole transactions only: every
    # ticket with its event and its intake log row, and the tickets a prefix of the ones written.
    assert counts(restored) == manifest["counts"]
    ticket_ids = [t["id"] for t in restored["ticket"]]
    assert written_before <= len(ticket_ids) < len(written)
    assert ticket_ids == written[: len(ticket_ids)]
    assert sorted(e["ticket_id"] for e in restored["event"]) == ticket_ids
    assert sorted({g["ticket_id"] for g in restored["ticket_log"]}) == ticket_ids


def test_an_older_backup_is_migrated_to_head_on_restore(database_url: str, tmp_path: Path) -> None:
    make_tickets()
    release(database_url)
    command.downgrade(alembic_config(), "-1")
    release(database_url)
    older = rows(database_url)["revision"]
    assert older != HEAD
    path, manifest = backup(tmp_path, "older")
    assert manifest["revision"] == older
    upgrade_to_head()  # the program and its database move on; then the old backup is restored over them
    release(database_url)

    done = cli("restore", str(path), "--yes")
    assert done.returncode == 0, done.stderr
    assert f"{older} → {HEAD}" in done.stdout
    restored = rows(database_url)
    assert restored["revision"] == HEAD and restored["schema_diff"] == []
    assert counts(restored) == manifest["counts"]


def test_postgresql_restore_waits_for_the_api_and_workers_to_stop(database_url: str, tmp_path: Path) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite has no registry of connections to check")
    path, manifest = backup(tmp_path, "busy")
    release(database_url)
    with psycopg.connect(database_url.replace("+psycopg", "")) as api:  # stands for a running API
        api.execute("SELECT 1")
        refused = cli("restore", str(path), "--yes")
        assert refused.returncode == 2
        assert "1 个其他连接" in refused.stderr and "--force" in refused.stderr
        forced = cli("restore", str(path), "--yes", "--force")
    assert forced.returncode == 0, forced.stderr
    assert counts(rows(database_url)) == manifest["counts"]
