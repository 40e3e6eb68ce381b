"""The caller's account without a database read per request: a cache of users in this process, trusted
only while Redis confirms that no user has changed since the entry was read.

- Every committed change to a `user` row (an ORM flush, or an ORM UPDATE/DELETE statement) in a process
  that imports this module (API, CLI, tests: whatever imports dispatch.auth.service) empties this
  process's cache and writes a fresh random value to the users version key in Redis, right after the
  commit and before the request that made it answers.
- A lookup reads that version and uses an entry only when it was read under the same version, in this
  process's current epoch, less than TTL_S ago. Concurrent lookups share one Redis GET, but never one
  that started before they asked (UserVersions). Otherwise the user is read from the
  database (in a worker thread) and cached under the version and epoch read *before* that read, so a
  change committed meanwhile leaves the entry stale from the start.
- When Redis does not answer, nothing cached is trusted: every lookup reads the database, the cache is
  emptied, and Redis is tried again after REDIS_RETRY_S. A version key that disappeared (Redis restarted
  empty, or flushed) is replaced by a fresh random value, so it never matches an old entry.
- TTL_S bounds what none of this sees: a user row changed in plain SQL, or a change whose version write
  failed while the other processes could still read Redis.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from redis.asyncio import Redis as AsyncRedis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from sqlalchemy import event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Mapper, ORMExecuteState, make_transient_to_detached, object_session
from sqlalchemy.orm.attributes import manager_of_class, set_committed_value
from sqlmodel import Session

from dispatch.auth.models import User
from dispatch.config import Settings, get_settings
from dispatch.queues import redis_connection

log = logging.getLogger(__name__)

VERSION_KEY = "grid:auth:users-version"
TTL_S = 5.0
REDIS_TIMEOUT_S = 0.25
REDIS_RETRY_S = 1.0
_CHANGED = "users_changed"


@dataclass(frozen=True)
class _Entry:
    user: User  # detached, never handed out: callers get copies
    version: str
    epoch: int
    read_at: float  # time.monotonic()


# Entries by user id, for the settings (so the database) they were read under.
_entries: tuple[Settings | None, dict[int, _Entry]] = (None, {})
_epoch = 0
_epoch_lock = threading.Lock()


async def cached_user(
    user_id: int, load: Callable[[int], User | None], versions: UserVersions | None
) -> User | None:
    """The active user with this id as the database holds it now (None: no such active user): from the
    cache when `versions` confirms no user changed since it was read, else `load(user_id)` in a worker
    thread (always, without `versions`). Each call returns its own detached copy."""
    version = await versions.read() if versions is not None else None
    epoch, read_at, entries = _epoch, time.monotonic(), _current_entries()
    entry = entries.get(user_id)
    if (
        version is not None
        and entry is not None
        and entry.version == version
        and entry.epoch == epoch
        and read_at - entry.read_at < TTL_S
    ):
        return _copy(entry.user)
    user = await anyio.to_thread.run_sync(load, user_id)
    if user is None or not user.active:
        entries.pop(user_id, None)
        return None
    if version is not None:
        entries[user_id] = _Entry(user=user, version=version, epoch=epoch, read_at=read_at)
    return _copy(user)


def users_changed() -> None:
    """Forget every cached user in this process and make every other process's entries stale (a user row
    changed and the change is committed)."""
    _forget_all()
    try:
        redis_connection().set(VERSION_KEY, uuid.uuid4().hex)
    except RedisError:
        log.warning(
            "users version not written (Redis unreachable): other API processes may use a cached "
            "account for up to %.0f s",
            TTL_S,
            exc_info=True,
        )


def _current_entries() -> dict[int, _Entry]:
    global _entries
    settings = get_settings()
    if _entries[0] is not settings:  # another database (tests): nothing cached applies
        _entries = (settings, {})
    return _entries[1]


def _forget_all() -> None:
    global _epoch
    with _epoch_lock:
        _epoch += 1
        _current_entries().clear()


def _copy(user: User) -> User:
    """A detached copy, as if just loaded: a session it is added to treats it as the stored row."""
    copy = _USER_CLASS.new_instance()
    for key in _USER_COLUMNS:
        set_committed_value(copy, key, getattr(user, key))
    make_transient_to_detached(copy)
    return copy


_USER_CLASS = manager_of_class(User)
_USER_COLUMNS = tuple(column.key for column in sa_inspect(User).column_attrs)


class UserVersions:
    """The users version as Redis holds it, for the event loop it is made in (the app's lifespan opens
    one and closes it), read by one GET at a time that all the requests waiting for it share. A request
    waits for the first read that starts after it asked (never for one already on its way), so it still
    sees every change committed before it came."""

    def __init__(self, url: str) -> None:
        self._loop = asyncio.get_running_loop()
        self._redis = AsyncRedis.from_url(
            url,
            single_connection_client=True,
            socket_timeout=REDIS_TIMEOUT_S,
            socket_connect_timeout=REDIS_TIMEOUT_S,
            retry=Retry(NoBackoff(), 0),  # a failure means: read the database, not wait for Redis
        )
        self._next: asyncio.Future[str | None] | None = None  # the read that has not started yet
        self._task: asyncio.Task[None] | None = None
        self._down_until = 0.0  # Redis failed: not asked again before this (time.monotonic())

    async def read(self) -> str | None:
        """The version, or None when Redis does not answer (then trust no cached user)."""
        if asyncio.get_running_loop() is not self._loop:
            return None  # another loop (a test client without lifespan): its connection is not ours
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
            if self._task is None:
                self._task = asyncio.create_task(self._run())
        return await asyncio.shield(self._next)  # one caller cancelled must not cancel the others

    async def close(self) -> None:
        """Stop reading and close the connection (the app's shutdown)."""
        if self._task is not None:
            self._task.cancel()
        await self._redis.aclose()

    async def _run(self) -> None:
        waiting: asyncio.Future[str | None] | None = None
        try:
            while self._next is not None:
                waiting, self._next = self._next, None
                try:
                    version = await self._get()
                except Exception:  # the waiting requests must not hang: they read the database
                    log.exception("users version unreadable")
                    version = None
                waiting.set_result(version)
        finally:  # normally nothing is left; cancelled (shutdown): the waiting requests are too
            self._task = None
            for pending in (waiting, self._next):
                if pending is not None and not pending.done():
                    pending.cancel()
            self._next = None

    async def _get(self) -> str | None:
        if time.monotonic() < self._down_until:
            return None
        try:
            value = await self._redis.get(VERSION_KEY)
            if value is None:  # never set, or Redis restarted empty: a value no entry was read under
                await self._redis.set(VERSION_KEY, uuid.uuid4().hex, nx=True)
                value = await self._redis.get(VERSION_KEY)
        except (RedisError, OSError, TimeoutError):
            if not self._down_until:
                log.warning(
                    "Redis unreachable: every request reads its account from the database", exc_info=True
                )
            self._down_until = time.monotonic() + REDIS_RETRY_S
            _forget_all()
            return None
        if self._down_until:
            log.info("Redis reachable again: cached accounts in use")
            self._down_until = 0.0
        return value.decode() if isinstance(value, bytes) else None


# ---------------------------------------------------------------------------- change detection --


@event.listens_for(User, "after_update")
@event.listens_for(User, "after_delete")
def _row_changed(_mapper: Mapper[Any], _connection: Any, target: User) -> None:
    session = object_session(target)
    if session is not None:
        session.info[_CHANGED] = True


@event.listens_for(Session, "do_orm_execute")
def _statement_changes_users(state: ORMExecuteState) -> None:
    if (state.is_update or state.is_delete) and any(m.class_ is User for m in state.all_mappers):
        state.session.info[_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_CHANGED, False):
        users_changed()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    if not session.in_transaction():  # the whole transaction rolled back, not just a savepoint
        session.info.pop(_CHANGED, None)
