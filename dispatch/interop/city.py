"""The city 12345 platform link: tickets it pushes down (工单下发) and the results we send back (回传).

Inbound, `POST /city12345/v1/tickets`: an API key with the `city12345` scope (`X-API-Key`) and a body
signed with the shared secret (outbox.verify: HMAC-SHA256, timestamp, replay window, each signature
taken once). The city's ticket id is the idempotency key: a re-push answers the existing ticket; the
city's time limit (`deadline_at`), when it sets one, is the ticket's deadline.

Outbound: 办结 (结案), 回退 (不予受理: back to the city, with the reason) and 延期 (an approved extension,
with the new deadline) of a city ticket each write a message to the outbox in the move's own transaction;
the workers deliver it to `GRID_CITY12345_CALLBACK_URL`, signed. The city may confirm receipt with a
signed `POST /city12345/v1/receipts` {delivery_id}.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from sqlmodel import Session, select

from dispatch import clock
from dispatch.catalog.models import Department, Urgency
from dispatch.config import get_settings
from dispatch.db import SessionDep
from dispatch.errors import Forbidden, NotAuthenticated, NotFound
from dispatch.events.models import Event, RequestType, Source
from dispatch.events.service import Report, accept
from dispatch.interop import keys, local_iso, outbox
from dispatch.openapi import error_responses
from dispatch.tickets.models import Action, IntakeReceipt, Ticket

CHANNEL = "city12345"
EVENTS = {Action.VERIFY_PASS: "closed", Action.REJECT: "returned", Action.APPROVE_EXTENSION: "extended"}
EVENT_LABELS = {"closed": "办结", "returned": "回退", "extended": "延期"}

router = APIRouter(prefix="/city12345/v1", tags=["city 12345 platform"], responses=error_responses(401, 403))


class CityTicket(BaseModel):
    """A ticket the city platform pushes down."""

    model_config = ConfigDict(extra="forbid")

    city_ticket_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    request_type: RequestType
    category_code: Annotated[str, StringConstraints(min_length=2, max_length=8)]
    content: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    caller_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = None
    caller_phone: Annotated[str, StringConstraints(pattern=r"^[0-9+\-]{5,20}$")] | None = None
    address: Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)] = ""
    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-90, le=90)
    urgency: Urgency = Urgency.NORMAL
    deadline_at: AwareDatetime | None = Field(default=None, description="the city's time limit, kept if set")


class Receipt(BaseModel):
    model_config = ConfigDict(extra="forbid")

    delivery_id: int


def _caller(session: Session, request: Request, body: bytes) -> keys.ApiKey:
    """The city's key (401/403) and the body's signature (401), in that order; every use logged."""
    key = keys.authenticate(session, request.headers.get("x-api-key"))
    if key is None:
        raise NotAuthenticated("API 密钥无效")
    allowed = keys.Scope.CITY12345 in key.scopes
    keys.log_use(
        session,
        key,
        method=request.method,
        path=request.url.path,
        scope=keys.Scope.CITY12345,
        allowed=allowed,
    )
    if not allowed:
        session.commit()  # the refused use stays in the log
        raise Forbidden("该密钥无权调用市12345平台接口")
    outbox.verify(session, request.headers, body, secret=get_settings().city12345_secret)
    return key


def _parse(model: type[BaseModel], body: bytes) -> Any:
    try:
        return model.model_validate_json(body)
    except ValidationError as invalid:
        raise RequestValidationError(invalid.errors()) from None


@router.post("/tickets", response_model=IntakeReceipt, status_code=201, responses=error_responses(422))
async def push_ticket(request: Request, response: Response, session: SessionDep) -> IntakeReceipt:
    """工单下发: a ticket from the city platform (signed; its id makes a re-push answer 200 with the
    ticket it made the first time)."""
    body = await request.body()
    key = _caller(session, request, body)
    pushed: CityTicket = _parse(CityTicket, body)
    account = keys.account(session, key)
    report = Report(
        source=Source.CITY,
        external_id=pushed.city_ticket_id,
        payload=pushed.model_dump(mode="json"),
        fields={
            "request_type": pushed.request_type,
            "category_code": pushed.category_code,
            "urgency": pushed.urgency,
            "description": pushed.content,
            "address": pushed.address,
            "lon": pushed.lon,
            "lat": pushed.lat,
            "caller_name": pushed.caller_name,
            "caller_phone": pushed.caller_phone,
            "reporter_id": account.id,
            "external_deadline_at": pushed.deadline_at,
        },
        photos=[],
        by=account,
    )
    ticket, created = accept(session, report)
    session.commit()  # durable before the answer
    if not created:
        response.status_code = 200
    return IntakeReceipt(
        ticket_id=ticket.id or 0,
        number=ticket.number or "",
        state=ticket.state,
        duplicate_of_call=not created,
    )


@router.post("/receipts", responses=error_responses(404, 422))
async def receipt(request: Request, session: SessionDep) -> dict[str, Any]:
    """The city confirms it received one of our 回传 (signed, each signature once)."""
    body = await request.body()
    _caller(session, request, body)
    confirmed: Receipt = _parse(Receipt, body)
    message = session.get(outbox.OutboxMessage, confirmed.delivery_id)
    if message is None or message.channel != CHANNEL:
        raise NotFound("回传消息不存在")
    if message.acknowledged_at is None:
        message.acknowledged_at = clock.now()
        session.add(message)
    return {"delivery_id": message.id, "acknowledged_at": message.acknowledged_at}


def on_moves(session: Session, tickets: Sequence[Ticket], action: Action, note: str) -> None:
    """回传 of 办结, 回退 and 延期 for city tickets: one outbox message each, in the move's transaction."""
    event = EVENTS.get(action)
    url = get_settings().city12345_callback_url
    if event is None or not url:
        return
    for ticket in tickets:
        if ticket.source is not Source.CITY:
            continue
        city_id = session.exec(select(Event.external_id).where(Event.ticket_id == ticket.id)).first()
        department = session.get(Department, ticket.department_id) if ticket.department_id else None
        payload: dict[str, Any] = {
            "city_ticket_id": city_id,
            "ticket_number": ticket.number,
            "event": event,
            "event_label": EVENT_LABELS[event],
            "at": local_iso(clock.now()),
            "department": department.name if department else None,
            "note": note,
        }
        if event == "closed":
            payload["result"] = ticket.feedback_text
        elif event == "returned":
            payload["reason"] = ticket.reject_reason
        else:
            payload["deadline_at"] = local_iso(ticket.deadline_at)
        outbox.add(session, channel=CHANNEL, ticket_id=ticket.id, event=event, url=url, payload=payload)
