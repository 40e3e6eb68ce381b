"""重复件: find open tickets that look like the same problem — same category, nearby, recent — and the
same 12345 caller calling again about the same address. Suggestions only; a dispatcher merges."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta

from sqlmodel import Session, col, select

from dispatch import clock
from dispatch.config import get_settings
from dispatch.tickets.models import Ticket, TicketState
from dispatch.tickets.side_models import DuplicateSuggestion

CANDIDATE_STATES = (
    TicketState.NEW,
    TicketState.MANUAL,
    TicketState.DISPATCHED,
    TicketState.SIGNED,
    TicketState.RETURNED,
    TicketState.SUSPENDED,
    TicketState.FEEDBACK,
)
EARTH_RADIUS_M = 6_371_008.8


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def _normalise_address(text: str) -> str:
    return "".join(text.split()).replace("號", "号")


def suggest(session: Session, tickets: Sequence[Ticket]) -> int:
    """Store duplicate suggestions for these (new) tickets; returns how many were stored."""
    settings = get_settings()
    since = clock.now() - timedelta(hours=settings.duplicate_window_h)
    radius = settings.duplicate_radius_m
    dlat = radius / 111_000
    stored = 0
    for ticket in tickets:
        found: dict[int, DuplicateSuggestion] = {}
        base = select(Ticket).where(
            col(Ticket.id) != ticket.id,
            col(Ticket.state).in_(CANDIDATE_STATES),
            col(Ticket.created_at) >= since,
        )
        if ticket.lon is not None and ticket.lat is not None:
            dlon = dlat / max(math.cos(math.radians(ticket.lat)), 0.01)
            nearby = session.exec(
                base.where(
                    Ticket.category_code == ticket.category_code,
                    col(Ticket.lon).between(ticket.lon - dlon, ticket.lon + dlon),
                    col(Ticket.lat).between(ticket.lat - dlat, ticket.lat + dlat),
                )
            ).all()
            for other in nearby:
                if other.lon is None or other.lat is None:
                    continue
                d = distance_m(ticket.lon, ticket.lat, other.lon, other.lat)
                if d <= radius and other.id is not None:
                    found[other.id] = DuplicateSuggestion(
                        ticket_id=ticket.id or 0,
                        candidate_id=other.id,
                        distance_m=round(d, 1),
                        created_at=clock.now(),
                    )
        if ticket.caller_phone and ticket.address:
            same_caller = session.exec(base.where(Ticket.caller_phone == ticket.caller_phone)).all()
            for other in same_caller:
                if other.id is None or _normalise_address(other.address) != _normalise_address(
                    ticket.address
                ):
                    continue
                suggestion = found.get(other.id) or DuplicateSuggestion(
                    ticket_id=ticket.id or 0, candidate_id=other.id, distance_m=0.0, created_at=clock.now()
                )
                suggestion.same_caller = True
                found[other.id] = suggestion
        session.add_all(found.values())
        stored += len(found)
    return stored
