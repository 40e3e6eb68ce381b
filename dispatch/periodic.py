"""The periodic work, in one table: what the scheduler enqueues, how often, on which queue.

Every row runs on the maintenance queue, which workers take before the routing queue, so a routing
backlog delays a periodic job by one routing batch at most. Each job is safe to run any number of
times, concurrently too: two schedulers (or a restart) only make a pass run more often.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from redis.exceptions import RedisError

from dispatch.config import Settings
from dispatch.interop.outbox import deliver_due
from dispatch.queues import redis_connection
from dispatch.stats.rollup import refresh as refresh_kpis
from dispatch.tickets.supervision import supervise
from dispatch.tickets.tasks import sweep_unrouted


@dataclass(frozen=True)
class PeriodicJob:
    """One row of the table: a job function with no arguments and the setting giving its interval."""

    name: str
    func: Callable[[], object]
    interval_s: Callable[[Settings], int]
    description: str


PERIODIC_JOBS: tuple[PeriodicJob, ...] = (
    PeriodicJob(
        name="sweep_unrouted",
        func=sweep_unrouted,
        interval_s=lambda s: s.sweep_interval_s,
        description="re-enqueue accepted tickets still waiting for routing (GRID_SWEEP_INTERVAL_S)",
    ),
    PeriodicJob(
        name="supervise",
        func=supervise,
        interval_s=lambda s: s.supervise_interval_s,
        description="督办: sign-for, yellow and red warnings, automatic 催办, escalation "
        "(GRID_SUPERVISE_INTERVAL_S)",
    ),
    PeriodicJob(
        name="deliver_outbox",
        func=deliver_due,
        interval_s=lambda s: s.outbox_interval_s,
        description="deliver what waits in the outbox (回传 to the city 12345 platform), retried with "
        "backoff (GRID_OUTBOX_INTERVAL_S)",
    ),
    PeriodicJob(
        name="refresh_kpis",
        func=refresh_kpis,
        interval_s=lambda s: s.kpi_refresh_interval_s,
        description="fold new ticket log rows into the KPI rollup (GRID_KPI_REFRESH_INTERVAL_S)",
    ),
)

LAST_RUN_KEY = "grid:periodic:last:{name}"
log = logging.getLogger(__name__)


def run_periodic(name: str) -> object:
    """One pass of the periodic job called `name`, as a worker runs it: timed, and its end (time,
    duration, ok) kept in Redis for `/metrics` and `/api/health`, whatever process ran it."""
    job = next(j for j in PERIODIC_JOBS if j.name == name)
    started = time.monotonic()
    ok = False
    try:
        result = job.func()
        ok = True
        return result
    finally:
        _remember(name, duration_s=time.monotonic() - started, ok=ok)


def _remember(name: str, *, duration_s: float, ok: bool) -> None:
    try:
        redis_connection().hset(
            LAST_RUN_KEY.format(name=name),
            mapping={
                "finished_at": datetime.now(UTC).timestamp(),
                "duration_s": round(duration_s, 4),
                "ok": int(ok),
            },
        )
    except RedisError:
        log.warning("cannot record the end of periodic job %s in Redis", name)


def last_runs() -> dict[str, dict[str, float]]:
    """Per periodic job, its last finished pass: `finished_at` (epoch s), `duration_s`, `ok` (1/0);
    a job that never finished is missing. Raises RedisError when Redis is unreachable."""
    connection = redis_connection()
    runs: dict[str, dict[str, float]] = {}
    for job in PERIODIC_JOBS:
        raw = connection.hgetall(LAST_RUN_KEY.format(name=job.name))
        if raw:
            runs[job.name] = {k.decode(): float(v) for k, v in raw.items()}  # type: ignore[union-attr]
    return runs
