"""Request bodies of the workflow actions and the read models of a ticket's detail page."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from dispatch.inputs import DbId, LocalDateTime
from dispatch.tickets.models import (
    Action,
    Satisfaction,
    TicketLogRead,
    TicketRead,
    TicketState,
    WarningLevel,
)
from dispatch.tickets.side_models import (
    AssistStatus,
    RequestStatus,
    VerificationAnswer,
    VerificationKind,
    VerificationStatus,
)

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DispatchBody(Body):
    department_id: DbId
    grid_code: Annotated[str, StringConstraints(pattern=r"^\d{6,32}$")] | None = None
    note: Note = ""


class RedispatchBody(Body):
    department_id: DbId
    note: Note = ""


class ReasonBody(Body):
    reason: Reason


class NoteBody(Body):
    note: Note = ""


class AssignBody(Body):
    user_id: DbId = Field(description="the 承办人: a member of the unit holding the ticket")
    note: Note = ""


class Assignee(BaseModel):
    id: int
    username: str
    full_name: str


class HandDownBody(Body):
    centre_id: DbId = Field(description="the street or community centre (a department with an area) below")
    note: Note = ""


class RequiredNoteBody(Body):
    note: Reason


class ExtensionBody(Body):
    new_deadline_at: LocalDateTime
    reason: Reason


class VerifyBody(Body):
    passed: bool
    note: Note = ""
    # 结案 with co-handling parts still open: refused (422, field confirm_open_parts, open_parts listed)
    # unless confirmed; the open parts are then closed with this reason.
    confirm_open_parts: bool = False
    open_parts_reason: Note = ""


class CallbackBody(Body):
    satisfaction: Satisfaction
    note: Note = ""


class UrgeBody(Body):
    message: Reason


class AssistBody(Body):
    department_id: DbId
    part: Reason
    deadline_at: LocalDateTime


class TextBody(Body):
    text: LongText


class MergeBody(Body):
    into_ticket_id: DbId
    confirm: bool = False


class ReporterRead(BaseModel):
    name: str = ""  # the caller, or the reporting grid officer
    caller_name: str | None
    caller_phone: str | None
    user_id: int | None
    reported_at: datetime


class ExtensionRead(BaseModel):
    id: int
    requested_at: datetime
    old_deadline_at: datetime | None
    new_deadline_at: datetime
    reason: str
    status: RequestStatus
    decided_at: datetime | None
    decision_note: str


class AssistRead(BaseModel):
    id: int
    department_id: int
    department_name: str = ""
    part: str
    deadline_at: datetime
    status: AssistStatus
    feedback_text: str | None
    done_at: datetime | None
    sign_deadline_at: datetime | None = None
    sign_warned: bool = False  # 签收超时 was warned
    warning_level: WarningLevel = WarningLevel.NONE  # yellow 临期 / red 超期 (with a 催办 to its department)
    close_reason: str | None = None  # why the lead closed the case with this part open


class VerificationRead(BaseModel):
    """A field check (核实/核查 by the grid officer, 抽查 by the community workstation) and its answer."""

    id: int
    ticket_id: int
    kind: VerificationKind
    kind_label: str
    status: VerificationStatus
    status_label: str
    officer_id: int | None
    centre_id: int | None
    holder_name: str  # who must answer: the officer, or the workstation
    grid_code: str | None
    requested_at: datetime
    requested_by_name: str  # "系统" when sent automatically
    note: str
    deadline_at: datetime
    overdue: bool  # pending and past its deadline
    warned: bool
    answer: VerificationAnswer | None
    answer_label: str | None
    answer_note: str
    answered_at: datetime | None
    on_time: bool | None  # answered by the deadline
    attachment_ids: list[int]  # the answer's photos


class VerificationCard(VerificationRead):
    """A task as the officer's phone shows it: the ticket, where it is, what the department reported."""

    ticket: TicketRead
    report_attachment_ids: list[int]  # photos that came with the report
    feedback_attachment_ids: list[int]  # the department's 反馈 photos (核查)


class VerificationRequestBody(Body):
    note: Note = ""


class NoticeRead(BaseModel):
    id: int
    kind: str
    department_id: int | None = None  # the department that must acknowledge it
    message: str
    created_at: datetime
    acknowledged_at: datetime | None


class DuplicateRead(BaseModel):
    candidate: TicketRead
    distance_m: float | None
    same_caller: bool


class SimilarRead(BaseModel):
    """A possible duplicate shown while typing: just enough to recognise it (no caller data)."""

    id: int
    number: str | None
    state: TicketState
    category_name: str
    address: str
    grid_name: str | None
    created_at: datetime
    distance_m: float | None  # None: the same caller and address, no positions to compare
    same_caller: bool


class TicketDetail(TicketRead):
    """One ticket with its timeline, everything beside it, and what the viewer may do now."""

    log: list[TicketLogRead]
    attachment_ids: list[int]
    allowed_actions: list[Action]
    reporters: list[ReporterRead]
    extensions: list[ExtensionRead]
    assists: list[AssistRead]
    open_assist_ids: list[int]  # parts not yet fed back: 结案 needs confirm_open_parts
    notices: list[NoticeRead]
    duplicates: list[DuplicateRead]
    verifications: list[VerificationRead] = Field(default_factory=list)
