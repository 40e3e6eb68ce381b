"""Deadlines of a ticket: the handling limit of its category, the sign-for limit, the yellow-warning time."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from dispatch.catalog.models import Category, Urgency
from dispatch.config import get_settings
from dispatch.tickets.models import Ticket, WarningLevel
from dispatch.worktime import add_working_minutes, deadline_for, working_minutes_between


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
    """Move the deadline by the working time the ticket spent parked (挂账 stops the clock)."""
    if ticket.deadline_at is None:
        return
    paused = working_minutes_between(paused_from, now)
    remaining_from = max(now, paused_from)
    left = working_minutes_between(paused_from, ticket.deadline_at)
    ticket.deadline_at = add_working_minutes(remaining_from, left) if paused else ticket.deadline_at
    reset_warning(ticket, now=now)
