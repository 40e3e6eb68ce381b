"""A ticket's full picture for its detail page: timeline, reporters, extensions, co-handling, notices."""

from __future__ import annotations

from typing import TypeVar

from sqlmodel import Session, col, select

from dispatch.auth.models import Role, User
from dispatch.catalog.models import Department
from dispatch.events.models import Attachment
from dispatch.tickets import verification
from dispatch.tickets.models import Ticket, TicketLog, TicketLogRead
from dispatch.tickets.schemas import (
    AssistRead,
    DuplicateRead,
    ExtensionRead,
    NoticeRead,
    ReporterRead,
    TicketDetail,
)
from dispatch.tickets.service import mask_phone, present, visibility
from dispatch.tickets.side_models import (
    OPEN_ASSIST_STATUSES,
    AssistTask,
    DuplicateSuggestion,
    ExtensionRequest,
    Notice,
    TicketReporter,
    VerificationTask,
)
from dispatch.tickets.workflow import available_actions, notice_addressee

T = TypeVar("T", AssistTask, DuplicateSuggestion, ExtensionRequest, Notice, TicketReporter, VerificationTask)


def _rows(session: Session, model: type[T], ticket_id: int) -> list[T]:
    return list(session.exec(select(model).where(model.ticket_id == ticket_id).order_by(col(model.id))))


def timeline(session: Session, ticket_id: int) -> list[TicketLogRead]:
    """Every log row of the ticket, oldest first."""
    entries = session.exec(
        select(TicketLog).where(TicketLog.ticket_id == ticket_id).order_by(col(TicketLog.id))
    )
    return [
        TicketLogRead(
            seq=e.id or 0,
            at=e.at,
            actor=e.actor_name,
            action=e.action,
            from_state=e.from_state,
            to_state=e.to_state,
            note=e.note,
            to_centre=e.data.get("centre_name"),
        )
        for e in entries
    ]


def detail(session: Session, *, ticket: Ticket, viewer: User) -> TicketDetail:
    """The detail view of a ticket the viewer may see (phones masked unless hotline staff)."""
    ticket_id = ticket.id or 0
    show_phone = viewer.role is Role.HOTLINE
    assists = _rows(session, AssistTask, ticket_id)
    names = dict(session.exec(select(Department.id, Department.name)).all())
    suggestions = _rows(session, DuplicateSuggestion, ticket_id)
    reporters = _rows(session, TicketReporter, ticket_id)
    user_ids = {r.user_id for r in reporters if r.user_id is not None}
    users = dict(session.exec(select(User.id, User.full_name).where(col(User.id).in_(user_ids))).all())
    ids = [s.candidate_id for s in suggestions]
    visible = session.exec(select(Ticket).where(col(Ticket.id).in_(ids), visibility(viewer))).all()
    candidates = {t.id: t for t in present(session, visible, viewer=viewer)}  # only tickets they may see
    return TicketDetail(
        **present(session, [ticket], viewer=viewer)[0].model_dump(),
        log=timeline(session, ticket_id),
        attachment_ids=[
            i for i in session.exec(select(Attachment.id).where(Attachment.ticket_id == ticket_id)) if i
        ],
        allowed_actions=available_actions(session, ticket, viewer),
        reporters=[
            ReporterRead(
                name=r.caller_name or (users.get(r.user_id or 0) or ""),
                caller_name=r.caller_name,
                user_id=r.user_id,
                reported_at=r.reported_at,
                caller_phone=r.caller_phone if show_phone else mask_phone(r.caller_phone),
            )
            for r in reporters
        ],
        extensions=[
            ExtensionRead.model_validate(e, from_attributes=True)
            for e in _rows(session, ExtensionRequest, ticket_id)
        ],
        assists=[
            AssistRead.model_validate(a, from_attributes=True).model_copy(
                update={"department_name": names.get(a.department_id, "")}
            )
            for a in assists
        ],
        open_assist_ids=[a.id for a in assists if a.id and a.status in OPEN_ASSIST_STATUSES],
        notices=[
            NoticeRead.model_validate(n, from_attributes=True).model_copy(
                update={"department_id": notice_addressee(ticket, n)}
            )
            for n in _rows(session, Notice, ticket_id)
        ],
        verifications=verification.present(session, _rows(session, VerificationTask, ticket_id)),
        duplicates=[
            DuplicateRead(
                candidate=candidates[s.candidate_id], distance_m=s.distance_m, same_caller=s.same_caller
            )
            for s in suggestions
            if s.candidate_id in candidates
        ],
    )
