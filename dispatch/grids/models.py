"""The grid hierarchy 区 → 街道 → 社区 → 网格, in versions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from dispatch.db import UTCDateTime, enum_type


class AreaLevel(StrEnum):
    DISTRICT = "district"
    STREET = "street"
    COMMUNITY = "community"
    GRID = "grid"


LEVEL_DEPTH: dict[AreaLevel, int] = {
    AreaLevel.DISTRICT: 0,
    AreaLevel.STREET: 1,
    AreaLevel.COMMUNITY: 2,
    AreaLevel.GRID: 3,
}


class GridVersion(SQLModel, table=True):
    """One imported set of boundaries; routing uses the newest active version."""

    __tablename__ = "grid_version"

    id: int | None = Field(default=None, primary_key=True)
    label: str = Field(max_length=128)
    effective_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    active: bool = True


class Area(SQLModel, table=True):
    """An area of one level in one version; `geometry` is a GeoJSON Polygon in WGS-84 lon/lat."""

    __table_args__ = (UniqueConstraint("version_id", "code"),)

    id: int | None = Field(default=None, primary_key=True)
    version_id: int = Field(foreign_key="grid_version.id", index=True)
    code: str = Field(max_length=32, index=True)
    name: str = Field(max_length=128)
    level: AreaLevel = Field(index=True, sa_type=enum_type(AreaLevel))
    parent_code: str | None = Field(default=None, max_length=32, index=True)
    kind: str = Field(default="", max_length=16)
    geometry: str = Field(sa_column=Column(Text, nullable=False))
    duty_officer_id: int | None = Field(default=None, foreign_key="user.id")
