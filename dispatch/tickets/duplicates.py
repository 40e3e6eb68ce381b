"""重复件: find open tickets that look like the same problem — same category, nearby, recent — and the
same 12345 caller calling again about the same address. Suggestions only; a dispatcher merges."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Candidate:
    ticket: Ticket
    distance_m: float | None  # None: matched as the same caller and address, without positions
    same_caller: bool


def find_candidates(
    session: Session,
    *,
    category_code: str,
    lon: float | None,
    lat: float | None,
    caller_phone: str | None = None,
    address: str = "",
    exclude_id: int | None = None,
) -> list[Candidate]:
    """Open, recent tickets that look like the same problem: same category within the radius, or the
    same caller about the same address. Nearest first."""
    settings = get_settings()
    since = clock.now() - timedelta(hours=settings.duplicate_window_h)
    radius = settings.duplicate_radius_m
    base = select(Ticket).where(col(Ticket.state).in_(CANDIDATE_STATES), col(Ticket.created_at) >= since)
    if exclude_id is not None:
        base = base.where(col(Ticket.id) != exclude_id)
    found: dict[int, Candidate] = {}
    if lon is not None and lat is not None:
        dlat = radius / 111_000
        dlon = dlat / max(math.cos(math.radians(lat)), 0.01)
        nearby = session.exec(
            base.where(
                Ticket.category_code == category_code,
                col(Ticket.lon).between(lon - dlon, lon + dlon),
                col(Ticket.lat).between(lat - dlat, lat + dlat),
            )
        ).all()
        for other in nearby:
            if other.lon is None or other.lat is None or other.id is None:
                continue
            d = distance_m(lon, lat, other.lon, other.lat)
            if d <= radius:
                found[other.id] = Candidate(other, round(d, 1), False)
    if caller_phone and address:
        wanted = _normalise_address(address)
        for other in session.exec(base.where(Ticket.caller_phone == caller_phone)).all():
            if other.id is None or _normalise_address(other.address) != wanted:
                continue
            previous = found.get(other.id)
            found[other.id] = Candidate(other, previous.distance_m if previous else None, True)
    return sorted(found.values(), key=lambda c: (c.distance_m is None, c.distance_m or 0.0, c.ticket.id or 0))


def suggest(session: Session, tickets: Sequence[Ticket]) -> int:
    """Store duplicate suggestions for these (new) tickets; returns how many were stored."""
    stored = 0
    for ticket in tickets:
        candidates = find_candidates(
            session,
            category_code=ticket.category_code,
            lon=ticket.lon,
            lat=ticket.lat,
            caller_phone=ticket.caller_phone,
            address=ticket.address,
            exclude_id=ticket.id,
        )
        session.add_all(
            DuplicateSuggestion(
                ticket_id=ticket.id or 0,
                candidate_id=c.ticket.id or 0,
                distance_m=c.distance_m,
                same_caller=c.same_caller,
                created_at=clock.now(),
            )
            for c in candidates
        )
        stored += len(candidates)
    return stored
