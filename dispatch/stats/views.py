"""KPIs for leaders and the centre, as JSON, CSV or XLSX."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response

from dispatch.auth.deps import CurrentUser, require_role
from dispatch.auth.models import AREA_ROLES, CENTRE_ROLES, Role, User
from dispatch.db import SessionDep
from dispatch.errors import Forbidden, InvalidInput
from dispatch.grids.locator import current_locator
from dispatch.grids.models import AreaLevel
from dispatch.inputs import DbId, LocalDateTime
from dispatch.openapi import error_responses
from dispatch.stats.export import to_csv, to_xlsx
from dispatch.stats.people import person_rows
from dispatch.stats.rollup import compute
from dispatch.stats.service import GroupBy, grid_counts
from dispatch.tickets.centres import CentreBook

router = APIRouter(prefix="/api/stats", tags=["stats"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Viewer = Annotated[User, Depends(require_role(Role.LEADER, Role.SHIFT_LEAD, Role.DISPATCHER, Role.ADMIN))]


AREA_GROUPINGS = (GroupBy.STREET, GroupBy.COMMUNITY, GroupBy.GRID, GroupBy.CENTRE)


def in_area(session: SessionDep, viewer: User) -> Callable[[str], bool]:
    """Whether an area (street, community or grid code) lies in the viewer's territory: everything for
    the district centre, the centre's own area for a street or community centre."""
    if viewer.area_code is None:
        return lambda code: True
    locator = current_locator(session)
    area = viewer.area_code
    return lambda code: locator is not None and locator.contains(area, code)


def _default_grouping(session: SessionDep, viewer: User) -> GroupBy:
    if viewer.area_code is None:
        return GroupBy.DEPARTMENT
    locator = current_locator(session)
    level = locator.level.get(viewer.area_code) if locator else None
    return GroupBy.COMMUNITY if level is AreaLevel.STREET else GroupBy.GRID


def _period(date_from: LocalDateTime, date_to: LocalDateTime) -> None:
    """A time without a zone is Beijing time (dispatch.inputs.LocalDateTime)."""
    if date_to <= date_from:
        raise InvalidInput("时间段的结束须晚于开始", field="date_to")


@router.get("/heat")
def heat(
    viewer: Viewer, session: SessionDep, date_from: LocalDateTime, date_to: LocalDateTime
) -> dict[str, object]:
    """Tickets per grid in [date_from, date_to), for the dashboard's heat map (a street or community
    centre: the grids of its area)."""
    _period(date_from, date_to)
    inside = in_area(session, viewer)
    grids = grid_counts(session, date_from=date_from, date_to=date_to)
    return {"grids": [g for g in grids if inside(str(g["grid_code"]))]}


@router.get("/people", responses=error_responses(403))
def people(
    viewer: CurrentUser,
    session: SessionDep,
    date_from: LocalDateTime,
    date_to: LocalDateTime,
    department_id: DbId | None = None,
) -> dict[str, object]:
    """Per 承办人 of one unit, tickets created in [date_from, date_to): assigned, open, overdue, handled,
    handled on time, average working hours from dispatch to 反馈. Department staff and a centre's staff
    see their own unit; the district centre any department (`department_id`) or, without one, its own
    queue."""
    _period(date_from, date_to)
    if viewer.role is Role.DEPARTMENT or (viewer.role in AREA_ROLES and viewer.area_code is not None):
        if department_id is not None and department_id != viewer.department_id:
            raise Forbidden("只能查看本单位人员的指标", field="department_id")
        unit = viewer.department_id
    elif viewer.role in CENTRE_ROLES:
        unit = department_id
    else:
        raise Forbidden("当前角色无权执行此操作", role=viewer.role.value)
    rows = person_rows(session, unit_id=unit, date_from=date_from, date_to=date_to)
    return {"department_id": unit, "date_from": date_from, "date_to": date_to, "rows": rows}


@router.get("/kpis", response_model=None, responses={200: {"content": {"text/csv": {}, XLSX: {}}}})
def kpis(
    viewer: Viewer,
    session: SessionDep,
    date_from: LocalDateTime,
    date_to: LocalDateTime,
    group_by: GroupBy | None = None,
    format: Annotated[Literal["json", "csv", "xlsx"], Query()] = "json",  # noqa: A002 - the query name users see
) -> Response | dict[str, object]:
    """KPIs of tickets created in [date_from, date_to) per department, street, community, grid, category,
    the whole district or the centre steering the tickets.

    A street or community centre sees the rows of its own area only: by street, community, grid or centre.
    Without `group_by`: by department for the district centre, by the level below a centre's own."""
    _period(date_from, date_to)
    if group_by is None:
        group_by = _default_grouping(session, viewer)
    if viewer.area_code is not None and group_by not in AREA_GROUPINGS:
        raise InvalidInput("街道/社区中心只能按街道、社区、网格或中心查看本辖区的指标", field="group_by")
    rows = compute(session, group_by=group_by, date_from=date_from, date_to=date_to)
    if viewer.area_code is not None:
        inside = in_area(session, viewer)
        if group_by is GroupBy.CENTRE:  # keys are centres (departments): their areas decide
            areas = {str(i): centre.area_code or "" for i, centre in CentreBook.load(session).by_id.items()}
            rows = [r for r in rows if inside(areas.get(str(r["key"]), ""))]
        else:
            rows = [r for r in rows if inside(str(r["key"]))]
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
