"""Deadlines of a ticket: the handling limit of its category, the sign-for limit, the yellow-warning time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from dispatch.catalog.models import ANY_CATEGORY, URGENCY_LABELS, Category, LimitUnit, TimeLimit, Urgency
from dispatch.config import get_settings
from dispatch.events.models import REQUEST_TYPE_LABELS
from dispatch.tickets.models import CLOCK_STATES, Action, Ticket, TicketLog, WarningLevel
from dispatch.worktime import (
    add_working_minutes,
    add_working_time,
    deadline_for,
    missing_years,
    share_of_working_time,
    working_time_between,
)


@dataclass(frozen=True)
class AppliedLimit:
    """The handling limit a ticket gets, and where it comes from (for the timeline and explanations)."""

    amount: int
    unit: LimitUnit
    source: str  # e.g. "咨询 · 全部类别 · 一般" or "类别 06010 暴露垃圾 · 一般"

    def describe(self) -> str:
        return f"{self.source}：{self.amount} {UNIT_LABELS[self.unit]}"


UNIT_LABELS = {LimitUnit.WORKING_HOURS: "工作小时", LimitUnit.WORKING_DAYS: "工作日", LimitUnit.HOURS: "小时"}


def applied_limit(session: Session, ticket: Ticket) -> AppliedLimit | None:
    """The limit for the ticket's request type, category and urgency; None when nothing sets one.

    Order: a request-type row for the 小类, then for its 大类, then for every category ("*"); then the
    category's own limit for the urgency (the 小类's, else its 大类's). Patrol reports have no request
    type and use the category's limits.
    """
    urgency = URGENCY_LABELS[ticket.urgency]
    chain = _category_chain(session, ticket.category_code)
    if ticket.request_type is not None:
        rows = _request_limits(session, ticket)
        for category in [*chain, None]:
            row = rows.get(category.code if category else ANY_CATEGORY)
            if row is not None:
                where = f"{category.code} {category.name}" if category else "全部类别"
                kind = REQUEST_TYPE_LABELS[ticket.request_type]
                return AppliedLimit(row.amount, row.unit, f"{kind} · {where} · {urgency}")
    for category in chain:
        name = f"类别 {category.code} {category.name}"
        if ticket.urgency is Urgency.URGENT and category.limit_urgent:
            return AppliedLimit(category.limit_urgent, category.limit_urgent_unit, f"{name} · 紧急")
        if category.limit_normal:
            return AppliedLimit(category.limit_normal, category.limit_normal_unit, f"{name} · 一般")
    return None


_LIMITS = "request_time_limits"


@contextmanager
def limits_read_once(session: Session) -> Iterator[None]:
    """Within this block the request-type limits are read once per (type, urgency): for routing a
    batch, which asks for the same few sets hundreds of times and changes none of them."""
    session.info[_LIMITS] = {}
    try:
        yield
    finally:
        session.info.pop(_LIMITS, None)


def _request_limits(session: Session, ticket: Ticket) -> dict[str, TimeLimit]:
    """The request-type limits for the ticket's type and urgency, by category code."""
    cache: dict[tuple[str, str], dict[str, TimeLimit]] | None = session.info.get(_LIMITS)
    key = (str(ticket.request_type), str(ticket.urgency))
    if cache is not None and key in cache:
        return cache[key]
    rows = {
        row.category_code: row
        for row in session.exec(
            select(TimeLimit).where(
                TimeLimit.request_type == ticket.request_type, TimeLimit.urgency == ticket.urgency
            )
        )
    }
    if cache is not None:
        cache[key] = rows
    return rows


def _category_chain(session: Session, code: str | None) -> list[Category]:
    """The category and its parents, most specific first."""
    chain: list[Category] = []
    while code:
        category = session.get(Category, code)
        if category is None:
            break
        chain.append(category)
        code = category.parent_code
    return chain


def limit_deadline(session: Session, ticket: Ticket, start_at: datetime) -> datetime | None:
    """Deadline from the limit that applies to the ticket (see applied_limit), counted from `start_at`."""
    limit = applied_limit(session, ticket)
    return deadline_for(start_at, limit.amount, limit.unit) if limit else None


def start_clock(session: Session, ticket: Ticket, at: datetime) -> AppliedLimit | None:
    """Start the department's clocks on dispatch: sign-for deadline, handling deadline, warning time.

    The handling deadline never moves earlier than it already was (a re-dispatch or reopen gives
    the new department a full limit, but never takes time away). Returns the limit that applied.
    """
    settings = get_settings()
    ticket.dispatched_at = at
    ticket.signed_at = None
    ticket.sign_warned = False
    ticket.sign_deadline_at = add_working_minutes(at, settings.sign_limit_working_hours * 60)
    limit = applied_limit(session, ticket)
    fresh = deadline_for(at, limit.amount, limit.unit) if limit else None
    if ticket.external_deadline_at is not None:  # the sender's limit stands (an approved extension moves it)
        ticket.deadline_at = max(
            ticket.external_deadline_at, ticket.deadline_at or ticket.external_deadline_at
        )
    elif fresh is not None and (ticket.deadline_at is None or fresh > ticket.deadline_at):
        ticket.deadline_at = fresh
    mark_provisional(ticket)
    reset_warning(ticket, now=at)
    return limit


def reset_warning(ticket: Ticket, *, now: datetime) -> None:
    """Recompute the yellow-warning time for the current deadline and clear warnings it no longer deserves."""
    if ticket.deadline_at is None or ticket.dispatched_at is None:
        ticket.warn_at = None
        return
    ticket.warn_at = share_of_working_time(
        ticket.dispatched_at, ticket.deadline_at, get_settings().warn_share
    )
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
