"""The periodic work, in one table: what the scheduler enqueues, how often, on which queue.

Every row runs on the maintenance queue, which workers take before the routing queue, so a routing
backlog delays a periodic job by one routing batch at most. Each job is safe to run any number of
times, concurrently too: two schedulers (or a restart) only make a pass run more often.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dispatch.config import Settings
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
)
