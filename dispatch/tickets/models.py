"""The case (ticket), its states and its append-only log."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel
from sqlalchemy import JSON, Column, Integer
from sqlmodel import Field, SQLModel

from dispatch.catalog.models import Urgency
from dispatch.db import UTCDateTime, enum_type
from dispatch.events.models import RequestType, Source


class TicketState(StrEnum):
    NEW = "new"  # 已受理, waiting for routing
    MANUAL = "manual"  # 待人工派遣: routing could not place it
    DISPATCHED = "dispatched"  # 已派遣


class Action(StrEnum):
    INTAKE = "intake"  # 受理
    ROUTE = "route"  # 自动派遣
    ROUTE_MANUAL = "route_manual"  # 转人工派遣


TICKET_STATE_LABELS: dict[TicketState, str] = {
    TicketState.NEW: "待派遣",
    TicketState.MANUAL: "待人工派遣",
    TicketState.DISPATCHED: "已派遣",
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
    deadline_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    manual_reason: str | None = Field(default=None, max_length=255)
    caller_name: str | None = Field(default=None, max_length=64)
    caller_phone: str | None = Field(default=None, max_length=32)
    reporter_id: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(sa_type=UTCDateTime, index=True)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    routed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
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
    deadline_at: datetime | None
    manual_reason: str | None
    caller_name: str | None
    caller_phone: str | None
    created_at: datetime
    updated_at: datetime


class TicketLogRead(BaseModel):
    seq: int
    at: datetime
    actor: str
    action: Action
    from_state: TicketState | None
    to_state: TicketState
    note: str


class TicketDetail(TicketRead):
    log: list[TicketLogRead]
    attachment_ids: list[int]


class TicketPage(BaseModel):
    items: list[TicketRead]
    last_seq: int


class IntakeReceipt(BaseModel):
    """What intake answers once the record is durable: the ticket to follow and whether it is new."""

    ticket_id: int
    number: str
    state: TicketState
    duplicate_of_call: bool = False
