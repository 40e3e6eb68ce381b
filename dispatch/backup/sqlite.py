"""SQLite backups through the online backup API: one consistent copy while the API and workers write."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from sqlalchemy.engine import make_url

from dispatch.backup.archive import BackupError


def database_file(url: str) -> Path:
    """The file of a SQLite database URL; BackupError for an in-memory database."""
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("内存中的 SQLite 数据库无法备份 (in-memory database)")
    return Path(database)


def copy_out(source: Path, output: Path) -> None:
    """Copy the live database at `source` into a new single-file database at `output`.

    The whole copy is one step of the backup API, inside one read transaction on the source, so it is
    a consistent snapshot even while other connections write (WAL readers do not block writers)."""
    if not source.is_file():
        raise BackupError(f"数据库文件不存在：{source} (database file not found)")
    with closing(sqlite3.connect(source, timeout=30)) as src, closing(sqlite3.connect(output)) as dst:
        src.execute("PRAGMA busy_timeout=30000")
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal/-shm beside it
        problem = dst.execute("PRAGMA quick_check").fetchone()[0]
    if problem != "ok":
        raise BackupError(f"备份副本未通过完整性检查：{problem} (backup copy failed quick_check)")


def check(backup: Path) -> None:
    """BackupError unless `backup` opens as a SQLite database that passes the integrity check."""
    try:
        with closing(sqlite3.connect(f"{backup.resolve().as_uri()}?mode=ro", uri=True)) as db:
            rows = db.execute("PRAGMA integrity_check").fetchall()
            has_version = db.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
            ).fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"备份文件已损坏或不完整：{exc} (backup is corrupt or truncated)") from exc
    problems = [str(row[0]) for row in rows if row[0] != "ok"]
    if problems:
        raise BackupError(
            f"备份文件未通过完整性检查：{'; '.join(problems[:3])} (backup failed integrity_check)"
        )
    if not has_version:
        raise BackupError("备份文件中没有网格调度的数据库版本表 (no alembic_version table)")


def copy_in(backup: Path, target: Path) -> None:
    """Replace the database at `target` with the backup, in one write transaction on the target: other
    connections see either the old or the restored database, never a mixture."""
    target.parent.mkdir(parents=True, exist_ok=True)
    source_uri = f"{backup.resolve().as_uri()}?mode=ro"
    with (
        closing(sqlite3.connect(source_uri, uri=True)) as src,
        closing(sqlite3.connect(target, timeout=30)) as dst,
    ):
        dst.execute("PRAGMA busy_timeout=30000")
        try:
            src.backup(dst)
        except sqlite3.Error as exc:
            raise BackupError(
                f"恢复失败，目标数据库未改变：{exc} (restore failed; target unchanged)"
            ) from exc
