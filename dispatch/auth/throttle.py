"""Login throttling: after too many wrong passwords for one account (or from one address) within a
window, logins are refused for the rest of that window, right password or not. Counters live in
Redis; when Redis is unreachable logins are not throttled (and a warning is logged) rather than
locking every user out."""

from __future__ import annotations

import logging

from redis.exceptions import RedisError

from dispatch.config import get_settings
from dispatch.errors import TooManyRequests
from dispatch.queues import redis_connection

log = logging.getLogger(__name__)

ACCOUNT_KEY = "grid:login:fail:user:{}"
ADDRESS_KEY = "grid:login:fail:addr:{}"


def _keys(username: str, address: str) -> list[tuple[str, int]]:
    settings = get_settings()
    return [
        (ACCOUNT_KEY.format(username.lower()), settings.login_max_failures),
        (ADDRESS_KEY.format(address), settings.login_max_failures_per_address),
    ]


def check(username: str, address: str) -> None:
    """Raise TooManyRequests (429) while the account or the address is locked."""
    try:
        connection = redis_connection()
        for key, limit in _keys(username, address):
            count = int(connection.get(key) or 0)
            if count >= limit:
                ttl_s = max(1, int(connection.ttl(key)))
                raise TooManyRequests(
                    f"登录失败次数过多，请 {max(1, ttl_s // 60)} 分钟后再试", retry_after_s=ttl_s
                )
    except RedisError as exc:
        log.warning("login throttle unavailable (Redis: %s); login not throttled", exc)


def failed(username: str, address: str) -> None:
    """Count a wrong password for the account and the address (the window starts at the first)."""
    window_s = get_settings().login_lock_s
    try:
        with redis_connection().pipeline() as pipe:
            for key, _ in _keys(username, address):
                pipe.incr(key)
                pipe.expire(key, window_s, nx=True)
            pipe.execute()
    except RedisError as exc:
        log.warning("login throttle unavailable (Redis: %s)", exc)


def succeeded(username: str) -> None:
    """A right password clears the account's count (the address keeps its own)."""
    try:
        redis_connection().delete(ACCOUNT_KEY.format(username.lower()))
    except RedisError as exc:
        log.warning("login throttle unavailable (Redis: %s)", exc)
