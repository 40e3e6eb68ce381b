"""Admin API for people: bulk CSV import and deactivation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, UploadFile

from dispatch.auth.deps import Admin
from dispatch.db import SessionDep
from dispatch.errors import InvalidInput
from dispatch.people import service

router = APIRouter(prefix="/api/admin/people", tags=["admin: people"])


@router.post("/import")
async def import_people(
    file: UploadFile, _: Admin, session: SessionDep, dry_run: bool = False
) -> dict[str, Any]:
    """Validate the whole CSV (every problem with its line); write only if all of it is valid."""
    try:
        text = (await file.read()).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput("文件不是 UTF-8 编码", field="file") from exc
    return service.import_people(session, text, dry_run=dry_run).to_dict()


@router.post("/{username}/deactivate")
def deactivate(
    username: str, admin: Admin, session: SessionDep, reassign_to: str | None = None
) -> dict[str, Any]:
    """Deactivate the account (history kept); `grids` lists the grids that changed hands. An admin cannot
    deactivate their own account (422): the district would be locked out of its admin pages."""
    if username == admin.username:
        raise InvalidInput("不能停用自己的账号", field="username")
    grids = service.deactivate(session, username=username, reassign_to=reassign_to)
    return {"username": username, "active": False, "grids": grids, "reassigned_to": reassign_to}
