"""Departments, event categories with time limits, 12345 request types' own limits, and routing rules."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from dispatch.db import enum_type
from dispatch.events.models import RequestType


class LimitUnit(StrEnum):
    WORKING_HOURS = "working_hours"
    WORKING_DAYS = "working_days"
    HOURS = "hours"  # natural hours, for emergencies


class Urgency(StrEnum):
    NORMAL = "normal"  # 一般
    URGENT = "urgent"  # 紧急


URGENCY_LABELS: dict[Urgency, str] = {Urgency.NORMAL: "一般", Urgency.URGENT: "紧急"}


class Department(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True, index=True)
    name: str = Field(max_length=64)
    kind: str = Field(default="department", max_length=16)  # department | street | centre
    # A command centre (街道综治中心 / 社区工作站) steers the tickets of this street or community: its
    # dispatchers see the area's tickets and take those it holds; its staff handle what it keeps.
    area_code: str | None = Field(default=None, max_length=32, unique=True, index=True)


class CategoryBase(SQLModel):
    code: str = Field(primary_key=True, max_length=8)  # 2-digit 大类 or 5-digit 小类
    name: str = Field(max_length=64)
    parent_code: str | None = Field(default=None, max_length=8, index=True)
    limit_normal: int = 0
    limit_normal_unit: LimitUnit = Field(default=LimitUnit.WORKING_DAYS, sa_type=enum_type(LimitUnit))
    limit_urgent: int = 0
    limit_urgent_unit: LimitUnit = Field(default=LimitUnit.WORKING_HOURS, sa_type=enum_type(LimitUnit))
    active: bool = True
    default_department_code: str | None = Field(default=None, max_length=32)  # suggestion for dispatchers
    needs_verification: bool = False  # closing needs an on-site check (核查)


class Category(CategoryBase, table=True):
    pass


class CategoryRead(CategoryBase):
    pass


class RoutingRule(SQLModel, table=True):
    """(category or 大类, area) → department; the most specific area wins, then the most specific category."""

    __tablename__ = "routing_rule"

    id: int | None = Field(default=None, primary_key=True)
    category_code: str = Field(max_length=8, index=True)
    area_code: str = Field(max_length=32, index=True)
    department_id: int = Field(foreign_key="department.id")
    note: str = Field(default="", max_length=255)


ANY_CATEGORY = "*"


class TimeLimit(SQLModel, table=True):
    """A 12345 request type's own handling limit, for a 小类, a 大类 or every category ("*").

    The most specific row wins: request type + 小类, then + 大类, then + "*"; without a row, the
    category's own limits apply (patrol reports, which have no request type, always use those).
    """

    __tablename__ = "time_limit"
    __table_args__ = (UniqueConstraint("request_type", "category_code", "urgency"),)

    id: int | None = Field(default=None, primary_key=True)
    request_type: RequestType = Field(sa_type=enum_type(RequestType))
    category_code: str = Field(max_length=8)  # 5-digit 小类, 2-digit 大类 or "*"
    urgency: Urgency = Field(sa_type=enum_type(Urgency))
    amount: int
    unit: LimitUnit = Field(sa_type=enum_type(LimitUnit))
    note: str = Field(default="", max_length=255)
