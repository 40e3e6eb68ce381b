"""The only place that enqueues RQ jobs. Callers enqueue after their transaction commits; jobs take ids or
nothing, never objects."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry

from dispatch.config import get_settings

log = logging.getLogger(__name__)

ROUTING_QUEUE = "routing"
MAINTENANCE_QUEUE = "maintenance"
# The order a worker takes them in: periodic work (sweep, supervision) before routing, so a routing
# backlog cannot starve it.
WORKER_QUEUES = (MAINTENANCE_QUEUE, ROUTING_QUEUE)


@lru_cache
def _redis_for(url: str) -> Redis:
    return Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=5.0, health_check_interval=30)


def redis_connection() -> Redis:
    """This process's Redis client (short connect timeout: intake must not hang when Redis is down)."""
    return _redis_for(get_settings().effective_redis_url)


def get_queue(name: str) -> Queue:
    return Queue(name, connection=redis_connection())


def enqueue(queue_name: str, func: str, *args: Any, **kwargs: Any) -> bool:
    """Enqueue now; False (logged, not raised) when Redis is unreachable — the sweep re-enqueues later."""
    try:
        get_queue(queue_name).enqueue_call(
            func,
            args=args,
            kwargs=kwargs,
            result_ttl=60,
            failure_ttl=7 * 86400,
            retry=Retry(max=3, interval=[1, 5, 15]),
        )
    except RedisError:
        log.warning("Redis unreachable; %s(%s) left for the periodic sweep", func, args)
        return False
    return True


def enqueue_periodic(func: Callable[..., object], *args: Any, ttl_s: int) -> None:
    """Enqueue one pass of a periodic job on the maintenance queue (raises RedisError: the scheduler
    retries). A pass still queued after `ttl_s` is dropped; the next one is on its way."""
    get_queue(MAINTENANCE_QUEUE).enqueue_call(
        func, args, result_ttl=max(60, ttl_s), ttl=ttl_s, failure_ttl=7 * 86400, timeout=max(60, ttl_s)
    )


def queue_stats() -> dict[str, dict[str, float | int | None]]:
    """Per queue: jobs waiting, age of the oldest in seconds, jobs waiting for a retry, failed jobs
    (raises RedisError when Redis is unreachable)."""
    connection = redis_connection()
    stats: dict[str, dict[str, float | int | None]] = {}
    for name in WORKER_QUEUES:
        queue = get_queue(name)
        oldest_age_s: float | None = None
        # The head of the list may name a job whose data expired (a periodic pass past its ttl): skip it.
        head = [job for job in Job.fetch_many(queue.get_job_ids(0, 10), connection=connection) if job]
        if head and head[0].enqueued_at is not None:
            oldest_age_s = round((clock_now() - head[0].enqueued_at).total_seconds(), 1)
        stats[name] = {
            "depth": queue.count,
            "oldest_age_s": oldest_age_s,
            "retrying": ScheduledJobRegistry(name, connection=connection).count,  # type: ignore[no-untyped-call]
            "failed": FailedJobRegistry(name, connection=connection).count,
        }
    return stats


def clock_now() -> datetime:
    """Wall-clock UTC now as RQ stamps jobs (not the injectable domain clock)."""
    return datetime.now(UTC)
