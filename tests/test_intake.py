"""Intake: durable before acknowledged, idempotent re-posts, and nothing lost while Redis is down."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from redis import Redis
from sqlmodel import Session, func, select

from dispatch import clock
from dispatch.config import get_settings
from dispatch.db import new_session
from dispatch.events.models import Event
from dispatch.queues import ROUTING_QUEUE, get_queue
from dispatch.tickets.models import Ticket, TicketState
from dispatch.tickets.tasks import sweep_unrouted
from tests.helpers import grids_in, inside

CALL = {
    "call_id": "12345-20261128-0001",
    "caller_name": "王女士",
    "caller_phone": "13912345678",
    "address": "永泰街道某小区",
    "request_type": "complaint",
    "category_code": "06028",
    "content": "楼下商铺夜间噪声扰民",
}


def count(model: type, **where: object) -> int:
    with new_session() as s:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return int(s.exec(query).one())


def test_hotline_repost_returns_existing_ticket(
    client: TestClient, login: Callable[[str], dict[str, str]]
) -> None:
    headers = login("hotline")
    first = client.post("/api/intake/hotline", json=CALL, headers=headers)
    again = client.post("/api/intake/hotline", json={**CALL, "content": "再次来电"}, headers=headers)
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["ticket_id"] == first.json()["ticket_id"]
    assert again.json()["duplicate_of_call"] is True
    assert count(Ticket) == 1 and count(Event) == 1


def test_concurrent_reposts_of_one_call_create_one_ticket(
    client: TestClient, login: Callable[[str], dict[str, str]]
) -> None:
    headers = login("hotline")
    answers: list[int] = []
    barrier = threading.Barrier(6)

    def post() -> None:
        barrier.wait()
        answers.append(client.post("/api/intake/hotline", json=CALL, headers=headers).json()["ticket_id"])

    threads = [threading.Thread(target=post) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(answers) == 6 and len(set(answers)) == 1
    assert count(Ticket) == 1


def test_patrol_resent_with_client_ref_is_one_ticket(
    client: TestClient, login: Callable[[str], dict[str, str]]
) -> None:
    lon, lat = inside(grids_in("140213050")[0])
    form = {
        "lon": lon,
        "lat": lat,
        "category_code": "06010",
        "description": "垃圾堆放",
        "client_ref": "phone-abc-0001",
    }
    headers = login("wgy0001")
    first = client.post("/api/intake/patrol", data=form, headers=headers)
    again = client.post("/api/intake/patrol", data=form, headers=headers)
    other_officer = client.post("/api/intake/patrol", data=form, headers=login("wgy0002"))
    assert (first.status_code, again.status_code, other_officer.status_code) == (201, 200, 201)
    assert again.json()["ticket_id"] == first.json()["ticket_id"]
    assert other_officer.json()["ticket_id"] != first.json()["ticket_id"]  # keys are per officer


def test_accepted_is_durable_and_routed_by_a_real_worker(
    client: TestClient,
    login: Callable[[str], dict[str, str]],
    redis_db: Redis,
    run_worker: Callable[[], None],
) -> None:
    lon, lat = inside(grids_in("140213050")[0])
    answer = client.post(
        "/api/intake/patrol",
        headers=login("wgy0001"),
        data={"lon": lon, "lat": lat, "category_code": "06010", "description": "垃圾"},
    )
    assert answer.status_code == 201
    ticket_id = answer.json()["ticket_id"]
    # Committed before the answer: another connection sees it, and the routing job waits in Redis.
    with new_session() as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None and ticket.state is TicketState.NEW
    assert get_queue(ROUTING_QUEUE).count == 1
    run_worker()
    with new_session() as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None and ticket.state is TicketState.DISPATCHED


def test_redis_down_at_intake_loses_nothing(
    client: TestClient,
    login: Callable[[str], dict[str, str]],
    redis_db: Redis,
    run_worker: Callable[[], None],
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    headers = login("hotline")
    real_redis = get_settings().redis_url
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens there
    get_settings.cache_clear()
    answer = client.post("/api/intake/hotline", json={**CALL, "lon": 113.25, "lat": 40.07}, headers=headers)
    assert answer.status_code == 201  # accepted although the job could not be enqueued
    # Redis is back: the job never reached it, but the periodic sweep finds the waiting ticket.
    monkeypatch.setenv("REDIS_URL", real_redis)
    get_settings.cache_clear()
    assert get_queue(ROUTING_QUEUE).count == 0
    later = clock.now()
    clock.set_clock(lambda: later + timedelta(seconds=30))
    assert sweep_unrouted() == 1
    run_worker()
    with new_session() as s:
        ticket = s.get(Ticket, answer.json()["ticket_id"])
        assert ticket is not None and ticket.state is not TicketState.NEW


def test_sweep_ignores_fresh_and_routed_tickets(session: Session, redis_db: Redis, run_worker) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers import patrol

    lon, lat = inside(grids_in("140213050")[0])
    old = patrol(session, lon=lon, lat=lat)
    run_worker()  # routes `old` through the normal path
    fresh = patrol(session, lon=lon, lat=lat)
    redis_db.flushdb()  # the fresh ticket's job is lost, as in a Redis restart
    assert sweep_unrouted() == 0  # too young: its own job may still be on the way
    now = clock.now()
    clock.set_clock(lambda: now + timedelta(seconds=60))
    assert sweep_unrouted() == 1  # only `fresh`; `old` is already routed
    run_worker()
    session.expire_all()
    assert session.get(Ticket, fresh.id).state is TicketState.DISPATCHED  # type: ignore[union-attr]
    assert session.get(Ticket, old.id).state is TicketState.DISPATCHED  # type: ignore[union-attr]


def test_repost_losing_the_race_leaves_no_trace(session: Session, redis_db: Redis, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from dispatch.events import service as intake
    from dispatch.tickets.models import TicketLog
    from tests.helpers import hotline

    first = hotline(session, call_id="RACE-1")
    real = intake._existing
    looks: list[int] = []

    def not_yet_visible(s: Session, source: object, external_id: str) -> Ticket | None:
        looks.append(1)  # the first look misses the other post, as under a real race
        return None if len(looks) == 1 else real(s, source, external_id)  # type: ignore[arg-type]

    monkeypatch.setattr(intake, "_existing", not_yet_visible)
    again = hotline(session, call_id="RACE-1")
    assert again.id == first.id
    assert count(Ticket) == 1 and count(Event) == 1 and count(TicketLog) == 1  # the loser's rows rolled back


def test_sweep_leaves_tickets_whose_jobs_wait_in_a_backlog(
    session: Session, redis_db: Redis, run_worker
) -> None:  # type: ignore[no-untyped-def]
    """No worker yet: three tickets' jobs wait in the routing queue. The sweep must not enqueue them
    again (a backlog would double at every pass); once Redis loses the queue, it takes all three."""
    from tests.helpers import patrol

    lon, lat = inside(grids_in("140213050")[0])
    tickets = [patrol(session, lon=lon, lat=lat) for _ in range(3)]
    queue = get_queue(ROUTING_QUEUE)
    waiting = queue.count
    now = clock.now()
    clock.set_clock(lambda: now + timedelta(seconds=120))  # old enough for the sweep
    assert sweep_unrouted() == 0
    assert queue.count == waiting
    redis_db.flushdb()  # a Redis restart: the jobs are gone
    assert sweep_unrouted() == 3
    run_worker()
    session.expire_all()
    assert {session.get(Ticket, t.id).state for t in tickets} == {TicketState.DISPATCHED}  # type: ignore[union-attr]
