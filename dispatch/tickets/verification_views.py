"""Field verification endpoints: a dispatcher sends a 核实/核查 to the grid officer; the officer (or the
community workstation, for 抽查) lists the tasks and answers them with photos."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Query, UploadFile
from sqlmodel import col, select

from dispatch.auth.deps import CurrentUser
from dispatch.auth.models import CENTRE_ROLES, Role
from dispatch.db import SessionDep
from dispatch.errors import NotFound
from dispatch.events.schemas import ClientRef
from dispatch.events.views import read_photos
from dispatch.inputs import DbId
from dispatch.openapi import error_responses
from dispatch.tickets import verification
from dispatch.tickets.action_views import CurrentTicket, done
from dispatch.tickets.models import Ticket
from dispatch.tickets.schemas import TicketDetail, VerificationCard, VerificationRequestBody
from dispatch.tickets.service import visibility, write_log
from dispatch.tickets.side_models import (
    VerificationAnswer,
    VerificationKind,
    VerificationStatus,
    VerificationTask,
)

router = APIRouter(tags=["verification"], responses=error_responses(403, 409))


@router.post("/api/tickets/{ticket_id}/verification", response_model=TicketDetail)
def request_verification(
    ticket: CurrentTicket, by: CurrentUser, session: SessionDep, data: VerificationRequestBody
) -> TicketDetail:
    """派发现场核查 to the duty officer of the ticket's grid (dispatcher, shift lead of the centre steering
    it): 核实 while it waits in a centre's queue, 核查 after the department's 反馈. 422 (field
    `grid_code`) when the grid has no officer on duty."""
    verification.request(session, ticket=ticket, by=by, note=data.note)
    return done(session, ticket, by)


@router.get("/api/verifications", response_model=list[VerificationCard])
def list_verifications(
    viewer: CurrentUser,
    session: SessionDep,
    status: Annotated[Literal["pending", "done", "all"], Query()] = "pending",
    kind: Annotated[VerificationKind | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[VerificationCard]:
    """Field checks: a grid officer's own (their phone's task list), a centre's 抽查 and the checks on
    the tickets it sees; department and hotline staff the checks on tickets they see. Pending ones
    soonest deadline first, the rest newest first."""
    statement = select(VerificationTask).join(Ticket, col(Ticket.id) == col(VerificationTask.ticket_id))
    if viewer.role is Role.GRID_OFFICER:
        statement = statement.where(VerificationTask.officer_id == viewer.id)
    elif viewer.role in CENTRE_ROLES and viewer.area_code is not None:
        statement = statement.where(
            visibility(viewer) | (col(VerificationTask.centre_id) == viewer.department_id)
        )
    else:
        statement = statement.where(visibility(viewer))
    if status != "all":
        statement = statement.where(VerificationTask.status == VerificationStatus(status))
    if kind is not None:
        statement = statement.where(VerificationTask.kind == kind)
    order = col(VerificationTask.deadline_at) if status == "pending" else col(VerificationTask.id).desc()
    tasks = session.exec(statement.order_by(order).limit(limit)).all()
    return verification.cards(session, tasks, viewer=viewer)


@router.get("/api/verifications/{task_id}", response_model=VerificationCard, responses=error_responses(404))
def get_verification(task_id: DbId, viewer: CurrentUser, session: SessionDep) -> VerificationCard:
    """One task (its officer, or the workstation for 抽查)."""
    task = session.get(VerificationTask, task_id)
    if task is None or not verification.answerer_may(task, viewer):
        raise NotFound("核查任务不存在")
    return verification.cards(session, [task], viewer=viewer)[0]


@router.post(
    "/api/verifications/{task_id}/answer",
    response_model=VerificationCard,
    responses=error_responses(404, 422),
)
def answer_verification(
    task_id: DbId,
    by: CurrentUser,
    session: SessionDep,
    answer: Annotated[VerificationAnswer, Form()],
    note: Annotated[str, Form(max_length=2000)] = "",
    client_ref: Annotated[ClientRef | None, Form()] = None,
    photos: Annotated[list[UploadFile], File()] = [],  # noqa: B006 - FastAPI copies defaults
) -> VerificationCard:
    """Answer a task (multipart form): 核实 属实 `confirmed` / 不属实 `unfounded` (rejects the ticket),
    核查 已整改 `fixed` (closes it) / 未整改 `not_fixed` (返工), 抽查 合格 `passed` / 不合格 `failed`.
    Field answers need at least one photo, negative ones a `note`. Resending with the same `client_ref`
    returns the first answer."""
    checked = read_photos(photos)
    task = verification.answer(
        session, task_id=task_id, by=by, answer=answer, note=note, photos=checked, client_ref=client_ref
    )
    write_log(session)  # the request commits when it returns; the answer shows the moves it drove
    return verification.cards(session, [task], viewer=by)[0]
