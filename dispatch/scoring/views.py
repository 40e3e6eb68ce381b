"""考核 scores over HTTP: per department, street, community or grid officer, as JSON, CSV or XLSX."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response

from dispatch.auth.deps import require_role
from dispatch.auth.models import Role, User
from dispatch.db import SessionDep
from dispatch.errors import Forbidden, InvalidInput
from dispatch.grids.locator import current_locator
from dispatch.grids.models import AreaLevel
from dispatch.inputs import DbId, LocalDateTime
from dispatch.openapi import error_responses
from dispatch.scoring import service
from dispatch.scoring.sheet import sheet
from dispatch.scoring.template import UnitKind
from dispatch.stats.export import to_csv, to_xlsx
from dispatch.stats.views import XLSX, in_area

router = APIRouter(prefix="/api/stats", tags=["stats"])
ScoreReader = Annotated[
    User,
    Depends(require_role(Role.LEADER, Role.SHIFT_LEAD, Role.DISPATCHER, Role.ADMIN, Role.DEPARTMENT)),
]
Row = dict[str, Any]


def _scope(
    session: SessionDep, viewer: User, unit: UnitKind | None
) -> tuple[UnitKind, Callable[[Row], bool]]:
    """The unit kind shown (the viewer's default when none is asked) and which rows the viewer sees.

    The district centre: every unit. A street or community centre: the streets, communities and grid
    officers of its area (an officer when one of their grids lies in it); departments answer 422, as
    for the KPIs. Department staff: their own department's row (with its district rank)."""
    if viewer.role is Role.DEPARTMENT:
        if unit not in (None, UnitKind.DEPARTMENT):
            raise Forbidden("部门人员只能查看本部门的考核得分", field="unit")
        own = str(viewer.department_id or "")
        return UnitKind.DEPARTMENT, lambda row: row["key"] == own
    if viewer.area_code is None:
        return unit or UnitKind.DEPARTMENT, lambda row: True
    if unit is None:
        locator = current_locator(session)
        level = locator.level.get(viewer.area_code) if locator else None
        unit = UnitKind.COMMUNITY if level is AreaLevel.STREET else UnitKind.OFFICER
    if unit is UnitKind.DEPARTMENT:
        raise InvalidInput("街道/社区中心只能查看本辖区街道、社区、网格员的考核得分", field="unit")
    inside = in_area(session, viewer)
    return unit, lambda row: any(inside(code) for code in row["areas"])


@router.get(
    "/scores",
    response_model=None,
    responses={200: {"content": {"text/csv": {}, XLSX: {}}}, **error_responses(403, 404)},
)
def scores(
    viewer: ScoreReader,
    session: SessionDep,
    unit: UnitKind | None = None,
    month: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")] = None,
    date_from: LocalDateTime | None = None,
    date_to: LocalDateTime | None = None,
    version: DbId | None = None,
    format: Annotated[Literal["json", "csv", "xlsx"], Query()] = "json",  # noqa: A002 - the query name users see
) -> Response | dict[str, Any]:
    """考核 scores of every department, street, community or grid officer (`unit`) for a month (`month`,
    default this one) or [date_from, date_to), ranked, with the change from the previous period of the
    same length, computed with the template in force (or `version`). 404 when no template exists.

    Score = Σ weight × rate (1 − rate where lower is better) × 100 / Σ weights of the rates with data −
    deductions (each min(points × events, cap)), at least 0; `no_data_note` states the rule for a rate
    without data. Leaders, shift leads, dispatchers and admins of the district see every unit; a street
    or community centre the units of its area; department staff their own department's row."""
    kind, visible = _scope(session, viewer, unit)
    when = service.period(month=month, date_from=date_from, date_to=date_to)
    template = service.template_version(session, version)
    table = service.score_table(session, kind=kind, version=template, when=when, visible=visible)
    if format == "json":
        return table
    columns, rows, formats = sheet(table)
    stem = f"scores-{kind.value}-{when.date_from:%Y%m%d}-{when.date_to:%Y%m%d}"
    if format == "csv":
        return Response(
            to_csv(rows, columns=columns),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{stem}.csv"'},
        )
    caption = (
        f"{table['unit_label']}考核得分 {when.date_from:%Y-%m-%d} 至 {when.date_to:%Y-%m-%d}（不含）· "
        f"模板 v{template.id} {template.title} · {service.NO_DATA_NOTE}"
    )
    return Response(
        to_xlsx(rows, title=f"{table['unit_label']}考核", columns=columns, caption=caption, formats=formats),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{stem}.xlsx"'},
    )
