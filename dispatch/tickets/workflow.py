"""Every human move of the closed loop: check the role and the department, change the fields, record.

Each function flushes only (the request commits), raises InvalidTransition (409) when the state does
not allow the move, Forbidden (403) for the wrong role or department, InvalidInput (422) for bad content.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from dispatch import clock
from dispatch.auth.models import Role, User
from dispatch.catalog.models import Department
from dispatch.config import get_settings
from dispatch.errors import Forbidden, InvalidInput, InvalidTransition, NotFound
from dispatch.events.models import Attachment
from dispatch.events.photos import Photo, attachment_row
from dispatch.grids.locator import current_locator
from dispatch.tickets.deadlines import extend_by_pause, reset_warning, start_clock
from dispatch.tickets.models import Action, EscalationLevel, Satisfaction, Ticket, TicketLog
from dispatch.tickets.service import record
from dispatch.tickets.side_models import (
    AssistStatus,
    AssistTask,
    ExtensionRequest,
    Notice,
    RequestStatus,
    TicketReporter,
)
from dispatch.tickets.transitions import ACTION_ROLES, OWN_DEPARTMENT_ACTIONS, TRANSITIONS, allowed_actions
from dispatch.worktime import add_working_minutes, minutes_per_working_day

ESCALATION_ORDER = list(EscalationLevel)


def authorize(ticket: Ticket, by: User, action: Action) -> None:
    """Raise unless `by` may take `action` on this ticket now (role, own department, state)."""
    roles = ACTION_ROLES[action]
    if roles is None or by.role not in roles:
        raise Forbidden("当前角色无权执行此操作", action=action.value, role=by.role.value)
    if action in OWN_DEPARTMENT_ACTIONS and by.department_id != ticket.department_id:
        raise Forbidden("该工单不属于本部门", action=action.value)
    if (ticket.state, action) not in TRANSITIONS:
        raise InvalidTransition(
            "工单当前状态不允许此操作",
            state=ticket.state.value,
            action=action.value,
            allowed_actions=[a.value for a in allowed_actions(ticket.state, by.role)],
        )


def _department(session: Session, department_id: int) -> Department:
    department = session.get(Department, department_id)
    if department is None:
        raise InvalidInput(f"部门不存在：{department_id}", field="department_id")
    return department


def _required(text: str, field: str, what: str) -> str:
    text = text.strip()
    if not text:
        raise InvalidInput(f"{what}不能为空", field=field)
    return text


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
    department = _department(session, department_id)
    if grid_code is not None:
        ticket.grid_code = grid_code
        ticket.duty_grid_code = grid_code
    ticket.department_id = department.id
    ticket.manual_reason = None
    start_clock(session, ticket, clock.now())
    return record(
        session,
        ticket=ticket,
        action=Action.DISPATCH,
        actor=by,
        note=note,
        data={"department_id": department.id, "grid_code": ticket.grid_code},
    )


def redispatch(
    session: Session, *, ticket: Ticket, by: User, department_id: int, note: str = ""
) -> TicketLog:
    """改派: send a dispatched or returned ticket to another department with a fresh limit."""
    authorize(ticket, by, Action.REDISPATCH)
    department = _department(session, department_id)
    previous = ticket.department_id
    ticket.department_id = department.id
    start_clock(session, ticket, clock.now())
    return record(
        session,
        ticket=ticket,
        action=Action.REDISPATCH,
        actor=by,
        note=note,
        data={"from_department_id": previous, "department_id": department.id},
    )


def overrule(session: Session, *, ticket: Ticket, by: User, note: str) -> TicketLog:
    """驳回回退: the return was not justified; the same department carries on (its limit restarts)."""
    authorize(ticket, by, Action.OVERRULE)
    note = _required(note, "note", "驳回理由")
    start_clock(session, ticket, clock.now())
    return record(session, ticket=ticket, action=Action.OVERRULE, actor=by, note=note)


def reject(session: Session, *, ticket: Ticket, by: User, reason: str) -> TicketLog:
    """不予受理 / 作废 with a reason."""
    authorize(ticket, by, Action.REJECT)
    ticket.reject_reason = _required(reason, "reason", "不予受理理由")
    ticket.closed_at = clock.now()
    return record(session, ticket=ticket, action=Action.REJECT, actor=by, note=ticket.reject_reason)


def sign(session: Session, *, ticket: Ticket, by: User) -> TicketLog:
    """签收 by the department's staff."""
    authorize(ticket, by, Action.SIGN)
    now = clock.now()
    ticket.signed_at = now
    on_time = ticket.sign_deadline_at is None or now <= ticket.sign_deadline_at
    return record(session, ticket=ticket, action=Action.SIGN, actor=by, data={"on_time": on_time})


def return_ticket(session: Session, *, ticket: Ticket, by: User, reason: str) -> TicketLog:
    """回退: the department says the ticket is not theirs; the centre decides next."""
    authorize(ticket, by, Action.RETURN)
    reason = _required(reason, "reason", "回退理由")
    ticket.return_count += 1
    return record(
        session,
        ticket=ticket,
        action=Action.RETURN,
        actor=by,
        note=reason,
        data={"department_id": ticket.department_id},
    )


def request_extension(
    session: Session, *, ticket: Ticket, by: User, new_deadline_at: datetime, reason: str
) -> ExtensionRequest:
    """延期申请: a later deadline, within the configured maximum; one pending request at a time."""
    authorize(ticket, by, Action.REQUEST_EXTENSION)
    reason = _required(reason, "reason", "延期理由")
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
        _required(note, "note", "驳回理由")
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


def suspend(session: Session, *, ticket: Ticket, by: User, reason: str) -> TicketLog:
    """挂账: park long-term work; its clock stops until resumed."""
    authorize(ticket, by, Action.SUSPEND)
    reason = _required(reason, "reason", "挂账理由")
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


def _store_photos(session: Session, ticket: Ticket, photos: Sequence[Photo]) -> list[int]:
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
    ticket.feedback_text = _required(text, "text", "处置结果")
    attachment_ids = _store_photos(session, ticket, photos)
    on_time = ticket.deadline_at is None or clock.now() <= ticket.deadline_at
    return record(
        session,
        ticket=ticket,
        action=Action.FEEDBACK,
        actor=by,
        note=ticket.feedback_text,
        data={"attachment_ids": attachment_ids, "on_time": on_time},
    )


def verify(session: Session, *, ticket: Ticket, by: User, passed: bool, note: str = "") -> TicketLog:
    """核查: pass closes the case (结案); fail sends it back to the department (返工)."""
    if not passed:
        authorize(ticket, by, Action.VERIFY_FAIL)
        ticket.rework_count += 1
        return record(
            session,
            ticket=ticket,
            action=Action.VERIFY_FAIL,
            actor=by,
            note=_required(note, "note", "返工原因"),
        )
    authorize(ticket, by, Action.VERIFY_PASS)
    now = clock.now()
    ticket.closed_at = now
    on_time = ticket.deadline_at is None or now <= ticket.deadline_at
    return record(
        session, ticket=ticket, action=Action.VERIFY_PASS, actor=by, note=note, data={"on_time": on_time}
    )


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
        ticket.closed_at = None
        start_clock(session, ticket, clock.now())
        return record(session, ticket=ticket, action=Action.REOPEN, actor=by, note="回访不满意，重办")
    return entry


def urge(session: Session, *, ticket: Ticket, by: User | None, message: str, kind: str = "urge") -> Notice:
    """督办/催办: a message the responsible department must acknowledge."""
    if by is not None:
        authorize(ticket, by, Action.URGE)
    notice = Notice(
        ticket_id=ticket.id or 0,
        department_id=ticket.department_id,
        kind=kind,
        message=_required(message, "message", "督办内容"),
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
    """The department acknowledges a 督办 notice."""
    authorize(ticket, by, Action.ACK_URGE)
    notice = session.get(Notice, notice_id)
    if notice is None or notice.ticket_id != ticket.id:
        raise NotFound("督办通知不存在")
    if notice.acknowledged_at is not None:
        raise InvalidTransition("该督办已确认", state=ticket.state.value)
    notice.acknowledged_by_id, notice.acknowledged_at = by.id, clock.now()
    session.add(notice)
    record(session, ticket=ticket, action=Action.ACK_URGE, actor=by, data={"notice_id": notice.id})
    return notice


def escalate(session: Session, *, ticket: Ticket, by: User | None, note: str = "") -> TicketLog:
    """上报 one level up the hierarchy 网格 → 社区 → 街道 → 区."""
    if by is not None:
        authorize(ticket, by, Action.ESCALATE)
        if by.role is Role.GRID_OFFICER and ticket.reporter_id != by.id:
            raise Forbidden("只能上报本人上报的事件")
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
    department = _department(session, department_id)
    if department.id == ticket.department_id:
        raise InvalidInput("协办部门不能是主办部门", field="department_id")
    if deadline_at <= clock.now():
        raise InvalidInput("协办期限必须晚于当前时间", field="deadline_at")
    task = AssistTask(
        ticket_id=ticket.id or 0,
        department_id=department.id or 0,
        part=_required(part, "part", "协办内容"),
        deadline_at=deadline_at,
        created_at=clock.now(),
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
        _required(text, "text", "协办结果"),
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
    record(session, ticket=into, action=Action.ABSORB, actor=by, data={"duplicate_id": duplicate.id})
    return record(session, ticket=duplicate, action=Action.MERGE, actor=by, data={"into_id": into.id})


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
        if places:
            ticket.grid_code = ticket.duty_grid_code = places[0].grid_code
            ticket.grid_version_id = locator.version_id
    now = clock.now()
    ticket.feedback_text = _required(text, "description", "处置情况")
    ticket.closed_at = ticket.dispatched_at = ticket.signed_at = now
    return record(session, ticket=ticket, action=Action.SELF_RESOLVE, actor=by, note=ticket.feedback_text)


def open_notices(session: Session, ticket_id: int) -> list[Notice]:
    return list(
        session.exec(
            select(Notice).where(Notice.ticket_id == ticket_id, col(Notice.acknowledged_at).is_(None))
        )
    )


def available_actions(session: Session, ticket: Ticket, viewer: User) -> list[Action]:
    """What `viewer` can do on this ticket now: the table's actions for the role, narrowed by the
    department, pending extension requests, open notices, co-handling parts and the ticket's source."""
    pending = session.exec(
        select(ExtensionRequest.id).where(
            ExtensionRequest.ticket_id == ticket.id, ExtensionRequest.status == RequestStatus.PENDING
        )
    ).first()
    has_notice = bool(open_notices(session, ticket.id or 0))
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
        Action.ESCALATE: ticket.escalation_level is not EscalationLevel.DISTRICT
        and (viewer.role is not Role.GRID_OFFICER or ticket.reporter_id == viewer.id),
    }
    return [
        action
        for action in allowed_actions(ticket.state, viewer.role)
        if checks.get(action, True)
        and (action not in OWN_DEPARTMENT_ACTIONS or viewer.department_id == ticket.department_id)
    ]
