"""Loading a calendar file end to end: check it, write the year, then re-count the estimated deadlines
of open tickets against it. The one place where the calendar reaches back into tickets; the CLI and
the admin API both call `apply_calendar_file`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dispatch.models  # noqa: F401  (every table: ticket rows reference users, grids, …)
from dispatch import clock
from dispatch.db import new_session
from dispatch.grids.report import Report
from dispatch.tickets.deadlines import recompute_provisional
from dispatch.workcal.calendar import forget_snapshot
from dispatch.workcal.service import load_year, parse_file


@dataclass
class CalendarLoad:
    """What a load did: the report, the year, whether it was written, and tickets re-counted."""

    report: Report
    year: int | None
    written: bool = False
    recomputed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "report": self.report.to_dict(),
            "year": self.year,
            "written": self.written,
            "recomputed_tickets": self.recomputed,
        }


def apply_calendar_file(
    text: str,
    *,
    fmt: str,
    year: int | None = None,
    replace: bool = False,
    dry_run: bool = False,
    loaded_by: str = "",
) -> CalendarLoad:
    """Validate the whole file; unless it has errors or this is a dry run, write the year (committed),
    then recompute provisional deadlines in a second transaction (they read the committed calendar).
    Raises InvalidInput when the year exists and `replace` is not set."""
    parsed, report = parse_file(text, fmt=fmt, year=year)
    result = CalendarLoad(report=report, year=parsed.year)
    if not report.ok or dry_run:
        return result
    with new_session() as session:
        load_year(session, parsed, source="file", loaded_by=loaded_by, replace=replace)
        session.commit()
    forget_snapshot()
    result.written = True
    with new_session() as session:
        result.recomputed = recompute_provisional(session, now=clock.now())
        session.commit()
    return result
