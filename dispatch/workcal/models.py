"""Work-calendar tables: which years the district has a calendar for, and that year's exceptions.

A day not listed counts as Monday–Friday working. Listed days say whether they are working days
(调休上班 on a weekend) or not (a holiday, 放假), and name the holiday they belong to.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Field, SQLModel

from dispatch.db import UTCDateTime


class CalendarYear(SQLModel, table=True):
    """A year whose calendar is known: from the calendar package or loaded by an admin from a file."""

    __tablename__ = "calendar_year"

    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    source: str = Field(max_length=16)  # package | file
    title: str = Field(default="", max_length=255)  # e.g. 国务院办公厅关于2027年部分节假日安排的通知
    loaded_at: datetime = Field(sa_type=UTCDateTime)
    loaded_by: str = Field(default="", max_length=64)


class CalendarDay(SQLModel, table=True):
    """One exception of a year: a holiday (is_workday false) or a make-up working day (true)."""

    __tablename__ = "calendar_day"

    day: date = Field(primary_key=True)
    year: int = Field(foreign_key="calendar_year.year", index=True)
    is_workday: bool
    name: str = Field(default="", max_length=32)
