"""Intake endpoints: a patrol report (multipart with photos) and a 12345 call (JSON)."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Response, UploadFile, status
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from dispatch.auth.deps import GridOfficer, HotlineStaff
from dispatch.auth.models import User
from dispatch.config import get_settings
from dispatch.db import new_session
from dispatch.errors import DispatchError, InvalidInput
from dispatch.events import service
from dispatch.events.batcher import Pending, Receipt, accept_alone, batcher, commit_group
from dispatch.events.photos import Photo, check_photo
from dispatch.events.schemas import HotlineBatch, HotlineIntake, PatrolIntake
from dispatch.tickets.models import BatchItemReceipt, BatchReceipt, IntakeReceipt
from dispatch.tickets.workflow import self_resolve

router = APIRouter(prefix="/api/intake", tags=["intake"])

# A resent report (same `client_ref`) or a re-posted call (same `call_id`) answers 200 with the first ticket.
ALREADY_RECEIVED: dict[int | str, dict[str, Any]] = {
    200: {"model": IntakeReceipt, "description": "已受理过：返回最初的工单"}
}


def _receipt(response: Response, receipt: Receipt) -> IntakeReceipt:
    response.status_code = status.HTTP_201_CREATED if receipt.created else status.HTTP_200_OK
    return IntakeReceipt(
        ticket_id=receipt.ticket_id,
        number=receipt.number,
        state=receipt.state,
        duplicate_of_call=not receipt.created,
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
    report: Annotated[PatrolIntake, Form()],
    photos: Annotated[list[UploadFile], File()] = [],  # noqa: B006 - FastAPI copies defaults
) -> IntakeReceipt:
    """A grid officer's report; durable before the answer, routed by a worker after commit."""
    checked = read_photos(photos)
    if report.self_resolved:
        return _receipt(response, _self_resolved(report, checked, officer))
    intake = service.patrol_report(report, checked, officer)
    if not get_settings().intake_group_commit:
        return _receipt(response, accept_alone(intake))
    return _receipt(response, batcher.submit(intake).result())


def _self_resolved(report: PatrolIntake, photos: list[Photo], officer: User) -> Receipt:
    """自行处置: accepted and closed by the officer in one transaction."""
    with new_session() as session:
        ticket, created = service.accept_patrol(session, report=report, photos=photos, by=officer)
        if created:
            self_resolve(session, ticket=ticket, by=officer, text=report.description)
        receipt = Receipt.of(ticket, created)
        session.commit()
    return receipt


@router.post(
    "/hotline", response_model=IntakeReceipt, status_code=status.HTTP_201_CREATED, responses=ALREADY_RECEIVED
)
async def receive_hotline(response: Response, staff: HotlineStaff, call: HotlineIntake) -> IntakeReceipt:
    """A 12345 call; re-posting the same call id answers 200 with the existing ticket."""
    intake = service.hotline_report(call, staff)
    if not get_settings().intake_group_commit:
        return _receipt(response, await run_in_threadpool(accept_alone, intake))
    return _receipt(response, await asyncio.wrap_future(batcher.submit(intake)))


@router.post("/hotline/batch", response_model=BatchReceipt)
async def receive_hotline_batch(staff: HotlineStaff, batch: HotlineBatch) -> BatchReceipt:
    """Up to 500 12345 calls in one request, e.g. a call-centre system catching up after an outage.

    Each call is checked and accepted on its own: the answer (200) lists, in order, 201 for a new
    ticket, 200 for a call id already received (its first ticket), or the error refusing that call
    (`detail`, `field` such as `calls.3.caller_phone`). It comes once every accepted call is committed,
    in one transaction when they all pass (one by one if that transaction fails). Re-sending the batch
    is safe: call ids already received answer 200.
    """
    results: dict[int, BatchItemReceipt] = {}
    group: list[Pending] = []
    indexes: list[int] = []
    for index, raw in enumerate(batch.calls):
        try:
            call = HotlineIntake.model_validate(raw)
        except ValidationError as exc:
            results[index] = _refused_item(index, exc)
            continue
        group.append((service.hotline_report(call, staff), Future()))
        indexes.append(index)
    if group:
        await run_in_threadpool(commit_group, group)
    for index, (_, future) in zip(indexes, group, strict=True):
        error = future.exception()
        if error is None:
            receipt = future.result()
            results[index] = BatchItemReceipt(
                index=index,
                status=201 if receipt.created else 200,
                ticket_id=receipt.ticket_id,
                number=receipt.number,
                state=receipt.state,
                duplicate_of_call=not receipt.created,
            )
        elif isinstance(error, DispatchError):
            field = f"calls.{index}.{error.field}" if error.field else f"calls.{index}"
            results[index] = BatchItemReceipt(
                index=index, status=error.status, detail=error.message, field=field
            )
        else:
            raise error  # the database failed even call by call: nothing here can be answered
    items = [results[i] for i in range(len(batch.calls))]
    return BatchReceipt(
        accepted=sum(i.status == 201 for i in items),
        already_received=sum(i.status == 200 for i in items),
        refused=sum(i.status >= 400 for i in items),
        results=items,
    )


def _refused_item(index: int, exc: ValidationError) -> BatchItemReceipt:
    """A call that is not a valid HotlineIntake, named as the single-call endpoint would name it."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    fields = [".".join(str(p) for p in ("calls", index, *e["loc"])) for e in errors]
    summary = "; ".join(f"{f}: {e['msg']}" for f, e in zip(fields, errors, strict=True))
    return BatchItemReceipt(index=index, status=422, detail=f"输入有误 — {summary}", field=fields[0])
