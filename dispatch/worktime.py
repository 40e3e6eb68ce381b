"""The one working-time calendar: the district's work calendar (holidays, 调休) and office hours.

Working days come from `dispatch.workcal` (the tables an admin loads each year; years the calendar
package knows are filled in automatically). Time is counted to the second.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dispatch.catalog.models import LimitUnit
from dispatch.config import get_settings
from dispatch.workcal.calendar import WorkCalendar, current_calendar

MAX_DAYS = 3660  # ten years of days: a bound, never reached by real limits


def is_workday(day: date) -> bool:
    """True on an official working day: weekdays that are not holidays, plus 调休 make-up days.

    For a year the district's calendar does not have, Monday–Friday count (with a logged warning, and
    `missing_years()` tells callers so they can mark what they computed as provisional).
    """
    return current_calendar().is_workday(day)


def missing_years(start_at: datetime, end_at: datetime) -> list[int]:
    """Years between two instants (China time) for which deadlines are only estimated."""
    tz = ZoneInfo(get_settings().timezone)
    return current_calendar().missing_years(start_at.astimezone(tz).date(), end_at.astimezone(tz).date())


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


def working_periods(first: date, last: date) -> list[tuple[datetime, datetime]]:
    """The office periods of every working day from `first` to `last` (inclusive), as UTC instants."""
    tz = ZoneInfo(get_settings().timezone)
    calendar = current_calendar()
    periods: list[tuple[datetime, datetime]] = []
    day = first
    while day <= last:
        if calendar.is_workday(day):
            periods.extend((s.astimezone(UTC), e.astimezone(UTC)) for s, e in _periods(day, tz))
        day += timedelta(days=1)
    return periods


def add_working_time(start_at: datetime, amount: timedelta) -> datetime:
    """The instant at which `amount` of working time has passed since `start_at` (UTC, aware)."""
    tz = ZoneInfo(get_settings().timezone)
    calendar: WorkCalendar = current_calendar()
    cursor = start_at.astimezone(tz)
    remaining = amount
    day = cursor.date()
    for _ in range(MAX_DAYS):
        if calendar.is_workday(day):
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


def add_working_minutes(start_at: datetime, minutes: int) -> datetime:
    """The instant at which `minutes` of working time have passed since `start_at` (UTC, aware)."""
    return add_working_time(start_at, timedelta(minutes=minutes))


def deadline_for(start_at: datetime, amount: int, unit: LimitUnit) -> datetime:
    """Deadline of a time limit of `amount` `unit`s that starts at `start_at`."""
    if unit is LimitUnit.HOURS:
        return (start_at + timedelta(hours=amount)).astimezone(UTC)
    if unit is LimitUnit.WORKING_HOURS:
        return add_working_minutes(start_at, amount * 60)
    return add_working_minutes(start_at, amount * minutes_per_working_day())


def working_time_between(start_at: datetime, end_at: datetime) -> timedelta:
    """Working time from `start_at` to `end_at`, to the second (zero if end is not after start)."""
    if end_at <= start_at:
        return timedelta()
    tz = ZoneInfo(get_settings().timezone)
    calendar = current_calendar()
    start, end = start_at.astimezone(tz), end_at.astimezone(tz)
    total = timedelta()
    day = start.date()
    while day <= end.date():
        if calendar.is_workday(day):
            for period_start, period_end in _periods(day, tz):
                begin, finish = max(start, period_start), min(end, period_end)
                if finish > begin:
                    total += finish - begin
        day += timedelta(days=1)
    return total


def share_of_working_time(start_at: datetime, end_at: datetime, share: float) -> datetime:
    """The instant `share` of the working time from `start_at` to `end_at` has passed (to the second):
    where a yellow warning falls."""
    return add_working_time(start_at, working_time_between(start_at, end_at) * share)


def working_minutes_between(start_at: datetime, end_at: datetime) -> int:
    """Whole working minutes from `start_at` to `end_at` (0 if end is not after start)."""
    return int(working_time_between(start_at, end_at).total_seconds() // 60)
