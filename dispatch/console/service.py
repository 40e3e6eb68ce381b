"""Console messages, read from the ticket log: the database is the truth, pub/sub only wakes the readers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, select

from dispatch.auth.models import CENTRE_ROLES, Role, User
from dispatch.tickets.centres import in_territory, is_scoped
from dispatch.tickets.models import Ticket, TicketLog
from dispatch.tickets.service import present
from dispatch.tickets.side_models import AssistTask


@dataclass(frozen=True)
class Change:
    """One ticket log row as a console message, with what deciding who may see it needs."""

    seq: int
    department_ids: frozenset[int]  # the department holding the ticket now and its co-handlers
    left_department_id: int | None  # a department this row took the ticket away from (改派)
    left: dict[str, Any]  # what that department may still learn: the move itself, nothing later
    source: str
    reporter_id: int | None
    masked: dict[str, Any]
    caller_phone: str | None
    street_code: str | None = None
    community_code: str | None = None
    centre_id: int | None = None  # the centre holding the ticket (None: the district centre)
    texts: dict[str, str] = field(default_factory=dict, compare=False, repr=False)  # variant → JSON

    def visible_to(self, user: User) -> bool:
        """As the ticket lists: a department its own and co-handled tickets, hotline staff hotline tickets,
        a street or community centre its area's tickets and those it holds, the district centre all."""
        if is_scoped(user):
            return in_territory(
                user,
                street_code=self.street_code,
                community_code=self.community_code,
                centre_id=self.centre_id,
            )
        if user.role in CENTRE_ROLES:
            return True
        if user.role is Role.DEPARTMENT:
            return user.department_id in self.department_ids or user.department_id == self.left_department_id
        if user.role is Role.HOTLINE:
            return self.source == "hotline"
        return self.reporter_id is not None and self.reporter_id == user.id

    def message_for(self, user: User) -> dict[str, Any]:
        """The JSON message for this user: the caller's phone unmasked only for hotline staff; a
        department the ticket left gets the move as it was then, not the ticket's later state."""
        variant = self._variant(user)
        if variant == "left":
            return self.left
        if variant == "masked":
            return self.masked
        return {**self.masked, "ticket": {**self.masked["ticket"], "caller_phone": self.caller_phone}}

    def text_for(self, user: User) -> str:
        """message_for() encoded as JSON text, once per variant however many consoles receive it."""
        variant = self._variant(user)
        if variant not in self.texts:
            self.texts[variant] = json.dumps(
                self.message_for(user), ensure_ascii=False, separators=(",", ":")
            )
        return self.texts[variant]

    def _variant(self, user: User) -> str:
        if user.role is Role.DEPARTMENT and user.department_id not in self.department_ids:
            return "left"
        if user.role is not Role.HOTLINE or not self.caller_phone:
            return "masked"
        return "phone"


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
        masked = {
            "type": "change",
            "seq": entry.id,
            "at": entry.at.isoformat(),
            "action": entry.action.value,
            "from_state": entry.from_state.value if entry.from_state else None,
            "to_state": entry.to_state.value,
            "actor": entry.actor_name,
            "note": entry.note,
            "ticket": views[entry.ticket_id],
        }
        holders = frozenset(
            d for d in (ticket.department_id, *assisting.get(ticket.id or 0, ())) if isinstance(d, int)
        )
        left = entry.data.get("from_department_id")
        changes.append(
            Change(
                seq=entry.id or 0,
                department_ids=holders,
                left_department_id=left if isinstance(left, int) and left not in holders else None,
                left=_as_left(masked, entry),
                source=ticket.source.value,
                reporter_id=ticket.reporter_id,
                caller_phone=ticket.caller_phone,
                masked=masked,
                street_code=ticket.street_code,
                community_code=ticket.community_code,
                centre_id=ticket.centre_id,
            )
        )
    return changes


def _as_left(masked: dict[str, Any], entry: TicketLog) -> dict[str, Any]:
    """The message for the department a ticket was taken from: the ticket as that move left it
    (its new department and state), without anything the new department did afterwards."""
    view = masked["ticket"]
    to = entry.data.get("department_id")
    ticket = {
        "id": view["id"],
        "number": view["number"],
        "state": entry.to_state.value,
        "department_id": to,
        "department_name": view["department_name"] if view["department_id"] == to else None,
    }
    return {**masked, "ticket": ticket}
