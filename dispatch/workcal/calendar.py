"""The calendar in memory: a snapshot of the tables, shared by every working-time computation.

Each process keeps one snapshot per database and checks at most every `RECHECK_S` seconds whether an
admin loaded a year since (one cheap query); the process that loads a year drops its snapshot at once.
A year the district has not been given is never guessed silently: Monday–Friday count as working
days, a warning is logged, and callers can ask `missing_years()` to mark what they computed as
provisional (tickets get `deadline_provisional`, health and the console warn).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func
from sqlmodel import select

from dispatch.config import get_settings
from dispatch.db import new_session
from dispatch.workcal.models import CalendarDay, CalendarYear

log = logging.getLogger(__name__)

RECHECK_S = 5.0


@dataclass(frozen=True)
class WorkCalendar:
    """Known years and their exceptions (day → is it a working day, and the holiday's name)."""

    years: frozenset[int]
    workdays: Mapping[date, bool] = field(default_factory=dict)
    names: Mapping[date, str] = field(default_factory=dict)

    def is_workday(self, day: date) -> bool:
        """Official working day: a listed exception, else Monday–Friday (guessed for an unknown year)."""
        listed = self.workdays.get(day)
        if listed is not None:
            return listed
        if day.year not in self.years:
            _warn_guessed(day.year)
        return day.weekday() < 5

    def knows(self, year: int) -> bool:
        return year in self.years

    def missing_years(self, start: date, end: date) -> list[int]:
        """Years between `start` and `end` (inclusive) that the calendar does not know."""
        return [y for y in range(start.year, end.year + 1) if y not in self.years]


_warned: set[int] = set()
_lock = threading.Lock()
_snapshots: dict[str, tuple[WorkCalendar, tuple[int, str], float]] = {}


def _warn_guessed(year: int) -> None:
    if year not in _warned:
        _warned.add(year)
        log.warning(
            "no work calendar for %s: counting Monday-Friday as working days until an admin loads it "
            "(grid-dispatch calendar load FILE)",
            year,
        )


def _version() -> tuple[int, str]:
    with new_session() as session:
        count = session.exec(select(func.count()).select_from(CalendarYear)).one()
        latest = session.exec(select(func.max(CalendarYear.loaded_at))).one()
    return int(count), str(latest)


def _load() -> WorkCalendar:
    with new_session() as session:
        years = frozenset(session.exec(select(CalendarYear.year)).all())
        rows = session.exec(select(CalendarDay)).all()
    return WorkCalendar(
        years=years,
        workdays={row.day: row.is_workday for row in rows},
        names={row.day: row.name for row in rows},
    )


def current_calendar() -> WorkCalendar:
    """This process's snapshot of the database's calendar (rechecked every few seconds)."""
    url = get_settings().effective_database_url
    now = time.monotonic()
    with _lock:
        cached = _snapshots.get(url)
        if cached is not None and now - cached[2] < RECHECK_S:
            return cached[0]
        version = _version()
        if cached is not None and cached[1] == version:
            _snapshots[url] = (cached[0], version, now)
            return cached[0]
        calendar = _load()
        _snapshots[url] = (calendar, version, now)
        _warned.clear()
        return calendar


def forget_snapshot() -> None:
    """Drop this process's snapshots (after a load, so the next computation reads the new year)."""
    with _lock:
        _snapshots.clear()
