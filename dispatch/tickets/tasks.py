"""RQ jobs for tickets. Jobs are safe to run twice and commit once.

Routing runs in batches: intake does not enqueue a job per ticket but *wakes* routing — one job is
enqueued unless one is already waiting to start — and that job routes every ticket still waiting when
it starts (up to `route_batch_size`; a full batch wakes the next job at once, so both workers share a
backlog). A quiet system routes each ticket on its own at once; under a burst the batches grow and the
cost per ticket falls, with one transaction, one log insert and one console wake-up per batch.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from redis.exceptions import RedisError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlmodel import Session, col, func, select

from dispatch import clock
from dispatch.config import get_settings
from dispatch.db import after_commit, commit_with_retry, new_session
from dispatch.queues import ROUTING_QUEUE, enqueue, get_queue, redis_connection
from dispatch.tickets.models import Action, Ticket, TicketState
from dispatch.tickets.routing import route_batch
from dispatch.tickets.service import record

log = logging.getLogger(__name__)

ROUTE_JOB = "dispatch.tickets.tasks.route_tickets"
ROUTE_WAITING_JOB = "dispatch.tickets.tasks.route_waiting"
# Set while a routing job is queued and has not started: a ticket accepted meanwhile needs no job of
# its own. The job deletes it before it reads, so a ticket committed later always wakes another job.
WAKE_KEY = "grid-dispatch:routing:wake"
WAKE_TTL_S = 60  # bounds how long a lost job could leave intake thinking one is on its way
_WAKE_FLAG = "routing_wake_pending"
# Failures that another try can cure (the database or Redis away, a lock not granted): RQ retries the
# job. Anything else is the ticket's own problem and must not hold up the rest of its batch.
TRANSIENT = (OperationalError, InterfaceError, RedisError)


def wake_routing(*, force: bool = False) -> bool:
    """Make sure a routing job will start after this moment; False (logged) when Redis is unreachable,
    in which case the periodic sweep wakes routing later. `force` enqueues even if one seems queued."""
    try:
        claimed = redis_connection().set(WAKE_KEY, "1", nx=True, ex=WAKE_TTL_S)
    except RedisError:
        log.warning("Redis unreachable; waiting tickets left for the periodic sweep")
        return False
    if not claimed and not force:
        return True  # a queued job has not started yet: it will read this ticket
    if enqueue(ROUTING_QUEUE, ROUTE_WAITING_JOB):
        return True
    with contextlib.suppress(RedisError):  # or the key expires on its own
        redis_connection().delete(WAKE_KEY)
    return False


def wake_routing_after_commit(session: Session) -> None:
    """Wake routing once this transaction commits (once per transaction, whatever it accepted)."""
    if session.info.get(_WAKE_FLAG):
        return
    session.info[_WAKE_FLAG] = True

    def wake() -> None:
        session.info.pop(_WAKE_FLAG, None)
        wake_routing()

    after_commit(session, wake)


def route_waiting() -> dict[str, int]:
    """Route the oldest tickets still waiting: one batch, claimed and routed in one transaction. On
    PostgreSQL rows another routing job holds are skipped, so two workers take disjoint batches."""
    redis_connection().delete(WAKE_KEY)  # from now on a newly accepted ticket wakes another job
    size = get_settings().route_batch_size
    claimed: list[int] = []

    def work(session: Session) -> dict[str, int]:
        claimed[:] = waiting_ids(session, limit=size)
        if len(claimed) == size:
            wake_routing()  # more are waiting: the next batch starts on another worker now
        return route_batch(session, claimed)

    try:
        return commit_with_retry(work, what="routing batch")
    except TRANSIENT:
        raise
    except Exception:
        log.exception("routing batch of %d failed; routing its tickets one by one", len(claimed))
    return _one_by_one(claimed)


def waiting_ids(session: Session, *, limit: int) -> list[int]:
    query = (
        select(Ticket.id)
        .where(Ticket.state == TicketState.NEW)
        .order_by(col(Ticket.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [i for i in session.exec(query).all() if i is not None]


def route_tickets(ticket_ids: list[int]) -> dict[str, int]:
    """Route these tickets if they still wait, in one transaction. A concurrent router winning a ticket
    means a retry (and if conflicts persist, RQ retries the job); a ticket whose routing fails for a
    reason of its own is routed alone, and sent to the manual queue if it fails again."""
    try:
        return commit_with_retry(lambda session: route_batch(session, ticket_ids), what="routing batch")
    except TRANSIENT:
        raise
    except Exception:
        if len(ticket_ids) == 1:
            return _to_manual(ticket_ids[0])
        log.exception("routing batch of %d failed; routing its tickets one by one", len(ticket_ids))
    return _one_by_one(ticket_ids)


def _one_by_one(ticket_ids: Sequence[int]) -> dict[str, int]:
    counts = {"dispatched": 0, "manual": 0, "skipped": 0}
    for ticket_id in ticket_ids:
        for key, value in route_tickets([ticket_id]).items():
            counts[key] += value
    return counts


def _to_manual(ticket_id: int) -> dict[str, int]:
    log.exception("routing ticket %d failed; it goes to the manual queue", ticket_id)

    def manual(session: Session) -> dict[str, int]:
        ticket = session.get(Ticket, ticket_id)
        if ticket is None or ticket.state is not TicketState.NEW:
            return {"dispatched": 0, "manual": 0, "skipped": 1}
        ticket.manual_reason = "自动派遣出错，需人工派遣"
        record(session, ticket=ticket, action=Action.ROUTE_MANUAL, actor=None, note=ticket.manual_reason)
        return {"dispatched": 0, "manual": 1, "skipped": 0}

    return commit_with_retry(manual, what="manual routing")


def sweep_unrouted() -> int:
    """Wake routing for accepted tickets still waiting whose job is gone (lost with a Redis restart,
    never enqueued during an outage, failed for good, or its worker died); returns how many wait.

    Tickets younger than `sweep_min_age_s` are left alone (their own wake-up may be on its way), and so
    is everything while a routing job is queued: it will route every ticket still waiting when it starts.
    Safe to run any number of times: routing is idempotent.
    """
    cutoff = clock.now() - timedelta(seconds=get_settings().sweep_min_age_s)
    with new_session() as session:
        waiting = _count_waiting(session, created_before=cutoff)
    if not waiting or get_queue(ROUTING_QUEUE).count:
        return 0
    wake_routing(force=True)
    log.info("sweep woke routing for %d unrouted tickets", waiting)
    return waiting


def routing_backlog(session: Session) -> dict[str, int | float | None]:
    """Tickets accepted and not yet routed, and how long the oldest has waited (seconds)."""
    waiting, oldest = session.exec(
        select(func.count(), func.min(Ticket.created_at)).where(Ticket.state == TicketState.NEW)
    ).one()
    age = None if oldest is None else round((clock.now() - oldest).total_seconds(), 1)
    return {"tickets_waiting": int(waiting), "oldest_waiting_s": age}


def _count_waiting(session: Session, *, created_before: datetime) -> int:
    query = select(func.count()).where(
        Ticket.state == TicketState.NEW, col(Ticket.created_at) <= created_before
    )
    return int(session.exec(query).one())
