"""KPIs for leaders and the centre, as JSON, CSV or XLSX."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response

from dispatch.auth.deps import require_role
from dispatch.auth.models import Role, User
from dispatch.db import SessionDep
from dispatch.errors import InvalidInput
from dispatch.inputs import LocalDateTime
from dispatch.stats.export import to_csv, to_xlsx
from dispatch.stats.rollup import compute
from dispatch.stats.service import GroupBy, grid_counts

router = APIRouter(prefix="/api/stats", tags=["stats"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Viewer = Annotated[User, Depends(require_role(Role.LEADER, Role.SHIFT_LEAD, Role.DISPATCHER, Role.ADMIN))]


def _period(date_from: LocalDateTime, date_to: LocalDateTime) -> None:
    """A time without a zone is Beijing time (dispatch.inputs.LocalDateTime)."""
    if date_to <= date_from:
        raise InvalidInput("时间段的结束须晚于开始", field="date_to")


@router.get("/heat")
def heat(
    _: Viewer, session: SessionDep, date_from: LocalDateTime, date_to: LocalDateTime
) -> dict[str, object]:
    """Tickets per grid in [date_from, date_to), for the dashboard's heat map."""
    _period(date_from, date_to)
    return {"grids": grid_counts(session, date_from=date_from, date_to=date_to)}


@router.get("/kpis", response_model=None, responses={200: {"content": {"text/csv": {}, XLSX: {}}}})
def kpis(
    _: Viewer,
    session: SessionDep,
    date_from: LocalDateTime,
    date_to: LocalDateTime,
    group_by: GroupBy = GroupBy.DEPARTMENT,
    format: Annotated[Literal["json", "csv", "xlsx"], Query()] = "json",  # noqa: A002 - the query name users see
) -> Response | dict[str, object]:
    """KPIs of tickets created in [date_from, date_to) per department, street, community, grid or category."""
    _period(date_from, date_to)
    rows = compute(session, group_by=group_by, date_from=date_from, date_to=date_to)
    if format == "json":
        return {"group_by": group_by, "date_from": date_from, "date_to": date_to, "rows": rows}
    stem = f"kpi-{group_by.value}-{date_from:%Y%m%d}-{date_to:%Y%m%d}"
    if format == "csv":
        return Response(
            to_csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{stem}.csv"'},
        )
    return Response(
        to_xlsx(rows, title=group_by.value),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{stem}.xlsx"'},
    )
