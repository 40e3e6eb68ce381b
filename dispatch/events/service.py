"""Intake: validate against base data, write the record durably, enqueue routing after commit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from dispatch import clock
from dispatch.auth.models import User
from dispatch.catalog.models import Category
from dispatch.config import get_settings
from dispatch.errors import DispatchError, InvalidInput
from dispatch.events.models import Event, Source
from dispatch.events.photos import Photo, attachment_row
from dispatch.events.schemas import HotlineIntake, PatrolIntake
from dispatch.grids.service import district_extent
from dispatch.tickets.models import Action, Ticket
from dispatch.tickets.service import record_many, savepoint, tell_others
from dispatch.tickets.side_models import TicketReporter
from dispatch.tickets.tasks import wake_routing_after_commit

NUMBER_PREFIX = {Source.PATROL: "WG", Source.HOTLINE: "RX", Source.OPEN311: "KF", Source.CITY: "SJ"}


@dataclass(frozen=True)
class Report:
    """One report to accept, whichever way it came in."""

    source: Source
    external_id: str | None  # call id, or officer + client reference: re-posts answer the first ticket
    payload: dict[str, Any]
    fields: dict[str, Any]
    photos: Sequence[Photo]
    by: User


def patrol_report(report: PatrolIntake, photos: Sequence[Photo], by: User) -> Report:
    external_id = f"{by.id}:{report.client_ref}" if report.client_ref else None
    fields: dict[str, Any] = {
        "category_code": report.category_code,
        "urgency": report.urgency,
        "description": report.description,
        "address": report.address,
        "lon": report.lon,
        "lat": report.lat,
        "reporter_id": by.id,
    }
    return Report(Source.PATROL, external_id, report.model_dump(mode="json"), fields, photos, by)


def hotline_report(call: HotlineIntake, by: User) -> Report:
    fields: dict[str, Any] = {
        "request_type": call.request_type,
        "category_code": call.category_code,
        "urgency": call.urgency,
        "description": call.content,
        "address": call.address,
        "lon": call.lon,
        "lat": call.lat,
        "caller_name": call.caller_name,
        "caller_phone": call.caller_phone,
        "reporter_id": by.id,
    }
    return Report(Source.HOTLINE, call.call_id, call.model_dump(mode="json"), fields, [], by)


def accept_patrol(
    session: Session, *, report: PatrolIntake, photos: Sequence[Photo], by: User
) -> tuple[Ticket, bool]:
    """Accept a patrol report; returns (ticket, created). A resent client_ref returns the first ticket."""
    return accept(session, patrol_report(report, photos, by))


def accept_hotline(session: Session, *, call: HotlineIntake, by: User) -> tuple[Ticket, bool]:
    """Accept a 12345 call; returns (ticket, created). A re-posted call id returns the existing ticket."""
    return accept(session, hotline_report(call, by))


def accept(session: Session, report: Report) -> tuple[Ticket, bool]:
    """Accept one report in the caller's transaction; returns (ticket, created)."""
    if (
        report.external_id is not None
        and (existing := _existing(session, report.source, report.external_id)) is not None
    ):
        return existing, False
    _check_category(session, report.fields["category_code"])
    if report.fields["lon"] is not None:
        _check_position(_extent(session), report.fields["lon"], report.fields["lat"])
    try:
        with savepoint(session):
            (ticket,) = _write(session, [report])
    except IntegrityError:
        # A concurrent post with the same external id won; answer with its ticket.
        if (
            report.external_id is not None
            and (existing := _existing(session, report.source, report.external_id)) is not None
        ):
            return existing, False
        raise
    return ticket, True


Accepted = tuple[Ticket, bool] | DispatchError


def accept_many(session: Session, reports: Sequence[Report]) -> list[Accepted]:
    """Accept a group of reports in the caller's one transaction, with multi-row inserts: for each, in
    order, (ticket, created) or the error that refused it (nothing written for that one). Re-posts of
    a stored external id, and repeats inside the group, answer the first ticket. A database error
    (a concurrent post of the same external id included) fails the whole group: the caller rolls back
    and accepts them one by one."""
    known = _existing_many(session, {(r.source, r.external_id) for r in reports if r.external_id})
    active = _active_categories(session, {r.fields["category_code"] for r in reports})
    extent = _extent(session) if any(r.fields["lon"] is not None for r in reports) else None
    results: list[Accepted | None] = [None] * len(reports)
    first_of: dict[tuple[Source, str], int] = {}
    fresh: list[int] = []
    for index, report in enumerate(reports):
        key = (report.source, report.external_id) if report.external_id is not None else None
        if key is not None and key in known:
            results[index] = (known[key], False)
            continue
        if key is not None and key in first_of:
            continue  # the same report twice in one group: answered with the first's ticket below
        try:
            if report.fields["category_code"] not in active:
                _check_category(session, report.fields["category_code"])  # raises with the message
            if report.fields["lon"] is not None:
                _check_position(extent, report.fields["lon"], report.fields["lat"])
        except DispatchError as refused:
            results[index] = refused
            continue
        if key is not None:
            first_of[key] = index
        fresh.append(index)
    for index, ticket in zip(fresh, _write(session, [reports[i] for i in fresh]), strict=True):
        results[index] = (ticket, True)
    for index, report in enumerate(reports):
        if results[index] is None and report.external_id is not None:
            first = results[first_of[(report.source, report.external_id)]]
            assert isinstance(first, tuple)
            results[index] = (first[0], False)
    return [r for r in results if r is not None]


def _write(session: Session, reports: Sequence[Report]) -> list[Ticket]:
    """Tickets, intake records, reporters, photos and log rows for checked reports: a few multi-row
    inserts whatever their number; routing is woken once the transaction commits."""
    if not reports:
        return []
    received_at = clock.now()
    tickets = [
        Ticket(source=r.source, created_at=received_at, updated_at=received_at, **r.fields) for r in reports
    ]
    by_actor: dict[int | None, list[int]] = {}
    for index, report in enumerate(reports):
        by_actor.setdefault(report.by.id, []).append(index)
    for indexes in by_actor.values():
        actor = reports[indexes[0]].by
        record_many(session, tickets=[tickets[i] for i in indexes], action=Action.INTAKE, actor=actor)
    local_day = received_at.astimezone(_tz()).strftime("%Y%m%d")
    events = []
    for ticket, report in zip(tickets, reports, strict=True):
        ticket.number = f"{NUMBER_PREFIX[report.source]}{local_day}{ticket.id:07d}"
        events.append(
            Event(
                source=report.source,
                external_id=report.external_id,
                reporter_id=report.by.id,
                received_at=received_at,
                payload=report.payload,
                ticket_id=ticket.id,
            )
        )
    session.add_all(events)
    session.flush()
    for ticket, event, report in zip(tickets, events, reports, strict=True):
        session.add(
            TicketReporter(
                ticket_id=ticket.id or 0,
                event_id=event.id,
                user_id=report.by.id if report.source is Source.PATROL else None,
                caller_name=report.fields.get("caller_name"),
                caller_phone=report.fields.get("caller_phone"),
                reported_at=received_at,
            )
        )
        for photo in report.photos:
            session.add(attachment_row(photo, ticket_id=ticket.id or 0, event_id=event.id, at=received_at))
    session.flush()
    tell_others(session, tickets, Action.INTAKE, "")
    wake_routing_after_commit(session)
    return tickets


def _tz() -> ZoneInfo:
    return ZoneInfo(get_settings().timezone)


def _existing(session: Session, source: Source, external_id: str) -> Ticket | None:
    event = session.exec(
        select(Event).where(Event.source == source, Event.external_id == external_id)
    ).first()
    if event is None or event.ticket_id is None:
        return None
    return session.get(Ticket, event.ticket_id)


def _existing_many(session: Session, keys: set[tuple[Source, str]]) -> dict[tuple[Source, str], Ticket]:
    found: dict[tuple[Source, str], Ticket] = {}
    for source in {s for s, _ in keys}:
        ids = [e for s, e in keys if s is source]
        rows = session.exec(
            select(Event.external_id, Ticket)
            .join(Ticket, col(Ticket.id) == col(Event.ticket_id))
            .where(Event.source == source, col(Event.external_id).in_(ids))
        ).all()
        found.update({(source, external_id): ticket for external_id, ticket in rows if external_id})
    return found


def _active_categories(session: Session, codes: set[str]) -> set[str]:
    return set(
        session.exec(
            select(Category.code).where(col(Category.code).in_(codes), col(Category.active).is_(True))
        ).all()
    )


def _check_category(session: Session, code: str) -> None:
    category = session.get(Category, code)
    if category is None or not category.active:
        raise InvalidInput(f"未知的事件类别：{code}", field="category_code")


def _extent(session: Session) -> BaseGeometry | None:
    return district_extent(session, margin_deg=get_settings().district_margin_deg)


def _check_position(extent: BaseGeometry | None, lon: float, lat: float) -> None:
    if extent is not None and not extent.contains(Point(lon, lat)):
        raise InvalidInput(f"位置（{lon:.6f}, {lat:.6f}）不在本区范围内", field="lon")
