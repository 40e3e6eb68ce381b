"""The audit log for admins: searchable by entity, actor, text and period; JSON, CSV or XLSX."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import String, cast
from sqlmodel import col, or_, select

from dispatch.audit import AuditEntry
from dispatch.auth.deps import Admin
from dispatch.config import get_settings
from dispatch.db import SessionDep
from dispatch.inputs import LocalDateTime
from dispatch.stats.export import to_csv, to_xlsx

router = APIRouter(prefix="/api/admin/audit", tags=["admin: audit log"])

COLUMNS = (
    ("at", "时间"),
    ("actor_name", "操作人"),
    ("action", "操作"),
    ("entity", "对象"),
    ("entity_key", "编号"),
    ("before", "修改前"),
    ("after", "修改后"),
)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ACTION_LABELS = {"create": "新建", "update": "修改", "delete": "删除"}


class AuditRead(BaseModel):
    id: int
    at: datetime
    actor_id: int | None
    actor_name: str
    action: str
    entity: str
    entity_key: str
    before: dict[str, object] | None
    after: dict[str, object] | None


@router.get("", response_model=list[AuditRead], responses={200: {"content": {"text/csv": {}, XLSX: {}}}})
def audit_log(
    _: Admin,
    session: SessionDep,
    entity: str | None = None,
    actor: Annotated[str | None, Query(description="the actor's name or id")] = None,
    q: Annotated[str | None, Query(max_length=100, description="text in the key or the values")] = None,
    date_from: LocalDateTime | None = None,
    date_to: LocalDateTime | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 200,
    format: Annotated[Literal["json", "csv", "xlsx"], Query()] = "json",  # noqa: A002 - the query name users see
) -> list[AuditRead] | Response:
    """Who changed what, when, before → after; newest first."""
    statement = select(AuditEntry)
    if entity:
        statement = statement.where(AuditEntry.entity == entity)
    if actor:
        named = col(AuditEntry.actor_name).contains(actor)
        statement = statement.where(
            or_(named, col(AuditEntry.actor_id) == int(actor)) if actor.isdigit() else named
        )
    if q:
        # the JSON columns as text: found on both databases without a JSON operator
        escaped = json.dumps(q)[1:-1]  # as the JSON text stores it (non-ASCII as \uXXXX escapes)
        statement = statement.where(
            or_(
                col(AuditEntry.entity_key).contains(q, autoescape=True),
                *(
                    cast(column, String).contains(text, autoescape=True)
                    for column in (AuditEntry.before, AuditEntry.after)
                    for text in {q, escaped}
                ),
            )
        )
    if date_from is not None:
        statement = statement.where(col(AuditEntry.at) >= date_from)
    if date_to is not None:
        statement = statement.where(col(AuditEntry.at) < date_to)
    found = session.exec(statement.order_by(col(AuditEntry.id).desc()).limit(limit)).all()
    rows = [AuditRead.model_validate(e, from_attributes=True) for e in found]
    if format == "json":
        return rows
    zone = ZoneInfo(get_settings().timezone)
    table = [
        {
            **r.model_dump(),
            "at": r.at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),  # local time, as people read it
            "action": ACTION_LABELS.get(r.action, r.action),
            "before": json.dumps(r.before, ensure_ascii=False) if r.before else "",
            "after": json.dumps(r.after, ensure_ascii=False) if r.after else "",
        }
        for r in rows
    ]
    if format == "csv":
        content, media = to_csv(table, columns=COLUMNS), "text/csv; charset=utf-8"
    else:
        content = to_xlsx(table, title="审计日志", columns=COLUMNS)
        media = XLSX
    return Response(
        content, media_type=media, headers={"Content-Disposition": f'attachment; filename="audit.{format}"'}
    )
