"""The scheduler process: enqueues every row of dispatch.periodic.PERIODIC_JOBS at its interval, and
moves jobs whose retry is due (RQ's scheduled-job registry: a routing batch that failed waits 1, 5,
then 15 s) back onto their queue every second.

A plain loop rather than RQ's CronScheduler: it waits on an event (SIGTERM ends the wait at once, and
it keeps working when the wall clock jumps), and each pass is claimed in Redis for its interval, so
two schedulers running side by side enqueue each pass once. The jobs themselves are safe to run twice.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time

from redis.exceptions import RedisError
from rq.scheduler import RQScheduler

from dispatch.config import get_settings
from dispatch.periodic import PERIODIC_JOBS, PeriodicJob, run_periodic
from dispatch.queues import WORKER_QUEUES, enqueue_periodic, redis_connection
from workers.shutdown import StopFlag

log = logging.getLogger(__name__)

CLAIM_KEY = "grid:periodic:claim:{name}"
RETRY_S = 2.0
RETRIES_EVERY_S = 1.0


def _claim(job: PeriodicJob, interval_s: int, me: str) -> bool:
    """True if no scheduler has enqueued this job within (most of) its interval; claims it for `me`."""
    ttl_ms = max(500, int(interval_s * 900))  # 90 %: a slightly late scheduler never skips a whole pass
    return bool(redis_connection().set(CLAIM_KEY.format(name=job.name), me, nx=True, px=ttl_ms))


def run_scheduler() -> None:
    """Enqueue the periodic jobs until stopped; waits out Redis outages, stops at once on SIGTERM."""
    settings = get_settings()
    stop = StopFlag()
    stop.install()
    me = f"{socket.gethostname()}:{os.getpid()}"
    next_at = {job.name: 0.0 for job in PERIODIC_JOBS}
    retries = RQScheduler(list(WORKER_QUEUES), connection=redis_connection(), interval=int(RETRIES_EVERY_S))
    retries_at = 0.0
    for job in PERIODIC_JOBS:
        log.info("periodic job %s every %d s: %s", job.name, job.interval_s(settings), job.description)
    while not stop.requested:
        now = time.monotonic()
        for job in PERIODIC_JOBS:
            if now < next_at[job.name]:
                continue
            interval_s = job.interval_s(settings)
            try:
                if _claim(job, interval_s, me):
                    enqueue_periodic(run_periodic, job.name, ttl_s=max(30, 3 * interval_s))
                next_at[job.name] = now + interval_s
            except RedisError as exc:
                log.warning(
                    "scheduler cannot reach Redis (%s); retrying %s in %.0f s", exc, job.name, RETRY_S
                )
                next_at[job.name] = now + RETRY_S
        if now >= retries_at:
            retries_at = now + (RETRIES_EVERY_S if _promote_due_retries(retries) else RETRY_S)
        stop.wait(max(0.05, min(retries_at, *next_at.values()) - time.monotonic()))
    with contextlib.suppress(RedisError):  # else the locks expire by themselves within a minute
        retries.release_locks()  # type: ignore[no-untyped-call]
    log.info("scheduler stopped")


def _promote_due_retries(retries: RQScheduler) -> bool:
    """Put jobs whose retry time has come back on their queue; one scheduler at a time holds each
    queue's lock (the others take over within RQ's fallback period if it dies). False on a Redis error."""
    try:
        if retries.should_reacquire_locks:
            retries.acquire_locks()  # type: ignore[no-untyped-call]
        if retries.acquired_locks:
            retries.heartbeat()  # type: ignore[no-untyped-call]
            retries.enqueue_scheduled_jobs()  # type: ignore[no-untyped-call]
        return True
    except RedisError as exc:
        log.warning("scheduler cannot reach Redis for due retries (%s)", exc)
        return False
