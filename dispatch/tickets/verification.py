"""Field verification: 核实 (is the report true?) and 核查 (has it been put right?) by the grid officer
on duty for the ticket's grid, answered on the phone with photos; and 抽查, a sampled share of 自行处置
cases reviewed by the community workstation.

A 核实 task goes out from a centre's queue when a dispatcher asks; a 核查 task when a dispatcher asks
after 反馈, and by itself after 反馈 of a category marked `needs_verification`. The answer drives the
ticket: 不属实 rejects it (不予受理), 属实 leaves it in the queue for dispatch with the finding shown;
已整改 closes it (结案), 未整改 sends it back to the department (返工). Each task has a deadline
(`GRID_VERIFY_WORKING_HOURS` working hours) and supervision warns once when it passes.

Like workflow.py, each function flushes only and raises InvalidTransition (409), Forbidden (403),
NotFound (404) or InvalidInput (422) without changing anything.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, update
from sqlmodel import Session, col, select

from dispatch import clock
from dispatch.auth.models import CENTRE_ROLES, Role, User
from dispatch.catalog.models import Category, Department
from dispatch.config import get_settings
from dispatch.errors import InvalidInput, InvalidTransition, NotFound
from dispatch.events.models import Attachment
from dispatch.events.photos import Photo
from dispatch.grids.locator import current_locator
from dispatch.grids.models import Area
from dispatch.tickets.models import Action, Ticket, TicketLog, TicketState
from dispatch.tickets.schemas import VerificationCard, VerificationRead
from dispatch.tickets.service import SYSTEM_ACTOR, record
from dispatch.tickets.service import present as present_tickets
from dispatch.tickets.side_models import (
    VerificationAnswer,
    VerificationKind,
    VerificationStatus,
    VerificationTask,
)
from dispatch.tickets.workflow import (
    authorize,
    close_case,
    open_parts,
    required_text,
    rework,
    store_photos,
)
from dispatch.worktime import add_working_minutes, minutes_per_working_day

K = VerificationKind
V = VerificationAnswer

# The state a ticket waits in while a task of this kind is open; an answer is taken only then.
WAITS_IN: dict[VerificationKind, TicketState] = {
    K.INTAKE: TicketState.MANUAL,
    K.CLOSURE: TicketState.FEEDBACK,
    K.REVIEW: TicketState.CLOSED,
}
ANSWERS: dict[VerificationKind, tuple[VerificationAnswer, VerificationAnswer]] = {
    K.INTAKE: (V.CONFIRMED, V.UNFOUNDED),
    K.CLOSURE: (V.FIXED, V.NOT_FIXED),
    K.REVIEW: (V.PASSED, V.FAILED),
}
KIND_LABELS = {K.INTAKE: "核实", K.CLOSURE: "核查", K.REVIEW: "抽查"}
ANSWER_LABELS = {
    V.CONFIRMED: "属实",
    V.UNFOUNDED: "不属实",
    V.FIXED: "已整改",
    V.NOT_FIXED: "未整改",
    V.PASSED: "合格",
    V.FAILED: "不合格",
}
STATUS_LABELS = {
    VerificationStatus.PENDING: "待回复",
    VerificationStatus.DONE: "已回复",
    VerificationStatus.CANCELLED: "已取消",
}
NEGATIVE = frozenset({V.UNFOUNDED, V.NOT_FIXED, V.FAILED})  # these need a reason


def duty_officer(session: Session, ticket: Ticket) -> User | None:
    """The grid officer on duty for the ticket's grid in the current grid version (active), or None."""
    grid = ticket.duty_grid_code or ticket.grid_code
    locator = current_locator(session)
    if grid is None or locator is None:
        return None
    officer_id = session.exec(
        select(Area.duty_officer_id).where(Area.version_id == locator.version_id, Area.code == grid)
    ).first()
    officer = session.get(User, officer_id) if officer_id is not None else None
    if officer is None or not officer.active or officer.role is not Role.GRID_OFFICER:
        return None
    return officer


def waiting(session: Session, ticket_id: int, kind: VerificationKind) -> VerificationTask | None:
    return session.exec(
        select(VerificationTask).where(
            VerificationTask.ticket_id == ticket_id,
            VerificationTask.kind == kind,
            VerificationTask.status == VerificationStatus.PENDING,
        )
    ).first()


def kind_for(ticket: Ticket) -> VerificationKind | None:
    """The field check a dispatcher may ask for now: 核实 in a centre's queue, 核查 after 反馈."""
    return {TicketState.MANUAL: K.INTAKE, TicketState.FEEDBACK: K.CLOSURE}.get(ticket.state)


def can_request(session: Session, ticket: Ticket) -> bool:
    """Whether a 核实/核查 task could go out now (none waiting, and the grid has a duty officer)."""
    kind = kind_for(ticket)
    return (
        kind is not None
        and waiting(session, ticket.id or 0, kind) is None
        and duty_officer(session, ticket) is not None
    )


def request(session: Session, *, ticket: Ticket, by: User | None, note: str = "") -> VerificationTask:
    """派发核实/核查 to the grid's duty officer: by a dispatcher of the centre steering the ticket, or by
    the system after 反馈 of a category that needs it (`by` None)."""
    if by is not None:
        authorize(ticket, by, Action.VERIFY_REQUEST)
    kind = kind_for(ticket)
    if kind is None:
        raise InvalidTransition(
            "只有待人工派遣（核实）或已反馈待核查（核查）的工单可以派发现场核查", state=ticket.state.value
        )
    if (task := waiting(session, ticket.id or 0, kind)) is not None:
        raise InvalidTransition(
            f"已有待回复的{KIND_LABELS[kind]}任务", state=ticket.state.value, task_id=task.id
        )
    officer = duty_officer(session, ticket)
    if officer is None:
        raise InvalidInput("工单所在网格未指定在岗网格员，无法派发现场核查", field="grid_code")
    minutes = round(get_settings().verify_working_hours * 60)
    return _open(
        session,
        ticket=ticket,
        by=by,
        task=VerificationTask(
            ticket_id=ticket.id or 0,
            kind=kind,
            officer_id=officer.id,
            grid_code=ticket.duty_grid_code or ticket.grid_code,
            requested_by_id=by.id if by else None,
            requested_at=clock.now(),
            note=note.strip(),
            deadline_at=add_working_minutes(clock.now(), minutes),
        ),
        holder=officer.full_name,
    )


def after_feedback(session: Session, ticket: Ticket) -> VerificationTask | None:
    """反馈 of a category marked `needs_verification` sends the 核查 to the grid officer by itself (if the
    grid has one on duty; otherwise the centre checks as before)."""
    category = session.get(Category, ticket.category_code)
    if category is None or not category.needs_verification or duty_officer(session, ticket) is None:
        return None
    return request(session, ticket=ticket, by=None, note="该类别结案前须网格员现场核查")


def sample_self_resolved(
    session: Session, ticket: Ticket, *, draw: float | None = None
) -> VerificationTask | None:
    """抽查: a `GRID_SELF_RESOLVE_REVIEW_SHARE` share of 自行处置 cases goes to the community workstation
    of the ticket's community for review (none when the community has no workstation)."""
    share = get_settings().self_resolve_review_share
    if (random.random() if draw is None else draw) >= share or ticket.community_code is None:
        return None
    centre = session.exec(select(Department).where(Department.area_code == ticket.community_code)).first()
    if centre is None:
        return None
    return _open(
        session,
        ticket=ticket,
        by=None,
        task=VerificationTask(
            ticket_id=ticket.id or 0,
            kind=K.REVIEW,
            centre_id=centre.id,
            grid_code=ticket.grid_code,
            requested_at=clock.now(),
            note="自行处置随机抽查",
            deadline_at=add_working_minutes(clock.now(), minutes_per_working_day()),
        ),
        holder=centre.name,
    )


def _open(
    session: Session, *, ticket: Ticket, by: User | None, task: VerificationTask, holder: str
) -> VerificationTask:
    session.add(task)
    session.flush()
    label = KIND_LABELS[task.kind]
    record(
        session,
        ticket=ticket,
        action=Action.VERIFY_REQUEST,
        actor=by,
        note=task.note or f"派发{label}任务",
        data={
            "task_id": task.id,
            "kind": task.kind.value,
            "officer_id": task.officer_id,
            "centre_id": task.centre_id,
            "to": holder,
            "deadline_at": task.deadline_at.isoformat(),
        },
    )
    return task


def answerer_may(task: VerificationTask, user: User) -> bool:
    """The task's officer answers 核实/核查; the workstation's dispatchers and shift leads answer 抽查."""
    if task.kind is K.REVIEW:
        return (
            user.role in CENTRE_ROLES
            and user.role is not Role.LEADER
            and user.department_id == task.centre_id
        )
    return user.id == task.officer_id


def answer(
    session: Session,
    *,
    task_id: int,
    by: User,
    answer: VerificationAnswer,
    note: str = "",
    photos: Sequence[Photo] = (),
    client_ref: str | None = None,
) -> VerificationTask:
    """The officer's (or workstation's) answer, and the move it drives. A resend with the same
    `client_ref` returns the task as answered the first time."""
    task = session.get(VerificationTask, task_id)
    if task is None or not answerer_may(task, by):
        raise NotFound("核查任务不存在")
    if client_ref is not None and task.client_ref == client_ref:
        return task  # the phone resent an answer that was already taken
    if task.status is not VerificationStatus.PENDING:
        raise InvalidTransition(f"该任务{STATUS_LABELS[task.status]}", status=task.status.value)
    ticket = session.exec(select(Ticket).where(Ticket.id == task.ticket_id)).one()
    if ticket.state is not WAITS_IN[task.kind]:
        raise InvalidTransition("工单已由指挥中心处理，此任务不再需要回复", state=ticket.state.value)
    if answer not in ANSWERS[task.kind]:
        allowed = "、".join(ANSWER_LABELS[a] for a in ANSWERS[task.kind])
        raise InvalidInput(f"{KIND_LABELS[task.kind]}只能回复{allowed}", field="answer")
    note = note.strip()
    if answer in NEGATIVE:
        note = required_text(note, "note", "情况说明")
    if task.kind is not K.REVIEW and not photos:
        raise InvalidInput("现场核查须附现场照片", field="photos")
    now = clock.now()
    task.status = VerificationStatus.DONE
    task.answer = answer
    task.answer_note = note
    task.answered_by_id = by.id
    task.answered_at = now
    task.client_ref = client_ref
    task.attachment_ids = store_photos(session, ticket, photos)
    session.add(task)
    label = f"{KIND_LABELS[task.kind]}：{ANSWER_LABELS[answer]}"
    data: dict[str, Any] = {
        "task_id": task.id,
        "kind": task.kind.value,
        "answer": answer.value,
        "on_time": now <= task.deadline_at,
        "attachment_ids": task.attachment_ids,
    }
    entry = record(
        session,
        ticket=ticket,
        action=Action.VERIFY_ANSWER,
        actor=by,
        note=f"{label}。{note}" if note else label,
        data=data,
    )
    _follow(session, ticket=ticket, task=task, by=by, entry=entry)
    return task


def _follow(session: Session, *, ticket: Ticket, task: VerificationTask, by: User, entry: TicketLog) -> None:
    """The move an answer drives (none for 属实 and 抽查: the centre takes it from there)."""
    from_task = {"verification_id": task.id}
    if task.answer is V.UNFOUNDED:
        ticket.reject_reason = f"现场核实不属实：{task.answer_note}"
        ticket.closed_at = clock.now()
        record(
            session, ticket=ticket, action=Action.REJECT, actor=by, note=ticket.reject_reason, data=from_task
        )
    elif task.answer is V.NOT_FIXED:
        rework(session, ticket=ticket, by=by, note=f"网格员核查未整改：{task.answer_note}", data=from_task)
    elif task.answer is V.FIXED:
        if open_parts(session, ticket.id or 0):  # closing them needs the centre's reason
            entry.data = {**entry.data, "open_assist": True}
            return
        close_case(session, ticket=ticket, by=by, note="网格员现场核查已整改", data=from_task)


def _overdue(now: datetime) -> ColumnElement[bool]:
    return (
        (col(VerificationTask.status) == VerificationStatus.PENDING)
        & col(VerificationTask.warned).is_(False)
        & (col(VerificationTask.deadline_at) <= now)
    )


def warn_overdue(session: Session, now: datetime) -> int:
    """Supervision: one warning on the ticket for each task past its deadline without an answer; tasks
    whose ticket moved on without them (merged, say) are cancelled instead."""
    count = 0
    for task in session.exec(
        select(VerificationTask).where(_overdue(now)).order_by(col(VerificationTask.id))
    ):
        ticket = session.exec(select(Ticket).where(Ticket.id == task.ticket_id)).one()
        stale = ticket.state is not WAITS_IN[task.kind]
        values: dict[str, Any] = {"status": VerificationStatus.CANCELLED} if stale else {"warned": True}
        claimed = session.exec(
            update(VerificationTask)
            .where(col(VerificationTask.id) == task.id, _overdue(now))
            .values(**values)
        )
        if claimed.rowcount != 1 or stale:
            continue
        who = task_holder(session, task)
        record(
            session,
            ticket=ticket,
            action=Action.VERIFY_WARN,
            actor=None,
            note=f"{KIND_LABELS[task.kind]}超时：{who}未在期限内回复",
            data={"task_id": task.id, "kind": task.kind.value, "officer_id": task.officer_id},
        )
        count += 1
    return count


def task_holder(session: Session, task: VerificationTask) -> str:
    """Who must answer: the officer's name, or the workstation's."""
    if task.officer_id is not None:
        officer = session.get(User, task.officer_id)
        return officer.full_name if officer else ""
    centre = session.get(Department, task.centre_id) if task.centre_id is not None else None
    return centre.name if centre else ""


def present(session: Session, tasks: Sequence[VerificationTask]) -> list[VerificationRead]:
    """Tasks as the API shows them, with the names of who asked and who must answer."""
    user_ids = {t.officer_id for t in tasks} | {t.requested_by_id for t in tasks}
    users = dict(
        session.exec(select(User.id, User.full_name).where(col(User.id).in_(user_ids - {None}))).all()
    )
    centre_ids = {t.centre_id for t in tasks if t.centre_id is not None}
    centres = dict(
        session.exec(select(Department.id, Department.name).where(col(Department.id).in_(centre_ids))).all()
    )
    now = clock.now()
    return [
        VerificationRead(
            id=t.id or 0,
            ticket_id=t.ticket_id,
            kind=t.kind,
            kind_label=KIND_LABELS[t.kind],
            status=t.status,
            status_label=STATUS_LABELS[t.status],
            officer_id=t.officer_id,
            centre_id=t.centre_id,
            holder_name=users.get(t.officer_id or 0) or centres.get(t.centre_id or 0) or "",
            grid_code=t.grid_code,
            requested_at=t.requested_at,
            requested_by_name=users.get(t.requested_by_id or 0) or SYSTEM_ACTOR,
            note=t.note,
            deadline_at=t.deadline_at,
            overdue=t.status is VerificationStatus.PENDING and t.deadline_at < now,
            warned=t.warned,
            answer=t.answer,
            answer_label=ANSWER_LABELS[t.answer] if t.answer else None,
            answer_note=t.answer_note,
            answered_at=t.answered_at,
            on_time=None if t.answered_at is None else t.answered_at <= t.deadline_at,
            attachment_ids=list(t.attachment_ids),
        )
        for t in tasks
    ]


def cards(session: Session, tasks: Sequence[VerificationTask], *, viewer: User) -> list[VerificationCard]:
    """Tasks with what the phone shows beside them: the ticket, its report photos and the department's
    反馈 photos (those of its latest 反馈)."""
    ticket_ids = {t.ticket_id for t in tasks}
    tickets = session.exec(select(Ticket).where(col(Ticket.id).in_(ticket_ids))).all()
    shown = {t.id: t for t in present_tickets(session, tickets, viewer=viewer)}
    photos = session.exec(
        select(Attachment.id, Attachment.ticket_id, Attachment.event_id).where(
            col(Attachment.ticket_id).in_(ticket_ids)
        )
    ).all()
    feedback: dict[int, list[int]] = {}
    for entry in session.exec(
        select(TicketLog)
        .where(col(TicketLog.ticket_id).in_(ticket_ids), TicketLog.action == Action.FEEDBACK)
        .order_by(col(TicketLog.id))
    ):
        feedback[entry.ticket_id] = list(entry.data.get("attachment_ids") or [])
    return [
        VerificationCard(
            **read.model_dump(),
            ticket=shown[read.ticket_id],
            report_attachment_ids=[a for a, t, e in photos if t == read.ticket_id and e is not None],
            feedback_attachment_ids=feedback.get(read.ticket_id, []),
        )
        for read in present(session, tasks)
    ]
