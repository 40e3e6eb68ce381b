"""Tell every API process that new ticket log rows are committed (Redis pub/sub, after commit)."""

from __future__ import annotations

import logging

from redis.exceptions import RedisError
from sqlmodel import Session

from dispatch.db import after_commit
from dispatch.queues import redis_connection

log = logging.getLogger(__name__)

CHANNEL = "grid-dispatch:console"
_FLAG = "console_notify_pending"


def _publish() -> None:
    try:
        redis_connection().publish(CHANNEL, "changed")
    except RedisError:
        log.warning("Redis unreachable; consoles will catch up on their next poll")


def notify_after_commit(session: Session) -> None:
    """Wake the consoles once this transaction commits (at most one message per transaction)."""
    if session.info.get(_FLAG):
        return
    session.info[_FLAG] = True

    def publish() -> None:
        session.info.pop(_FLAG, None)
        _publish()

    after_commit(session, publish)
