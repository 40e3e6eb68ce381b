"""The side moves beside the main loop: 延期, 督办/催办, 上报, 协办 and merging 重复件.

Like workflow.py: each function flushes only and raises InvalidTransition (409), Forbidden (403) or
InvalidInput (422) without changing anything.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from dispatch import clock
from dispatch.auth.models import CENTRE_ROLES, Role, User
from dispatch.config import get_settings
from dispatch.errors import Forbidden, InvalidInput, InvalidTransition, NotFound
from dispatch.tickets import centres
from dispatch.tickets.deadlines import reset_warning
from dispatch.tickets.models import Action, EscalationLevel, Ticket, TicketLog, TicketState
from dispatch.tickets.service import record
from dispatch.tickets.side_models import (
    AssistStatus,
    AssistTask,
    ExtensionRequest,
    Notice,
    RequestStatus,
    TicketReporter,
)
from dispatch.tickets.transitions import TRANSITIONS
from dispatch.tickets.workflow import (
    authorize,
    cancel_pending_extensions,
    cancel_verifications,
    department_or_error,
    notice_addressee,
    required_text,
    with_cancelled,
)
from dispatch.worktime import (
    add_working_minutes,
    minutes_per_working_day,
    share_of_working_time,
)

ESCALATION_ORDER = list(EscalationLevel)


def request_extension(
    session: Session, *, ticket: Ticket, by: User, new_deadline_at: datetime, reason: str
) -> ExtensionRequest:
    """延期申请: a later deadline, within the configured maximum; one pending request at a time."""
    authorize(ticket, by, Action.REQUEST_EXTENSION)
    reason = required_text(reason, "reason", "延期理由")
    now = clock.now()
    if new_deadline_at.tzinfo is None:
        raise InvalidInput("新期限须带时区", field="new_deadline_at")
    if new_deadline_at <= now or (ticket.deadline_at is not None and new_deadline_at <= ticket.deadline_at):
        raise InvalidInput("新期限必须晚于当前期限和当前时间", field="new_deadline_at")
    limit = add_working_minutes(
        max(now, ticket.deadline_at or now),
        get_settings().extension_max_working_days * minutes_per_working_day(),
    )
    if new_deadline_at > limit:
        raise InvalidInput(
            f"延期不得超过 {get_settings().extension_max_working_days} 个工作日", field="new_deadline_at"
        )
    pending = session.exec(
        select(ExtensionRequest.id).where(
            ExtensionRequest.ticket_id == ticket.id, ExtensionRequest.status == RequestStatus.PENDING
        )
    ).first()
    if pending is not None:
        raise InvalidTransition("已有待审批的延期申请", state=ticket.state.value, request_id=pending)
    request = ExtensionRequest(
        ticket_id=ticket.id or 0,
        requested_by_id=by.id or 0,
        requested_at=now,
        old_deadline_at=ticket.deadline_at,
        new_deadline_at=new_deadline_at,
        reason=reason,
    )
    session.add(request)
    session.flush()
    record(
        session,
        ticket=ticket,
        action=Action.REQUEST_EXTENSION,
        actor=by,
        note=reason,
        data={"request_id": request.id, "new_deadline_at": new_deadline_at.isoformat()},
    )
    return request


def decide_extension(
    session: Session, *, ticket: Ticket, by: User, request_id: int, approve: bool, note: str = ""
) -> ExtensionRequest:
    """A shift lead approves (the deadline moves) or refuses a pending extension request."""
    authorize(ticket, by, Action.APPROVE_EXTENSION if approve else Action.REFUSE_EXTENSION)
    request = session.get(ExtensionRequest, request_id)
    if request is None or request.ticket_id != ticket.id:
        raise NotFound("延期申请不存在")
    if request.status is not RequestStatus.PENDING:
        raise InvalidTransition("该延期申请已处理", state=ticket.state.value, status=request.status.value)
    if not approve:
        required_text(note, "note", "驳回理由")
    now = clock.now()
    request.status = RequestStatus.APPROVED if approve else RequestStatus.REFUSED
    request.decided_by_id, request.decided_at, request.decision_note = by.id, now, note
    session.add(request)
    if approve and (ticket.deadline_at is None or request.new_deadline_at > ticket.deadline_at):
        ticket.deadline_at = request.new_deadline_at
        reset_warning(ticket, now=now)
    action = Action.APPROVE_EXTENSION if approve else Action.REFUSE_EXTENSION
    record(
        session,
        ticket=ticket,
        action=action,
        actor=by,
        note=note,
        data={
            "request_id": request.id,
            "deadline_at": ticket.deadline_at.isoformat() if ticket.deadline_at else None,
        },
    )
    return request


def urge(session: Session, *, ticket: Ticket, by: User | None, message: str, kind: str = "urge") -> Notice:
    """督办/催办: a message the responsible department must acknowledge."""
    if by is not None:
        authorize(ticket, by, Action.URGE)
    notice = Notice(
        ticket_id=ticket.id or 0,
        department_id=ticket.department_id,
        kind=kind,
        message=required_text(message, "message", "督办内容"),
        created_by_id=by.id if by else None,
        created_at=clock.now(),
    )
    session.add(notice)
    session.flush()
    record(
        session,
        ticket=ticket,
        action=Action.URGE,
        actor=by,
        note=notice.message,
        data={"notice_id": notice.id, "kind": kind},
    )
    return notice


def ack_urge(session: Session, *, ticket: Ticket, by: User, notice_id: int) -> Notice:
    """The department the notice is addressed to acknowledges it (a co-handling part's 催办: that part's
    department; any other: the ticket's department)."""
    notice = session.get(Notice, notice_id)
    if notice is None or notice.ticket_id != ticket.id:
        raise NotFound("督办通知不存在")
    authorize(ticket, by, Action.ACK_URGE, department_id=notice_addressee(ticket, notice))
    if notice.acknowledged_at is not None:
        raise InvalidTransition("该督办已确认", state=ticket.state.value)
    notice.acknowledged_by_id, notice.acknowledged_at = by.id, clock.now()
    session.add(notice)
    record(session, ticket=ticket, action=Action.ACK_URGE, actor=by, data={"notice_id": notice.id})
    return notice


def escalate(session: Session, *, ticket: Ticket, by: User | None, note: str = "") -> TicketLog:
    """上报 one level up the hierarchy 网格 → 社区 → 街道 → 区.

    Who may: the centre; the lead department (a co-handling department may not: its part is not the
    case); the grid officer who reported it. A street or community centre escalating a ticket from its
    queue hands it over to the centre above (centres.hand_up)."""
    if by is not None:
        authorize(ticket, by, Action.ESCALATE)
        if by.role is Role.GRID_OFFICER and ticket.reporter_id != by.id:
            raise Forbidden("只能上报本人上报的事件")
        if by.role is Role.DEPARTMENT and by.department_id != ticket.department_id:
            raise Forbidden("只有主办部门可以上报，协办部门不能上报", action=Action.ESCALATE.value)
        if ticket.state is TicketState.MANUAL and ticket.centre_id is not None and by.role in CENTRE_ROLES:
            return centres.hand_up(session, ticket=ticket, by=by, note=note)
    index = ESCALATION_ORDER.index(ticket.escalation_level)
    if index + 1 >= len(ESCALATION_ORDER):
        raise InvalidTransition("已上报至区级，无法继续上报", state=ticket.state.value)
    ticket.escalation_level = ESCALATION_ORDER[index + 1]
    return record(
        session,
        ticket=ticket,
        action=Action.ESCALATE,
        actor=by,
        note=note,
        data={"level": ticket.escalation_level.value},
    )


def add_assist(
    session: Session, *, ticket: Ticket, by: User, department_id: int, part: str, deadline_at: datetime
) -> AssistTask:
    """协办: give a co-handling department its own part and deadline; the lead still closes the case."""
    authorize(ticket, by, Action.ADD_ASSIST)
    department = department_or_error(session, department_id)
    if department.id == ticket.department_id:
        raise InvalidInput("协办部门不能是主办部门", field="department_id")
    now = clock.now()
    if deadline_at <= now:
        raise InvalidInput("协办期限必须晚于当前时间", field="deadline_at")
    settings = get_settings()
    task = AssistTask(
        ticket_id=ticket.id or 0,
        department_id=department.id or 0,
        part=required_text(part, "part", "协办内容"),
        deadline_at=deadline_at,
        created_at=now,
        # Supervised like the ticket: a sign-for limit, and the yellow warning at warn_share of its span.
        sign_deadline_at=add_working_minutes(now, settings.sign_limit_working_hours * 60),
        warn_at=share_of_working_time(now, deadline_at, settings.warn_share),
    )
    session.add(task)
    session.flush()
    record(
        session,
        ticket=ticket,
        action=Action.ADD_ASSIST,
        actor=by,
        note=task.part,
        data={"task_id": task.id, "department_id": department.id},
    )
    return task


def _assist_task(session: Session, ticket: Ticket, by: User, task_id: int) -> AssistTask:
    task = session.get(AssistTask, task_id)
    if task is None or task.ticket_id != ticket.id:
        raise NotFound("协办任务不存在")
    if by.department_id != task.department_id:
        raise Forbidden("该协办任务不属于本部门")
    return task


def assist_sign(session: Session, *, ticket: Ticket, by: User, task_id: int) -> AssistTask:
    authorize(ticket, by, Action.ASSIST_SIGN)
    task = _assist_task(session, ticket, by, task_id)
    if task.status is not AssistStatus.PENDING:
        raise InvalidTransition("协办任务已签收", state=ticket.state.value, task_status=task.status.value)
    task.status = AssistStatus.SIGNED
    session.add(task)
    record(session, ticket=ticket, action=Action.ASSIST_SIGN, actor=by, data={"task_id": task.id})
    return task


def assist_feedback(session: Session, *, ticket: Ticket, by: User, task_id: int, text: str) -> AssistTask:
    authorize(ticket, by, Action.ASSIST_FEEDBACK)
    task = _assist_task(session, ticket, by, task_id)
    if task.status is not AssistStatus.SIGNED:
        raise InvalidTransition(
            "协办任务须先签收且只能反馈一次", state=ticket.state.value, task_status=task.status.value
        )
    task.status, task.feedback_text, task.done_at = (
        AssistStatus.DONE,
        required_text(text, "text", "协办结果"),
        clock.now(),
    )
    session.add(task)
    record(
        session,
        ticket=ticket,
        action=Action.ASSIST_FEEDBACK,
        actor=by,
        note=task.feedback_text,
        data={"task_id": task.id, "on_time": task.done_at <= task.deadline_at},
    )
    return task


def merge(session: Session, *, duplicate: Ticket, into: Ticket, by: User, confirm: bool = False) -> TicketLog:
    """重复件: merge `duplicate` into `into`; its reporters move over, so every caller gets the callback."""
    authorize(duplicate, by, Action.MERGE)
    if duplicate.id == into.id:
        raise InvalidInput("不能与自身合并", field="into_ticket_id")
    if (into.state, Action.ABSORB) not in TRANSITIONS:
        raise InvalidTransition("主件当前状态不能合并", state=into.state.value)
    if duplicate.category_code != into.category_code and not confirm:
        raise InvalidInput("两张工单类别不同，确认合并请设置 confirm=true", field="confirm")
    reporters = session.exec(select(TicketReporter).where(TicketReporter.ticket_id == duplicate.id)).all()
    for reporter in reporters:
        reporter.ticket_id = into.id or 0
        session.add(reporter)
    duplicate.merged_into_id = into.id
    into.repeat_count += 1 + duplicate.repeat_count
    cancelled = cancel_pending_extensions(
        session, ticket=duplicate, by=by, reason="工单已合并，延期申请自动取消"
    )
    record(session, ticket=into, action=Action.ABSORB, actor=by, data={"duplicate_id": duplicate.id})
    data = with_cancelled({"into_id": into.id}, cancelled)
    if checks := cancel_verifications(session, duplicate):
        data["cancelled_verification_ids"] = checks
    return record(session, ticket=duplicate, action=Action.MERGE, actor=by, data=data)
