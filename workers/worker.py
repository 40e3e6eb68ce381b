"""RQ worker process: routing jobs first, then maintenance (sweeps)."""

from __future__ import annotations

import logging
import time

from redis.exceptions import RedisError
from rq import SimpleWorker

from dispatch.queues import ALL_QUEUES, get_queue, redis_connection

log = logging.getLogger(__name__)


def run_worker(*, burst: bool = False, name: str | None = None) -> None:
    """Work the queues until stopped. SimpleWorker runs jobs in this process, so the grid locator
    (an STRtree) is built once and reused by every job; a Redis outage only pauses the loop."""
    while True:
        try:
            worker = SimpleWorker(
                [get_queue(q) for q in ALL_QUEUES], connection=redis_connection(), name=name
            )
            worker.work(burst=burst, with_scheduler=False)
            return
        except RedisError as exc:
            if burst:
                raise
            log.warning("worker lost Redis (%s); retrying in 2 s", exc)
            time.sleep(2)
