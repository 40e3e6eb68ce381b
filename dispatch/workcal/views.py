"""The work calendar over HTTP: working periods for the pages' countdowns, and the admin's years."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, UploadFile
from fastapi.responses import PlainTextResponse
from sqlmodel import col, select

from dispatch.auth.deps import Admin, CurrentUser
from dispatch.config import get_settings
from dispatch.db import SessionDep
from dispatch.errors import InvalidInput, NotFound
from dispatch.inputs import PlausibleDate, Year
from dispatch.workcal.apply import apply_calendar_file
from dispatch.workcal.calendar import current_calendar
from dispatch.workcal.models import CalendarDay, CalendarYear
from dispatch.workcal.service import calendar_status, export_year, local_today
from dispatch.worktime import working_periods

router = APIRouter(tags=["calendar"])

MAX_SPAN_DAYS = 400
Format = Literal["yaml", "csv"]


@router.get("/api/calendar")
def get_calendar(
    _: CurrentUser,
    date_from: Annotated[PlausibleDate, Query(alias="from")],
    date_to: Annotated[PlausibleDate, Query(alias="to")],
) -> dict[str, Any]:
    """Working days and office periods (UTC instants) from `from` to `to` inclusive, at most 400 days,
    so pages count working time down exactly across holidays and 调休. `missing_years` lists years the
    district has no calendar for (Monday–Friday are assumed there)."""
    if date_to < date_from or (date_to - date_from).days > MAX_SPAN_DAYS:
        raise InvalidInput(f"日期范围须为 0 至 {MAX_SPAN_DAYS} 天", field="to")
    calendar = current_calendar()
    days = []
    day = date_from
    while day <= date_to:
        days.append({"date": day, "workday": calendar.is_workday(day), "name": calendar.names.get(day, "")})
        day += timedelta(days=1)
    settings = get_settings()
    return {
        "timezone": settings.timezone,
        "office_hours": [[s.strftime("%H:%M"), e.strftime("%H:%M")] for s, e in settings.office_hours],
        "days": days,
        "periods": [{"start": s, "end": e} for s, e in working_periods(date_from, date_to)],
        "missing_years": calendar.missing_years(date_from, date_to),
    }


@router.get("/api/admin/calendar", tags=["admin: calendar"])
def list_years(_: Admin, session: SessionDep) -> dict[str, Any]:
    """Every year the district has a calendar for (source, title, when and by whom), and warnings."""
    years = session.exec(select(CalendarYear).order_by(col(CalendarYear.year))).all()
    return {"years": [y.model_dump() for y in years], **_status()}


@router.get("/api/admin/calendar/{year}", tags=["admin: calendar"])
def get_year(year: Year, _: Admin, session: SessionDep) -> dict[str, Any]:
    row = session.get(CalendarYear, year)
    if row is None:
        raise NotFound(f"{year} 年工作日历未载入")
    days = session.exec(select(CalendarDay).where(CalendarDay.year == year).order_by(col(CalendarDay.day)))
    return {**row.model_dump(), "days": [d.model_dump() for d in days]}


@router.get(
    "/api/admin/calendar/{year}/export",
    tags=["admin: calendar"],
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/csv": {}, "application/yaml": {}}}},
)
def export(year: Year, _: Admin, session: SessionDep, fmt: Format = "yaml") -> PlainTextResponse:
    """The year as a file in the import format (loads back unchanged)."""
    text = export_year(session, year, fmt=fmt)
    media = "text/csv" if fmt == "csv" else "application/yaml"
    return PlainTextResponse(text, media_type=f"{media}; charset=utf-8")


@router.post("/api/admin/calendar/import", tags=["admin: calendar"])
async def import_year(
    file: UploadFile,
    admin: Admin,
    fmt: Format = "yaml",
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    replace: bool = False,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Check a whole State Council schedule file; if it has no errors (and this is no dry run) write the
    year and re-count the estimated deadlines of open tickets. A year that exists needs `replace`."""
    try:
        text = (await file.read()).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput("文件不是 UTF-8 编码", field="file") from exc
    result = apply_calendar_file(
        text, fmt=fmt, year=year, replace=replace, dry_run=dry_run, loaded_by=admin.username
    )
    if not result.report.ok:
        raise InvalidInput("日历文件有错误，未写入任何数据", field="file", **result.to_dict())
    return result.to_dict()


def _status() -> dict[str, Any]:
    return calendar_status(local_today())
