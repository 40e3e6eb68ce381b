"""Deadlines in working time: the official Chinese calendar (holidays, 调休 make-up days) and office hours.

Every department is judged by 按期处置率, so a deadline that lands one day too early (or on a holiday)
is a real grievance. Default office hours: 08:30–12:00 (210 min) and 13:30–17:30 (240 min) =
450 min per working day, in Asia/Shanghai (UTC+8, no DST). Every expected value is hand-computed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dispatch.catalog.models import LimitUnit
from dispatch.config import get_settings
from dispatch.worktime import (
    add_working_minutes,
    deadline_for,
    is_workday,
    minutes_per_working_day,
    missing_years,
)

SH = ZoneInfo("Asia/Shanghai")


@pytest.fixture(autouse=True)
def _default_settings(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The shipped defaults, whatever the developer's environment says, on a database whose work
    calendar was filled from the calendar package (years up to 2026)."""
    for name in ("GRID_TIMEZONE", "GRID_OFFICE_HOURS"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def sh(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SH)


def assert_utc(value: datetime, expected_local: datetime) -> None:
    """`value` is the same instant as `expected_local` and is expressed in UTC."""
    assert value.tzinfo is not None
    assert value.utcoffset() == timedelta(0), value
    assert value == expected_local, (value.astimezone(SH), expected_local)


def test_a_working_day_is_450_minutes() -> None:
    # (12:00 − 08:30) + (17:30 − 13:30) = 210 + 240 = 450
    assert minutes_per_working_day() == 450


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 9, 30), True),  # Wednesday before the holiday
        (date(2026, 10, 1), False),  # 国庆节
        (date(2026, 10, 7), False),  # last day of the 7-day break
        (date(2026, 10, 8), True),  # Thursday, back to work
        (date(2026, 10, 10), True),  # Saturday, 调休 make-up working day
        (date(2026, 10, 11), False),  # Sunday
        (date(2026, 9, 20), True),  # Sunday, the other 调休 make-up day for National Day
        (date(2026, 2, 14), True),  # Saturday, 调休 for 春节
        (date(2026, 2, 16), False),  # Monday in the 春节 break
        (date(2026, 11, 28), False),  # an ordinary Saturday
    ],
)
def test_official_calendar(day: date, working: bool) -> None:
    assert is_workday(day) is working


def test_three_working_days_across_national_day_with_makeup_saturday() -> None:
    # Start Wed 2026-09-30 16:30, limit 3 working days = 3 × 450 = 1350 min.
    #   Sep 30: 16:30–17:30                  60 → 1290 left
    #   Oct 1–7: holiday                      0
    #   Oct 8 (Thu): full day               450 →  840 left
    #   Oct 9 (Fri): full day               450 →  390 left
    #   Oct 10 (Sat, 调休): 08:30–12:00     210 →  180 left
    #                       13:30 + 180 min = 16:30
    # → 2026-10-10 16:30 +08:00 = 08:30 UTC
    result = deadline_for(sh(2026, 9, 30, 16, 30), 3, LimitUnit.WORKING_DAYS)
    assert_utc(result, sh(2026, 10, 10, 16, 30))
    assert result == datetime(2026, 10, 10, 8, 30, tzinfo=UTC)


def test_working_days_from_a_utc_start_give_the_same_deadline() -> None:
    # Tickets carry created_at in UTC: 2026-09-30 08:30 UTC is 16:30 in Shanghai, as above.
    result = deadline_for(datetime(2026, 9, 30, 8, 30, tzinfo=UTC), 3, LimitUnit.WORKING_DAYS)
    assert_utc(result, sh(2026, 10, 10, 16, 30))


def test_working_hours_from_sunday_night_end_monday_afternoon() -> None:
    # Sun 2026-11-29 22:00 (not a working day), limit 4 working hours = 240 min.
    #   Mon 11-30 08:30–12:00    210 → 30 left
    #   Mon 11-30 13:30 + 30 min = 14:00
    result = deadline_for(sh(2026, 11, 29, 22), 4, LimitUnit.WORKING_HOURS)
    assert_utc(result, sh(2026, 11, 30, 14))


def test_working_hours_from_friday_afternoon_skip_the_weekend() -> None:
    # Fri 2026-12-04 16:00, 4 working hours = 240 min.
    #   Fri 16:00–17:30     90 → 150 left
    #   Sat 12-05, Sun 12-06: weekend
    #   Mon 12-07 08:30 + 150 min: 08:30–11:00 → 11:00 (inside the morning period of 210)
    result = deadline_for(sh(2026, 12, 4, 16), 4, LimitUnit.WORKING_HOURS)
    assert_utc(result, sh(2026, 12, 7, 11))


def test_start_inside_the_lunch_break_counts_from_1330() -> None:
    # Tue 2026-12-01 12:40 is in the lunch break; the clock starts at 13:30.
    #   13:30 + 60 min = 14:30
    result = deadline_for(sh(2026, 12, 1, 12, 40), 1, LimitUnit.WORKING_HOURS)
    assert_utc(result, sh(2026, 12, 1, 14, 30))


def test_morning_remainder_continues_after_lunch() -> None:
    # Tue 2026-12-01 11:00, 2 working hours = 120 min.
    #   11:00–12:00      60 → 60 left
    #   13:30 + 60 min = 14:30
    result = deadline_for(sh(2026, 12, 1, 11), 2, LimitUnit.WORKING_HOURS)
    assert_utc(result, sh(2026, 12, 1, 14, 30))


def test_start_before_office_hours_counts_from_0830() -> None:
    # Tue 2026-12-01 06:15 → clock starts 08:30; + 30 min = 09:00.
    assert_utc(add_working_minutes(sh(2026, 12, 1, 6, 15), 30), sh(2026, 12, 1, 9))


def test_deadline_exactly_at_close_stays_on_that_day() -> None:
    # Tue 2026-12-01 16:30 + 60 working min = 17:30 the same day (not 08:30 on Wednesday).
    assert_utc(add_working_minutes(sh(2026, 12, 1, 16, 30), 60), sh(2026, 12, 1, 17, 30))


def test_start_after_close_counts_from_next_working_morning() -> None:
    # Wed 2026-09-30 18:00: after close, next working day is Thu 10-08 (holiday 10-01..07).
    #   10-08 08:30 + 1 min = 08:31
    assert_utc(add_working_minutes(sh(2026, 9, 30, 18), 1), sh(2026, 10, 8, 8, 31))


def test_one_working_day_from_morning_open_ends_at_close() -> None:
    # Tue 2026-12-01 08:30 + 450 min: 210 (morning) + 240 (afternoon) → 17:30 the same day.
    assert_utc(deadline_for(sh(2026, 12, 1, 8, 30), 1, LimitUnit.WORKING_DAYS), sh(2026, 12, 1, 17, 30))


def test_natural_hours_ignore_calendar_and_office_hours() -> None:
    # 2 natural hours from Thu 2026-10-01 23:00 (National Day, night) → Fri 10-02 01:00 +08:00,
    # i.e. 2026-10-01 17:00 UTC: nothing is skipped for holidays, nights or lunch.
    start = datetime(2026, 10, 1, 15, tzinfo=UTC)  # 23:00 in Shanghai; routing passes UTC times
    result = deadline_for(start, 2, LimitUnit.HOURS)
    assert_utc(result, sh(2026, 10, 2, 1))
    assert result - start == timedelta(hours=2)


def test_natural_hours_result_is_utc_like_the_other_units() -> None:
    # Same instant as above, given in local time: 23:00 +08:00 + 2 h = 01:00 +08:00 = 17:00 UTC.
    assert_utc(deadline_for(sh(2026, 10, 1, 23), 2, LimitUnit.HOURS), sh(2026, 10, 2, 1))


@pytest.mark.parametrize("unit", [LimitUnit.WORKING_HOURS, LimitUnit.WORKING_DAYS])
def test_working_units_return_utc_for_any_input_zone(unit: LimitUnit) -> None:
    start_local = sh(2026, 12, 1, 9)
    start_ny = start_local.astimezone(ZoneInfo("America/New_York"))
    results = {deadline_for(s, 1, unit) for s in (start_local, start_ny, start_local.astimezone(UTC))}
    assert len(results) == 1
    (result,) = results
    assert result.utcoffset() == timedelta(0)
    # 1 working hour from Tue 09:00 → 10:00.
    # 1 working day (450 min) from Tue 09:00: 09:00–12:00 180 + 13:30–17:30 240 = 420 → 30 left;
    #   Wed 12-02 08:30 + 30 = 09:00.
    expected = sh(2026, 12, 1, 10) if unit is LimitUnit.WORKING_HOURS else sh(2026, 12, 2, 9)
    assert result == expected


def test_configured_office_hours_are_used(monkeypatch: pytest.MonkeyPatch) -> None:
    # One continuous period 09:00–17:00 = 480 min/day. Tue 2026-12-01 16:00 + 1 working day (480):
    #   16:00–17:00  60 → 420 left; Wed 12-02 09:00 + 420 min = 16:00
    monkeypatch.setenv("GRID_OFFICE_HOURS", '[["09:00", "17:00"]]')
    get_settings.cache_clear()
    assert minutes_per_working_day() == 480
    assert_utc(deadline_for(sh(2026, 12, 1, 16), 1, LimitUnit.WORKING_DAYS), sh(2026, 12, 2, 16))


def test_year_without_a_calendar_is_estimated_loudly(caplog: pytest.LogCaptureFixture) -> None:
    # 2035 has no work calendar: Mon–Fri count as working days so deadlines stay computable, but a
    # warning is logged and missing_years() names the year (tickets mark such deadlines provisional).
    # Fri 2035-01-05 17:00 + 1 working hour:
    #   17:00–17:30  30 → 30 left; Sat/Sun skipped; Mon 01-08 08:30 + 30 = 09:00
    with caplog.at_level(logging.WARNING, logger="dispatch.workcal.calendar"):
        result = deadline_for(sh(2035, 1, 5, 17), 1, LimitUnit.WORKING_HOURS)
    assert_utc(result, sh(2035, 1, 8, 9))
    assert is_workday(date(2035, 1, 6)) is False
    assert any("2035" in record.getMessage() for record in caplog.records)
    assert missing_years(sh(2035, 1, 5, 17), result) == [2035]
    assert missing_years(sh(2026, 12, 30, 9), sh(2027, 1, 4, 9)) == [2027]
    assert missing_years(sh(2026, 1, 5, 9), sh(2026, 12, 31, 9)) == []
