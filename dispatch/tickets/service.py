"""The case: the transition table, moves with their audit rows, and what a viewer may see."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, func, select

from dispatch import clock
from dispatch.auth.models import CENTRE_ROLES, Role, User
from dispatch.catalog.models import Category, Department
from dispatch.console.publisher import notify_after_commit
from dispatch.db import lock_log_sequence
from dispatch.errors import InvalidTransition, NotFound
from dispatch.grids.service import names_for
from dispatch.tickets.models import Action, Ticket, TicketLog, TicketRead, TicketState

SYSTEM_ACTOR = "系统"

TRANSITIONS: dict[tuple[TicketState | None, Action], TicketState] = {
    (None, Action.INTAKE): TicketState.NEW,
    (TicketState.NEW, Action.ROUTE): TicketState.DISPATCHED,
    (TicketState.NEW, Action.ROUTE_MANUAL): TicketState.MANUAL,
}


def allowed_actions(state: TicketState | None) -> list[Action]:
    """The actions the transition table allows from a state."""
    return [action for (source, action) in TRANSITIONS if source == state]


def record(
    session: Session,
    *,
    ticket: Ticket,
    action: Action,
    actor: User | None,
    note: str = "",
    data: dict[str, Any] | None = None,
) -> TicketLog:
    """Move the ticket by `action` and append its log row, or raise InvalidTransition (nothing changed).

    The caller has already set the fields the move changes; this sets the state, stamps the time,
    writes the audit row and wakes the consoles after commit.
    """
    source = None if action is Action.INTAKE else ticket.state
    target = TRANSITIONS.get((source, action))
    if target is None:
        raise InvalidTransition(
            f"当前状态不允许此操作：{action.value}",
            state=ticket.state.value,
            allowed_actions=[a.value for a in allowed_actions(ticket.state)],
        )
    at = clock.now()
    ticket.state = target
    ticket.updated_at = at
    session.add(ticket)
    session.flush()
    lock_log_sequence(session)
    entry = TicketLog(
        ticket_id=ticket.id or 0,
        at=at,
        actor_id=actor.id if actor else None,
        actor_name=actor.full_name if actor else SYSTEM_ACTOR,
        action=action,
        from_state=source,
        to_state=target,
        note=note,
        data=data or {},
    )
    session.add(entry)
    session.flush()
    notify_after_commit(session)
    return entry


def get_visible(session: Session, *, ticket_id: int, viewer: User) -> Ticket:
    """The ticket if the viewer may see it; NotFound otherwise (no hint that it exists)."""
    ticket = session.get(Ticket, ticket_id)
    if (
        ticket is None
        or not session.exec(select(Ticket.id).where(Ticket.id == ticket_id, visibility(viewer))).first()
    ):
        raise NotFound("工单不存在")
    return ticket


def visibility(viewer: User) -> ColumnElement[bool]:
    """SQL condition for the tickets a viewer may see: a department only its own, an officer their reports."""
    if viewer.role in CENTRE_ROLES:
        return col(Ticket.id).is_not(None)
    if viewer.role is Role.DEPARTMENT:
        return col(Ticket.department_id) == viewer.department_id
    if viewer.role is Role.HOTLINE:
        return col(Ticket.source) == "hotline"
    return col(Ticket.reporter_id) == viewer.id


def list_visible(
    session: Session, *, viewer: User, state: TicketState | None = None, limit: int = 200
) -> list[Ticket]:
    """The newest tickets the viewer may see, optionally of one state."""
    query = select(Ticket).where(visibility(viewer))
    if state is not None:
        query = query.where(Ticket.state == state)
    return list(session.exec(query.order_by(col(Ticket.id).desc()).limit(limit)).all())


def last_seq(session: Session) -> int:
    """The newest console sequence number (ticket log id); 0 when nothing happened yet."""
    return session.exec(select(func.max(TicketLog.id))).one() or 0


def mask_phone(phone: str | None) -> str | None:
    """138****5678: keep the first 3 and last 4 digits, hide the rest."""
    if not phone:
        return phone
    if len(phone) <= 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def present(session: Session, tickets: Sequence[Ticket], *, viewer: User | None) -> list[TicketRead]:
    """Tickets as the API shows them: names resolved in bulk, phones masked unless hotline staff views."""
    categories = {t.category_code for t in tickets}
    departments = {t.department_id for t in tickets if t.department_id is not None}
    category_names = dict(
        session.exec(select(Category.code, Category.name).where(col(Category.code).in_(categories))).all()
    )
    department_names = dict(
        session.exec(select(Department.id, Department.name).where(col(Department.id).in_(departments))).all()
    )
    grid_names = names_for(session, {t.grid_code for t in tickets if t.grid_code})
    show_phone = viewer is not None and viewer.role is Role.HOTLINE
    return [
        TicketRead.model_validate(
            t,
            update={
                "category_name": category_names.get(t.category_code, ""),
                "grid_name": grid_names.get(t.grid_code or ""),
                "department_name": department_names.get(t.department_id or 0),
                "caller_phone": t.caller_phone if show_phone else mask_phone(t.caller_phone),
            },
        )
        for t in tickets
    ]
