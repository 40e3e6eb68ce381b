"""Places from other departments' registers (民政、市场监管、卫健、住建 …), each attached to its grid."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from dispatch.db import UTCDateTime


class Place(SQLModel, table=True):
    """One registered place (a business, care home, school, construction site …) at a WGS-84 point."""

    id: int | None = Field(default=None, primary_key=True)
    owner: str = Field(max_length=32, index=True)  # whose register: 市场监管, 民政, 卫健 …
    kind: str = Field(max_length=32, index=True)  # business, care_home, school, construction_site …
    name: str = Field(max_length=128)
    address: str = Field(default="", max_length=255)
    lon: float
    lat: float
    grid_code: str | None = Field(default=None, max_length=32, index=True)
    attributes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    imported_at: datetime = Field(sa_type=UTCDateTime)


class PlaceRead(BaseModel):
    id: int
    owner: str
    kind: str
    name: str
    address: str
    lon: float
    lat: float
    grid_code: str | None
    attributes: dict[str, Any]
    distance_m: float | None = None
