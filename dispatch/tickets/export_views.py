"""`GET /api/exports/tickets` and `/api/exports/timelines`: what the viewer may see, with any filter of
`GET /api/tickets`, as CSV (streamed) or XLSX."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from dispatch import clock
from dispatch.auth.deps import CurrentUser
from dispatch.db import new_session
from dispatch.tickets import export
from dispatch.tickets.models import TicketQuery

router = APIRouter(prefix="/api/exports", tags=["exports"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Format = Annotated[Literal["csv", "xlsx"], Query(description="csv（流式）或 xlsx")]


async def _export(
    rows: export.Rows,
    headers: tuple[str, ...],
    stem: str,
    title: str,
    viewer: CurrentUser,
    query: TicketQuery,
    fmt: str,
) -> StreamingResponse:
    name = f"{stem}-{clock.now().strftime('%Y%m%d%H%M%S')}.{fmt}"
    disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
    if fmt == "csv":
        stream = export.csv_stream(new_session, rows, headers, viewer, query)
        return StreamingResponse(stream, media_type="text/csv; charset=utf-8", headers=disposition)
    path = await run_in_threadpool(export.xlsx_file, new_session, rows, headers, viewer, query, title=title)
    return StreamingResponse(export.file_chunks(path), media_type=XLSX, headers=disposition)


@router.get(
    "/tickets", response_class=StreamingResponse, responses={200: {"content": {"text/csv": {}, XLSX: {}}}}
)
async def export_tickets(
    viewer: CurrentUser,
    query: Annotated[TicketQuery, Query()],
    format: Format = "csv",  # noqa: A002
) -> StreamingResponse:
    """The tickets the viewer may see that match the list's filters (limit and offset do not apply:
    every match), one row each, Chinese headers; phones masked but for hotline staff."""
    return await _export(export.ticket_rows, export.TICKET_HEADERS, "tickets", "工单", viewer, query, format)


@router.get(
    "/timelines", response_class=StreamingResponse, responses={200: {"content": {"text/csv": {}, XLSX: {}}}}
)
async def export_timelines(
    viewer: CurrentUser,
    query: Annotated[TicketQuery, Query()],
    format: Format = "csv",  # noqa: A002
) -> StreamingResponse:
    """The full timeline of each matching ticket, one row per move, oldest first per ticket."""
    return await _export(
        export.timeline_rows, export.TIMELINE_HEADERS, "timelines", "时间线", viewer, query, format
    )
