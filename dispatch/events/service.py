"""Intake: validate against base data, write the record durably, enqueue routing after commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from shapely.geometry import Point
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from dispatch import clock
from dispatch.auth.models import User
from dispatch.catalog.models import Category
from dispatch.config import get_settings
from dispatch.errors import InvalidInput
from dispatch.events.models import Event, Source
from dispatch.events.photos import Photo, attachment_row
from dispatch.events.schemas import HotlineIntake, PatrolIntake
from dispatch.grids.service import district_extent
from dispatch.tickets.models import Action, Ticket
from dispatch.tickets.service import record, savepoint
from dispatch.tickets.side_models import TicketReporter
from dispatch.tickets.tasks import wake_routing_after_commit

NUMBER_PREFIX = {Source.PATROL: "WG", Source.HOTLINE: "RX"}


def accept_patrol(
    session: Session, *, report: PatrolIntake, photos: Sequence[Photo], by: User
) -> tuple[Ticket, bool]:
    """Accept a patrol report; returns (ticket, created). A resent client_ref returns the first ticket."""
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
    return _accept(session, Source.PATROL, external_id, report.model_dump(mode="json"), fields, photos, by)


def accept_hotline(session: Session, *, call: HotlineIntake, by: User) -> tuple[Ticket, bool]:
    """Accept a 12345 call; returns (ticket, created). A re-posted call id returns the existing ticket."""
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
    return _accept(session, Source.HOTLINE, call.call_id, call.model_dump(mode="json"), fields, [], by)


def _accept(
    session: Session,
    source: Source,
    external_id: str | None,
    payload: dict[str, Any],
    fields: dict[str, Any],
    photos: Sequence[Photo],
    by: User,
) -> tuple[Ticket, bool]:
    if external_id is not None and (existing := _existing(session, source, external_id)) is not None:
        return existing, False
    _check_category(session, fields["category_code"])
    if fields["lon"] is not None:
        _check_position(session, fields["lon"], fields["lat"])
    received_at = clock.now()
    try:
        with savepoint(session):
            ticket = _open_ticket(session, source, fields, received_at, by)
            event = Event(
                source=source,
                external_id=external_id,
                reporter_id=by.id,
                received_at=received_at,
                payload=payload,
                ticket_id=ticket.id,
            )
            session.add(event)
            session.flush()
            session.add(
                TicketReporter(
                    ticket_id=ticket.id or 0,
                    event_id=event.id,
                    user_id=by.id if source is Source.PATROL else None,
                    caller_name=fields.get("caller_name"),
                    caller_phone=fields.get("caller_phone"),
                    reported_at=received_at,
                )
            )
            for photo in photos:
                session.add(
                    attachment_row(photo, ticket_id=ticket.id or 0, event_id=event.id, at=received_at)
                )
            session.flush()
    except IntegrityError:
        # A concurrent post with the same external id won; answer with its ticket.
        if external_id is not None and (existing := _existing(session, source, external_id)) is not None:
            return existing, False
        raise
    wake_routing_after_commit(session)
    return ticket, True


def _open_ticket(session: Session, source: Source, fields: dict[str, Any], at: datetime, by: User) -> Ticket:
    ticket = Ticket(source=source, created_at=at, updated_at=at, **fields)
    record(session, ticket=ticket, action=Action.INTAKE, actor=by)
    local_day = at.astimezone(_tz()).strftime("%Y%m%d")
    ticket.number = f"{NUMBER_PREFIX[source]}{local_day}{ticket.id:07d}"
    session.add(ticket)
    return ticket


def _tz() -> ZoneInfo:
    return ZoneInfo(get_settings().timezone)


def _existing(session: Session, source: Source, external_id: str) -> Ticket | None:
    event = session.exec(
        select(Event).where(Event.source == source, Event.external_id == external_id)
    ).first()
    if event is None or event.ticket_id is None:
        return None
    return session.get(Ticket, event.ticket_id)


def _check_category(session: Session, code: str) -> None:
    category = session.get(Category, code)
    if category is None or not category.active:
        raise InvalidInput(f"未知的事件类别：{code}", field="category_code")


def _check_position(session: Session, lon: float, lat: float) -> None:
    extent = district_extent(session, margin_deg=get_settings().district_margin_deg)
    if extent is not None and not extent.contains(Point(lon, lat)):
        raise InvalidInput(f"位置（{lon:.6f}, {lat:.6f}）不在本区范围内", field="lon")
