"""Routing retries run in the running system: a routing batch that fails (here: the database refuses
connections) is retried by RQ after 1, 5 and 15 s, and the scheduler process moves each due retry back
onto the routing queue. The sweep is set to once an hour, so only a retry can route the ticket."""

from __future__ import annotations

import time

import psycopg
import pytest
from sqlalchemy.engine import make_url

from dispatch.db import new_session
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
