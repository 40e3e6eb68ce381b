"""督办 by the scheduler: sign-for warnings, yellow before the deadline, red when overdue (with an automatic
催办), escalation after a further delay. Each warning is logged and broadcast once: a flag on the ticket
records it, and the optimistic lock makes a second scheduler running at the same moment lose and retry."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from dispatch import clock
from dispatch.config import get_settings
from dispatch.db import commit_with_retry
from dispatch.errors import InvalidTransition
from dispatch.tickets.models import CLOCK_STATES, Action, Ticket, TicketState, WarningLevel
from dispatch.tickets.service import record
from dispatch.tickets.side_moves import escalate, urge
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


def supervise() -> dict[str, int]:
    """One supervision pass over all open tickets; safe to run at any time, any number of times."""

    def one_pass(session: Session) -> dict[str, int]:
        now = clock.now()
        return {
            "sign": _warn_sign(session, now),
            "yellow": _warn_yellow(session, now),
            "red": _warn_red(session, now),
            "escalated": _escalate_overdue(session, now),
        }

    return commit_with_retry(one_pass, what="supervision pass")
