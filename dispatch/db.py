"""Engine, sessions and after-commit side effects. Services flush; the request or the job commits once."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any, TypeVar

from fastapi import Depends
from sqlalchemy import DateTime, Engine, event, text
from sqlalchemy import Enum as SAEnum
from sqlalchemy.engine import Dialect
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, create_engine

from dispatch.config import get_settings

log = logging.getLogger(__name__)

AFTER_COMMIT_KEY = "after_commit_callbacks"
T = TypeVar("T")


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always returned timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@lru_cache
def engine_for(url: str) -> Engine:
    """One engine per database URL in this process."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def get_engine() -> Engine:
    return engine_for(get_settings().effective_database_url)


def new_session() -> Session:
    """A session on this process's database; the caller commits or rolls back."""
    return Session(get_engine(), expire_on_commit=False)


def get_session() -> Iterator[Session]:
    """Request-scoped session: committed once when the handler returns, rolled back on error.

    Used with scope="function": the commit runs before the response is sent, so a 200 means the change
    is committed (and a failed commit answers 500, never 200)."""
    with new_session() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` once the session's transaction commits; drop it if the transaction rolls back."""
    session.info.setdefault(AFTER_COMMIT_KEY, []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    callbacks: list[Callable[[], None]] = session.info.pop(AFTER_COMMIT_KEY, [])
    for callback in callbacks:
        try:
            callback()
        except Exception:  # a side effect must never undo or hide a commit
            log.exception("after-commit side effect failed; the periodic sweep will recover")


@event.listens_for(Session, "after_rollback")
def _drop_after_commit(session: Session) -> None:
    if not session.in_transaction():  # the whole transaction rolled back, not just a savepoint
        session.info.pop(AFTER_COMMIT_KEY, None)


_SEQUENCE_LOCKED = "log_sequence_locked"


def lock_log_sequence(session: Session) -> None:
    """Hold the log-sequence lock until this transaction ends (PostgreSQL; SQLite serialises writers)."""
    if session.info.get(_SEQUENCE_LOCKED) or session.get_bind().dialect.name != "postgresql":
        return
    session.execute(text("SELECT pg_advisory_xact_lock(724001)"))
    session.info[_SEQUENCE_LOCKED] = True


@event.listens_for(Session, "after_transaction_end")
def _release_flag(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the outermost transaction ended: the advisory lock is gone
        session.info.pop(_SEQUENCE_LOCKED, None)


def enum_type(enum: type[StrEnum]) -> SAEnum:
    """Store a StrEnum as its value in a plain VARCHAR, so adding a member needs no database enum change."""
    return SAEnum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


def commit_with_retry(work: Callable[[Session], T], *, what: str, attempts: int = 3) -> T:
    """Run `work` in a fresh session and commit; if another writer changed the same rows first
    (optimistic lock), roll back and run it again on fresh data, up to `attempts` times."""
    for attempt in range(1, attempts + 1):
        with new_session() as session:
            try:
                result = work(session)
                session.commit()
                return result
            except StaleDataError:
                session.rollback()
                log.info("%s raced another writer (attempt %d); retrying", what, attempt)
    raise RuntimeError(f"{what} kept conflicting with other writers")
