"""Deadlines of a ticket: the handling limit of its category, the sign-for limit, the yellow-warning time."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from dispatch.catalog.models import Category, Urgency
from dispatch.config import get_settings
from dispatch.tickets.models import CLOCK_STATES, Action, Ticket, TicketLog, WarningLevel
from dispatch.worktime import (
    add_working_minutes,
    add_working_time,
    deadline_for,
    missing_years,
    working_minutes_between,
    working_time_between,
)


def limit_deadline(session: Session, ticket: Ticket, start_at: datetime) -> datetime | None:
    """Deadline from the category's limit for the ticket's urgency (falling back to its 大类's)."""
    code: str | None = ticket.category_code
    while code:
        category = session.get(Category, code)
        if category is None:
            return None
        if ticket.urgency is Urgency.URGENT and category.limit_urgent:
            return deadline_for(start_at, category.limit_urgent, category.limit_urgent_unit)
        if category.limit_normal:
            return deadline_for(start_at, category.limit_normal, category.limit_normal_unit)
        code = category.parent_code
    return None


def start_clock(session: Session, ticket: Ticket, at: datetime) -> None:
    """Start the department's clocks on dispatch: sign-for deadline, handling deadline, warning time.

    The handling deadline never moves earlier than it already was (a re-dispatch or reopen gives
    the new department a full limit, but never takes time away).
    """
    settings = get_settings()
    ticket.dispatched_at = at
    ticket.signed_at = None
    ticket.sign_warned = False
    ticket.sign_deadline_at = add_working_minutes(at, settings.sign_limit_working_hours * 60)
    fresh = limit_deadline(session, ticket, at)
    if fresh is not None and (ticket.deadline_at is None or fresh > ticket.deadline_at):
        ticket.deadline_at = fresh
    mark_provisional(ticket)
    reset_warning(ticket, now=at)


def reset_warning(ticket: Ticket, *, now: datetime) -> None:
    """Recompute the yellow-warning time for the current deadline and clear warnings it no longer deserves."""
    if ticket.deadline_at is None or ticket.dispatched_at is None:
        ticket.warn_at = None
        return
    share = get_settings().warn_share
    total = working_minutes_between(ticket.dispatched_at, ticket.deadline_at)
    ticket.warn_at = add_working_minutes(ticket.dispatched_at, int(total * share))
    if ticket.deadline_at > now:
        ticket.warning_level = WarningLevel.YELLOW if ticket.warn_at <= now else WarningLevel.NONE


def extend_by_pause(ticket: Ticket, *, paused_from: datetime, now: datetime) -> None:
    """Move the deadline by the working time the ticket spent parked (挂账 stops the clock), to the second.

    An overdue ticket stays overdue by as much as when it was parked.
    """
    if ticket.deadline_at is None:
        return
    parked = working_time_between(paused_from, now)
    if parked:
        ticket.deadline_at = add_working_time(ticket.deadline_at, parked)
    mark_provisional(ticket)
    reset_warning(ticket, now=now)


def mark_provisional(ticket: Ticket) -> None:
    """Flag deadlines that cross a year the district's work calendar does not have (estimated Mon–Fri)."""
    start = ticket.dispatched_at
    ends = [t for t in (ticket.deadline_at, ticket.sign_deadline_at) if t is not None]
    ticket.deadline_provisional = bool(start and ends and missing_years(start, max(ends)))


def recompute_provisional(session: Session, *, now: datetime) -> int:
    """Give open tickets whose deadlines were estimated (a year without a calendar) their real ones.

    Run after a calendar year is committed. The sign-for and handling deadlines are counted again
    from the last dispatch; a ticket whose deadline a person set (an approved extension) or that was
    parked (挂账) since keeps its deadline and stays marked provisional, for the shift lead to review.
    Returns the number of tickets recomputed.
    """
    settings = get_settings()
    tickets = session.exec(
        select(Ticket).where(col(Ticket.deadline_provisional).is_(True), col(Ticket.state).in_(CLOCK_STATES))
    ).all()
    count = 0
    for ticket in tickets:
        if ticket.dispatched_at is None:
            continue
        touched = session.exec(
            select(TicketLog.id).where(
                TicketLog.ticket_id == ticket.id,
                col(TicketLog.action).in_([Action.APPROVE_EXTENSION, Action.SUSPEND]),
                col(TicketLog.at) >= ticket.dispatched_at,
            )
        ).first()
        if touched is not None:
            continue
        ticket.sign_deadline_at = add_working_minutes(
            ticket.dispatched_at, settings.sign_limit_working_hours * 60
        )
        fresh = limit_deadline(session, ticket, ticket.dispatched_at)
        if fresh is not None:
            ticket.deadline_at = fresh
        mark_provisional(ticket)
        reset_warning(ticket, now=now)
        session.add(ticket)
        count += 1
    session.flush()
    return count
