"""Reading tickets: lists for consoles and workbenches, one ticket with its timeline, its photos."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from dispatch.auth.deps import CurrentUser
from dispatch.auth.models import Role
from dispatch.db import SessionDep
from dispatch.errors import Forbidden, NotFound
from dispatch.events.models import Attachment
from dispatch.events.photos import served_headers, served_type
from dispatch.inputs import DbId
from dispatch.openapi import error_responses
from dispatch.tickets import service
from dispatch.tickets.centres import in_territory, is_scoped
from dispatch.tickets.detail import detail
from dispatch.tickets.duplicates import find_candidates
from dispatch.tickets.models import TicketPage, TicketQuery
from dispatch.tickets.schemas import SimilarRead, TicketDetail

router = APIRouter(prefix="/api/tickets", tags=["tickets"])


@router.get("", response_model=TicketPage)
def list_tickets(
    viewer: CurrentUser, session: SessionDep, query: Annotated[TicketQuery, Query()]
) -> TicketPage:
    """The tickets the caller may see, filtered; and the console sequence number they are current to."""
    seq = service.last_seq(session)
    tickets = service.list_visible(session, viewer=viewer, query=query)
    return TicketPage(items=service.present(session, tickets, viewer=viewer), last_seq=seq)


@router.get("/similar", response_model=list[SimilarRead], responses=error_responses(403))
def similar(
    viewer: CurrentUser,
    session: SessionDep,
    category_code: Annotated[str, Query(pattern=r"^\d{2}(\d{3})?$")],
    lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    caller_phone: Annotated[str | None, Query(max_length=32)] = None,
    address: Annotated[str, Query(max_length=255)] = "",
) -> list[SimilarRead]:
    """Duplicate hints while a call or report is being entered: open tickets that look the same."""
    if viewer.role not in (Role.HOTLINE, Role.DISPATCHER, Role.SHIFT_LEAD, Role.GRID_OFFICER):
        raise Forbidden("当前角色无权查询相似工单")
    # Only hotline staff see phones unmasked; for anyone else "same caller" would confirm a guessed number.
    phone = caller_phone if viewer.role is Role.HOTLINE else None
    found = find_candidates(
        session, category_code=category_code, lon=lon, lat=lat, caller_phone=phone, address=address
    )
    if is_scoped(viewer):  # a street or community centre learns nothing of other areas
        found = [
            c
            for c in found
            if in_territory(
                viewer,
                street_code=c.ticket.street_code,
                community_code=c.ticket.community_code,
                centre_id=c.ticket.centre_id,
            )
        ]
    shown = service.present(session, [c.ticket for c in found], viewer=viewer)
    return [
        SimilarRead(
            id=t.id,
            number=t.number,
            state=t.state,
            category_name=t.category_name,
            address=t.address,
            grid_name=t.grid_name,
            created_at=t.created_at,
            distance_m=c.distance_m,
            same_caller=c.same_caller,
        )
        for t, c in zip(shown, found, strict=True)
    ]


@router.get("/{ticket_id}", response_model=TicketDetail)
def get_ticket(ticket_id: DbId, viewer: CurrentUser, session: SessionDep) -> TicketDetail:
    """One ticket with its full timeline and the actions the caller may take now."""
    ticket = service.get_visible(session, ticket_id=ticket_id, viewer=viewer)
    return detail(session, ticket=ticket, viewer=viewer)


@router.get("/{ticket_id}/attachments/{attachment_id}")
def get_attachment(
    ticket_id: DbId, attachment_id: DbId, viewer: CurrentUser, session: SessionDep
) -> Response:
    """A photo of a ticket the caller may see, served so a browser only ever shows it as an image."""
    service.get_visible(session, ticket_id=ticket_id, viewer=viewer)
    attachment = session.get(Attachment, attachment_id)
    if attachment is None or attachment.ticket_id != ticket_id:
        raise NotFound("附件不存在")
    return Response(
        content=attachment.data,
        media_type=served_type(attachment.content_type),
        headers=served_headers(filename=attachment.filename, content_type=attachment.content_type),
    )
