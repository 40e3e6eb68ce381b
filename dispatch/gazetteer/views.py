"""Gazetteer API: locate an address text (hotline and centre staff); import address points (admin)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, UploadFile

from dispatch.auth.deps import Admin, require_role
from dispatch.auth.models import Role, User
from dispatch.db import SessionDep
from dispatch.errors import InvalidInput
from dispatch.gazetteer.importer import import_addresses
from dispatch.gazetteer.matcher import AddressMatch, locate_address
from dispatch.grids.service import names_for

router = APIRouter(tags=["gazetteer"])

AddressUsers = Annotated[
    User, Depends(require_role(Role.HOTLINE, Role.DISPATCHER, Role.SHIFT_LEAD, Role.ADMIN))
]


@router.get("/api/gazetteer/locate")
def locate(_: AddressUsers, session: SessionDep, q: str) -> dict[str, Any]:
    """`point` when the address matches one place confidently, else null; `candidates` best first."""
    if not q.strip() or len(q) > 255:
        raise InvalidInput("地址为空或过长（最多 255 字）", field="q")
    point, candidates = locate_address(session, q)
    names = names_for(
        session, {m.grid_code for m in [*candidates, *([point] if point else [])] if m.grid_code}
    )

    def shown(match: AddressMatch) -> dict[str, Any]:
        return {**asdict(match), "grid_name": names.get(match.grid_code or "")}

    return {"point": shown(point) if point else None, "candidates": [shown(c) for c in candidates]}


@router.post("/api/admin/gazetteer/import")
async def import_csv(
    _: Admin, session: SessionDep, file: UploadFile, dry_run: bool = False
) -> dict[str, Any]:
    """Validate a whole address CSV (UTF-8); unless dry_run or invalid, it replaces the gazetteer."""
    raw = await file.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput("文件不是 UTF-8 编码（可在 Excel 中另存为“CSV UTF-8”）", field="file") from exc
    return import_addresses(session, text, dry_run=dry_run).to_dict()
