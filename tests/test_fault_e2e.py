"""Faults under load, in the running system: nothing accepted is lost or routed twice.

The API, two workers and the scheduler run as processes (as `up` and compose start them) on
PostgreSQL and a private Redis this test starts, kills and restarts. Four clients send 300 events
(12345 calls and patrol reports, half each) at a steady rate while
  - one worker is SIGKILLed and restarted two seconds later (as `up` restarts a dead child),
  - Redis is SIGKILLed and restarted empty five seconds later (it keeps nothing on disk: every queued
    routing job is lost; intake during the outage cannot enqueue at all),
  - an administrator's transaction holds the routing-rule table for three seconds, so routing batches
    fail (the workers run with lock_timeout=1s) and RQ retries them; the scheduler promotes each due
    retry (interval 1, 5, 15 s).
Then every acknowledged event has exactly one ticket, every ticket is routed once (one route log row),
the tickets accepted while Redis was down were routed (by the sweep, or by a routing job that a later
intake woke: it takes every ticket still waiting) and retried jobs finished. The figures are printed
for the record (shown without -s).
PostgreSQL only: lock_timeout is how routing is made to fail here. tests/test_retries_e2e.py covers a
routing batch retried after the database refused connections.
"""

from __future__ import annotations

import re
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from redis import Redis
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry
from sqlalchemy.engine import make_url
from sqlmodel import col, func, select

from dispatch.config import get_settings
from dispatch.db import new_session
from dispatch.embedded import start_redis
from dispatch.events.models import Event
from dispatch.queues import ROUTING_QUEUE
from dispatch.tickets.models import Action, Ticket, TicketLog, TicketState
from tests.conftest import PG_ADMIN_URL
from tests.helpers import grids_in, inside
from tests.processes import Processes, free_port, token, wait_healthy

pytestmark = pytest.mark.e2e

EVENTS = 300
CLIENTS = 4
SEND_S = 30.0
WORKER_KILL_AT_S, WORKER_DOWN_S = 5.0, 2.0
REDIS_KILL_AT_S, REDIS_DOWN_S = 10.0, 5.0
RULES_LOCK_AT_S, RULES_LOCK_S = 24.0, 3.0
SETTLE_S = 90.0
WORKER_ENV = {"PGOPTIONS": "-c lock_timeout=1000"}  # a blocked routing batch fails instead of waiting
CATEGORIES = ("06010", "09009")  # 暴露垃圾 (城管), 车辆乱停 (公安)


class PrivateRedis:
    """A redis-server of this test alone, on a free port, with nothing on disk."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.process = start_redis(port=self.port, data_dir=self.folder)

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None

    def client(self) -> Redis:
        return Redis.from_url(self.url, socket_connect_timeout=0.5, socket_timeout=2)


@pytest.fixture
def private_redis(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[PrivateRedis]:
    """A private Redis; REDIS_URL points this test and the processes it starts at it."""
    server = PrivateRedis(tmp_path / "redis")
    monkeypatch.setenv("REDIS_URL", server.url)
    get_settings.cache_clear()
    yield server
    server.kill()


@dataclass
class Outcome:
    """What a client saw for one event: its final answer and every answer given while Redis was down."""

    key: str
    status: int | None = None
    ticket_id: int | None = None
    attempts: int = 0
    during_outage: list[int] = field(default_factory=list)


@dataclass
class Faults:
    """When each fault happened, and the routing jobs seen waiting for a retry."""

    redis_down: threading.Event = field(default_factory=threading.Event)
    redis_back_at: datetime | None = None
    retried_jobs: set[str] = field(default_factory=set)
    finished_after_retry: set[str] = field(default_factory=set)
    stop_watching: threading.Event = field(default_factory=threading.Event)


def post_event(
    client: httpx.Client, n: int, tokens: dict[str, str], places: list[tuple[float, float]]
) -> Any:
    """Send event number `n` once: even numbers are 12345 calls, odd ones patrol reports."""
    lon, lat = places[n % len(places)]
    category = CATEGORIES[(n // 2) % len(CATEGORIES)]
    if n % 2 == 0:
        return client.post(
            "/api/intake/hotline",
            headers={"Authorization": f"Bearer {tokens['hotline']}"},
            json={
                "call_id": f"FAULT-CALL-{n:04d}",
                "caller_name": "故障测试",
                "caller_phone": "13600001111",
                "address": "永泰街道",
                "lon": lon,
                "lat": lat,
                "request_type": "complaint",
                "category_code": category,
                "content": f"故障测试来电 {n}",
            },
        )
    return client.post(
        "/api/intake/patrol",
        headers={"Authorization": f"Bearer {tokens['wgy0001']}"},
        data={
            "lon": str(lon),
            "lat": str(lat),
            "category_code": category,
            "description": f"故障测试上报 {n}",
            "client_ref": f"FAULT-PATROL-{n:04d}",
        },
    )


def send(
    base: str,
    numbers: range,
    tokens: dict[str, str],
    places: list[tuple[float, float]],
    start_at: float,
    faults: Faults,
    outcomes: dict[int, Outcome],
) -> None:
    """One client: event k of `numbers` goes out at start_at + its slot; an answer lost on the way or a
    5xx is resent with the same call id / client_ref (intake is idempotent on them), as phones do."""
    gap_s = SEND_S / EVENTS
    with httpx.Client(base_url=base, timeout=10) as client:
        for n in numbers:
            time.sleep(max(0.0, start_at + n * gap_s - time.monotonic()))
            outcome = outcomes[n]
            while outcome.attempts < 6:
                outcome.attempts += 1
                down_before = faults.redis_down.is_set()
                try:
                    answer = post_event(client, n, tokens, places)
                except httpx.TransportError:
                    time.sleep(0.5)
                    continue
                if down_before and faults.redis_down.is_set():
                    outcome.during_outage.append(answer.status_code)
                outcome.status = answer.status_code
                if answer.status_code in (200, 201):
                    outcome.ticket_id = int(answer.json()["ticket_id"])
                    break
                if answer.status_code < 500:
                    break  # a refusal: resending will not change it
                time.sleep(0.5)


def watch_retries(redis: PrivateRedis, faults: Faults) -> None:
    """Note every routing job that waits in RQ's scheduled registry (a failed job waiting for a retry),
    and which of them later finish."""
    connection = redis.client()
    while not faults.stop_watching.is_set():
        try:
            registry = ScheduledJobRegistry(ROUTING_QUEUE, connection=connection)  # type: ignore[no-untyped-call]
            faults.retried_jobs.update(registry.get_job_ids())
            for job_id in faults.retried_jobs - faults.finished_after_retry:
                job = Job.fetch(job_id, connection=connection)
                if job.get_status() == JobStatus.FINISHED:
                    faults.finished_after_retry.add(job_id)
        except (RedisError, NoSuchJobError):
            pass  # Redis is down, or a job that failed for good expired
        time.sleep(0.1)


def hold_routing_rules(database: str, seconds: float) -> None:
    """An administrator's transaction holding the routing-rule table (intake never reads it)."""
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{database}"
    with psycopg.connect(url) as conn:
        conn.execute("LOCK TABLE routing_rule IN ACCESS EXCLUSIVE MODE")
        time.sleep(seconds)
        conn.rollback()


def start_worker(processes: Processes, name: str) -> None:
    base = processes.extra_env
    processes.extra_env = {**base, **WORKER_ENV}
    try:
        processes.start(name, "worker")
    finally:
        processes.extra_env = base


def our_tickets() -> tuple[dict[str, list[int | None]], dict[int, Ticket]]:
    """This test's events (external id → ticket ids) and their tickets."""
    with new_session() as session:
        events = session.exec(
            select(Event.external_id, Event.ticket_id).where(col(Event.external_id).contains("FAULT-"))
        ).all()
        by_event: dict[str, list[int | None]] = {}
        for external_id, ticket_id in events:
            by_event.setdefault(external_id or "", []).append(ticket_id)
        ids = [i for ids in by_event.values() for i in ids if i is not None]
        tickets = session.exec(select(Ticket).where(col(Ticket.id).in_(ids))).all()
    return by_event, {t.id or 0: t for t in tickets}


def log_counts(ticket_ids: list[int], actions: tuple[Action, ...]) -> Counter[int]:
    with new_session() as session:
        rows = session.exec(
            select(TicketLog.ticket_id, func.count())
            .where(col(TicketLog.ticket_id).in_(ticket_ids), col(TicketLog.action).in_(actions))
            .group_by(col(TicketLog.ticket_id))
        ).all()
    return Counter({ticket_id: count for ticket_id, count in rows})


def swept(logs: Path) -> int:
    """Tickets the sweep found waiting and woke routing for, from the workers' logs."""
    text = "".join(p.read_text(errors="replace") for p in logs.glob("worker-*.log"))
    return sum(int(n) for n in re.findall(r"sweep woke routing for (\d+) unrouted tickets", text))


def inject_faults(
    processes: Processes, redis: PrivateRedis, database: str, faults: Faults, start_at: float
) -> None:
    """The fault schedule, in seconds after the first event: a worker dies, Redis dies, rules are held."""

    def at(offset_s: float) -> None:
        time.sleep(max(0.0, start_at + offset_s - time.monotonic()))

    at(WORKER_KILL_AT_S)
    processes.stop("worker-1", signal.SIGKILL)
    at(WORKER_KILL_AT_S + WORKER_DOWN_S)
    start_worker(processes, "worker-1")  # as `up` restarts a dead child
    at(REDIS_KILL_AT_S)
    redis.kill()
    faults.redis_down.set()
    at(REDIS_KILL_AT_S + REDIS_DOWN_S)
    faults.redis_down.clear()
    redis.start()  # same port, empty: every queued job is gone
    faults.redis_back_at = datetime.now(UTC)
    at(RULES_LOCK_AT_S)
    hold_routing_rules(database, RULES_LOCK_S)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_no_event_lost_or_duplicated_when_a_worker_and_redis_die_under_load(
    private_redis: PrivateRedis,
    processes: Processes,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    database = str(make_url(database_url).database)
    processes.extra_env = {"REDIS_URL": private_redis.url, "GRID_SWEEP_INTERVAL_S": "2"}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    processes.start("api", "api", "--port", str(port))
    start_worker(processes, "worker-1")
    start_worker(processes, "worker-2")
    processes.start("scheduler", "scheduler")
    wait_healthy(base)
    tokens = {name: token(base, name) for name in ("hotline", "wgy0001")}
    places = [inside(g) for g in grids_in("140213050")[:6]]

    faults = Faults()
    outcomes = {n: Outcome(key=f"{n:04d}") for n in range(EVENTS)}
    watcher = threading.Thread(target=watch_retries, args=(private_redis, faults), daemon=True)
    watcher.start()
    start_at = time.monotonic() + 0.5
    clients = [
        threading.Thread(
            target=send,
            args=(base, range(c, EVENTS, CLIENTS), tokens, places, start_at, faults, outcomes),
            daemon=True,
        )
        for c in range(CLIENTS)
    ]
    for client in clients:
        client.start()

    inject_faults(processes, private_redis, database, faults, start_at)
    for client in clients:
        client.join(timeout=SEND_S + 60)
    sent_s = time.monotonic() - start_at

    # Everything is up again: wait until every acknowledged event's ticket is routed.
    acknowledged = {n: o for n, o in outcomes.items() if o.status in (200, 201)}
    deadline = time.monotonic() + SETTLE_S
    while True:
        by_event, tickets = our_tickets()
        unrouted = [t for t in tickets.values() if t.state is TicketState.NEW]
        if (len(tickets) >= len(acknowledged) and not unrouted) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    settled_s = time.monotonic() - start_at - sent_s
    time.sleep(3)  # a late duplicate routing or a retry still running would show now
    faults.stop_watching.set()
    watcher.join(timeout=5)
    by_event, tickets = our_tickets()
    ticket_ids = sorted(tickets)
    routes = log_counts(ticket_ids, (Action.ROUTE, Action.ROUTE_MANUAL))
    intakes = log_counts(ticket_ids, (Action.INTAKE,))
    states = Counter(t.state.value for t in tickets.values())
    outage = [o for o in acknowledged.values() if o.during_outage]
    outage_tickets = [tickets[o.ticket_id] for o in outage if o.ticket_id in tickets]
    back_at = faults.redis_back_at
    assert back_at is not None
    # Every ticket accepted before Redis came back (its job lost with Redis, or never enqueued): routed
    # how long after the restart?
    before_restart = [t for t in tickets.values() if t.created_at < back_at]
    routed_after_restart_s = (
        max((t.routed_at - back_at).total_seconds() for t in before_restart if t.routed_at is not None)
        if before_restart and all(t.routed_at is not None for t in before_restart)
        else float("nan")
    )
    events_per_ticket = Counter(i for ids in by_event.values() for i in ids)
    duplicates = sum(len(ids) - 1 for ids in by_event.values()) + sum(
        n - 1 for n in events_per_ticket.values()
    )
    figures = (
        f"fault test: sent {EVENTS}, acknowledged {len(acknowledged)} "
        f"({sum(o.attempts - 1 for o in outcomes.values())} client resends), tickets {len(tickets)}, "
        f"duplicates {duplicates}, unrouted {states.get('new', 0)}, states {dict(states)}, "
        f"route logs {sum(routes.values())}; accepted while Redis was down {len(outage)} "
        f"(answers {dict(Counter(s for o in outage for s in o.during_outage))}), "
        f"routed after restart in {routed_after_restart_s:.1f} s; "
        f"sweep woke routing for {swept(processes.logs)}; "
        f"routing jobs retried {len(faults.retried_jobs)}, finished on a retry "
        f"{len(faults.finished_after_retry)}; "
        f"sent in {sent_s:.1f} s, "
        + (
            f"all routed {settled_s:.1f} s later"
            if not states.get("new")
            else f"waited {settled_s:.1f} s more"
        )
    )
    with capsys.disabled():
        print(f"\n{figures}")

    # Intake answered every event, and 201 even while Redis was down (README: "If Redis is down at
    # intake the request still succeeds"); resends after a lost answer got the same ticket.
    assert len(acknowledged) == EVENTS, {n: o for n, o in outcomes.items() if n not in acknowledged}
    assert outage, "no event was sent while Redis was down"
    assert all(s == 201 for o in outage for s in o.during_outage), outage
    assert all(o.status == 201 for o in outcomes.values() if o.attempts == 1)
    # One ticket per event, nothing lost, nothing twice.
    assert len(by_event) == EVENTS and duplicates == 0, by_event
    assert {o.ticket_id for o in acknowledged.values()} == set(tickets)
    assert all(intakes[i] == 1 for i in ticket_ids), intakes
    # Every ticket routed, exactly once.
    assert states.get("new", 0) == 0, states
    assert set(states) <= {TicketState.DISPATCHED.value, TicketState.MANUAL.value}, states
    assert all(routes[i] == 1 for i in ticket_ids), {i: routes[i] for i in ticket_ids if routes[i] != 1}
    # Tickets accepted while Redis was down never woke routing themselves; they were routed all the same.
    assert all(t.state is not TicketState.NEW for t in outage_tickets)
    # Retries ran: routing batches that failed on the held rule table waited in RQ's scheduled registry,
    # the scheduler put them back on the queue and they finished.
    assert faults.retried_jobs, "no routing job failed while the rule table was held"
    assert faults.finished_after_retry, faults.retried_jobs
    # And the API sees Redis again.
    health = httpx.get(f"{base}/api/health", timeout=5).json()
    assert health["redis"] == "ok", health
