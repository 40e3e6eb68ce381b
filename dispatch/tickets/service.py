"""The case: the transition table, moves with their audit rows, and what a viewer may see."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import event, or_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, func, select

from dispatch import clock
from dispatch.auth.models import CENTRE_ROLES, Role, User
from dispatch.catalog.models import Category, Department
from dispatch.console.publisher import notify_after_commit
from dispatch.db import lock_log_sequence
from dispatch.errors import InvalidTransition, NotFound
from dispatch.events.models import Source
from dispatch.grids.service import names_for
from dispatch.tickets.models import (
    CLOCK_STATES,
    TICKET_STATE_LABELS,
    Action,
    Ticket,
    TicketLog,
    TicketQuery,
    TicketRead,
    TicketState,
)
from dispatch.tickets.side_models import AssistTask, Notice, VerificationStatus, VerificationTask
from dispatch.tickets.transitions import TRANSITIONS, allowed_actions
from dispatch.worktime import working_minutes_between

SYSTEM_ACTOR = "系统"


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
    queues the audit row (written last, by write_log(), when the transaction commits) and wakes the
    consoles after commit.
    """
    return record_many(session, tickets=[ticket], action=action, actor=actor, note=note, data=data)[0]


def record_many(
    session: Session,
    *,
    tickets: Sequence[Ticket],
    action: Action,
    actor: User | None,
    note: str = "",
    data: dict[str, Any] | None = None,
) -> list[TicketLog]:
    """record() for several tickets making the same move, with one flush (new tickets: one multi-row
    insert). Every move is checked before any ticket changes."""
    targets = []
    for ticket in tickets:
        source = None if action is Action.INTAKE else ticket.state
        target = TRANSITIONS.get((source, action))
        if target is None:
            raise InvalidTransition(
                f"工单当前状态（{TICKET_STATE_LABELS[ticket.state]}）不允许此操作：{action.value}",
                state=ticket.state.value,
                allowed_actions=[
                    a.value for a in allowed_actions(ticket.state, actor.role if actor else None)
                ],
            )
        targets.append((source, target))
    at = clock.now()
    for ticket, (_, target) in zip(tickets, targets, strict=True):
        ticket.state = target
        ticket.updated_at = at
    session.add_all(tickets)
    if any(ticket.id is None for ticket in tickets):
        session.flush()  # new tickets: their ids, for the log rows (the rest flush with the transaction)
    entries = [
        TicketLog(
            ticket_id=ticket.id or 0,
            at=at,
            actor_id=actor.id if actor else None,
            actor_name=actor.full_name if actor else SYSTEM_ACTOR,
            action=action,
            from_state=source,
            to_state=target,
            note=note,
            data=dict(data or {}),
        )
        for ticket, (source, target) in zip(tickets, targets, strict=True)
    ]
    session.info.setdefault(_PENDING_LOG, []).extend(entries)
    notify_after_commit(session)
    if action is not Action.INTAKE:  # new tickets are announced once numbered (events.service)
        tell_others(session, tickets, action, note)
    return entries


def tell_others(session: Session, tickets: Sequence[Ticket], action: Action, note: str) -> None:
    """The outbox messages a move causes, in its transaction: the city platform's 回传, webhooks."""
    from dispatch.interop import city, webhooks  # interop builds on this module

    if action in OUTBOUND_ACTIONS:
        city.on_moves(session, tickets, action, note)
    webhooks.on_moves(session, tickets, action, note)


# Moves other systems are told of (the city 12345 platform's 回传: 办结, 回退, 延期).
OUTBOUND_ACTIONS = frozenset({Action.VERIFY_PASS, Action.REJECT, Action.APPROVE_EXTENSION})


_PENDING_LOG = "pending_log_rows"


def write_log(session: Session) -> None:
    """Insert the log rows this transaction has recorded, in order, under the log-sequence lock.

    Log ids are the console's sequence numbers; on PostgreSQL the lock makes them visible in increasing
    order. Writing the rows as the transaction's last step keeps the lock short, and a transaction
    holding it takes no more row locks, so writers cannot deadlock on it. Runs before every commit;
    call it earlier only to read the log back before committing.
    """
    pending: list[TicketLog] = session.info.pop(_PENDING_LOG, [])
    if not pending:
        return
    lock_log_sequence(session)
    session.add_all(pending)
    session.flush()


@event.listens_for(Session, "before_commit")
def _write_log_before_commit(session: Session) -> None:
    write_log(session)


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    if not session.in_transaction():  # the whole transaction rolled back (savepoints: see savepoint())
        session.info.pop(_PENDING_LOG, None)


@contextmanager
def savepoint(session: Session) -> Iterator[None]:
    """A SAVEPOINT whose rollback also forgets the log rows recorded inside it."""
    pending: list[TicketLog] = session.info.setdefault(_PENDING_LOG, [])
    mark = len(pending)
    try:
        with session.begin_nested():
            yield
    except BaseException:
        del pending[mark:]
        raise


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
    """SQL condition for the tickets a viewer may see: a department only its own, an officer their reports
    and those they are asked to verify, a street or community centre its area's tickets and those it
    holds, the district centre all."""
    if viewer.role in CENTRE_ROLES and viewer.area_code is not None:
        # centres.in_territory() is this rule for one ticket in Python (the console decides per message)
        return or_(
            col(Ticket.street_code) == viewer.area_code,
            col(Ticket.community_code) == viewer.area_code,
            col(Ticket.centre_id) == viewer.department_id,
        )
    if viewer.role in CENTRE_ROLES:
        return col(Ticket.id).is_not(None)
    if viewer.role is Role.DEPARTMENT:
        assisting = select(AssistTask.ticket_id).where(AssistTask.department_id == viewer.department_id)
        return or_(col(Ticket.department_id) == viewer.department_id, col(Ticket.id).in_(assisting))
    if viewer.role is Role.HOTLINE:
        return col(Ticket.source) == "hotline"
    if viewer.role is Role.GRID_OFFICER:  # their reports, and the tickets they are asked to check
        checking = select(VerificationTask.ticket_id).where(VerificationTask.officer_id == viewer.id)
        return or_(col(Ticket.reporter_id) == viewer.id, col(Ticket.id).in_(checking))
    return col(Ticket.reporter_id) == viewer.id


def list_visible(session: Session, *, viewer: User, query: TicketQuery) -> list[Ticket]:
    """The tickets the viewer may see that match the filters, newest first or by deadline."""
    statement = select(Ticket).where(*matching(viewer, query))
    if query.sort == "deadline":
        statement = statement.order_by(
            col(Ticket.deadline_at).is_(None), col(Ticket.deadline_at), col(Ticket.id)
        )
    else:
        statement = statement.order_by(col(Ticket.id).desc())
    return list(session.exec(statement.offset(query.offset).limit(query.limit)).all())


def matching(viewer: User, query: TicketQuery) -> list[ColumnElement[bool]]:
    """The conditions of the list's filters, within what the viewer may see (lists and exports)."""
    where: list[ColumnElement[bool]] = [visibility(viewer)]
    if query.state:
        where.append(col(Ticket.state).in_(query.state))
    if query.source is not None:
        where.append(col(Ticket.source) == query.source)
    if query.callback_pending:
        where += [
            col(Ticket.state) == TicketState.CLOSED,
            col(Ticket.source) == Source.HOTLINE,
            col(Ticket.satisfaction).is_(None),
        ]
    if query.category_code:
        where.append(col(Ticket.category_code).startswith(query.category_code))
    if query.grid_code:
        where.append(col(Ticket.grid_code).startswith(query.grid_code))
    if query.department_id is not None:
        where.append(col(Ticket.department_id) == query.department_id)
    if query.assignee == "me":
        where.append(col(Ticket.assignee_id) == viewer.id)
    elif query.assignee == "none":
        where.append(col(Ticket.assignee_id).is_(None))
    if query.reporter == "me":
        where.append(col(Ticket.reporter_id) == viewer.id)
    if query.own_centre:
        centre_id = viewer.department_id if viewer.area_code is not None else None
        where.append(
            col(Ticket.centre_id).is_(None) if centre_id is None else col(Ticket.centre_id) == centre_id
        )
    if query.created_from is not None:
        where.append(col(Ticket.created_at) >= query.created_from)
    if query.created_to is not None:
        where.append(col(Ticket.created_at) < query.created_to)
    if query.overdue:
        where += [col(Ticket.state).in_(CLOCK_STATES), col(Ticket.deadline_at) < clock.now()]
    if query.warning is not None:
        where.append(col(Ticket.warning_level) == query.warning)
    return where


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
    departments = {d for t in tickets for d in (t.department_id, t.centre_id) if d is not None}
    category_names = dict(
        session.exec(select(Category.code, Category.name).where(col(Category.code).in_(categories))).all()
    )
    department_names = dict(
        session.exec(select(Department.id, Department.name).where(col(Department.id).in_(departments))).all()
    )
    grid_names = names_for(session, {t.grid_code for t in tickets if t.grid_code})
    assigned = {t.assignee_id for t in tickets if t.assignee_id is not None}
    people = dict(session.exec(select(User.id, User.full_name).where(col(User.id).in_(assigned))).all())
    show_phone = viewer is not None and viewer.role is Role.HOTLINE
    ids = [t.id for t in tickets if t.id is not None]
    open_notices: dict[int, int] = dict(
        session.exec(
            select(Notice.ticket_id, func.count())
            .where(col(Notice.ticket_id).in_(ids), col(Notice.acknowledged_at).is_(None))
            .group_by(col(Notice.ticket_id))
        ).all()
    )
    assists: dict[int, list[int]] = {}
    for ticket_id, department_id in session.exec(
        select(AssistTask.ticket_id, AssistTask.department_id).where(col(AssistTask.ticket_id).in_(ids))
    ):
        assists.setdefault(ticket_id, []).append(department_id)
    checking = dict(
        session.exec(
            select(VerificationTask.ticket_id, VerificationTask.kind).where(
                col(VerificationTask.ticket_id).in_(ids),
                VerificationTask.status == VerificationStatus.PENDING,
            )
        ).all()
    )
    now = clock.now()
    return [
        TicketRead.model_validate(
            t,
            update={
                "category_name": category_names.get(t.category_code, ""),
                "grid_name": grid_names.get(t.grid_code or ""),
                "department_name": department_names.get(t.department_id or 0),
                "centre_name": department_names.get(t.centre_id or 0),
                "assignee_name": people.get(t.assignee_id or 0),
                "caller_phone": t.caller_phone if show_phone else mask_phone(t.caller_phone),
                "open_notice_count": open_notices.get(t.id or 0, 0),
                "assist_department_ids": assists.get(t.id or 0, []),
                "working_minutes_left": _working_minutes_left(t, now),
                "self_resolved": t.state is TicketState.CLOSED and t.department_id is None,
                "verification_pending": checking.get(t.id or 0),
            },
        )
        for t in tickets
    ]


def _working_minutes_left(ticket: Ticket, now: datetime) -> int | None:
    """Working minutes until the deadline (negative: overdue by that much); None when no clock runs."""
    if ticket.deadline_at is None or ticket.state not in CLOCK_STATES:
        return None
    if ticket.deadline_at >= now:
        return working_minutes_between(now, ticket.deadline_at)
    return -working_minutes_between(ticket.deadline_at, now)
