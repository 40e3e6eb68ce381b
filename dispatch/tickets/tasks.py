"""RQ jobs for tickets. Jobs take ids, are safe to run twice, and commit once."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlmodel import col, select

from dispatch import clock
from dispatch.config import get_settings
from dispatch.db import commit_with_retry, new_session
from dispatch.queues import ROUTING_QUEUE, enqueue, pending_since
from dispatch.tickets.models import Ticket, TicketState
from dispatch.tickets.routing import route_batch

log = logging.getLogger(__name__)

ROUTE_JOB = "dispatch.tickets.tasks.route_tickets"
SAME_MOMENT_S = 1.0  # a ticket is committed just before its job is enqueued; clocks of hosts differ a little


def route_tickets(ticket_ids: list[int]) -> dict[str, int]:
    """Route these tickets if they still wait; a concurrent router winning a ticket just means a retry
    (and if conflicts persist, RQ retries the job)."""
    return commit_with_retry(lambda session: route_batch(session, ticket_ids), what="routing batch")


def sweep_unrouted() -> int:
    """Re-enqueue every accepted ticket still waiting for routing whose job is gone (lost with a Redis
    restart, never enqueued during an outage, failed for good, or its worker died).

    Only tickets accepted before the oldest routing job still to run are taken: a younger one's job may be
    waiting behind it, and enqueueing it again would only add to a backlog. Returns the number of tickets
    enqueued. Safe to run any number of times: routing is idempotent.
    """
    settings = get_settings()
    cutoff = clock.now() - timedelta(seconds=settings.sweep_min_age_s)
    backlog_since = pending_since(ROUTING_QUEUE)
    if backlog_since is not None:
        cutoff = min(cutoff, backlog_since - timedelta(seconds=SAME_MOMENT_S))
    with new_session() as session:
        ids = list(
            session.exec(
                select(Ticket.id)
                .where(Ticket.state == TicketState.NEW, col(Ticket.created_at) <= cutoff)
                .order_by(col(Ticket.id))
            ).all()
        )
    batch = settings.route_batch_size
    for start in range(0, len(ids), batch):
        enqueue(ROUTING_QUEUE, ROUTE_JOB, [i for i in ids[start : start + batch] if i is not None])
    if ids:
        log.info("sweep re-enqueued %d unrouted tickets", len(ids))
    return len(ids)
