"""Backing up the configured database and restoring a backup into it (SQLite or PostgreSQL)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from dispatch import clock
from dispatch.backup import postgres, sqlite
from dispatch.backup.archive import (
    BACKEND_NAMES,
    BackupError,
    Manifest,
    backend_of_file,
    default_name,
    partial_path,
    publish,
    read_manifest,
    sha256_of,
    sidecar_path,
    verify_checksum,
    write_manifest,
)
from dispatch.config import get_settings

# The tables whose row counts a backup reports (table -> label shown to the operator).
COUNTED_TABLES = {
    "ticket": "工单 tickets",
    "event": "事件 events",
    "ticket_log": "流转记录 ticket log",
    "attachment": "照片 photos",
}
SESSIONS_SETTLE_S = 5.0


@dataclass(frozen=True)
class Snapshot:
    """What one consistent view of a database holds: the counted tables' rows and the schema revision."""

    counts: dict[str, int]
    revision: str | None


@dataclass(frozen=True)
class Restored:
    """The outcome of a restore: what was replaced, whether the checksum was verified, what is there now."""

    target: str
    replaced_tickets: int
    verified: bool
    backup_revision: str | None
    now: Snapshot


def describe_counts(counts: dict[str, int]) -> str:
    return " · ".join(f"{label} {counts.get(table, 0)}" for table, label in COUNTED_TABLES.items())


def read_snapshot(connection: Connection) -> Snapshot:
    """Row counts and alembic revision as `connection`'s transaction sees them (0 / None when absent)."""
    tables = set(inspect(connection).get_table_names())
    counts = {
        table: int(connection.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one())
        for table in COUNTED_TABLES
        if table in tables
    }
    revision = None
    if "alembic_version" in tables:
        revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return Snapshot(counts=counts, revision=revision)


@contextmanager
def _connect(url: str) -> Iterator[Connection]:
    """A connection of its own (no pool kept), so nothing of this process lingers on the database."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def _backend() -> tuple[str, str]:
    settings = get_settings()
    return ("sqlite" if settings.is_sqlite else "postgresql"), settings.effective_database_url


def target_description(url: str) -> str:
    if url.startswith("sqlite"):
        return str(sqlite.database_file(url).resolve())
    return make_url(url).render_as_string(hide_password=True)


def create_backup(output: Path | None) -> tuple[Path, Manifest]:
    """Back up the configured database to `output` (a file, or a directory for the default name; default
    <data_dir>/backups) and write its manifest beside it. The backup file appears under its final name
    only when it is complete; an existing file is never overwritten."""
    backend, url = _backend()
    created_at = clock.now()
    name = default_name(backend, created_at)
    if output is None:
        final = get_settings().data_dir / "backups" / name
    else:
        final = output / name if output.is_dir() else output
    final = final.resolve()
    for existing in (final, sidecar_path(final)):
        if existing.exists():
            raise BackupError(f"{existing} 已存在，不会覆盖 (already exists; not overwritten)")
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path(final)
    try:
        snapshot = _write_backup(backend, url, partial)
        manifest = Manifest(
            backend=backend,
            revision=snapshot.revision,
            created_at=created_at.isoformat(),
            counts=snapshot.counts,
            sha256=sha256_of(partial),
            size_bytes=partial.stat().st_size,
            file_name=final.name,
        )
        publish(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    write_manifest(final, manifest)
    return final, manifest


def _write_backup(backend: str, url: str, partial: Path) -> Snapshot:
    if backend == "sqlite":
        sqlite.copy_out(sqlite.database_file(url), partial)
        with _connect(f"sqlite:///{partial}") as connection:
            return read_snapshot(connection)
    # pg_dump dumps the very snapshot this transaction exports, so the counts describe the dump exactly.
    with _connect(url) as connection:
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
        exported = connection.execute(text("SELECT pg_export_snapshot()")).scalar_one()
        snapshot = read_snapshot(connection)
        postgres.dump(postgres.PgTarget.from_url(url), output=partial, snapshot=str(exported))
        connection.rollback()
    return snapshot


def _check_revision_known(revision: str | None) -> None:
    """BackupError if the backup's schema revision is one this program does not know (a newer program's)."""
    if revision is None:
        return
    from dispatch.migrate import alembic_config

    try:
        known = ScriptDirectory.from_config(alembic_config()).get_revision(revision)
    except CommandError:
        known = None
    if known is None:
        raise BackupError(
            f"备份的数据库版本 {revision} 不在本程序的迁移历史中（可能来自更新的版本）：请先升级程序再恢复"
            " (the backup comes from a newer version of grid-dispatch)"
        )


def _target_tickets(backend: str, url: str) -> int:
    if backend == "sqlite" and not sqlite.database_file(url).exists():
        return 0
    with _connect(url) as connection:
        return read_snapshot(connection).counts.get("ticket", 0)


def other_sessions(url: str, *, settle_s: float = SESSIONS_SETTLE_S) -> int:
    """How many other client connections the PostgreSQL database has (API, workers, scheduler, psql),
    allowing `settle_s` for the server to finish connections that were just closed."""
    deadline = time.monotonic() + settle_s
    with _connect(url) as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")  # fresh activity each time
        while True:
            others = int(
                connection.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                    )
                ).scalar_one()
            )
            if not others or time.monotonic() >= deadline:
                return others
            time.sleep(0.2)


def restore_backup(backup: Path, *, confirmed: bool, force: bool) -> Restored:
    """Replace the configured database with `backup`, then migrate it to head.

    Everything is checked before the target is touched: the backend, the manifest's checksum (when the
    sidecar is there), the file's own integrity, the schema revision, and — unless `confirmed` — that
    the target holds no tickets. The replacement itself is one transaction on either backend."""
    backend, url = _backend()
    if not backup.is_file():
        raise BackupError(f"备份文件不存在：{backup} (backup file not found)")
    kind = backend_of_file(backup)
    if kind != backend:
        raise BackupError(
            f"这是 {BACKEND_NAMES[kind]} 的备份，而当前配置的数据库是 {BACKEND_NAMES[backend]}："
            f"只能恢复到同类数据库 (a {BACKEND_NAMES[kind]} backup cannot be restored into "
            f"{BACKEND_NAMES[backend]})"
        )
    manifest = read_manifest(backup)
    if manifest is not None:
        verify_checksum(backup, manifest)
    revision = manifest.revision if manifest is not None else None
    if backend == "sqlite":
        sqlite.check(backup)
        if sqlite.database_file(url).resolve() == backup.resolve():
            raise BackupError("备份文件就是当前数据库本身 (the backup is the configured database)")
        with _connect(f"sqlite:///{backup.resolve()}") as connection:
            revision = read_snapshot(connection).revision
    else:
        postgres.check_archive(backup)
    _check_revision_known(revision)

    existing = _target_tickets(backend, url)
    if existing and not confirmed:
        raise BackupError(
            f"目标数据库 {target_description(url)} 已有 {existing} 张工单，恢复会全部替换；确认请加 --yes"
            f" (the target holds {existing} tickets that would be replaced; add --yes to confirm)"
        )
    if backend == "sqlite":
        sqlite.copy_in(backup, sqlite.database_file(url))
    else:
        others = other_sessions(url)
        if others and not force:
            raise BackupError(
                f"还有 {others} 个其他连接在使用该数据库：请先停止 API、worker 和 scheduler"
                "（确需在连接存在时恢复，加 --force）"
                f" ({others} other connections; stop the API, workers and scheduler first)"
            )
        postgres.restore(postgres.PgTarget.from_url(url), backup)

    from dispatch.migrate import upgrade_to_head

    upgrade_to_head()
    with _connect(url) as connection:
        now = read_snapshot(connection)
    return Restored(
        target=target_description(url),
        replaced_tickets=existing,
        verified=manifest is not None,
        backup_revision=revision,
        now=now,
    )
