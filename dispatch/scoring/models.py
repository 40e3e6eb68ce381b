"""考核模板 versions: every import or edit is a new row; the newest is the one in force."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from dispatch.db import UTCDateTime


class ScoringTemplate(SQLModel, table=True):
    """One version of the district's scoring template (`id` is the version number scores name).

    `body` is the template as dispatch.scoring.template.Template.to_json() gives it, validated when saved;
    rows are never changed or deleted, so a score can always name and show the version it used."""

    __tablename__ = "scoring_template"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(default="", max_length=128)
    source: str = Field(max_length=16)  # yaml | csv | api | demo
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(default="", max_length=64)
    body: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
