"""重复件: find open tickets that look like the same problem — same category, nearby, recent — and the
same 12345 caller calling again about the same address. Suggestions only; a dispatcher merges.

Both searches rank the same way and keep the first `duplicate_max`: the same caller first (the surest
sign), then the nearest, then the oldest."""

from __future__ import annotations

import math
from collections import defaultdict
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


def _rank(ticket_id: int, distance: float | None, same_caller: bool) -> tuple[bool, bool, float, int]:
    return (not same_caller, distance is None, distance or 0.0, ticket_id)


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
    same caller about the same address; the first `duplicate_max` in rank order."""
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
    ranked = sorted(found.values(), key=lambda c: _rank(c.ticket.id or 0, c.distance_m, c.same_caller))
    return ranked[: settings.duplicate_max]


def suggest(session: Session, tickets: Sequence[Ticket]) -> int:
    """Store duplicate suggestions for these (new) tickets, as find_candidates() would find them one by
    one, with two queries for the whole batch; returns how many were stored."""
    settings = get_settings()
    radius = settings.duplicate_radius_m
    since = clock.now() - timedelta(hours=settings.duplicate_window_h)
    recent = (col(Ticket.state).in_(CANDIDATE_STATES), col(Ticket.created_at) >= since)
    placed = [t for t in tickets if t.lon is not None and t.lat is not None]
    nearby: dict[tuple[str, int, int], list[tuple[int, float, float]]] = defaultdict(list)
    dlat = radius / 111_000  # the search box (and bucket) is at least the radius wide everywhere
    dlon = dlat / max(min((math.cos(math.radians(t.lat or 0.0)) for t in placed), default=1.0), 0.01)
    if placed:
        rows = session.exec(
            select(Ticket.id, Ticket.category_code, Ticket.lon, Ticket.lat).where(
                *recent,
                col(Ticket.category_code).in_({t.category_code for t in placed}),
                col(Ticket.lon).between(
                    min(t.lon or 0.0 for t in placed) - dlon, max(t.lon or 0.0 for t in placed) + dlon
                ),
                col(Ticket.lat).between(
                    min(t.lat or 0.0 for t in placed) - dlat, max(t.lat or 0.0 for t in placed) + dlat
                ),
            )
        ).all()
        for other_id, category, lon, lat in rows:  # bucketed in cells one search box wide
            if other_id is not None and lon is not None and lat is not None:
                nearby[(category, math.floor(lon / dlon), math.floor(lat / dlat))].append(
                    (other_id, lon, lat)
                )
    callers = {t.caller_phone for t in tickets if t.caller_phone and t.address}
    same_caller: dict[str, list[tuple[int, str]]] = defaultdict(list)
    if callers:
        for other_id, phone, address in session.exec(
            select(Ticket.id, Ticket.caller_phone, Ticket.address).where(
                *recent, col(Ticket.caller_phone).in_(callers)
            )
        ):
            if other_id is not None and phone is not None:
                same_caller[phone].append((other_id, _normalise_address(address)))
    stored = 0
    now = clock.now()
    for ticket in tickets:
        found: dict[int, tuple[float | None, bool]] = {}
        if ticket.lon is not None and ticket.lat is not None:
            cell_lon, cell_lat = math.floor(ticket.lon / dlon), math.floor(ticket.lat / dlat)
            for i in (-1, 0, 1):
                for j in (-1, 0, 1):
                    for other_id, lon, lat in nearby.get(
                        (ticket.category_code, cell_lon + i, cell_lat + j), ()
                    ):
                        d = distance_m(ticket.lon, ticket.lat, lon, lat)
                        if other_id != ticket.id and d <= radius:
                            found[other_id] = (round(d, 1), False)
        if ticket.caller_phone and ticket.address:
            wanted = _normalise_address(ticket.address)
            for other_id, address in same_caller.get(ticket.caller_phone, ()):
                if other_id != ticket.id and address == wanted:
                    found[other_id] = (found.get(other_id, (None, False))[0], True)
        session.add_all(
            DuplicateSuggestion(
                ticket_id=ticket.id or 0,
                candidate_id=other_id,
                distance_m=distance,
                same_caller=caller,
                created_at=now,
            )
            for other_id, (distance, caller) in sorted(found.items(), key=lambda f: _rank(f[0], *f[1]))[
                : settings.duplicate_max
            ]
        )
        stored += min(len(found), settings.duplicate_max)
    return stored
