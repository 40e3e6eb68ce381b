"""KPI rollup tables: counts per day of creation, each ticket's share of them, and how far the log is in."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from dispatch.db import UTCDateTime


class KpiRollup(SQLModel, table=True):
    """The holdings of the tickets created on `day` (Beijing), under one grouping and key, counted.

    `dimension` is a KPI grouping (department, street, community, grid, category, district, centre) and `key`
    its key as the KPI rows show it. Each counter is the number of holdings with that fact.
    """

    __tablename__ = "kpi_rollup"

    dimension: str = Field(primary_key=True, max_length=16)
    day: date = Field(primary_key=True)
    key: str = Field(primary_key=True, max_length=32)
    total: int = 0
    dispatched: int = 0
    signed: int = 0
    signed_on_time: int = 0
    fed_back: int = 0
    feedback_on_time: int = 0
    closed: int = 0
    closed_on_time: int = 0
    self_resolved: int = 0
    returned: int = 0
    reworked: int = 0
    extended: int = 0
    called_back: int = 0
    satisfied: int = 0
    merged: int = 0
    escalated: int = 0
    handed_down: int = 0
    queued: int = 0
    queue_minutes: int = 0  # working minutes waited in queues, summed over the holdings


class KpiTicket(SQLModel, table=True):
    """What one ticket adds to kpi_rollup as of the last refresh: {dimension: {key: facts as bits}}."""

    __tablename__ = "kpi_ticket"

    ticket_id: int = Field(primary_key=True, foreign_key="ticket.id")
    day: date
    holdings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class KpiWatermark(SQLModel, table=True):
    """The one row saying which ticket log rows the rollup has folded in (every id ≤ log_id)."""

    __tablename__ = "kpi_watermark"

    id: int = Field(default=1, primary_key=True)
    log_id: int = 0
    refreshed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
