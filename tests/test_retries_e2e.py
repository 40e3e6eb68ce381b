"""Routing retries run in the running system: a routing batch that fails (here: the database refuses
connections) is retried by RQ after 1, 5 and 15 s, and the scheduler process moves each due retry back
onto the routing queue. The sweep is set to once an hour, so only a retry can route the ticket. And the
sweep, run by the scheduler process, routes a ticket whose job Redis lost."""

from __future__ import annotations

import time

import psycopg
import pytest
from redis import Redis
from sqlalchemy.engine import make_url

from dispatch.db import new_session
from dispatch.queues import ROUTING_QUEUE, get_queue
from dispatch.tickets.models import Ticket, TicketState
from tests.conftest import PG_ADMIN_URL
from tests.processes import Processes, free_port, report_patrol, wait_healthy

pytestmark = pytest.mark.e2e


def allow_connections(database: str, allowed: bool) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (database,)
            )


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_failed_routing_batch_is_retried(processes: Processes, database_url: str) -> None:
    database = str(make_url(database_url).database)
    processes.extra_env = {"GRID_SWEEP_INTERVAL_S": "3600"}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    processes.start("api", "api", "--port", str(port))
    processes.start("scheduler", "scheduler")
    wait_healthy(base)
    ticket_id = report_patrol(base, "06010", "暴露垃圾")

    allow_connections(database, False)
    try:
        processes.start("worker", "worker")  # its first try fails: the database refuses it
        time.sleep(4)
        assert "OperationalError" in (processes.logs / "worker.log").read_text(errors="replace")
    finally:
        allow_connections(database, True)

    deadline = time.monotonic() + 45
    state = None
    while time.monotonic() < deadline:
        with new_session() as session:
            ticket = session.get(Ticket, ticket_id)
            state = ticket.state if ticket else None
        if state is TicketState.DISPATCHED:
            break
        time.sleep(0.5)
    assert state is TicketState.DISPATCHED, "the retry never ran"


def test_the_sweep_routes_a_ticket_whose_job_was_lost(
    processes: Processes, database_url: str, redis_db: Redis
) -> None:
    """A ticket is accepted while no worker runs, then Redis loses its queue (as in a restart) and no
    further intake wakes routing: only the scheduler's sweep can see that the ticket still waits."""
    processes.extra_env = {"GRID_SWEEP_INTERVAL_S": "1", "GRID_SWEEP_MIN_AGE_S": "1"}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    processes.start("api", "api", "--port", str(port))
    wait_healthy(base)
    ticket_id = report_patrol(base, "06010", "暴露垃圾")
    assert get_queue(ROUTING_QUEUE).count == 1
    redis_db.flushdb()  # the routing job is gone
    processes.start("worker", "worker")
    processes.start("scheduler", "scheduler")

    deadline = time.monotonic() + 30
    state = None
    while time.monotonic() < deadline and state is not TicketState.DISPATCHED:
        time.sleep(0.5)
        with new_session() as session:
            ticket = session.get(Ticket, ticket_id)
            state = ticket.state if ticket else None
    assert state is TicketState.DISPATCHED, "the sweep never woke routing"
    assert "sweep woke routing for 1 unrouted tickets" in (processes.logs / "worker.log").read_text(
        errors="replace"
    )
