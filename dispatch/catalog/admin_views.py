"""Admin API: departments and routing rules (CRUD), catalog import/export as CSV or YAML."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from fastapi import APIRouter, UploadFile
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from dispatch.auth.deps import Admin
from dispatch.catalog import admin as service
from dispatch.catalog.io import export_catalog, import_catalog
from dispatch.catalog.models import Department, RoutingRule
from dispatch.db import SessionDep
from dispatch.errors import InvalidInput
from dispatch.inputs import DbId

router = APIRouter(prefix="/api/admin", tags=["admin: catalog"])

CatalogKind = Literal["departments", "categories", "rules", "limits"]
Format = Literal["csv", "yaml"]


class DepartmentWrite(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    kind: Literal["department", "street", "centre"] = "department"
    area_code: str | None = Field(
        default=None, max_length=32, description="a centre's street or community (centres only)"
    )


class RuleWrite(BaseModel):
    category_code: str = Field(max_length=8)
    area_code: str = Field(max_length=32)
    department_code: str = Field(max_length=32)
    note: str = Field(default="", max_length=255)


@router.put("/departments/{code}", response_model=Department)
def put_department(code: str, body: DepartmentWrite, _: Admin, session: SessionDep) -> Department:
    """Create or update the department with this code."""
    return service.save_department(
        session, code=code, name=body.name, kind=body.kind, area_code=body.area_code
    )


@router.delete("/departments/{code}", status_code=204)
def delete_department(code: str, _: Admin, session: SessionDep) -> None:
    service.delete_department(session, code=code)


@router.get("/rules", response_model=list[RoutingRule])
def list_rules(_: Admin, session: SessionDep) -> Sequence[RoutingRule]:
    return service.list_rules(session)


@router.post("/rules", response_model=RoutingRule, status_code=201)
def create_rule(body: RuleWrite, _: Admin, session: SessionDep) -> RoutingRule:
    return service.save_rule(session, **body.model_dump())


@router.put("/rules/{rule_id}", response_model=RoutingRule)
def update_rule(rule_id: DbId, body: RuleWrite, _: Admin, session: SessionDep) -> RoutingRule:
    return service.save_rule(session, rule_id=rule_id, **body.model_dump())


@router.delete("/rules/{rule_id}", status_code=204)
def delete_rule(rule_id: DbId, _: Admin, session: SessionDep) -> None:
    service.delete_rule(session, rule_id=rule_id)


@router.post("/catalog/{kind}/import")
async def import_file(
    kind: CatalogKind,
    file: UploadFile,
    _: Admin,
    session: SessionDep,
    fmt: Format = "csv",
    dry_run: bool = False,
) -> dict[str, Any]:
    """Validate the whole file (every problem with its line); write only if all of it is valid."""
    try:
        text = (await file.read()).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput("文件不是 UTF-8 编码", field="file") from exc
    return import_catalog(session, kind, text, fmt=fmt, dry_run=dry_run).to_dict()


@router.get(
    "/catalog/{kind}/export",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/csv": {}, "application/yaml": {}}}},
)
def export_file(kind: CatalogKind, _: Admin, session: SessionDep, fmt: Format = "csv") -> PlainTextResponse:
    media = "text/csv" if fmt == "csv" else "application/yaml"
    return PlainTextResponse(export_catalog(session, kind, fmt=fmt), media_type=f"{media}; charset=utf-8")
