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

import numpy as np
from sqlalchemy import insert
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
    one, with two queries for the whole batch; returns how many were stored.

    A busy corner can hold thousands of open tickets of one category: distances to them are computed
    with numpy, and only the few nearest are then measured and ranked exactly as find_candidates() does.
    """
    settings = get_settings()
    radius, limit = settings.duplicate_radius_m, settings.duplicate_max
    since = clock.now() - timedelta(hours=settings.duplicate_window_h)
    recent = (col(Ticket.state).in_(CANDIDATE_STATES), col(Ticket.created_at) >= since)
    placed = [t for t in tickets if t.lon is not None and t.lat is not None]
    cells: dict[tuple[str, int, int], list[tuple[int, float, float]]] = defaultdict(list)
    position: dict[int, tuple[str, float, float]] = {}
    dlat = radius / 111_000  # the search box (and cell) is at least the radius wide everywhere
    dlon = dlat / max(min((math.cos(math.radians(t.lat or 0.0)) for t in placed), default=1.0), 0.01)
    if placed:
        box = session.exec(
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
        for other_id, category, lon, lat in box:
            if other_id is not None and lon is not None and lat is not None:
                cells[(category, math.floor(lon / dlon), math.floor(lat / dlat))].append((other_id, lon, lat))
                position[other_id] = (category, lon, lat)
    neighbourhoods: dict[tuple[str, int, int], _Points] = {}

    def neighbourhood(ticket: Ticket) -> _Points:
        """The open tickets of its category in its cell and the eight around it (cached per cell)."""
        category, cell_lon, cell_lat = (
            ticket.category_code,
            math.floor((ticket.lon or 0.0) / dlon),
            math.floor((ticket.lat or 0.0) / dlat),
        )
        key = (category, cell_lon, cell_lat)
        if key not in neighbourhoods:
            points = [
                point
                for i in (-1, 0, 1)
                for j in (-1, 0, 1)
                for point in cells.get((category, cell_lon + i, cell_lat + j), ())
            ]
            neighbourhoods[key] = _Points.of(points)
        return neighbourhoods[key]

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
    rows: list[dict[str, object]] = []
    now = clock.now()
    for ticket in tickets:
        caller_ids = []
        if ticket.caller_phone and ticket.address:
            wanted = _normalise_address(ticket.address)
            caller_ids = [
                other_id
                for other_id, address in same_caller.get(ticket.caller_phone, ())
                if other_id != ticket.id and address == wanted
            ]
        found: dict[int, tuple[float | None, bool]] = {}
        if ticket.lon is not None and ticket.lat is not None:
            lon, lat = ticket.lon, ticket.lat
            for other_id in neighbourhood(ticket).nearest(lon, lat, radius, limit, exclude=ticket.id):
                _, other_lon, other_lat = position[other_id]
                d = distance_m(lon, lat, other_lon, other_lat)
                if d <= radius:
                    found[other_id] = (round(d, 1), False)
            for other_id in caller_ids:  # the same caller here: its distance whether near or not
                where = position.get(other_id)
                if where is not None and where[0] == ticket.category_code and other_id not in found:
                    d = distance_m(lon, lat, where[1], where[2])
                    if d <= radius:
                        found[other_id] = (round(d, 1), False)
        for other_id in caller_ids:
            found[other_id] = (found.get(other_id, (None, False))[0], True)
        chosen = sorted(found.items(), key=lambda f: _rank(f[0], *f[1]))[:limit]
        rows.extend(
            {
                "ticket_id": ticket.id,
                "candidate_id": other_id,
                "distance_m": distance,
                "same_caller": caller,
                "created_at": now,
            }
            for other_id, (distance, caller) in chosen
        )
    if rows:  # one multi-row insert; nothing reads these objects back in this transaction
        session.execute(insert(DuplicateSuggestion), rows)
    return len(rows)


@dataclass(frozen=True)
class _Points:
    """Ticket positions as arrays, for distances to all of them at once."""

    ids: np.ndarray
    lon: np.ndarray  # radians
    lat: np.ndarray

    @classmethod
    def of(cls, points: Sequence[tuple[int, float, float]]) -> _Points:
        ids = np.array([p[0] for p in points], dtype=np.int64)
        lon = np.radians(np.array([p[1] for p in points], dtype=np.float64))
        lat = np.radians(np.array([p[2] for p in points], dtype=np.float64))
        return cls(ids, lon, lat)

    def nearest(self, lon: float, lat: float, radius: float, k: int, *, exclude: int | None) -> list[int]:
        """Ids of the k nearest within the radius, and of every point that could tie with the k-th once
        distances are rounded to 0.1 m (the exact check and ranking are the caller's)."""
        if not len(self.ids):
            return []
        p1, l1 = math.radians(lat), math.radians(lon)
        a = (
            np.sin((self.lat - p1) / 2) ** 2
            + math.cos(p1) * np.cos(self.lat) * np.sin((self.lon - l1) / 2) ** 2
        )
        d = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(a))
        inside = np.flatnonzero((d <= radius + 1e-6) & (self.ids != (exclude or 0)))
        if len(inside) > k:
            kth = np.partition(d[inside], k - 1)[k - 1]
            inside = inside[d[inside] <= kth + 0.1 + 1e-6]
        return [int(i) for i in self.ids[inside]]
