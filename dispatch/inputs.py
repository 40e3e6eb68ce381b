"""Input types every view and request schema shares: values the databases can store, checked before any
query runs, so a fuzzer's (or a typo's) out-of-range number, NUL byte or zone-less time answers 422
naming the field instead of a database error.

- Ids and counts live in INTEGER columns (PostgreSQL: 4 bytes), so ids are 1..2147483647 and
  offsets 0..2147483647. (No column is BIGINT; `INT64_MAX` is here for the day one is.)
- PostgreSQL text cannot hold NUL (\\x00): `refuse_nul_bytes` (an app-wide dependency) refuses it in every
  query and path parameter, JSON body string (and key), form field and upload file name.
- A time without a zone is Beijing time (`Settings.timezone`, Asia/Shanghai), as an operator in the
  district means it; stored and compared as UTC on both SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import annotated_types
from fastapi.exceptions import RequestValidationError, WebSocketRequestValidationError
from fastapi.routing import APIRoute
from pydantic import AfterValidator
from starlette.datastructures import UploadFile
from starlette.requests import HTTPConnection, Request

from dispatch.config import get_settings

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
EARLIEST_YEAR = 1900
LATEST_YEAR = 2199

DbId = Annotated[int, annotated_types.Ge(1), annotated_types.Le(INT32_MAX)]
"""A row id (INTEGER primary key)."""

Offset = Annotated[int, annotated_types.Ge(0), annotated_types.Le(INT32_MAX)]
"""How many rows of a list to skip."""

Year = Annotated[int, annotated_types.Ge(EARLIEST_YEAR), annotated_types.Le(LATEST_YEAR)]
"""A calendar year the district could plausibly hold."""


def _local_aware(value: datetime) -> datetime:
    """Attach Beijing time to a zone-less time; refuse times outside 1900–2199 (they cannot become UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(get_settings().timezone))
    try:
        year = value.astimezone(UTC).year
    except OverflowError:
        year = 0
    if not EARLIEST_YEAR <= year <= LATEST_YEAR:
        raise ValueError(f"时间须在 {EARLIEST_YEAR} 至 {LATEST_YEAR} 年之间")
    return value


def _plausible_date(value: date) -> date:
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(f"日期须在 {EARLIEST_YEAR} 至 {LATEST_YEAR} 年之间")
    return value


LocalDateTime = Annotated[datetime, AfterValidator(_local_aware)]
"""A point in time; without a zone it is read as Beijing time (UTC+8). Always timezone-aware."""

PlausibleDate = Annotated[date, AfterValidator(_plausible_date)]
"""A calendar day in 1900–2199."""

NUL = "\x00"
NUL_MESSAGE = "不能包含空字符（NUL，\\x00）"


async def refuse_nul_bytes(connection: HTTPConnection) -> None:
    """App-wide dependency: 422 when any query or path parameter, JSON string, form field or file name
    carries a NUL byte. Runs after FastAPI has read the body, so it reads the same parsed body again."""
    places: list[tuple[str | int, ...]] = [
        ("query", key) for key, value in connection.query_params.multi_items() if NUL in key + value
    ]
    places += [
        ("path", key)
        for key, value in connection.path_params.items()
        if isinstance(value, str) and NUL in value
    ]
    if isinstance(connection, Request):
        places += [("body", *loc) for loc in await _body_places(connection)]
    if not places:
        return
    errors = [{"type": "nul_character", "loc": place, "msg": NUL_MESSAGE} for place in places]
    if connection.scope["type"] == "websocket":
        raise WebSocketRequestValidationError(errors)
    raise RequestValidationError(errors)


async def _body_places(request: Request) -> list[tuple[str | int, ...]]:
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or route.body_field is None:
        return []  # the route reads no body; whatever was sent is ignored
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = await request.form()  # the form FastAPI already parsed (cached on the request)
        places: list[tuple[str | int, ...]] = []
        for key, value in form.multi_items():
            text = (value.filename or "") if isinstance(value, UploadFile) else value
            if NUL in key + text:
                places.append((key,))
        return places
    if "json" in content_type:
        try:
            body = await request.json()  # cached: FastAPI parsed it before the dependencies ran
        except ValueError:
            return []
        return list(_nul_paths(body, ()))
    return []


def _nul_paths(value: Any, path: tuple[str | int, ...]) -> Iterator[tuple[str | int, ...]]:
    if isinstance(value, str):
        if NUL in value:
            yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            if NUL in key:
                yield (*path, key)
            else:
                yield from _nul_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _nul_paths(item, (*path, index))
