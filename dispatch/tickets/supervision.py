"""督办 by the scheduler: sign-for warnings, yellow before the deadline, red when overdue (with an automatic
催办), escalation after a further delay. Each warning is logged and broadcast once: a flag on the ticket
records it, and the optimistic lock makes a second scheduler running at the same moment lose and retry.

Co-handling parts (协办) get the same three warnings, logged on their ticket. A part's flag is set by an
UPDATE guarded on its old value: of two passes running at once, only the one whose UPDATE changed the
row logs the warning (the other waits for it to commit, then finds nothing to change)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, update
from sqlmodel import Session, col, select

from dispatch import clock
from dispatch.config import get_settings
from dispatch.db import commit_with_retry
from dispatch.errors import InvalidTransition
from dispatch.tickets import verification
from dispatch.tickets.models import CLOCK_STATES, Action, Ticket, TicketState, WarningLevel
from dispatch.tickets.service import record
from dispatch.tickets.side_models import OPEN_ASSIST_STATUSES, AssistStatus, AssistTask, Notice
from dispatch.tickets.side_moves import escalate, urge
from dispatch.tickets.transitions import PART_CLOCK_STATES
from dispatch.tickets.workflow import ASSIST_NOTICE
from dispatch.worktime import add_working_minutes


def _warn_sign(session: Session, now: datetime) -> int:
    tickets = session.exec(
        select(Ticket).where(
            Ticket.state == TicketState.DISPATCHED,
            col(Ticket.sign_warned).is_(False),
            col(Ticket.sign_deadline_at) <= now,
        )
    ).all()
    for ticket in tickets:
        ticket.sign_warned = True
        record(session, ticket=ticket, action=Action.WARN_SIGN, actor=None, note="超过签收时限未签收")
    return len(tickets)


def _warn_yellow(session: Session, now: datetime) -> int:
    tickets = session.exec(
        select(Ticket).where(
            col(Ticket.state).in_(CLOCK_STATES),
            Ticket.warning_level == WarningLevel.NONE,
            col(Ticket.warn_at) <= now,
            col(Ticket.deadline_at) > now,
        )
    ).all()
    for ticket in tickets:
        ticket.warning_level = WarningLevel.YELLOW
        record(session, ticket=ticket, action=Action.WARN_YELLOW, actor=None, note="临近办理期限")
    return len(tickets)


def _warn_red(session: Session, now: datetime) -> int:
    tickets = session.exec(
        select(Ticket).where(
            col(Ticket.state).in_(CLOCK_STATES),
            col(Ticket.warning_level).in_([WarningLevel.NONE, WarningLevel.YELLOW]),
            col(Ticket.deadline_at) <= now,
        )
    ).all()
    for ticket in tickets:
        ticket.warning_level = WarningLevel.RED
        record(session, ticket=ticket, action=Action.WARN_RED, actor=None, note="已超过办理期限")
        urge(session, ticket=ticket, by=None, message="工单已超期，请尽快办理并反馈", kind="auto")
    return len(tickets)


def _escalate_overdue(session: Session, now: datetime) -> int:
    delay_min = get_settings().escalate_after_working_hours * 60
    tickets = session.exec(
        select(Ticket).where(
            col(Ticket.state).in_(CLOCK_STATES),
            Ticket.warning_level == WarningLevel.RED,
            col(Ticket.deadline_at) <= now,
        )
    ).all()
    count = 0
    for ticket in tickets:
        if ticket.deadline_at is None or add_working_minutes(ticket.deadline_at, delay_min) > now:
            continue
        ticket.warning_level = WarningLevel.ESCALATED
        try:
            escalate(session, ticket=ticket, by=None, note="超期未办结，自动上报")
        except InvalidTransition:
            session.add(ticket)  # already at district level: the flag alone records it
        count += 1
    return count


def _parts(session: Session, *conditions: ColumnElement[bool]) -> list[AssistTask]:
    """Open parts of tickets whose parts are supervised now (not parked) that match `conditions`."""
    return list(
        session.exec(
            select(AssistTask)
            .join(Ticket, col(Ticket.id) == col(AssistTask.ticket_id))
            .where(
                col(Ticket.state).in_(PART_CLOCK_STATES),
                col(AssistTask.status).in_(OPEN_ASSIST_STATUSES),
                *conditions,
            )
            .order_by(col(AssistTask.id))
        )
    )


def _claim(session: Session, part: AssistTask, *unchanged: ColumnElement[bool], **values: object) -> bool:
    """Set `values` on the part if it is still open and `unchanged` still holds; True if this pass did."""
    result = session.exec(
        update(AssistTask)
        .where(
            col(AssistTask.id) == part.id,
            col(AssistTask.status).in_(OPEN_ASSIST_STATUSES),
            *unchanged,
        )
        .values(**values)
    )
    return result.rowcount == 1


def _log_part(session: Session, part: AssistTask, action: Action, note: str, **data: object) -> None:
    ticket = session.exec(select(Ticket).where(Ticket.id == part.ticket_id)).one()
    record(
        session,
        ticket=ticket,
        action=action,
        actor=None,
        note=note,
        data={"task_id": part.id, "department_id": part.department_id, **data},
    )


def _warn_part_sign(session: Session, now: datetime) -> int:
    count = 0
    for part in _parts(
        session,
        col(AssistTask.status) == AssistStatus.PENDING,
        col(AssistTask.sign_warned).is_(False),
        col(AssistTask.sign_deadline_at) <= now,
    ):
        if _claim(
            session,
            part,
            col(AssistTask.status) == AssistStatus.PENDING,
            col(AssistTask.sign_warned).is_(False),
            sign_warned=True,
        ):
            _log_part(session, part, Action.ASSIST_WARN_SIGN, f"协办超过签收时限未签收：{part.part}")
            count += 1
    return count


def _warn_part_yellow(session: Session, now: datetime) -> int:
    count = 0
    for part in _parts(
        session,
        col(AssistTask.warning_level) == WarningLevel.NONE,
        col(AssistTask.warn_at) <= now,
        col(AssistTask.deadline_at) > now,
    ):
        if _claim(
            session,
            part,
            col(AssistTask.warning_level) == WarningLevel.NONE,
            warning_level=WarningLevel.YELLOW,
        ):
            _log_part(session, part, Action.ASSIST_WARN_YELLOW, f"协办临近期限：{part.part}")
            count += 1
    return count


def _warn_part_red(session: Session, now: datetime) -> int:
    """Red for an overdue part, with an automatic 催办 addressed to its department."""
    earlier = [WarningLevel.NONE, WarningLevel.YELLOW]
    count = 0
    for part in _parts(
        session, col(AssistTask.warning_level).in_(earlier), col(AssistTask.deadline_at) <= now
    ):
        if not _claim(
            session, part, col(AssistTask.warning_level).in_(earlier), warning_level=WarningLevel.RED
        ):
            continue
        notice = Notice(
            ticket_id=part.ticket_id,
            department_id=part.department_id,
            kind=ASSIST_NOTICE,
            message=f"协办任务已超期，请尽快办理并反馈：{part.part}",
            created_at=now,
        )
        session.add(notice)
        session.flush()
        _log_part(session, part, Action.ASSIST_WARN_RED, notice.message, notice_id=notice.id)
        count += 1
    return count


def supervise() -> dict[str, int]:
    """One supervision pass over all open tickets; safe to run at any time, any number of times."""

    def one_pass(session: Session) -> dict[str, int]:
        now = clock.now()
        return {
            "sign": _warn_sign(session, now),
            "yellow": _warn_yellow(session, now),
            "red": _warn_red(session, now),
            "escalated": _escalate_overdue(session, now),
            "assist_sign": _warn_part_sign(session, now),
            "assist_yellow": _warn_part_yellow(session, now),
            "assist_red": _warn_part_red(session, now),
            "verification": verification.warn_overdue(session, now),
        }

    return commit_with_retry(one_pass, what="supervision pass")
