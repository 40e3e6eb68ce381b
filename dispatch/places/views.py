"""Places from other departments: by area, near a ticket, and the admin import."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, UploadFile

from dispatch.auth.deps import Admin, CurrentUser
from dispatch.db import SessionDep
from dispatch.errors import InvalidInput
from dispatch.inputs import DbId
from dispatch.places import service
from dispatch.places.models import PlaceRead
from dispatch.tickets.service import get_visible

router = APIRouter(tags=["places"])


@router.get("/api/places", response_model=list[PlaceRead])
def places_in_area(
    _: CurrentUser,
    session: SessionDep,
    area_code: Annotated[str, Query(pattern=r"^\d{6,32}$")],
    kind: Annotated[str | None, Query(max_length=32)] = None,
) -> list[PlaceRead]:
    """Registered places in a grid, community or street (its code), optionally of one kind."""
    return service.in_area(session, area_code=area_code, kind=kind)


@router.get("/api/tickets/{ticket_id}/nearby-places", response_model=list[PlaceRead])
def nearby_places(
    ticket_id: DbId,
    viewer: CurrentUser,
    session: SessionDep,
    radius_m: Annotated[float, Query(gt=0, le=2000)] = 300,
) -> list[PlaceRead]:
    """Registered places near a ticket's position (empty when the ticket has none)."""
    ticket = get_visible(session, ticket_id=ticket_id, viewer=viewer)
    if ticket.lon is None or ticket.lat is None:
        return []
    return service.near(session, lon=ticket.lon, lat=ticket.lat, radius_m=radius_m)


@router.post("/api/admin/places/import")
async def import_places(
    _: Admin, session: SessionDep, file: UploadFile, owner: str, dry_run: bool = False
) -> dict[str, Any]:
    """Validate a register CSV (every problem with its line); replace that owner's places if all valid."""
    try:
        text = (await file.read()).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput("文件须为 UTF-8 编码的 CSV", field="file") from exc
    return service.import_register(session, text, owner=owner, dry_run=dry_run).to_dict()
