"""Periodic jobs (RQ CronScheduler): the unrouted-ticket sweep and supervision (督办) of deadlines."""

from __future__ import annotations

import logging
import time

from redis.exceptions import RedisError
from rq.cron import CronScheduler

from dispatch.config import get_settings
from dispatch.queues import MAINTENANCE_QUEUE, redis_connection
from dispatch.tickets.tasks import sweep_unrouted

log = logging.getLogger(__name__)


def run_scheduler() -> None:
    """Enqueue the periodic jobs until stopped; waits out Redis outages instead of exiting."""
    settings = get_settings()
    while True:
        try:
            scheduler = CronScheduler(connection=redis_connection())
            scheduler.register(
                sweep_unrouted, queue_name=MAINTENANCE_QUEUE, interval=settings.sweep_interval_s
            )
            scheduler.start()  # type: ignore[no-untyped-call]
            return
        except RedisError as exc:
            log.warning("scheduler lost Redis (%s); retrying in 2 s", exc)
            time.sleep(2)
