"""Admin API for interoperability: service accounts' API keys (create — the key shown once —, list, rotate,
revoke, uses) and the delivery log of the outbox (with a manual retry)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlmodel import col, select

from dispatch.auth.deps import Admin
from dispatch.db import SessionDep
from dispatch.inputs import DbId
from dispatch.interop import keys, outbox, webhooks
from dispatch.interop.keys import ApiKey, ApiKeyUse
from dispatch.openapi import error_responses

router = APIRouter(prefix="/api/admin/api-keys", tags=["admin: API keys"], responses=error_responses(404))


class KeyWrite(BaseModel):
    name: str = Field(min_length=1, max_length=64, description="调用方名称，如：市12345平台")
    scopes: list[str] = Field(min_length=1, description="open311, city12345")


class KeyRead(BaseModel):
    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    replaced_by_id: int | None


class KeyIssued(KeyRead):
    key: str = Field(description="the key itself: shown this once, never again")


class UseRead(BaseModel):
    at: datetime
    method: str
    path: str
    scope: str
    allowed: bool


def _read(key: ApiKey) -> KeyRead:
    return KeyRead.model_validate(key, from_attributes=True)


@router.post("", response_model=KeyIssued, status_code=201)
def create_key(body: KeyWrite, admin: Admin, session: SessionDep) -> KeyIssued:
    """A new key for a machine client; the answer holds the key, which is not stored and not shown again."""
    key, shown = keys.create(session, name=body.name, scopes=body.scopes, by=admin)
    return KeyIssued(**_read(key).model_dump(), key=shown)


@router.get("", response_model=list[KeyRead])
def list_keys(_: Admin, session: SessionDep) -> list[KeyRead]:
    """Every key, newest first (without the secret, which is not stored)."""
    return [_read(k) for k in session.exec(select(ApiKey).order_by(col(ApiKey.id).desc()))]


@router.post("/{key_id}/rotate", response_model=KeyIssued, status_code=201)
def rotate_key(key_id: DbId, admin: Admin, session: SessionDep) -> KeyIssued:
    """A new key for the same client and scopes; the old one stops working at once."""
    key, shown = keys.rotate(session, key_id=key_id, by=admin)
    return KeyIssued(**_read(key).model_dump(), key=shown)


@router.post("/{key_id}/revoke", response_model=KeyRead)
def revoke_key(key_id: DbId, _: Admin, session: SessionDep) -> KeyRead:
    """The key stops working at once (its uses stay in the log)."""
    return _read(keys.revoke(session, key_id=key_id))


@router.get("/{key_id}/uses", response_model=list[UseRead])
def key_uses(
    key_id: DbId, _: Admin, session: SessionDep, limit: Annotated[int, Query(ge=1, le=1000)] = 200
) -> list[UseRead]:
    """The key's uses, newest first."""
    keys.get(session, key_id)
    uses = session.exec(
        select(ApiKeyUse).where(ApiKeyUse.key_id == key_id).order_by(col(ApiKeyUse.id).desc()).limit(limit)
    )
    return [UseRead.model_validate(u, from_attributes=True) for u in uses]


deliveries = APIRouter(
    prefix="/api/admin/deliveries", tags=["admin: deliveries"], responses=error_responses(404)
)


class AttemptRead(BaseModel):
    at: datetime
    status_code: int | None
    error: str
    duration_ms: int


class MessageRead(BaseModel):
    id: int
    channel: str
    ticket_id: int | None
    event: str
    url: str
    body: str
    created_at: datetime
    status: outbox.MessageStatus
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    acknowledged_at: datetime | None
    last_error: str
    log: list[AttemptRead]


def _messages(session: SessionDep, found: list[outbox.OutboxMessage]) -> list[MessageRead]:
    attempts = outbox.attempts_of(session, [m.id or 0 for m in found])
    return [
        MessageRead(
            **m.model_dump(exclude={"lease_until"}),
            log=[AttemptRead.model_validate(a, from_attributes=True) for a in attempts.get(m.id or 0, [])],
        )
        for m in found
    ]


@deliveries.get("", response_model=list[MessageRead])
def list_deliveries(
    _: Admin,
    session: SessionDep,
    status: outbox.MessageStatus | None = None,
    channel: str | None = None,
    ticket_id: DbId | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[MessageRead]:
    """The delivery log: outbox messages newest first, each with every attempt."""
    statement = select(outbox.OutboxMessage)
    if status is not None:
        statement = statement.where(outbox.OutboxMessage.status == status)
    if channel is not None:
        statement = statement.where(outbox.OutboxMessage.channel == channel)
    if ticket_id is not None:
        statement = statement.where(outbox.OutboxMessage.ticket_id == ticket_id)
    found = list(session.exec(statement.order_by(col(outbox.OutboxMessage.id).desc()).limit(limit)))
    return _messages(session, found)


@deliveries.post("/{message_id}/retry", response_model=MessageRead)
def retry_delivery(message_id: DbId, _: Admin, session: SessionDep) -> MessageRead:
    """手动重发: a failed (or waiting) message is tried again now, its tries counted afresh."""
    message = outbox.retry(session, message_id)
    session.flush()
    return _messages(session, [message])[0]


hooks = APIRouter(prefix="/api/admin/webhooks", tags=["admin: webhooks"], responses=error_responses(404))


class WebhookWrite(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    url: str = Field(min_length=8, max_length=500)
    actions: list[str] = Field(default_factory=list, description="ticket actions (empty: all)")
    category_codes: list[str] = Field(default_factory=list, description="category code prefixes (empty: all)")
    area_codes: list[str] = Field(
        default_factory=list, description="street/community/grid codes (empty: all)"
    )
    department_ids: list[int] = Field(default_factory=list, description="departments (empty: all)")


class WebhookRead(BaseModel):
    id: int
    name: str
    url: str
    actions: list[str]
    category_codes: list[str]
    area_codes: list[str]
    department_ids: list[int]
    active: bool
    failures_in_a_row: int
    paused_at: datetime | None
    pause_reason: str
    created_at: datetime


class WebhookIssued(WebhookRead):
    secret: str = Field(description="signs every delivery (X-Grid-Signature); shown this once")


@hooks.post("", response_model=WebhookIssued, status_code=201)
def create_webhook(body: WebhookWrite, admin: Admin, session: SessionDep) -> WebhookIssued:
    """Subscribe a URL to ticket events; the answer holds the signing secret, shown this once."""
    made = webhooks.create(session, **body.model_dump(), by=admin)
    return WebhookIssued.model_validate(made, from_attributes=True)


@hooks.get("", response_model=list[WebhookRead])
def list_webhooks(_: Admin, session: SessionDep) -> list[WebhookRead]:
    """Every subscription, with whether it is paused and why."""
    found = session.exec(select(webhooks.WebhookSubscription).order_by(col(webhooks.WebhookSubscription.id)))
    return [WebhookRead.model_validate(w, from_attributes=True) for w in found]


@hooks.post("/{subscription_id}/resume", response_model=WebhookRead)
def resume_webhook(subscription_id: DbId, _: Admin, session: SessionDep) -> WebhookRead:
    """Resume a paused subscription (its failure count starts again)."""
    return WebhookRead.model_validate(webhooks.resume(session, subscription_id), from_attributes=True)


@hooks.delete("/{subscription_id}", status_code=204)
def delete_webhook(subscription_id: DbId, _: Admin, session: SessionDep) -> None:
    """Stop a subscription for good (its delivery log stays)."""
    found = webhooks.get(session, subscription_id)
    found.active, found.pause_reason = False, "已取消订阅"
    session.add(found)
