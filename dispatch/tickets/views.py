"""Reading tickets: lists for consoles and workbenches, one ticket with its timeline, its photos."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from dispatch.auth.deps import CurrentUser
from dispatch.db import SessionDep
from dispatch.errors import NotFound
from dispatch.events.models import Attachment
from dispatch.tickets import service
from dispatch.tickets.detail import detail
from dispatch.tickets.models import TicketPage, TicketQuery
from dispatch.tickets.schemas import TicketDetail

router = APIRouter(prefix="/api/tickets", tags=["tickets"])


@router.get("", response_model=TicketPage)
def list_tickets(
    viewer: CurrentUser, session: SessionDep, query: Annotated[TicketQuery, Query()]
) -> TicketPage:
    """The tickets the caller may see, filtered; and the console sequence number they are current to."""
    seq = service.last_seq(session)
    tickets = service.list_visible(session, viewer=viewer, query=query)
    return TicketPage(items=service.present(session, tickets, viewer=viewer), last_seq=seq)


@router.get("/{ticket_id}", response_model=TicketDetail)
def get_ticket(ticket_id: int, viewer: CurrentUser, session: SessionDep) -> TicketDetail:
    """One ticket with its full timeline and the actions the caller may take now."""
    ticket = service.get_visible(session, ticket_id=ticket_id, viewer=viewer)
    return detail(session, ticket=ticket, viewer=viewer)


@router.get("/{ticket_id}/attachments/{attachment_id}")
def get_attachment(ticket_id: int, attachment_id: int, viewer: CurrentUser, session: SessionDep) -> Response:
    service.get_visible(session, ticket_id=ticket_id, viewer=viewer)
    attachment = session.get(Attachment, attachment_id)
    if attachment is None or attachment.ticket_id != ticket_id:
        raise NotFound("附件不存在")
    return Response(content=attachment.data, media_type=attachment.content_type)
