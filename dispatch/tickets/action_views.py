"""The workflow actions, one endpoint each. Who may call which is decided in workflow.authorize()."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, UploadFile

from dispatch.auth.deps import CurrentUser
from dispatch.auth.models import User
from dispatch.db import SessionDep
from dispatch.events.views import read_photos
from dispatch.inputs import DbId
from dispatch.openapi import error_responses
from dispatch.tickets import centres, side_moves, workflow
from dispatch.tickets import schemas as body
from dispatch.tickets.detail import detail
from dispatch.tickets.models import Ticket
from dispatch.tickets.schemas import TicketDetail
from dispatch.tickets.service import get_visible, write_log

# 403: workflow.authorize() decides per action and role; 409: the state does not allow it (or a lost race)
router = APIRouter(prefix="/api/tickets/{ticket_id}", tags=["workflow"], responses=error_responses(403, 409))


def visible_ticket(ticket_id: DbId, viewer: CurrentUser, session: SessionDep) -> Ticket:
    return get_visible(session, ticket_id=ticket_id, viewer=viewer)


CurrentTicket = Annotated[Ticket, Depends(visible_ticket)]


def done(session: SessionDep, ticket: Ticket, by: User) -> TicketDetail:
    write_log(session)  # the answer shows the timeline with this move
    return detail(session, ticket=ticket, viewer=by)


@router.post("/dispatch", response_model=TicketDetail)
def dispatch(
    ticket: CurrentTicket, by: CurrentUser, session: SessionDep, data: body.DispatchBody
) -> TicketDetail:
    """人工派遣 from the manual queue (dispatcher, shift lead)."""
    workflow.dispatch_manual(
        session,
        ticket=ticket,
        by=by,
        department_id=data.department_id,
        grid_code=data.grid_code,
        note=data.note,
    )
    return done(session, ticket, by)


@router.get("/assignees", response_model=list[body.Assignee])
def assignees(ticket: CurrentTicket, by: CurrentUser, session: SessionDep) -> list[body.Assignee]:
    """Who the caller may make this ticket's 承办人 (empty: the caller may not assign it)."""
    return [
        body.Assignee(id=u.id or 0, username=u.username, full_name=u.full_name)
        for u in workflow.assignable(session, ticket, by)
    ]


@router.post("/assign", response_model=TicketDetail)
def assign(
    ticket: CurrentTicket, by: CurrentUser, session: SessionDep, data: body.AssignBody
) -> TicketDetail:
    """指定承办人 (the department's staff for its tickets; a centre's dispatchers for its queue)."""
    workflow.assign(session, ticket=ticket, by=by, user_id=data.user_id, note=data.note)
    return done(session, ticket, by)


@router.post("/hand-down", response_model=TicketDetail)
def hand_down(
    ticket: CurrentTicket, by: CurrentUser, session: SessionDep, data: body.HandDownBody
) -> TicketDetail:
    """下派 from this centre's queue to a street or community centre below whose area holds the ticket
    (dispatcher, shift lead); it lands in that centre's queue."""
    centres.hand_down(session, ticket=ticket, by=by, centre_id=data.centre_id, note=data.note)
    return done(session, ticket, by)


@router.post("/redispatch", response_model=TicketDetail)
def redispatch(
    ticket: CurrentTicket, by: CurrentUser, session: SessionDep, data: body.RedispatchBody
) -> TicketDetail:
    """改派 to another department (dispatcher, shift lead)."""
    workflow.redispatch(session, ticket=ticket, by=by, department_id=data.department_id, note=data.note)
    return done(session, ticket, by)


@router.post("/overrule", response_model=TicketDetail)
def overrule(
    ticket: CurrentTicket, by: CurrentUser, session: SessionDep, data: body.RequiredNoteBody
) -> TicketDetail:
    """驳回回退: the same department carries on (dispatcher, shift lead)."""
    workflow.overrule(session, ticket=ticket, by=by, note=data.note)
    return done(session, ticket, by)


@router.post("/reject", response_model=TicketDetail)
def reject(
    ticket: CurrentTicket, by: CurrentUser, session: SessionDep, data: body.ReasonBody
) -> TicketDetail:
    """不予受理 / 作废 with a reason (dispatcher, shift lead)."""
    workflow.reject(session, ticket=ticket, by=by, reason=data.reason)
    return done(session, ticket, by)


@router.post("/sign", response_model=TicketDetail)
def sign(ticket: CurrentTicket, by: CurrentUser, session: SessionDep) -> TicketDetail:
    """签收 (the ticket's department)."""
    workflow.sign(session, ticket=ticket, by=by)
    return done(session, ticket, by)


@router.post("/return", response_model=TicketDetail)
def return_ticket(
    ticket: CurrentTicket, by: CurrentUser, session: SessionDep, data: body.ReasonBody
) -> TicketDetail:
    """回退 with a reason (the ticket's department)."""
    workflow.return_ticket(session, ticket=ticket, by=by, reason=data.reason)
    return done(session, ticket, by)


@router.post("/extensions", response_model=TicketDetail)
def request_extension(
    ticket: CurrentTicket, by: CurrentUser, session: SessionDep, data: body.ExtensionBody
) -> TicketDetail:
    """延期申请 with the wanted deadline (the ticket's department)."""
    side_moves.request_extension(
        session, ticket=ticket, by=by, new_deadline_at=data.new_deadline_at, reason=data.reason
    )
    return done(session, ticket, by)


@router.post("/extensions/{request_id}/approve", response_model=TicketDetail)
def approve_extension(
    request_id: DbId, ticket: CurrentTicket, by: CurrentUser, session: SessionDep, data: body.NoteBody
) -> TicketDetail:
    """批准延期: the deadline moves (shift lead)."""
    side_moves.decide_extension(
        session, ticket=ticket, by=by, request_id=request_id, approve=True, note=data.note
    )
    return done(session, ticket, by)


@router.post("/extensions/{request_id}/refuse", response_model=TicketDetail)
def refuse_extension(
    request_id: DbId, ticket: CurrentTicket, by: CurrentUser, session: SessionDep, data: body.RequiredNoteBody
) -> TicketDetail:
    """驳回延期 with a reason (shift lead)."""
    side_moves.decide_extension(
        session, ticket=ticket, by=by, request_id=request_id, approve=False, note=data.note
    )
    return done(session, ticket, by)


@router.post("/suspend", response_model=TicketDetail)
def suspend(
    ticket: CurrentTicket, by: CurrentUser, session: SessionDep, data: body.ReasonBody
) -> TicketDetail:
    """挂账: park the case, clock stopped (shift lead)."""
    workflow.suspend(session, ticket=ticket, by=by, reason=data.reason)
    return done(session, ticket, by)


@router.post("/resume", response_model=TicketDetail)
def resume(ticket: CurrentTicket, by: CurrentUser, session: SessionDep, data: body.NoteBody) -> TicketDetail:
    """恢复办理: the deadline moves by the parked working time (shift lead)."""
    workflow.resume(session, ticket=ticket, by=by, note=data.note)
    return done(session, ticket, by)


@router.post("/feedback", response_model=TicketDetail)
def feedback(
    ticket: CurrentTicket,
    by: CurrentUser,
    session: SessionDep,
    text: Annotated[str, Form(min_length=1, max_length=2000)],
    photos: Annotated[list[UploadFile], File()] = [],  # noqa: B006 - FastAPI copies defaults
) -> TicketDetail:
    """反馈 the result with photos (the ticket's department; multipart form)."""
    checked = read_photos(photos)
    workflow.feedback(session, ticket=ticket, by=by, text=text, photos=checked)
    return done(session, ticket, by)


@router.post("/verify", response_model=TicketDetail)
def verify(
    ticket: CurrentTicket, by: CurrentUser, session: SessionDep, data: body.VerifyBody
) -> TicketDetail:
    """核查: pass → 结案, fail → 返工 (dispatcher, shift lead). 结案 with co-handling parts still open
    answers 422 (field `confirm_open_parts`, the parts in `open_parts`) unless `confirm_open_parts` is
    true and `open_parts_reason` says why; the open parts are then closed with that reason."""
    workflow.verify(
        session,
        ticket=ticket,
        by=by,
        passed=data.passed,
        note=data.note,
        confirm_open_parts=data.confirm_open_parts,
        open_parts_reason=data.open_parts_reason,
    )
    return done(session, ticket, by)


@router.post("/callback", response_model=TicketDetail)
def callback(
    ticket: CurrentTicket, by: CurrentUser, session: SessionDep, data: body.CallbackBody
) -> TicketDetail:
    """回访 a closed hotline ticket; 不满意 reopens it (hotline staff, shift lead)."""
    workflow.callback(session, ticket=ticket, by=by, satisfaction=data.satisfaction, note=data.note)
    return done(session, ticket, by)


@router.post("/urge", response_model=TicketDetail)
def urge(ticket: CurrentTicket, by: CurrentUser, session: SessionDep, data: body.UrgeBody) -> TicketDetail:
    """督办/催办 with a message the department must acknowledge (dispatcher, shift lead, leader)."""
    side_moves.urge(session, ticket=ticket, by=by, message=data.message)
    return done(session, ticket, by)


@router.post("/notices/{notice_id}/ack", response_model=TicketDetail)
def ack_notice(notice_id: DbId, ticket: CurrentTicket, by: CurrentUser, session: SessionDep) -> TicketDetail:
    """确认督办 (the ticket's department)."""
    side_moves.ack_urge(session, ticket=ticket, by=by, notice_id=notice_id)
    return done(session, ticket, by)


@router.post("/escalate", response_model=TicketDetail)
def escalate(
    ticket: CurrentTicket, by: CurrentUser, session: SessionDep, data: body.NoteBody
) -> TicketDetail:
    """上报 one level up: 网格 → 社区 → 街道 → 区."""
    side_moves.escalate(session, ticket=ticket, by=by, note=data.note)
    return done(session, ticket, by)


@router.post("/assists", response_model=TicketDetail)
def add_assist(
    ticket: CurrentTicket, by: CurrentUser, session: SessionDep, data: body.AssistBody
) -> TicketDetail:
    """协办: add a co-handling department with its part and deadline (dispatcher, shift lead)."""
    side_moves.add_assist(
        session,
        ticket=ticket,
        by=by,
        department_id=data.department_id,
        part=data.part,
        deadline_at=data.deadline_at,
    )
    return done(session, ticket, by)


@router.post("/assists/{task_id}/sign", response_model=TicketDetail)
def assist_sign(task_id: DbId, ticket: CurrentTicket, by: CurrentUser, session: SessionDep) -> TicketDetail:
    """协办签收 (the co-handling department)."""
    side_moves.assist_sign(session, ticket=ticket, by=by, task_id=task_id)
    return done(session, ticket, by)


@router.post("/assists/{task_id}/feedback", response_model=TicketDetail)
def assist_feedback(
    task_id: DbId, ticket: CurrentTicket, by: CurrentUser, session: SessionDep, data: body.TextBody
) -> TicketDetail:
    """协办反馈 (the co-handling department)."""
    side_moves.assist_feedback(session, ticket=ticket, by=by, task_id=task_id, text=data.text)
    return done(session, ticket, by)


@router.post("/merge", response_model=TicketDetail)
def merge(ticket: CurrentTicket, by: CurrentUser, session: SessionDep, data: body.MergeBody) -> TicketDetail:
    """合并重复件 into another ticket; different categories need confirm=true (dispatcher, shift lead)."""
    into = get_visible(session, ticket_id=data.into_ticket_id, viewer=by)
    side_moves.merge(session, duplicate=ticket, into=into, by=by, confirm=data.confirm)
    return done(session, into, by)
