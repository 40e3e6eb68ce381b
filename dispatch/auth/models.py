"""Users and roles."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel
from sqlmodel import Field, SQLModel

from dispatch.db import UTCDateTime, enum_type


class Role(StrEnum):
    GRID_OFFICER = "grid_officer"  # 网格员
    HOTLINE = "hotline_operator"  # 12345 受理员
    DISPATCHER = "dispatcher"  # 派遣员
    SHIFT_LEAD = "shift_lead"  # 值班长
    DEPARTMENT = "department_staff"  # 部门人员
    LEADER = "leader"  # 领导
    ADMIN = "admin"  # 管理员
    SERVICE = "service_account"  # 服务账号: a machine client's API key acts as it; it never logs in


ROLE_LABELS: dict[Role, str] = {
    Role.GRID_OFFICER: "网格员",
    Role.HOTLINE: "12345受理员",
    Role.DISPATCHER: "派遣员",
    Role.SHIFT_LEAD: "值班长",
    Role.DEPARTMENT: "部门人员",
    Role.LEADER: "领导",
    Role.ADMIN: "管理员",
    Role.SERVICE: "服务账号",
}

# Roles that watch and steer the whole district (not scoped to one department).
CENTRE_ROLES = frozenset({Role.DISPATCHER, Role.SHIFT_LEAD, Role.LEADER, Role.ADMIN})
# Of those, the roles a street or community centre has too (scoped to its area by `User.area_code`).
AREA_ROLES = frozenset({Role.DISPATCHER, Role.SHIFT_LEAD, Role.LEADER})


class UserBase(SQLModel):
    username: str = Field(max_length=64, index=True, unique=True)
    full_name: str = Field(max_length=64)
    role: Role = Field(sa_type=enum_type(Role))
    department_id: int | None = Field(default=None, foreign_key="department.id", index=True)
    # Dispatchers, shift leads and leaders of a street or community centre: the area they see (their
    # centre's area, kept in step with department_id). None: the district centre, which sees everything.
    area_code: str | None = Field(default=None, max_length=32)
    active: bool = True


class User(UserBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    password_hash: str = Field(max_length=255)
    deactivated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # kept, never deleted


class UserRead(UserBase):
    id: int


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    user: UserRead
