"""The one working-time calendar: official Chinese working days (holidays, 调休) and office hours."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import chinese_calendar

from dispatch.catalog.models import LimitUnit
from dispatch.config import get_settings

log = logging.getLogger(__name__)


@lru_cache(maxsize=4096)
def is_workday(day: date) -> bool:
    """True on an official working day: weekdays that are not holidays, plus 调休 make-up days.

    For a year the calendar package does not know yet, weekdays count as working days (and a
    warning is logged once per day asked), so deadlines stay computable.
    """
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        log.warning("no official calendar for %s; counting Monday-Friday as working days", day.year)
        return day.weekday() < 5


def _periods(day: date, tz: ZoneInfo) -> list[tuple[datetime, datetime]]:
    return [
        (datetime.combine(day, start, tz), datetime.combine(day, end, tz))
        for start, end in get_settings().office_hours
    ]


def minutes_per_working_day() -> int:
    """Length of one working day in minutes, from the configured office hours."""
    total = 0
    for start, end in get_settings().office_hours:
        total += (datetime.combine(date.min, end) - datetime.combine(date.min, start)).seconds // 60
    return total


def add_working_minutes(start_at: datetime, minutes: int) -> datetime:
    """The instant at which `minutes` of working time have passed since `start_at` (UTC, aware)."""
    tz = ZoneInfo(get_settings().timezone)
    cursor = start_at.astimezone(tz)
    remaining = timedelta(minutes=minutes)
    day = cursor.date()
    for _ in range(3660):  # ten years of days: a bound, never reached by real limits
        if is_workday(day):
            for period_start, period_end in _periods(day, tz):
                begin = max(cursor, period_start)
                if begin >= period_end:
                    continue
                available = period_end - begin
                if remaining <= available:
                    return (begin + remaining).astimezone(UTC)
                remaining -= available
        day += timedelta(days=1)
        cursor = datetime.combine(day, time.min, tz)
    raise ValueError("working time limit too large")


def deadline_for(start_at: datetime, amount: int, unit: LimitUnit) -> datetime:
    """Deadline of a time limit of `amount` `unit`s that starts at `start_at`."""
    if unit is LimitUnit.HOURS:
        return (start_at + timedelta(hours=amount)).astimezone(UTC)
    if unit is LimitUnit.WORKING_HOURS:
        return add_working_minutes(start_at, amount * 60)
    return add_working_minutes(start_at, amount * minutes_per_working_day())


def working_minutes_between(start_at: datetime, end_at: datetime) -> int:
    """Working minutes from `start_at` to `end_at` (0 if end is not after start)."""
    if end_at <= start_at:
        return 0
    tz = ZoneInfo(get_settings().timezone)
    start, end = start_at.astimezone(tz), end_at.astimezone(tz)
    total = timedelta()
    day = start.date()
    while day <= end.date():
        if is_workday(day):
            for period_start, period_end in _periods(day, tz):
                begin, finish = max(start, period_start), min(end, period_end)
                if finish > begin:
                    total += finish - begin
        day += timedelta(days=1)
    return int(total.total_seconds() // 60)
