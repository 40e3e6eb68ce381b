"""Reading tickets: lists for consoles and workbenches, one ticket with its timeline, its photos."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlmodel import col, select

from dispatch.auth.deps import CurrentUser
from dispatch.db import SessionDep
from dispatch.errors import NotFound
from dispatch.events.models import Attachment
from dispatch.tickets import service
from dispatch.tickets.models import TicketDetail, TicketLog, TicketLogRead, TicketPage, TicketState

router = APIRouter(prefix="/api/tickets", tags=["tickets"])


@router.get("", response_model=TicketPage)
def list_tickets(
    viewer: CurrentUser,
    session: SessionDep,
    state: TicketState | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> TicketPage:
    """The newest tickets the caller may see, and the console sequence number they are current to."""
    seq = service.last_seq(session)
    tickets = service.list_visible(session, viewer=viewer, state=state, limit=limit)
    return TicketPage(items=service.present(session, tickets, viewer=viewer), last_seq=seq)


@router.get("/{ticket_id}", response_model=TicketDetail)
def get_ticket(ticket_id: int, viewer: CurrentUser, session: SessionDep) -> TicketDetail:
    ticket = service.get_visible(session, ticket_id=ticket_id, viewer=viewer)
    logs = session.exec(
        select(TicketLog).where(TicketLog.ticket_id == ticket_id).order_by(col(TicketLog.id))
    ).all()
    attachment_ids = session.exec(select(Attachment.id).where(Attachment.ticket_id == ticket_id)).all()
    read = service.present(session, [ticket], viewer=viewer)[0]
    return TicketDetail(
        **read.model_dump(),
        log=[
            TicketLogRead(
                seq=entry.id or 0,
                at=entry.at,
                actor=entry.actor_name,
                action=entry.action,
                from_state=entry.from_state,
                to_state=entry.to_state,
                note=entry.note,
            )
            for entry in logs
        ],
        attachment_ids=[i for i in attachment_ids if i is not None],
    )


@router.get("/{ticket_id}/attachments/{attachment_id}")
def get_attachment(ticket_id: int, attachment_id: int, viewer: CurrentUser, session: SessionDep) -> Response:
    service.get_visible(session, ticket_id=ticket_id, viewer=viewer)
    attachment = session.get(Attachment, attachment_id)
    if attachment is None or attachment.ticket_id != ticket_id:
        raise NotFound("附件不存在")
    return Response(content=attachment.data, media_type=attachment.content_type)
