"""Webhooks: other systems subscribe a URL to ticket events, filtered by action, category, area and
department. Each matching move writes an outbox message in the move's own transaction; the workers
deliver it signed with the subscription's own secret (the outbox's scheme), retried and logged like any
delivery. A subscription whose messages keep failing (`GRID_WEBHOOK_PAUSE_AFTER` given up in a row) is
paused, with the reason; an admin resumes it.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, update
from sqlmodel import Field, Session, SQLModel, col, select

from dispatch import clock
from dispatch.auth.models import User
from dispatch.config import get_settings
from dispatch.db import UTCDateTime
from dispatch.errors import InvalidInput, NotFound
from dispatch.interop import local_iso
from dispatch.tickets.models import Action, Ticket

log = logging.getLogger(__name__)
CHANNEL = "webhook"


class WebhookSubscription(SQLModel, table=True):
    __tablename__ = "webhook_subscription"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64)
    url: str = Field(max_length=500)
    secret: str = Field(max_length=64)  # signs every delivery; shown to the admin once, when made
    actions: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # [] all
    category_codes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    area_codes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    department_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    active: bool = True
    failures_in_a_row: int = 0
    paused_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    pause_reason: str = Field(default="", max_length=500)
    created_by_id: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(sa_type=UTCDateTime)

    def matches(self, ticket: Ticket, action: Action) -> bool:
        return (
            (not self.actions or action.value in self.actions)
            and (not self.category_codes or ticket.category_code.startswith(tuple(self.category_codes)))
            and (not self.area_codes or (ticket.grid_code or "").startswith(tuple(self.area_codes)))
            and (not self.department_ids or ticket.department_id in self.department_ids)
        )


def create(
    session: Session,
    *,
    name: str,
    url: str,
    actions: Sequence[str],
    category_codes: Sequence[str],
    area_codes: Sequence[str],
    department_ids: Sequence[int],
    by: User,
) -> WebhookSubscription:
    if not url.startswith(("http://", "https://")):
        raise InvalidInput("回调地址须以 http:// 或 https:// 开头", field="url")
    known = {a.value for a in Action}
    if unknown := [a for a in actions if a not in known]:
        raise InvalidInput(f"未知的事件：{'、'.join(unknown)}", field="actions")
    subscription = WebhookSubscription(
        name=name.strip(),
        url=url,
        secret=secrets.token_urlsafe(32),
        actions=sorted(set(actions)),
        category_codes=sorted(set(category_codes)),
        area_codes=sorted(set(area_codes)),
        department_ids=sorted(set(department_ids)),
        created_by_id=by.id,
        created_at=clock.now(),
    )
    session.add(subscription)
    session.flush()
    return subscription


def get(session: Session, subscription_id: int) -> WebhookSubscription:
    found = session.get(WebhookSubscription, subscription_id)
    if found is None:
        raise NotFound("订阅不存在")
    return found


def resume(session: Session, subscription_id: int) -> WebhookSubscription:
    found = get(session, subscription_id)
    found.active, found.failures_in_a_row, found.paused_at, found.pause_reason = True, 0, None, ""
    session.add(found)
    return found


def on_moves(session: Session, tickets: Sequence[Ticket], action: Action, note: str) -> None:
    """One outbox message per (move, active subscription it matches), in the move's transaction."""
    from dispatch.interop import outbox  # outbox builds on this module's table for its secrets

    subscriptions = session.exec(select(WebhookSubscription).where(col(WebhookSubscription.active))).all()
    if not subscriptions:
        return
    at = local_iso(clock.now())
    for ticket in tickets:
        for subscription in subscriptions:
            if not subscription.matches(ticket, action):
                continue
            payload: dict[str, Any] = {
                "event": action.value,
                "at": at,
                "note": note,
                "ticket": {
                    "id": ticket.id,
                    "number": ticket.number,
                    "state": ticket.state.value,
                    "source": ticket.source.value,
                    "category_code": ticket.category_code,
                    "grid_code": ticket.grid_code,
                    "street_code": ticket.street_code,
                    "community_code": ticket.community_code,
                    "department_id": ticket.department_id,
                    "deadline_at": local_iso(ticket.deadline_at),
                },
            }
            outbox.add(
                session,
                channel=CHANNEL,
                ticket_id=ticket.id,
                event=action.value,
                url=subscription.url,
                payload=payload,
                subscription_id=subscription.id,
            )


def settled(session: Session, subscription_id: int, *, delivered: bool, gave_up: bool) -> None:
    """Count a message's outcome against its subscription; pause it after too many given up in a row."""
    if delivered:
        session.exec(
            update(WebhookSubscription)
            .where(col(WebhookSubscription.id) == subscription_id)
            .values(failures_in_a_row=0)
        )
        return
    if not gave_up:
        return
    session.exec(
        update(WebhookSubscription)
        .where(col(WebhookSubscription.id) == subscription_id)
        .values(failures_in_a_row=WebhookSubscription.failures_in_a_row + 1)
    )
    subscription = session.get(WebhookSubscription, subscription_id)
    limit = get_settings().webhook_pause_after
    if subscription is not None and subscription.active and subscription.failures_in_a_row >= limit:
        subscription.active = False
        subscription.paused_at = clock.now()
        subscription.pause_reason = (
            f"连续 {subscription.failures_in_a_row} 条消息投递失败，已暂停；恢复前请检查回调地址"
        )
        session.add(subscription)
        log.warning(
            "webhook subscription %s (%s) paused: %s",
            subscription.id,
            subscription.url,
            subscription.pause_reason,
        )
