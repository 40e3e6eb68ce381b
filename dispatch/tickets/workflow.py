"""The human moves of the main loop (派遣 → 签收 → 反馈 → 核查 → 回访, with 回退, 挂账, 自行处置): check the
role and the department, change the fields, record. The side moves are in side_moves.py.

Each function flushes only (the request commits), raises InvalidTransition (409) when the state does
not allow the move, Forbidden (403) for the wrong role or department, InvalidInput (422) for bad content.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, col, select

from dispatch import clock
from dispatch.auth.models import Role, User
from dispatch.catalog.models import Department
from dispatch.errors import Forbidden, InvalidInput, InvalidTransition
from dispatch.events.models import Attachment
from dispatch.events.photos import Photo, attachment_row
from dispatch.grids.locator import current_locator
from dispatch.tickets import centres
from dispatch.tickets.deadlines import extend_by_pause, start_clock
from dispatch.tickets.models import Action, EscalationLevel, Satisfaction, Ticket, TicketLog, TicketState
from dispatch.tickets.service import record
from dispatch.tickets.side_models import (
    OPEN_ASSIST_STATUSES,
    AssistStatus,
    AssistTask,
    ExtensionRequest,
    Notice,
    RequestStatus,
    VerificationKind,
    VerificationStatus,
    VerificationTask,
)
from dispatch.tickets.transitions import ACTION_ROLES, OWN_DEPARTMENT_ACTIONS, TRANSITIONS, allowed_actions


def authorize(ticket: Ticket, by: User, action: Action, *, department_id: int | None = None) -> None:
    """Raise unless `by` may take `action` on this ticket now (role, own department, state).

    `department_id` names the department an own-department action belongs to when it is not the
    ticket's (a 催办 addressed to a co-handling department).
    """
    roles = ACTION_ROLES[action]
    if roles is None or by.role not in roles:
        raise Forbidden("当前角色无权执行此操作", action=action.value, role=by.role.value)
    centres.check_steers(ticket, by, action)
    owner = ticket.department_id if department_id is None else department_id
    if action in OWN_DEPARTMENT_ACTIONS and by.department_id != owner:
        raise Forbidden("该工单不属于本部门", action=action.value)
    if (ticket.state, action) not in TRANSITIONS:
        raise InvalidTransition(
            "工单当前状态不允许此操作",
            state=ticket.state.value,
            action=action.value,
            allowed_actions=[a.value for a in allowed_actions(ticket.state, by.role)],
        )


def department_or_error(session: Session, department_id: int) -> Department:
    department = session.get(Department, department_id)
    if department is None:
        raise InvalidInput(f"部门不存在：{department_id}", field="department_id")
    return department


def required_text(text: str, field: str, what: str) -> str:
    text = text.strip()
    if not text:
        raise InvalidInput(f"{what}不能为空", field=field)
    return text


def cancel_pending_extensions(session: Session, *, ticket: Ticket, by: User | None, reason: str) -> list[int]:
    """Cancel the ticket's pending extension requests (the move that made them moot logs their ids).

    A request belongs to the handling it was made in: once the ticket is returned, redispatched,
    restarted, reopened, merged or closed, nobody may approve it any more.
    """
    requests = session.exec(
        select(ExtensionRequest).where(
            ExtensionRequest.ticket_id == ticket.id, ExtensionRequest.status == RequestStatus.PENDING
        )
    ).all()
    now = clock.now()
    for request in requests:
        request.status = RequestStatus.CANCELLED
        request.decided_by_id = by.id if by else None
        request.decided_at, request.decision_note = now, reason
        session.add(request)
    return [r.id or 0 for r in requests]


def with_cancelled(data: dict[str, Any], cancelled: list[int]) -> dict[str, Any]:
    return {**data, "cancelled_extension_ids": cancelled} if cancelled else data


def open_parts(session: Session, ticket_id: int) -> list[AssistTask]:
    """The ticket's co-handling parts not yet fed back (待签收 or 办理中), oldest first."""
    return list(
        session.exec(
            select(AssistTask)
            .where(AssistTask.ticket_id == ticket_id, col(AssistTask.status).in_(OPEN_ASSIST_STATUSES))
            .order_by(col(AssistTask.id))
        )
    )


def _refuse_open_parts(session: Session, parts: list[AssistTask]) -> InvalidInput:
    names = dict(
        session.exec(
            select(Department.id, Department.name).where(
                col(Department.id).in_({p.department_id for p in parts})
            )
        ).all()
    )
    listed = "；".join(f"{names.get(p.department_id, p.department_id)}：{p.part}" for p in parts)
    return InvalidInput(
        f"尚有 {len(parts)} 项协办未完成（{listed}），确认结案须填写关闭理由",
        field="confirm_open_parts",
        open_parts=[
            {
                "id": p.id,
                "department_id": p.department_id,
                "department_name": names.get(p.department_id, ""),
                "part": p.part,
                "status": p.status.value,
                "deadline_at": p.deadline_at.isoformat(),
            }
            for p in parts
        ],
    )


def _close_parts(session: Session, *, ticket: Ticket, by: User, parts: list[AssistTask], reason: str) -> None:
    now = clock.now()
    for part in parts:
        part.status, part.close_reason, part.done_at = AssistStatus.CLOSED, reason, now
        session.add(part)
        record(
            session,
            ticket=ticket,
            action=Action.ASSIST_CLOSE,
            actor=by,
            note=reason,
            data={"task_id": part.id, "department_id": part.department_id},
        )


def dispatch_manual(
    session: Session,
    *,
    ticket: Ticket,
    by: User,
    department_id: int,
    grid_code: str | None = None,
    note: str = "",
) -> TicketLog:
    """A dispatcher places a ticket from the manual queue: picks the department (and grid)."""
    authorize(ticket, by, Action.DISPATCH)
    department = department_or_error(session, department_id)
    if grid_code is not None:
        locator = current_locator(session)
        centres.place_in_grid(ticket, locator.place(grid_code) if locator else None, locator)
        ticket.grid_code = ticket.duty_grid_code = grid_code
    ticket.department_id = department.id
    ticket.manual_reason = None
    ticket.assignee_id = None  # the department names its own 承办人
    start_clock(session, ticket, clock.now())
    data: dict[str, Any] = {"department_id": department.id, "grid_code": ticket.grid_code}
    if cancelled := cancel_verifications(session, ticket):
        data["cancelled_verification_ids"] = cancelled
    return record(session, ticket=ticket, action=Action.DISPATCH, actor=by, note=note, data=data)


def redispatch(
    session: Session, *, ticket: Ticket, by: User, department_id: int, note: str = ""
) -> TicketLog:
    """改派: send a dispatched or returned ticket to another department with a fresh limit."""
    authorize(ticket, by, Action.REDISPATCH)
    department = department_or_error(session, department_id)
    previous = ticket.department_id
    cancelled = cancel_pending_extensions(
        session, ticket=ticket, by=by, reason="工单已改派，延期申请自动取消"
    )
    ticket.department_id = department.id
    ticket.assignee_id = None
    start_clock(session, ticket, clock.now())
    return record(
        session,
        ticket=ticket,
        action=Action.REDISPATCH,
        actor=by,
        note=note,
        data=with_cancelled({"from_department_id": previous, "department_id": department.id}, cancelled),
    )


def overrule(session: Session, *, ticket: Ticket, by: User, note: str) -> TicketLog:
    """驳回回退: the return was not justified; the same department carries on (its limit restarts)."""
    authorize(ticket, by, Action.OVERRULE)
    note = required_text(note, "note", "驳回理由")
    cancelled = cancel_pending_extensions(
        session, ticket=ticket, by=by, reason="驳回回退，重新办理，延期申请自动取消"
    )
    start_clock(session, ticket, clock.now())
    return record(
        session,
        ticket=ticket,
        action=Action.OVERRULE,
        actor=by,
        note=note,
        data=with_cancelled({}, cancelled),
    )


def reject(session: Session, *, ticket: Ticket, by: User, reason: str) -> TicketLog:
    """不予受理 / 作废 with a reason."""
    authorize(ticket, by, Action.REJECT)
    ticket.reject_reason = required_text(reason, "reason", "不予受理理由")
    ticket.closed_at = clock.now()
    cancelled = cancel_verifications(session, ticket)
    data = {"cancelled_verification_ids": cancelled} if cancelled else {}
    return record(
        session, ticket=ticket, action=Action.REJECT, actor=by, note=ticket.reject_reason, data=data
    )


def sign(session: Session, *, ticket: Ticket, by: User) -> TicketLog:
    """签收 by the department's staff; whoever signs an unassigned ticket becomes its 承办人."""
    authorize(ticket, by, Action.SIGN)
    now = clock.now()
    ticket.signed_at = now
    if ticket.assignee_id is None:
        ticket.assignee_id = by.id
    on_time = ticket.sign_deadline_at is None or now <= ticket.sign_deadline_at
    return record(session, ticket=ticket, action=Action.SIGN, actor=by, data={"on_time": on_time})


def return_ticket(session: Session, *, ticket: Ticket, by: User, reason: str) -> TicketLog:
    """回退: the department says the ticket is not theirs; the centre decides next."""
    authorize(ticket, by, Action.RETURN)
    reason = required_text(reason, "reason", "回退理由")
    ticket.return_count += 1
    ticket.assignee_id = None  # back with the centre
    cancelled = cancel_pending_extensions(
        session, ticket=ticket, by=by, reason="工单已回退，延期申请自动取消"
    )
    return record(
        session,
        ticket=ticket,
        action=Action.RETURN,
        actor=by,
        note=reason,
        data=with_cancelled({"department_id": ticket.department_id}, cancelled),
    )


def suspend(session: Session, *, ticket: Ticket, by: User, reason: str) -> TicketLog:
    """挂账: park long-term work; its clock stops until resumed."""
    authorize(ticket, by, Action.SUSPEND)
    reason = required_text(reason, "reason", "挂账理由")
    ticket.suspended_at = clock.now()
    return record(session, ticket=ticket, action=Action.SUSPEND, actor=by, note=reason)


def resume(session: Session, *, ticket: Ticket, by: User, note: str = "") -> TicketLog:
    """Resume parked work; the deadline moves by the working time it was parked."""
    authorize(ticket, by, Action.RESUME)
    now = clock.now()
    if ticket.suspended_at is not None:
        extend_by_pause(ticket, paused_from=ticket.suspended_at, now=now)
    ticket.suspended_at = None
    return record(
        session,
        ticket=ticket,
        action=Action.RESUME,
        actor=by,
        note=note,
        data={"deadline_at": ticket.deadline_at.isoformat() if ticket.deadline_at else None},
    )


def store_photos(session: Session, ticket: Ticket, photos: Sequence[Photo]) -> list[int]:
    now = clock.now()
    rows = [attachment_row(p, ticket_id=ticket.id or 0, event_id=None, at=now) for p in photos]
    session.add_all(rows)
    session.flush()
    return [r.id or 0 for r in rows]


def feedback(
    session: Session, *, ticket: Ticket, by: User, text: str, photos: Sequence[Photo] = ()
) -> TicketLog:
    """反馈: the department reports the result (text, photos) for the centre to check."""
    authorize(ticket, by, Action.FEEDBACK)
    ticket.feedback_text = required_text(text, "text", "处置结果")
    attachment_ids = store_photos(session, ticket, photos)
    on_time = ticket.deadline_at is None or clock.now() <= ticket.deadline_at
    data: dict[str, Any] = {"attachment_ids": attachment_ids, "on_time": on_time}
    if parts := open_parts(session, ticket.id or 0):  # allowed; the centre decides at 核查
        data["open_assist_ids"] = [p.id for p in parts]
    entry = record(
        session, ticket=ticket, action=Action.FEEDBACK, actor=by, note=ticket.feedback_text, data=data
    )
    from dispatch.tickets.verification import after_feedback  # it builds on this module

    after_feedback(session, ticket)
    return entry


def verify(
    session: Session,
    *,
    ticket: Ticket,
    by: User,
    passed: bool,
    note: str = "",
    confirm_open_parts: bool = False,
    open_parts_reason: str = "",
) -> TicketLog:
    """核查 by the centre: pass closes the case (结案); fail sends it back to the department (返工). A
    field check still waiting for the grid officer's answer is cancelled: the centre decided first.

    Closing with co-handling parts still open is refused (422 naming them, field confirm_open_parts)
    unless confirmed with a reason: then each open part is closed with that reason, and logged.
    """
    authorize(ticket, by, Action.VERIFY_PASS if passed else Action.VERIFY_FAIL)
    if not passed:
        note = required_text(note, "note", "返工原因")
    data: dict[str, Any] = {}
    if passed and (parts := open_parts(session, ticket.id or 0)):
        if not confirm_open_parts:
            raise _refuse_open_parts(session, parts)
        reason = required_text(open_parts_reason, "open_parts_reason", "关闭未完成协办的理由")
        _close_parts(session, ticket=ticket, by=by, parts=parts, reason=reason)
        data["closed_assist_ids"] = [p.id for p in parts]
    if cancelled := cancel_verifications(session, ticket):
        data["cancelled_verification_ids"] = cancelled
    return (close_case if passed else rework)(session, ticket=ticket, by=by, note=note, data=data)


def rework(session: Session, *, ticket: Ticket, by: User, note: str, data: dict[str, Any]) -> TicketLog:
    """返工 after a failed 核查 (by the centre, or by the grid officer's 未整改): back to the department."""
    ticket.rework_count += 1
    return record(session, ticket=ticket, action=Action.VERIFY_FAIL, actor=by, note=note, data=data)


def close_case(session: Session, *, ticket: Ticket, by: User, note: str, data: dict[str, Any]) -> TicketLog:
    """结案 after a passed 核查 (by the centre, or by the grid officer's 已整改), open parts settled."""
    cancelled = cancel_pending_extensions(
        session, ticket=ticket, by=by, reason="工单已结案，延期申请自动取消"
    )
    now = clock.now()
    ticket.closed_at = now
    data = {**data, "on_time": ticket.deadline_at is None or now <= ticket.deadline_at}
    return record(
        session,
        ticket=ticket,
        action=Action.VERIFY_PASS,
        actor=by,
        note=note,
        data=with_cancelled(data, cancelled),
    )


def cancel_verifications(session: Session, ticket: Ticket) -> list[int]:
    """Cancel the field checks (核实/核查) still waiting on this ticket; their ids (for the log row)."""
    waiting = list(
        session.exec(
            select(VerificationTask).where(
                VerificationTask.ticket_id == ticket.id,
                VerificationTask.status == VerificationStatus.PENDING,
                col(VerificationTask.kind) != VerificationKind.REVIEW,
            )
        )
    )
    for task in waiting:
        task.status = VerificationStatus.CANCELLED
        session.add(task)
    return [t.id or 0 for t in waiting]


def callback(
    session: Session, *, ticket: Ticket, by: User, satisfaction: Satisfaction, note: str = ""
) -> TicketLog:
    """回访 of a closed hotline ticket; 不满意 reopens it (重办) for the same department."""
    authorize(ticket, by, Action.CALLBACK)
    if ticket.source.value != "hotline":
        raise InvalidInput("只有12345热线工单需要回访", field="ticket_id")
    ticket.satisfaction = satisfaction
    entry = record(
        session,
        ticket=ticket,
        action=Action.CALLBACK,
        actor=by,
        note=note,
        data={"satisfaction": satisfaction.value},
    )
    if satisfaction is Satisfaction.UNSATISFIED:
        cancelled = cancel_pending_extensions(
            session, ticket=ticket, by=by, reason="回访不满意重办，延期申请自动取消"
        )
        ticket.closed_at = None
        start_clock(session, ticket, clock.now())
        return record(
            session,
            ticket=ticket,
            action=Action.REOPEN,
            actor=by,
            note="回访不满意，重办",
            data=with_cancelled({}, cancelled),
        )
    return entry


def self_resolve(session: Session, *, ticket: Ticket, by: User, text: str) -> TicketLog:
    """自行处置: a grid officer fixed a small issue on the spot; the case is closed with their photo."""
    authorize(ticket, by, Action.SELF_RESOLVE)
    if ticket.reporter_id != by.id:
        raise Forbidden("只能自行处置本人上报的事件")
    has_photo = session.exec(select(Attachment.id).where(Attachment.ticket_id == ticket.id)).first()
    if has_photo is None:
        raise InvalidInput("自行处置须附处置照片", field="photos")
    locator = current_locator(session)
    if locator is not None and ticket.lon is not None and ticket.lat is not None:
        places = locator.locate(ticket.lon, ticket.lat)
        if places:  # its street and community too: the workstation that may review it (抽查)
            centres.place_in_grid(ticket, places[0], locator)
    now = clock.now()
    ticket.feedback_text = required_text(text, "description", "处置情况")
    ticket.closed_at = ticket.dispatched_at = ticket.signed_at = now
    entry = record(session, ticket=ticket, action=Action.SELF_RESOLVE, actor=by, note=ticket.feedback_text)
    from dispatch.tickets.verification import sample_self_resolved  # it builds on this module

    sample_self_resolved(session, ticket)
    return entry


ASSIST_NOTICE = "assist"  # Notice.kind of the automatic 催办 of an overdue co-handling part


def open_notices(session: Session, ticket_id: int) -> list[Notice]:
    return list(
        session.exec(
            select(Notice).where(Notice.ticket_id == ticket_id, col(Notice.acknowledged_at).is_(None))
        )
    )


def notice_addressee(ticket: Ticket, notice: Notice) -> int | None:
    """The department that must acknowledge a notice: a co-handling part's 催办 goes to that part's
    department; every other notice to the department responsible for the ticket now."""
    return notice.department_id if notice.kind == ASSIST_NOTICE else ticket.department_id


def assignable(session: Session, ticket: Ticket, by: User) -> list[User]:
    """The people `by` may make the ticket's 承办人: in a ticket's working states its department's staff
    (for that department's staff); in a centre's queue that centre's dispatchers and shift leads (for
    them). Empty when `by` may not assign it."""
    if by.role is Role.DEPARTMENT and ticket.state is not TicketState.MANUAL:
        if ticket.department_id is None or by.department_id != ticket.department_id:
            return []
        unit = (col(User.department_id) == ticket.department_id, col(User.role) == Role.DEPARTMENT)
    elif by.role in (Role.DISPATCHER, Role.SHIFT_LEAD) and ticket.state is TicketState.MANUAL:
        if (by.department_id if centres.is_scoped(by) else None) != ticket.centre_id:
            return []
        holder = (
            col(User.department_id).is_(None)
            if ticket.centre_id is None
            else col(User.department_id) == ticket.centre_id
        )
        unit = (holder, col(User.role).in_((Role.DISPATCHER, Role.SHIFT_LEAD)))
    else:
        return []
    return list(session.exec(select(User).where(*unit, col(User.active)).order_by(col(User.username))))


def assign(session: Session, *, ticket: Ticket, by: User, user_id: int, note: str = "") -> TicketLog:
    """指定承办人: the unit holding the ticket names the person responsible (one of its own)."""
    authorize(ticket, by, Action.ASSIGN)
    people = {u.id: u for u in assignable(session, ticket, by)}
    if not people:
        raise Forbidden("只有工单所在单位可以指定承办人", action=Action.ASSIGN.value)
    person = people.get(user_id)
    if person is None:
        raise InvalidInput(f"承办人须是本单位在岗人员：{user_id}", field="user_id")
    previous = ticket.assignee_id
    ticket.assignee_id = person.id
    return record(
        session,
        ticket=ticket,
        action=Action.ASSIGN,
        actor=by,
        note=note.strip() or f"承办人：{person.full_name}",
        data={"assignee_id": person.id, "assignee_name": person.full_name, "from_assignee_id": previous},
    )


def available_actions(session: Session, ticket: Ticket, viewer: User) -> list[Action]:
    """What `viewer` can do on this ticket now: the table's actions for the role, narrowed by the
    department, pending extension requests, open notices, co-handling parts and the ticket's source."""
    from dispatch.tickets import verification  # it builds on this module

    pending = session.exec(
        select(ExtensionRequest.id).where(
            ExtensionRequest.ticket_id == ticket.id, ExtensionRequest.status == RequestStatus.PENDING
        )
    ).first()
    has_notice = any(
        notice_addressee(ticket, n) == viewer.department_id for n in open_notices(session, ticket.id or 0)
    )
    my_tasks = {
        t.status
        for t in session.exec(
            select(AssistTask).where(
                AssistTask.ticket_id == ticket.id, AssistTask.department_id == viewer.department_id
            )
        )
    }
    checks: dict[Action, bool] = {
        Action.APPROVE_EXTENSION: pending is not None,
        Action.REFUSE_EXTENSION: pending is not None,
        Action.REQUEST_EXTENSION: pending is None,
        Action.ACK_URGE: has_notice,
        Action.ASSIST_SIGN: AssistStatus.PENDING in my_tasks,
        Action.ASSIST_FEEDBACK: AssistStatus.SIGNED in my_tasks,
        Action.CALLBACK: ticket.source.value == "hotline",
        Action.REOPEN: False,  # 重办 follows a 不满意 callback
        Action.SELF_RESOLVE: False,  # chosen at intake
        Action.HAND_DOWN: centres.can_hand_down(session, ticket),
        Action.VERIFY_REQUEST: verification.can_request(session, ticket),
        Action.VERIFY_ANSWER: False,  # answered on the task (the officer's phone, the workstation's list)
        Action.ASSIGN: bool(assignable(session, ticket, viewer)),
        Action.ESCALATE: ticket.escalation_level is not EscalationLevel.DISTRICT
        and (viewer.role is not Role.GRID_OFFICER or ticket.reporter_id == viewer.id)
        and (viewer.role is not Role.DEPARTMENT or viewer.department_id == ticket.department_id),
    }
    steers = not centres.is_scoped(viewer) or ticket.centre_id == viewer.department_id
    return [
        action
        for action in allowed_actions(ticket.state, viewer.role)
        if checks.get(action, True)
        and steers
        and (
            action not in OWN_DEPARTMENT_ACTIONS
            or action is Action.ACK_URGE  # checked above against each notice's addressee
            or viewer.department_id == ticket.department_id
        )
    ]
