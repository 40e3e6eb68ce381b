"""The case (ticket), its states and its append-only log."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import BaseModel
from pydantic import Field as PydanticField
from sqlalchemy import JSON, Column, Integer
from sqlmodel import Field, SQLModel

from dispatch.catalog.models import Urgency
from dispatch.db import UTCDateTime, enum_type
from dispatch.events.models import RequestType, Source
from dispatch.inputs import DbId, LocalDateTime, Offset


class TicketState(StrEnum):
    NEW = "new"  # 已受理, waiting for routing
    MANUAL = "manual"  # 待人工派遣: routing could not place it
    DISPATCHED = "dispatched"  # 已派遣, waiting for 签收
    SIGNED = "signed"  # 已签收, 处置中
    RETURNED = "returned"  # 已回退, waiting for the centre
    SUSPENDED = "suspended"  # 挂账: parked, clock stopped
    FEEDBACK = "feedback"  # 已反馈, waiting for 核查
    CLOSED = "closed"  # 已结案
    REJECTED = "rejected"  # 不予受理 / 作废
    MERGED = "merged"  # 重复件, merged into another ticket


OPEN_STATES = frozenset(
    {
        TicketState.DISPATCHED,
        TicketState.SIGNED,
        TicketState.RETURNED,
        TicketState.SUSPENDED,
        TicketState.FEEDBACK,
    }
)
# States in which the department's clock runs (supervision warns about these).
CLOCK_STATES = frozenset({TicketState.DISPATCHED, TicketState.SIGNED})
FINAL_STATES = frozenset({TicketState.REJECTED, TicketState.MERGED})


class Action(StrEnum):
    INTAKE = "intake"  # 受理
    ROUTE = "route"  # 自动派遣
    ROUTE_MANUAL = "route_manual"  # 转人工派遣
    DISPATCH = "dispatch"  # 人工派遣
    REDISPATCH = "redispatch"  # 改派
    OVERRULE = "overrule"  # 驳回回退（原部门继续办理）
    REJECT = "reject"  # 不予受理 / 作废
    SIGN = "sign"  # 签收
    RETURN = "return"  # 回退
    REQUEST_EXTENSION = "request_extension"  # 申请延期
    APPROVE_EXTENSION = "approve_extension"  # 批准延期
    REFUSE_EXTENSION = "refuse_extension"  # 驳回延期
    SUSPEND = "suspend"  # 挂账
    RESUME = "resume"  # 恢复办理
    FEEDBACK = "feedback"  # 反馈
    VERIFY_PASS = "verify_pass"  # 核查通过，结案
    VERIFY_FAIL = "verify_fail"  # 核查不通过，返工
    CALLBACK = "callback"  # 回访
    REOPEN = "reopen"  # 重办
    URGE = "urge"  # 督办 / 催办
    ACK_URGE = "ack_urge"  # 确认督办
    ESCALATE = "escalate"  # 上报
    HAND_DOWN = "hand_down"  # 下派（交下级中心处置）
    ASSIGN = "assign"  # 指定承办人
    VERIFY_REQUEST = "verify_request"  # 派发核实/核查（网格员现场）或抽查任务
    VERIFY_ANSWER = "verify_answer"  # 核实/核查/抽查回复
    VERIFY_WARN = "verify_warn"  # 核查超时预警
    SELF_RESOLVE = "self_resolve"  # 自行处置
    ADD_ASSIST = "add_assist"  # 增加协办
    ASSIST_SIGN = "assist_sign"  # 协办签收
    ASSIST_FEEDBACK = "assist_feedback"  # 协办反馈
    MERGE = "merge"  # 合并重复件（被合并）
    ABSORB = "absorb"  # 合并重复件（主件）
    WARN_SIGN = "warn_sign"  # 签收超时预警
    WARN_YELLOW = "warn_yellow"  # 黄牌预警
    WARN_RED = "warn_red"  # 红牌（超期）
    ASSIST_WARN_SIGN = "assist_warn_sign"  # 协办签收超时预警
    ASSIST_WARN_YELLOW = "assist_warn_yellow"  # 协办黄牌预警（临期）
    ASSIST_WARN_RED = "assist_warn_red"  # 协办红牌（超期），自动催办协办部门
    ASSIST_CLOSE = "assist_close"  # 结案时关闭未完成的协办


class WarningLevel(StrEnum):
    NONE = "none"
    YELLOW = "yellow"  # 临期
    RED = "red"  # 超期
    ESCALATED = "escalated"  # 超期后已上报


class EscalationLevel(StrEnum):
    GRID = "grid"  # 网格
    COMMUNITY = "community"  # 社区
    STREET = "street"  # 街道（吹哨）
    DISTRICT = "district"  # 区


class Satisfaction(StrEnum):
    SATISFIED = "satisfied"  # 满意
    BASICALLY = "basically_satisfied"  # 基本满意
    UNSATISFIED = "unsatisfied"  # 不满意


TICKET_STATE_LABELS: dict[TicketState, str] = {
    TicketState.NEW: "待派遣",
    TicketState.MANUAL: "待人工派遣",
    TicketState.DISPATCHED: "已派遣",
    TicketState.SIGNED: "处置中",
    TicketState.RETURNED: "已回退",
    TicketState.SUSPENDED: "挂账",
    TicketState.FEEDBACK: "待核查",
    TicketState.CLOSED: "已结案",
    TicketState.REJECTED: "不予受理",
    TicketState.MERGED: "已合并",
}


class TicketBase(SQLModel):
    source: Source = Field(sa_type=enum_type(Source))
    request_type: RequestType | None = Field(default=None, sa_type=enum_type(RequestType))
    category_code: str = Field(foreign_key="category.code", index=True, max_length=8)
    urgency: Urgency = Field(default=Urgency.NORMAL, sa_type=enum_type(Urgency))
    description: str = Field(max_length=2000)
    address: str = Field(default="", max_length=255)
    lon: float | None = None
    lat: float | None = None


_LOCK_VERSION = Column("lock_version", Integer, nullable=False)


class Ticket(TicketBase, table=True):
    """The case. `lock_version` makes concurrent moves on one ticket fail instead of both winning."""

    id: int | None = Field(default=None, primary_key=True)
    number: str | None = Field(default=None, max_length=32, unique=True)
    state: TicketState = Field(default=TicketState.NEW, index=True, sa_type=enum_type(TicketState))
    grid_code: str | None = Field(default=None, max_length=32, index=True)
    duty_grid_code: str | None = Field(default=None, max_length=32)
    grid_version_id: int | None = Field(default=None, foreign_key="grid_version.id")
    department_id: int | None = Field(default=None, foreign_key="department.id", index=True)
    # The street and community of its grid (set with the grid): which centres see it.
    street_code: str | None = Field(default=None, max_length=32, index=True)
    community_code: str | None = Field(default=None, max_length=32, index=True)
    # The centre that steers it (its queue, dispatch, 核查); None: the district centre.
    centre_id: int | None = Field(default=None, foreign_key="department.id", index=True)
    # 承办人: the person inside the unit now responsible (the department's, or the holding centre's
    # while it sits in that centre's queue); cleared when the ticket changes hands.
    assignee_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    deadline_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The deadline crosses a year without a work calendar: counted Monday–Friday until one is loaded.
    deadline_provisional: bool = False
    manual_reason: str | None = Field(default=None, max_length=255)
    caller_name: str | None = Field(default=None, max_length=64)
    caller_phone: str | None = Field(default=None, max_length=32)
    reporter_id: int | None = Field(default=None, foreign_key="user.id")
    # A limit set by whoever sent the ticket (the city 12345 platform): its deadline, whatever the catalog.
    external_deadline_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime, index=True)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    routed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    dispatched_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sign_deadline_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    signed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    warn_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    warning_level: WarningLevel = Field(default=WarningLevel.NONE, sa_type=enum_type(WarningLevel))
    sign_warned: bool = False
    suspended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    escalation_level: EscalationLevel = Field(
        default=EscalationLevel.GRID, sa_type=enum_type(EscalationLevel)
    )
    feedback_text: str | None = Field(default=None, max_length=2000)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    satisfaction: Satisfaction | None = Field(default=None, sa_type=enum_type(Satisfaction))
    merged_into_id: int | None = Field(default=None, foreign_key="ticket.id")
    repeat_count: int = 0
    rework_count: int = 0
    return_count: int = 0
    reject_reason: str | None = Field(default=None, max_length=255)
    lock_version: int = Field(default=1, sa_column=_LOCK_VERSION)

    __mapper_args__: ClassVar[dict[str, Any]] = {"version_id_col": _LOCK_VERSION}


class TicketLog(SQLModel, table=True):
    """One immutable row per state change; its id is the console's sequence number."""

    __tablename__ = "ticket_log"

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    at: datetime = Field(sa_type=UTCDateTime)
    actor_id: int | None = Field(default=None, foreign_key="user.id")
    actor_name: str = Field(max_length=64)
    action: Action = Field(sa_type=enum_type(Action))
    from_state: TicketState | None = Field(default=None, sa_type=enum_type(TicketState))
    to_state: TicketState = Field(sa_type=enum_type(TicketState))
    note: str = Field(default="", max_length=2000)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class TicketRead(TicketBase):
    """A ticket as the API shows it; `caller_phone` is masked unless the viewer is hotline staff."""

    id: int
    number: str | None
    state: TicketState
    category_name: str = ""
    grid_code: str | None
    grid_name: str | None = None
    department_id: int | None
    department_name: str | None = None
    street_code: str | None = None
    community_code: str | None = None
    centre_id: int | None = None
    centre_name: str | None = None  # None: the district centre
    assignee_id: int | None = None
    assignee_name: str | None = None
    deadline_at: datetime | None
    deadline_provisional: bool = False
    manual_reason: str | None
    caller_name: str | None
    caller_phone: str | None
    created_at: datetime
    updated_at: datetime
    sign_deadline_at: datetime | None = None
    warning_level: WarningLevel = WarningLevel.NONE
    escalation_level: EscalationLevel = EscalationLevel.GRID
    feedback_text: str | None = None
    satisfaction: Satisfaction | None = None
    merged_into_id: int | None = None
    repeat_count: int = 0
    rework_count: int = 0
    return_count: int = 0
    reject_reason: str | None = None
    closed_at: datetime | None = None
    lock_version: int = 1
    open_notice_count: int = 0
    assist_department_ids: list[int] = []
    working_minutes_left: int | None = None
    self_resolved: bool = False  # 自行处置: closed by the reporting grid officer, never dispatched
    # A field check waiting for its answer: "intake" 核实, "closure" 核查, "review" 抽查 (None: none).
    verification_pending: str | None = None


class TicketLogRead(BaseModel):
    seq: int
    at: datetime
    actor: str
    action: Action
    from_state: TicketState | None
    to_state: TicketState
    note: str
    # The centre this move handed the ticket to (route to a centre, 上报, 下派); "区指挥中心": the district.
    to_centre: str | None = None


class TicketPage(BaseModel):
    items: list[TicketRead]
    last_seq: int


class IntakeReceipt(BaseModel):
    """What intake answers once the record is durable: the ticket to follow and whether it is new."""

    ticket_id: int
    number: str
    state: TicketState
    duplicate_of_call: bool = False


class BatchItemReceipt(BaseModel):
    """One call of a batch: 201 accepted as a new ticket, 200 already received (the first ticket),
    or the error that refused it (`detail`, `field`) — refusing one call never refuses the others."""

    index: int
    status: int
    ticket_id: int | None = None
    number: str | None = None
    state: TicketState | None = None
    duplicate_of_call: bool = False
    detail: str | None = None
    field: str | None = None


class BatchReceipt(BaseModel):
    """What a batch intake answers once every call it accepted is committed."""

    accepted: int
    already_received: int
    refused: int
    results: list[BatchItemReceipt]


class TicketQuery(BaseModel):
    """Filters of a workbench or console list."""

    state: list[TicketState] = []
    source: Source | None = None
    callback_pending: bool = False  # closed hotline tickets not yet called back (回访)
    overdue: bool = False
    warning: WarningLevel | None = None
    category_code: str | None = None
    grid_code: str | None = None
    department_id: DbId | None = None
    # Only the tickets the viewer's own centre holds (the district centre: those no street or community
    # centre holds): a centre's queue, e.g. with state=manual.
    own_centre: bool = False
    # 承办人: "me" (assigned to the viewer) or "none" (nobody yet)
    assignee: Literal["me", "none"] | None = None
    # "me": only the tickets the viewer reported (a grid officer also sees those they verify)
    reporter: Literal["me"] | None = None
    created_from: LocalDateTime | None = None  # without a zone: Beijing time
    created_to: LocalDateTime | None = None
    sort: Literal["newest", "deadline"] = "newest"
    limit: int = PydanticField(default=200, ge=1, le=1000)
    offset: Offset = 0
