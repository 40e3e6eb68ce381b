"""PostgreSQL backups through the client tools: `pg_dump --format=custom` out, and `pg_restore` piped
into `psql` in one transaction back in (so a failed or truncated restore leaves the database as it was)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import make_url

from dispatch.backup.archive import BackupError

PG_LIB_DIR = Path("/usr/lib/postgresql")
LOCK_TIMEOUT = "30s"
# Sent before the restore script: everything of the schema goes, in the same transaction as the restore,
# so tables that a newer migration added cannot survive to confuse the upgrade that follows.
PREAMBLE = (
    f"BEGIN;\nSET lock_timeout = '{LOCK_TIMEOUT}';\n"
    "DROP SCHEMA IF EXISTS public CASCADE;\nCREATE SCHEMA public;\n"
).encode()
COMMIT = b"\nCOMMIT;\n"


@dataclass(frozen=True)
class PgTarget:
    """How the client tools reach a database: a libpq connection string without the password, and the
    environment that carries the password (PGPASSWORD), so it never appears on a command line."""

    conninfo: str
    env: dict[str, str]
    name: str

    @classmethod
    def from_url(cls, url: str) -> PgTarget:
        parsed = make_url(url)
        params: dict[str, str] = {
            key: str(value[-1] if isinstance(value, tuple) else value) for key, value in parsed.query.items()
        }
        for key, value in (
            ("host", parsed.host),
            ("port", parsed.port),
            ("user", parsed.username),
            ("dbname", parsed.database),
        ):
            if value is not None:
                params[key] = str(value)
        env = dict(os.environ)
        if parsed.password is not None:
            env["PGPASSWORD"] = parsed.password
        return cls(conninfo=make_conninfo(**params), env=env, name=parsed.database or "")


def find_tool(name: str) -> str:
    """The path of a PostgreSQL client program: on PATH, else the newest /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    if found:
        return found

    def major(path: Path) -> int:
        version = path.parent.parent.name
        return int(version) if version.isdigit() else 0

    installed = sorted(PG_LIB_DIR.glob(f"*/bin/{name}"), key=major, reverse=True)
    if installed:
        return str(installed[0])
    raise BackupError(
        f"找不到 {name}：请安装 PostgreSQL 客户端（Debian/Ubuntu：apt-get install postgresql-client，"
        f"版本不低于数据库服务器），或把它所在目录加入 PATH ({name} not found)"
    )


def _tool_error(tool: str, stderr: str) -> BackupError:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    detail = "\n  ".join(lines[-8:]) or "（没有错误输出）"
    hint = ""
    if "version mismatch" in stderr:
        hint = f"\n提示：{tool} 的版本必须不低于数据库服务器的版本 ({tool} is older than the server)"
    return BackupError(f"{tool} 失败 ({tool} failed):\n  {detail}{hint}")


def dump(target: PgTarget, *, output: Path, snapshot: str | None) -> None:
    """Write a custom-format dump of the target database to `output` (of the exported `snapshot`, when
    given, so the dump shows exactly what the caller's transaction sees)."""
    argv = [find_tool("pg_dump"), "--format=custom", "--file", str(output)]
    if snapshot:
        argv.append(f"--snapshot={snapshot}")
    argv += ["--dbname", target.conninfo]
    done = subprocess.run(argv, env=target.env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise _tool_error("pg_dump", done.stderr)


def check_archive(backup: Path) -> None:
    """BackupError unless pg_restore can read the archive's table of contents."""
    done = subprocess.run(
        [find_tool("pg_restore"), "--list", str(backup)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise BackupError(
            f"备份文件已损坏或不完整 (backup is corrupt or truncated): {done.stderr.strip()[-500:]}"
        )


def _psql_for(pg_restore: str) -> str:
    """psql from the same installation as pg_restore (the script it writes is for that version)."""
    sibling = Path(pg_restore).with_name("psql")
    return str(sibling) if sibling.is_file() else find_tool("psql")


def restore(target: PgTarget, backup: Path) -> None:
    """Replace the target's schema `public` with the archive's content, all in one transaction.

    pg_restore writes the archive as a SQL script into psql; the script is framed by BEGIN (and the
    schema drop) and a COMMIT that is sent only once pg_restore has read the whole archive without
    error. A truncated archive, a failing statement or a lost connection therefore roll everything
    back and the database stays as it was."""
    pg_restore = find_tool("pg_restore")
    psql = _psql_for(pg_restore)
    with tempfile.TemporaryFile() as restore_err, tempfile.TemporaryFile() as psql_err:
        loader = subprocess.Popen(
            [psql, "--no-psqlrc", "--quiet", "--set", "ON_ERROR_STOP=1", "--dbname", target.conninfo],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=psql_err,
            env=target.env,
        )
        reader = subprocess.Popen(
            [pg_restore, "--no-owner", "--no-privileges", "--file", "-", str(backup)],
            stdout=subprocess.PIPE,
            stderr=restore_err,
        )
        committed = _pump(reader, loader)
        if loader.wait() == 0 and committed:
            return
        details = [_tail(restore_err)] if reader.returncode != 0 else []
        details.append(_tail(psql_err))
        detail = "\n  ".join(d for d in details if d) or "（没有错误输出）"
        raise BackupError(
            "恢复失败，已回滚，数据库未改变 (restore failed and was rolled back; the database is unchanged):"
            f"\n  {detail}"
        )


def _pump(reader: subprocess.Popen[bytes], loader: subprocess.Popen[bytes]) -> bool:
    """Stream reader's script into loader between the preamble and COMMIT; True if COMMIT was sent,
    which happens only when the reader finished cleanly. The loader's stdin is closed either way."""
    assert reader.stdout is not None and loader.stdin is not None
    complete = False
    try:
        loader.stdin.write(PREAMBLE)
        shutil.copyfileobj(reader.stdout, loader.stdin, 1 << 20)
        complete = reader.wait() == 0
        if complete:
            loader.stdin.write(COMMIT)
    except BrokenPipeError:
        pass  # psql stopped at an error (ON_ERROR_STOP); its message is in its stderr
    finally:
        reader.stdout.close()
        if reader.poll() is None:
            reader.kill()
        reader.wait()
        with contextlib.suppress(BrokenPipeError):
            loader.stdin.close()
    return complete


def _tail(stream: IO[bytes]) -> str:
    stream.seek(0)
    text = stream.read().decode(errors="replace")
    text = re.sub(r"\\(un)?restrict \S+", "", text)
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return "\n  ".join(lines[-8:])
