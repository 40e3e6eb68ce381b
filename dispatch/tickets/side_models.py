"""Tables beside the ticket: its reporters, extension requests, co-handling parts, supervision notices,
duplicate suggestions and field verification tasks. Each row belongs to one ticket; the ticket log
records every move on them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from dispatch.db import UTCDateTime, enum_type
from dispatch.tickets.models import WarningLevel


class TicketReporter(SQLModel, table=True):
    """Someone who reported the case (several after merging duplicates); hotline callers get a callback."""

    __tablename__ = "ticket_reporter"

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    event_id: int | None = Field(default=None, foreign_key="event.id")
    user_id: int | None = Field(default=None, foreign_key="user.id")
    caller_name: str | None = Field(default=None, max_length=64)
    caller_phone: str | None = Field(default=None, max_length=32)
    reported_at: datetime = Field(sa_type=UTCDateTime)


class RequestStatus(StrEnum):
    PENDING = "pending"  # 待审批
    APPROVED = "approved"  # 已批准
    REFUSED = "refused"  # 已驳回
    CANCELLED = "cancelled"  # 已取消: the ticket was returned, redispatched, reopened or closed first


class ExtensionRequest(SQLModel, table=True):
    """A department's request for a later deadline, decided by a shift lead."""

    __tablename__ = "extension_request"

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    requested_by_id: int = Field(foreign_key="user.id")
    requested_at: datetime = Field(sa_type=UTCDateTime)
    old_deadline_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    new_deadline_at: datetime = Field(sa_type=UTCDateTime)
    reason: str = Field(max_length=500)
    status: RequestStatus = Field(default=RequestStatus.PENDING, sa_type=enum_type(RequestStatus))
    decided_by_id: int | None = Field(default=None, foreign_key="user.id")
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decision_note: str = Field(default="", max_length=500)


class AssistStatus(StrEnum):
    PENDING = "pending"  # 待签收
    SIGNED = "signed"  # 办理中
    DONE = "done"  # 已反馈
    CLOSED = "closed"  # 结案时关闭 (unfinished when the lead closed the case; see close_reason)


OPEN_ASSIST_STATUSES = frozenset({AssistStatus.PENDING, AssistStatus.SIGNED})


class AssistTask(SQLModel, table=True):
    """协办: a co-handling department's own part of the case, with its own deadline and feedback.

    Supervised like a ticket: `sign_warned` and `warning_level` record the warnings given, and the
    supervision pass sets each only by an UPDATE guarded on its old value, so it is given once.
    """

    __tablename__ = "assist_task"

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    department_id: int = Field(foreign_key="department.id", index=True)
    part: str = Field(max_length=500)
    deadline_at: datetime = Field(sa_type=UTCDateTime)
    status: AssistStatus = Field(default=AssistStatus.PENDING, sa_type=enum_type(AssistStatus))
    feedback_text: str | None = Field(default=None, max_length=2000)
    created_at: datetime = Field(sa_type=UTCDateTime)
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # fed back, or closed
    sign_deadline_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    warn_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    sign_warned: bool = False
    warning_level: WarningLevel = Field(default=WarningLevel.NONE, sa_type=enum_type(WarningLevel))
    close_reason: str | None = Field(default=None, max_length=500)


class Notice(SQLModel, table=True):
    """督办/催办: a message on the ticket that the responsible department must acknowledge."""

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    department_id: int | None = Field(default=None, foreign_key="department.id")
    # urge (督办/催办, by a person) | auto (automatic 催办 when overdue) | assist (automatic 催办 of an
    # overdue co-handling part: addressed to, and acknowledged by, that part's department)
    kind: str = Field(max_length=16)
    message: str = Field(max_length=500)
    created_by_id: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(sa_type=UTCDateTime)
    acknowledged_by_id: int | None = Field(default=None, foreign_key="user.id")
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class DuplicateSuggestion(SQLModel, table=True):
    """An open ticket that looks like the same problem (same category, nearby, recent)."""

    __tablename__ = "duplicate_suggestion"

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    candidate_id: int = Field(foreign_key="ticket.id")
    distance_m: float | None = None  # None: same caller and address, no positions to compare
    same_caller: bool = False
    created_at: datetime = Field(sa_type=UTCDateTime)


class VerificationKind(StrEnum):
    INTAKE = "intake"  # 核实: is the report true? (in a centre's queue, before dispatch)
    CLOSURE = "closure"  # 核查: has the department put it right? (after 反馈, before 结案)
    REVIEW = "review"  # 抽查: a sampled 自行处置 case, reviewed by the community workstation


class VerificationStatus(StrEnum):
    PENDING = "pending"  # 待核查
    DONE = "done"  # 已回复
    CANCELLED = "cancelled"  # 已取消: the centre decided first, or the ticket moved on


class VerificationAnswer(StrEnum):
    CONFIRMED = "confirmed"  # 属实
    UNFOUNDED = "unfounded"  # 不属实
    FIXED = "fixed"  # 已整改
    NOT_FIXED = "not_fixed"  # 未整改
    PASSED = "passed"  # 抽查合格
    FAILED = "failed"  # 抽查不合格


class VerificationTask(SQLModel, table=True):
    """核实/核查 by the grid officer on duty for the ticket's grid (or 抽查 by a community workstation).

    Supervised like a ticket: `warned` records the overdue warning, set by an UPDATE guarded on its
    old value so two supervision passes give it once. `client_ref` makes a resent answer (the phone's
    outbox after a lost response) return the first one instead of failing.
    """

    __tablename__ = "verification_task"

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    kind: VerificationKind = Field(sa_type=enum_type(VerificationKind))
    officer_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    centre_id: int | None = Field(default=None, foreign_key="department.id", index=True)  # 抽查
    grid_code: str | None = Field(default=None, max_length=32)
    requested_by_id: int | None = Field(default=None, foreign_key="user.id")  # None: automatic
    requested_at: datetime = Field(sa_type=UTCDateTime)
    note: str = Field(default="", max_length=500)
    deadline_at: datetime = Field(sa_type=UTCDateTime, index=True)
    warned: bool = False
    status: VerificationStatus = Field(
        default=VerificationStatus.PENDING, sa_type=enum_type(VerificationStatus), index=True
    )
    answer: VerificationAnswer | None = Field(default=None, sa_type=enum_type(VerificationAnswer))
    answer_note: str = Field(default="", max_length=2000)
    answered_by_id: int | None = Field(default=None, foreign_key="user.id")
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    attachment_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    client_ref: str | None = Field(default=None, max_length=64)
