"""Categories and departments, for pickers and labels."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter
from sqlmodel import col, select

from dispatch.auth.deps import CurrentUser
from dispatch.catalog.models import Category, CategoryRead, Department
from dispatch.db import SessionDep

router = APIRouter(prefix="/api", tags=["catalog"])


@router.get("/categories", response_model=list[CategoryRead])
def list_categories(_: CurrentUser, session: SessionDep) -> Sequence[Category]:
    return session.exec(select(Category).where(col(Category.active)).order_by(col(Category.code))).all()


@router.get("/departments", response_model=list[Department])
def list_departments(_: CurrentUser, session: SessionDep) -> Sequence[Department]:
    return session.exec(select(Department).order_by(col(Department.code))).all()
