"""Raw intake records (every report or call as it arrived) and their photos."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from dispatch.db import UTCDateTime, enum_type


class Source(StrEnum):
    PATROL = "patrol"  # 网格员上报
    HOTLINE = "hotline"  # 12345热线
    OPEN311 = "open311"  # Open311 接口（应用、其他系统）
    CITY = "city12345"  # 市12345平台下发


class RequestType(StrEnum):
    CONSULT = "consult"  # 咨询
    HELP = "help"  # 求助
    COMPLAINT = "complaint"  # 投诉
    REPORT = "report"  # 举报
    SUGGESTION = "suggestion"  # 建议


REQUEST_TYPE_LABELS: dict[RequestType, str] = {
    RequestType.CONSULT: "咨询",
    RequestType.HELP: "求助",
    RequestType.COMPLAINT: "投诉",
    RequestType.REPORT: "举报",
    RequestType.SUGGESTION: "建议",
}


class Event(SQLModel, table=True):
    """One intake record. `external_id` (call id, client reference) makes re-posts idempotent per source."""

    __table_args__ = (UniqueConstraint("source", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    source: Source = Field(sa_type=enum_type(Source))
    external_id: str | None = Field(default=None, max_length=64)
    reporter_id: int | None = Field(default=None, foreign_key="user.id")
    received_at: datetime = Field(sa_type=UTCDateTime)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id", index=True)


class Attachment(SQLModel, table=True):
    """A photo, stored in the database so it is as durable as the event it came with."""

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    event_id: int | None = Field(default=None, foreign_key="event.id")
    filename: str = Field(max_length=255)
    content_type: str = Field(max_length=64)
    size_bytes: int
    width_px: int
    height_px: int
    created_at: datetime = Field(sa_type=UTCDateTime)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
