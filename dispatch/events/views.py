"""Intake endpoints: a patrol report (multipart with photos) and a 12345 call (JSON)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Response, UploadFile, status

from dispatch.auth.deps import GridOfficer, HotlineStaff
from dispatch.config import get_settings
from dispatch.db import SessionDep
from dispatch.errors import InvalidInput
from dispatch.events import service
from dispatch.events.photos import Photo, check_photo
from dispatch.events.schemas import HotlineIntake, PatrolIntake
from dispatch.tickets.models import IntakeReceipt, Ticket
from dispatch.tickets.workflow import self_resolve

router = APIRouter(prefix="/api/intake", tags=["intake"])

# A resent report (same `client_ref`) or a re-posted call (same `call_id`) answers 200 with the first ticket.
ALREADY_RECEIVED: dict[int | str, dict[str, Any]] = {
    200: {"model": IntakeReceipt, "description": "已受理过：返回最初的工单"}
}


def _receipt(response: Response, ticket: Ticket, created: bool) -> IntakeReceipt:
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return IntakeReceipt(
        ticket_id=ticket.id or 0,
        number=ticket.number or "",
        state=ticket.state,
        duplicate_of_call=not created,
    )


def read_photos(uploads: list[UploadFile]) -> list[Photo]:
    """Read and check uploaded photos (count, size, real image) before anything is written. Decoding and
    re-encoding take a while: callers are plain `def` endpoints, run off the event loop."""
    settings = get_settings()
    if len(uploads) > settings.photos_max_count:
        raise InvalidInput(f"照片最多 {settings.photos_max_count} 张", field="photos")
    photos = []
    for index, upload in enumerate(uploads):
        data = upload.file.read(settings.photo_max_bytes + 1)  # already received: a spooled file
        photos.append(
            check_photo(upload.filename or "photo", data, max_bytes=settings.photo_max_bytes, index=index)
        )
    return photos


@router.post(
    "/patrol", response_model=IntakeReceipt, status_code=status.HTTP_201_CREATED, responses=ALREADY_RECEIVED
)
def report_patrol(
    response: Response,
    officer: GridOfficer,
    session: SessionDep,
    report: Annotated[PatrolIntake, Form()],
    photos: Annotated[list[UploadFile], File()] = [],  # noqa: B006 - FastAPI copies defaults
) -> IntakeReceipt:
    """A grid officer's report; durable before the answer, routed by a worker after commit."""
    checked = read_photos(photos)
    ticket, created = service.accept_patrol(session, report=report, photos=checked, by=officer)
    if created and report.self_resolved:
        self_resolve(session, ticket=ticket, by=officer, text=report.description)
    session.commit()
    return _receipt(response, ticket, created)


@router.post(
    "/hotline", response_model=IntakeReceipt, status_code=status.HTTP_201_CREATED, responses=ALREADY_RECEIVED
)
def receive_hotline(
    response: Response, staff: HotlineStaff, session: SessionDep, call: HotlineIntake
) -> IntakeReceipt:
    """A 12345 call; re-posting the same call id answers 200 with the existing ticket."""
    ticket, created = service.accept_hotline(session, call=call, by=staff)
    session.commit()
    return _receipt(response, ticket, created)
