"""The outbox: messages to other systems (the city 12345 platform's 回传, webhooks), written in the same
transaction as the move that causes them and delivered by the workers, signed, retried with backoff,
logged.

Delivery is at least once, never lost: a message is claimed with a lease before it is sent and marked
delivered after the receiver's 2xx; a worker killed in between leaves the lease to expire and the
message is sent again with the same `X-Grid-Delivery` id, which receivers use to take it once. A
message that keeps failing is marked failed after `GRID_OUTBOX_MAX_ATTEMPTS` and waits for a manual
retry. Every attempt is in the delivery log.

Signing: `X-Grid-Timestamp` (Unix seconds) and `X-Grid-Signature: sha256=<hex>` = HMAC-SHA256 of
`<timestamp>.<body>` with the shared secret; a receiver refuses a timestamp outside its replay window.
The same scheme signs what the city platform sends us (verify()).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import httpx
from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from dispatch import clock
from dispatch.config import get_settings
from dispatch.db import UTCDateTime, after_commit, enum_type, new_session
from dispatch.errors import NotAuthenticated, NotFound
from dispatch.interop import webhooks
from dispatch.queues import MAINTENANCE_QUEUE, enqueue

log = logging.getLogger(__name__)

DELIVER_JOB = "dispatch.interop.outbox.deliver_due"
LEASE_S = 60  # a claimed message is someone's for this long; then anyone may send it again
_WAKE_FLAG = "outbox_wake_pending"


class MessageStatus(StrEnum):
    PENDING = "pending"  # 待发送 (or waiting for its next try)
    DELIVERED = "delivered"  # 已送达
    FAILED = "failed"  # 发送失败: gave up after the last try; a manual retry starts again


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox_message"

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16, index=True)  # city12345, webhook
    subscription_id: int | None = Field(default=None, foreign_key="webhook_subscription.id", index=True)
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id", index=True)
    event: str = Field(max_length=32)  # closed, returned, extended
    url: str = Field(max_length=500)
    body: str  # the exact JSON text that is signed and sent
    created_at: datetime = Field(sa_type=UTCDateTime)
    status: MessageStatus = Field(default=MessageStatus.PENDING, sa_type=enum_type(MessageStatus), index=True)
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=UTCDateTime, index=True)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # the receiver's receipt
    last_error: str = Field(default="", max_length=500)


class DeliveryAttempt(SQLModel, table=True):
    """One try to deliver a message: the delivery log."""

    __tablename__ = "delivery_attempt"

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="outbox_message.id", index=True)
    at: datetime = Field(sa_type=UTCDateTime)
    status_code: int | None = None  # None: no answer (refused, timed out)
    error: str = Field(default="", max_length=500)
    duration_ms: int = 0


class SeenSignature(SQLModel, table=True):
    """Signatures of signed requests already taken, so a replay within the window is refused."""

    __tablename__ = "seen_signature"

    signature: str = Field(primary_key=True, max_length=64)
    at: datetime = Field(sa_type=UTCDateTime, index=True)


# --- signing -------------------------------------------------------------------------------------------


def signature(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: bytes, *, message_id: int | None = None) -> dict[str, str]:
    timestamp = str(int(clock.now().timestamp()))
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "X-Grid-Timestamp": timestamp,
        "X-Grid-Signature": f"sha256={signature(secret, timestamp, body)}",
    }
    if message_id is not None:
        headers["X-Grid-Delivery"] = str(message_id)
    return headers


def verify(session: Session, headers: Mapping[str, str], body: bytes, *, secret: str) -> None:
    """Refuse (401, one message for every reason) a request not signed with `secret`, signed outside the
    replay window, or whose signature was already taken; remember the signature otherwise."""
    refused = NotAuthenticated("签名无效或已过期")
    timestamp = headers.get("x-grid-timestamp", "")
    given = headers.get("x-grid-signature", "").removeprefix("sha256=")
    if not secret or not timestamp.isdigit() or not given:
        raise refused
    window = get_settings().signature_window_s
    if abs(clock.now().timestamp() - int(timestamp)) > window:
        raise refused
    if not hmac.compare_digest(given, signature(secret, timestamp, body)):
        raise refused
    now = clock.now()
    session.exec(delete(SeenSignature).where(col(SeenSignature.at) < now - timedelta(seconds=2 * window)))
    try:
        with session.begin_nested():
            session.add(SeenSignature(signature=given, at=now))
            session.flush()
    except IntegrityError:
        raise refused from None


# --- writing -------------------------------------------------------------------------------------------


def add(
    session: Session,
    *,
    channel: str,
    ticket_id: int | None,
    event: str,
    url: str,
    payload: dict[str, Any],
    subscription_id: int | None = None,
) -> None:
    """Put a message in the outbox in the caller's transaction; the workers are woken after it commits."""
    now = clock.now()
    session.add(
        OutboxMessage(
            channel=channel,
            subscription_id=subscription_id,
            ticket_id=ticket_id,
            event=event,
            url=url,
            body=json.dumps(payload, ensure_ascii=False, sort_keys=True),
            created_at=now,
            next_attempt_at=now,
        )
    )
    if not session.info.get(_WAKE_FLAG):
        session.info[_WAKE_FLAG] = True

        def wake() -> None:
            session.info.pop(_WAKE_FLAG, None)
            _wake()

        after_commit(session, wake)


# --- delivering ----------------------------------------------------------------------------------------


def _claim(limit: int) -> list[OutboxMessage]:
    """Messages due now, each leased to this pass by a guarded UPDATE (two workers never share one)."""
    now = clock.now()
    claimed: list[OutboxMessage] = []
    with new_session() as session:
        due = session.exec(
            select(OutboxMessage)
            .where(
                OutboxMessage.status == MessageStatus.PENDING,
                col(OutboxMessage.next_attempt_at) <= now,
                (col(OutboxMessage.lease_until).is_(None)) | (col(OutboxMessage.lease_until) < now),
            )
            .order_by(col(OutboxMessage.id))
            .limit(limit)
        ).all()
        for message in due:
            taken = session.exec(
                update(OutboxMessage)
                .where(
                    col(OutboxMessage.id) == message.id,
                    col(OutboxMessage.status) == MessageStatus.PENDING,
                    (col(OutboxMessage.lease_until).is_(None)) | (col(OutboxMessage.lease_until) < now),
                )
                .values(lease_until=now + timedelta(seconds=LEASE_S), attempts=OutboxMessage.attempts + 1)
            )
            if taken.rowcount == 1:
                claimed.append(message)
        session.commit()
        for message in claimed:
            session.refresh(message)
    return claimed


def _secret(message: OutboxMessage) -> str:
    """The secret a message is signed with: its webhook subscription's, or the city platform's."""
    if message.subscription_id is not None:
        with new_session() as session:
            subscription = session.get(webhooks.WebhookSubscription, message.subscription_id)
            return subscription.secret if subscription else ""
    return get_settings().city12345_secret


def _send(message: OutboxMessage) -> tuple[int | None, str, int]:
    body = message.body.encode()
    started = time.monotonic()
    try:
        answer = httpx.post(
            message.url,
            content=body,
            headers=signed_headers(_secret(message), body, message_id=message.id),
            timeout=get_settings().outbox_timeout_s,
        )
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500], int((time.monotonic() - started) * 1000)
    error = "" if answer.is_success else f"HTTP {answer.status_code}: {answer.text[:200]}"
    return answer.status_code, error, int((time.monotonic() - started) * 1000)


def _backoff(attempts: int) -> timedelta:
    settings = get_settings()
    return timedelta(
        seconds=min(settings.outbox_retry_base_s * 2 ** max(0, attempts - 1), settings.outbox_retry_max_s)
    )


def _settle(message: OutboxMessage, status_code: int | None, error: str, duration_ms: int) -> None:
    now = clock.now()
    settings = get_settings()
    with new_session() as session:
        session.add(
            DeliveryAttempt(
                message_id=message.id or 0,
                at=now,
                status_code=status_code,
                error=error,
                duration_ms=duration_ms,
            )
        )
        values: dict[str, Any] = {"lease_until": None, "last_error": error}
        if not error:
            values |= {"status": MessageStatus.DELIVERED, "delivered_at": now}
        elif message.attempts >= settings.outbox_max_attempts:
            values |= {"status": MessageStatus.FAILED}
        else:
            values |= {"next_attempt_at": now + _backoff(message.attempts)}
        session.exec(update(OutboxMessage).where(col(OutboxMessage.id) == message.id).values(**values))
        if message.subscription_id is not None:
            gave_up = values.get("status") is MessageStatus.FAILED
            webhooks.settled(session, message.subscription_id, delivered=not error, gave_up=gave_up)
        session.commit()


def deliver_due(limit: int = 50) -> dict[str, int]:
    """One delivery pass (a worker job, woken after each commit that wrote a message, and periodic)."""
    counts = {"delivered": 0, "failed": 0}
    for message in _claim(limit):
        status_code, error, duration_ms = _send(message)
        _settle(message, status_code, error, duration_ms)
        counts["failed" if error else "delivered"] += 1
        if error:
            log.warning(
                "outbox message %s to %s: %s (try %d)", message.id, message.url, error, message.attempts
            )
    return counts


def retry(session: Session, message_id: int) -> OutboxMessage:
    """手动重发: a failed (or waiting) message is due again now, its tries counted afresh."""
    message = session.get(OutboxMessage, message_id)
    if message is None:
        raise NotFound("消息不存在")
    if message.status is not MessageStatus.DELIVERED:
        message.status = MessageStatus.PENDING
        message.attempts = 0
        message.next_attempt_at = clock.now()
        message.lease_until = None
        session.add(message)
        after_commit(session, _wake)
    return message


def _wake() -> None:
    enqueue(MAINTENANCE_QUEUE, DELIVER_JOB)


def attempts_of(session: Session, message_ids: Sequence[int]) -> dict[int, list[DeliveryAttempt]]:
    found: dict[int, list[DeliveryAttempt]] = {}
    for attempt in session.exec(
        select(DeliveryAttempt)
        .where(col(DeliveryAttempt.message_id).in_(message_ids))
        .order_by(col(DeliveryAttempt.id))
    ):
        found.setdefault(attempt.message_id, []).append(attempt)
    return found
