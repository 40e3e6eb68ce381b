"""Per-person figures inside one unit (承办人): how many tickets each person holds, has closed, closed
on time, and how long handling took them, for tickets created in a period."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

from sqlalchemy import or_
from sqlmodel import Session, col, select

from dispatch import clock
from dispatch.auth.models import User
from dispatch.tickets.models import CLOCK_STATES, Ticket, TicketState
from dispatch.worktime import working_minutes_between


def person_rows(
    session: Session, *, unit_id: int | None, date_from: datetime, date_to: datetime
) -> list[dict[str, object]]:
    """One row per 承办人 of the unit's tickets (the department's, or a centre's queue when `unit_id` is
    a centre; None: the district centre's own queue) created in [date_from, date_to), busiest first.

    `handled` counts the tickets whose handling the person finished (反馈 given or closed), `on_time`
    those finished by the deadline; `avg_working_hours` runs from dispatch to 反馈 (or closing)."""
    unassigned = col(Ticket.department_id).is_(None)  # still in a centre's queue (or rejected there)
    unit = (
        or_(col(Ticket.department_id) == unit_id, unassigned & (col(Ticket.centre_id) == unit_id))
        if unit_id is not None
        else unassigned & col(Ticket.centre_id).is_(None)
    )
    tickets = session.exec(
        select(Ticket).where(
            unit,
            col(Ticket.assignee_id).is_not(None),
            col(Ticket.created_at) >= date_from,
            col(Ticket.created_at) < date_to,
            Ticket.state != TicketState.MERGED,
        )
    ).all()
    names = dict(
        session.exec(
            select(User.id, User.full_name).where(col(User.id).in_({t.assignee_id for t in tickets}))
        ).all()
    )
    now = clock.now()
    rows: dict[int, PersonRow] = {}
    for ticket in tickets:
        person = ticket.assignee_id or 0
        row = rows.setdefault(person, PersonRow(user_id=person, name=names.get(person, "")))
        row.assigned += 1
        done_at = ticket.updated_at if ticket.state is TicketState.FEEDBACK else None
        if ticket.state is TicketState.CLOSED:
            done_at = ticket.closed_at
        if done_at is None:
            row.open += 1
            if ticket.state in CLOCK_STATES and ticket.deadline_at is not None and ticket.deadline_at < now:
                row.overdue += 1
            continue
        row.handled += 1
        if ticket.deadline_at is None or done_at <= ticket.deadline_at:
            row.on_time += 1
        if ticket.dispatched_at is not None:
            row.minutes.append(working_minutes_between(ticket.dispatched_at, done_at))
    ranked = sorted(rows.values(), key=lambda r: (-r.assigned, r.name))
    return [r.as_dict() for r in ranked]


@dataclass
class PersonRow:
    user_id: int
    name: str
    assigned: int = 0
    open: int = 0
    overdue: int = 0
    handled: int = 0
    on_time: int = 0
    minutes: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        figures = {k: v for k, v in asdict(self).items() if k != "minutes"}
        hours = round(sum(self.minutes) / len(self.minutes) / 60, 1) if self.minutes else None
        return {**figures, "avg_working_hours": hours}
