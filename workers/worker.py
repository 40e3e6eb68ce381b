"""RQ worker process: the maintenance queue (periodic jobs: sweep, supervision) first, then routing."""

from __future__ import annotations

import logging
from types import FrameType

from redis.exceptions import RedisError
from rq import SimpleWorker

from dispatch.queues import WORKER_QUEUES, get_queue, redis_connection
from workers.shutdown import StopFlag

log = logging.getLogger(__name__)


class _Worker(SimpleWorker):
    """A SimpleWorker that also records a stop signal in our flag, so a Redis error raised while it
    shuts down does not make the retry loop start a new worker that never heard the signal."""

    stop: StopFlag

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stop.set()
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]


def run_worker(*, burst: bool = False, name: str | None = None) -> None:
    """Work the queues until stopped. SimpleWorker runs jobs in this process, so the grid locator
    (an STRtree) is built once and reused by every job; a Redis outage only pauses the loop, and
    SIGTERM stops the process within seconds (after the job in hand) whatever Redis is doing."""
    stop = StopFlag()
    stop.install()
    while not stop.requested:
        try:
            worker = _Worker([get_queue(q) for q in WORKER_QUEUES], connection=redis_connection(), name=name)
            worker.stop = stop
            worker.work(burst=burst, with_scheduler=False)
            return
        except RedisError as exc:
            if burst:
                raise
            stop.install()
            if stop.requested:
                break
            log.warning("worker lost Redis (%s); retrying in 2 s", exc)
            stop.wait(2)
    log.info("worker stopped")
