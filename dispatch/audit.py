"""The audit log: every change an admin makes to base data, rules, users, keys, webhooks, calendars and
scoring templates — who, when, what, before → after — written in the same transaction as the change.

A session acting for an admin carries the admin (`session.info["audit_actor"]`, set by the `Admin`
dependency); before each flush, every new, changed or deleted row of an audited table becomes an
`AuditEntry`. Bulk data (grid polygons, address points, places) is audited by its versions and imports,
not row by row. Secrets and password hashes appear as "***".
"""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import JSON, Column, event, inspect
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Field, Session, SQLModel

from dispatch import clock
from dispatch.db import UTCDateTime

ACTOR_KEY = "audit_actor"
NEW_KEY = "audit_new_rows"
HIDDEN = frozenset({"password_hash", "secret_sha256", "secret"})


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    actor_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    actor_name: str = Field(max_length=64)
    action: str = Field(max_length=16)  # create | update | delete
    entity: str = Field(max_length=32, index=True)  # department, rule, user …
    entity_key: str = Field(max_length=128, index=True)
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


def _audited() -> dict[type, str]:
    """Table class → the entity name the log shows (imported late: these modules import this one's users)."""
    from dispatch.auth.models import User
    from dispatch.catalog.models import Category, Department, RoutingRule, TimeLimit
    from dispatch.grids.models import GridVersion
    from dispatch.interop.keys import ApiKey
    from dispatch.interop.webhooks import WebhookSubscription
    from dispatch.scoring.models import ScoringTemplate
    from dispatch.workcal.models import CalendarDay, CalendarYear

    return {
        Department: "department",
        Category: "category",
        RoutingRule: "rule",
        TimeLimit: "time_limit",
        User: "user",
        ApiKey: "api_key",
        WebhookSubscription: "webhook",
        GridVersion: "grid_version",
        CalendarYear: "calendar_year",
        CalendarDay: "calendar_day",
        ScoringTemplate: "scoring_template",
    }


def act_as(session: Session, actor_id: int | None, actor_name: str) -> None:
    """Audit this session's changes as made by this person (or tool: the admin CLI)."""
    session.info[ACTOR_KEY] = (actor_id, actor_name)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value


def _shown(name: str, value: Any) -> Any:
    return "***" if name in HIDDEN and value else _plain(value)


def _columns(obj: Any) -> list[str]:
    return [attr.key for attr in inspect(obj).mapper.column_attrs]


def _state(obj: Any, *, before: bool) -> dict[str, Any]:
    """The row's columns as of now, or (before=True) as loaded from the database."""
    state = inspect(obj)
    values: dict[str, Any] = {}
    for name in _columns(obj):
        history = state.attrs[name].history
        if before and history.has_changes():
            old = history.deleted[0] if history.deleted else None
        else:
            old = getattr(obj, name, None)
        values[name] = _shown(name, old)
    return values


def _key(obj: Any) -> str:
    identity = inspect(obj).identity
    if identity:
        return ",".join(str(part) for part in identity)
    for name in ("code", "username", "name", "day", "year"):
        if getattr(obj, name, None) is not None:
            return str(_plain(getattr(obj, name)))
    return ""


@event.listens_for(OrmSession, "before_flush")
def _record(session: OrmSession, flush_context: Any, instances: Any) -> None:
    actor = session.info.get(ACTOR_KEY)
    if actor is None:
        return
    audited = _audited()
    now = clock.now()
    entries: list[AuditEntry] = []
    created = session.info.setdefault(NEW_KEY, [])
    created.extend(obj for obj in session.new if type(obj) in audited)  # logged once they have their ids
    for obj in list(session.dirty):
        if (entity := audited.get(type(obj))) is None or not session.is_modified(
            obj, include_collections=False
        ):
            continue
        before, after = _state(obj, before=True), _state(obj, before=False)
        changed = {k for k in after if before.get(k) != after.get(k)}
        if changed:
            entries.append(
                _entry(
                    actor,
                    now,
                    "update",
                    entity,
                    obj,
                    {k: before[k] for k in sorted(changed)},
                    {k: after[k] for k in sorted(changed)},
                )
            )
    for obj in list(session.deleted):
        if (entity := audited.get(type(obj))) is not None:
            entries.append(_entry(actor, now, "delete", entity, obj, _state(obj, before=True), None))
    session.add_all(entries)


@event.listens_for(OrmSession, "after_flush_postexec")
def _record_created(session: OrmSession, flush_context: Any) -> None:
    created = session.info.pop(NEW_KEY, None)
    actor = session.info.get(ACTOR_KEY)
    if not created or actor is None:
        return
    audited, now = _audited(), clock.now()
    session.add_all(
        _entry(actor, now, "create", audited[type(obj)], obj, None, _state(obj, before=False))
        for obj in created
    )


def _entry(
    actor: tuple[int | None, str],
    at: datetime,
    action: str,
    entity: str,
    obj: Any,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> AuditEntry:
    return AuditEntry(
        at=at,
        actor_id=actor[0],
        actor_name=actor[1][:64],
        action=action,
        entity=entity,
        entity_key=_key(obj)[:128],
        before=before,
        after=after,
    )
