"""Console messages, read from the ticket log: the database is the truth, pub/sub only wakes the readers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from dispatch.auth.models import CENTRE_ROLES, Role, User
from dispatch.tickets.models import Ticket, TicketLog
from dispatch.tickets.service import present
from dispatch.tickets.side_models import AssistTask


@dataclass(frozen=True)
class Change:
    """One ticket log row as a console message, with what deciding who may see it needs."""

    seq: int
    department_ids: frozenset[int]
    source: str
    reporter_id: int | None
    masked: dict[str, Any]
    caller_phone: str | None

    def visible_to(self, user: User) -> bool:
        """As the ticket lists: a department its own and co-handled tickets, hotline staff hotline tickets."""
        if user.role in CENTRE_ROLES:
            return True
        if user.role is Role.DEPARTMENT:
            return user.department_id in self.department_ids
        if user.role is Role.HOTLINE:
            return self.source == "hotline"
        return self.reporter_id is not None and self.reporter_id == user.id

    def message_for(self, user: User) -> dict[str, Any]:
        """The JSON message for this user: the caller's phone unmasked only for hotline staff."""
        if user.role is not Role.HOTLINE or not self.caller_phone:
            return self.masked
        return {**self.masked, "ticket": {**self.masked["ticket"], "caller_phone": self.caller_phone}}


def changes_after(
    session: Session, *, after_seq: int, upto_seq: int | None = None, limit: int = 500
) -> list[Change]:
    """Log rows with after_seq < seq (<= upto_seq), oldest first, each with its ticket's current view."""
    query = select(TicketLog).where(col(TicketLog.id) > after_seq)
    if upto_seq is not None:
        query = query.where(col(TicketLog.id) <= upto_seq)
    entries = session.exec(query.order_by(col(TicketLog.id)).limit(limit)).all()
    if not entries:
        return []
    ticket_ids = {e.ticket_id for e in entries}
    tickets = session.exec(select(Ticket).where(col(Ticket.id).in_(ticket_ids))).all()
    by_id = {t.id: t for t in tickets}
    views = {v.id: v.model_dump(mode="json") for v in present(session, tickets, viewer=None)}
    assisting: dict[int, set[int]] = {}
    for ticket_id, department_id in session.exec(
        select(AssistTask.ticket_id, AssistTask.department_id).where(
            col(AssistTask.ticket_id).in_(ticket_ids)
        )
    ):
        assisting.setdefault(ticket_id, set()).add(department_id)
    changes = []
    for entry in entries:
        ticket = by_id[entry.ticket_id]
        changes.append(
            Change(
                seq=entry.id or 0,
                # The responsible department, co-handlers, and a department the ticket just left.
                department_ids=frozenset(
                    d
                    for d in (
                        ticket.department_id,
                        entry.data.get("from_department_id"),
                        *assisting.get(ticket.id or 0, ()),
                    )
                    if isinstance(d, int)
                ),
                source=ticket.source.value,
                reporter_id=ticket.reporter_id,
                caller_phone=ticket.caller_phone,
                masked={
                    "type": "change",
                    "seq": entry.id,
                    "at": entry.at.isoformat(),
                    "action": entry.action.value,
                    "from_state": entry.from_state.value if entry.from_state else None,
                    "to_state": entry.to_state.value,
                    "actor": entry.actor_name,
                    "note": entry.note,
                    "ticket": views[entry.ticket_id],
                },
            )
        )
    return changes
