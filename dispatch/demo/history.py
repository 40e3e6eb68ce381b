"""A past month of the demo district's work, played through the product's own functions.

Reports arrive at random times (dispatch.demo.history_arrivals), are accepted and routed as the API and
the routing job would, and each ticket then lives its life move by move (dispatch.demo.history_moves)
with the clock set to each move's moment. Supervision (督办) passes run as time goes by, as the scheduler
runs them, so warnings, automatic 催办 and escalations appear where they would; at the end the KPI
rollup is folded. Every figure the dashboard shows for the month is the real workflow's and the real
log's. Seeded: the same seed, size and month give the same history.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, func, select

from dispatch import clock
from dispatch.config import get_settings
from dispatch.db import new_session
from dispatch.demo.history_arrivals import make_photos, plan_arrivals, spots
from dispatch.demo.history_cast import SimClock, load_cast, missing_demo
from dispatch.demo.history_cli import DEFAULT_PER_DAY, DEFAULT_SEED
from dispatch.demo.history_moves import Play
from dispatch.events.models import Source
from dispatch.stats.rollup import refresh
from dispatch.tickets.models import Action, Ticket, TicketLog, TicketState
from dispatch.tickets.supervision import supervise
from dispatch.worktime import is_workday

SUPERVISE_EVERY_MIN = 30  # in office time (08:00–18:30 of working days); every 3 hours otherwise
QUIET_EVERY_MIN = 180


class HistoryRefused(Exception):
    """The month cannot be played on this database (the reason is the message, in Chinese)."""


@dataclass
class MonthReport:
    """What a played month made, read back from the database, and how long it took."""

    month: str
    seed: int
    per_day: float
    elapsed_s: float = 0.0
    arrivals: int = 0
    moves: int = 0
    supervision_passes: int = 0
    tickets: dict[str, int] = field(default_factory=dict)  # by state
    sources: dict[str, int] = field(default_factory=dict)
    actions: dict[str, int] = field(default_factory=dict)  # log rows by action
    refused: dict[str, int] = field(default_factory=dict)  # moves the product refused (expected: none)

    def counts(self) -> dict[str, object]:
        """Everything but the time taken: equal for equal seeds, sizes and months."""
        return {
            "arrivals": self.arrivals,
            "moves": self.moves,
            "supervision_passes": self.supervision_passes,
            "tickets": self.tickets,
            "sources": self.sources,
            "actions": self.actions,
            "refused": self.refused,
        }


def month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    """The month's first instant and the next month's, Beijing time."""
    tz = ZoneInfo(get_settings().timezone)
    start = datetime(year, month, 1, tzinfo=tz)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=tz)
    return start, end


def previous_month(now: datetime) -> tuple[int, int]:
    local = now.astimezone(ZoneInfo(get_settings().timezone))
    return (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)


def refusal(session: Session, start: datetime, end: datetime) -> str | None:
    """Why this month cannot be played here (None: it can)."""
    if problem := missing_demo(session):
        return problem
    if end > clock.now():
        return "只能生成已经过去的月份"
    existing = session.exec(
        select(func.count()).where(col(Ticket.created_at) >= start, col(Ticket.created_at) < end)
    ).one()
    if existing:
        return f"该月已有 {existing} 张工单，不重复生成（每个月只能生成一次）"
    return None


def supervision_ticks(start: datetime, end: datetime, every_min: int) -> Iterator[datetime]:
    """When the scheduler's supervision pass runs during the month (its real interval is a minute; a
    pass every half hour of office time already puts every warning within that half hour)."""
    tz = start.tzinfo
    day = start.date()
    while True:
        midnight = datetime.combine(day, datetime.min.time(), tz)
        busy = is_workday(day)
        for minute in range(0, 24 * 60, min(every_min, QUIET_EVERY_MIN)):
            if (busy and 8 * 60 <= minute <= 18 * 60 + 30) or minute % QUIET_EVERY_MIN == 0:
                at = midnight + timedelta(minutes=minute)
                if at >= end:
                    return
                if at > start:
                    yield at
        day += timedelta(days=1)


def play_month(
    *,
    year: int,
    month: int,
    per_day: float = DEFAULT_PER_DAY,
    seed: int = DEFAULT_SEED,
    supervise_every_min: int = SUPERVISE_EVERY_MIN,
    days: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> MonthReport:
    """Play the month [year-month] on this process's database; raises HistoryRefused when it may not
    (no demo district, the month not over yet, or it already has tickets). Commits as it goes (one
    transaction per supervision interval); the clock is restored at the end, whatever happens.
    `days` plays only the month's first days (a quick run for tests)."""
    started = time.monotonic()
    start, end = month_bounds(year, month)
    report = MonthReport(month=f"{year:04d}-{month:02d}", seed=seed, per_day=per_day)
    with new_session() as session:
        if problem := refusal(session, start, end):
            raise HistoryRefused(problem)
        cast = load_cast(session)
        places = spots(session)
    if days is not None:
        end = min(end, datetime.combine(start.date() + timedelta(days=days), start.timetz()))
    rng = random.Random(f"{seed}:{report.month}:{per_day}")
    arrivals = plan_arrivals(
        rng,
        start=start.date(),
        end=end.date(),
        per_day=per_day,
        places=places,
        tz=ZoneInfo(str(start.tzinfo)),
    )
    report.arrivals = len(arrivals)
    sim = SimClock(start)
    play = Play(cast, rng, sim, arrivals, make_photos())
    outer_random = random.getstate()
    random.seed(seed)  # the product draws 抽查 of 自行处置 from the global generator
    clock.set_clock(sim.now)
    try:
        week: date | None = None
        for tick in [*supervision_ticks(start, end, supervise_every_min), end]:
            play.run_until(tick)
            sim.at = tick
            supervise()
            report.supervision_passes += 1
            with new_session() as session:
                play.schedule_acks(session)
            if progress is not None and tick.weekday() == 0 and tick.date() != week:
                week = tick.date()
                progress(f"  {tick:%m-%d} … {play.moves} 步，用时 {time.monotonic() - started:.0f} s")
        refresh()
    finally:
        clock.set_clock(None)
        random.setstate(outer_random)
    report.moves = play.moves
    report.refused = dict(sorted(play.refused.items()))
    _read_back(report, start, end)
    report.elapsed_s = time.monotonic() - started
    return report


def _read_back(report: MonthReport, start: datetime, end: datetime) -> None:
    in_month = (col(Ticket.created_at) >= start, col(Ticket.created_at) < end)
    with new_session() as session:
        states = session.exec(
            select(Ticket.state, func.count()).where(*in_month).group_by(Ticket.state)
        ).all()
        sources = session.exec(
            select(Ticket.source, func.count()).where(*in_month).group_by(Ticket.source)
        ).all()
        actions = session.exec(
            select(TicketLog.action, func.count())
            .join(Ticket, col(Ticket.id) == col(TicketLog.ticket_id))
            .where(*in_month)
            .group_by(TicketLog.action)
        ).all()
    report.tickets = {TicketState(s).value: int(n) for s, n in sorted(states)}
    report.sources = {Source(s).value: int(n) for s, n in sorted(sources)}
    report.actions = {Action(a).value: int(n) for a, n in sorted(actions)}
