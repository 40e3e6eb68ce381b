"""Group commit at intake: reports written together keep every guarantee of one-at-a-time intake —
answered only after their commit, call ids exact (stored, repeated inside a group, or posted at the same
moment by another process), and a report that is refused or breaks the group never costs its
neighbours their tickets."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future

import pytest
from fastapi.testclient import TestClient
from redis import Redis
from sqlalchemy import event
from sqlmodel import Session, col, func, select

from dispatch.db import get_engine, new_session
from dispatch.errors import InvalidInput
from dispatch.events import service
from dispatch.events.batcher import Receipt, commit_group
from dispatch.events.models import Event
from dispatch.events.schemas import HotlineIntake
from dispatch.events.service import Report, hotline_report
from dispatch.queues import ROUTING_QUEUE, get_queue
from dispatch.tickets.models import Action, Ticket, TicketLog, TicketState
from tests.helpers import grids_in, hotline, inside, user


def call(session: Session, call_id: str, **overrides: object) -> Report:
    lon, lat = inside(grids_in("140213050")[0])
    fields: dict[str, object] = {
        "call_id": call_id,
        "caller_name": "李先生",
        "caller_phone": "13812345678",
        "lon": lon,
        "lat": lat,
        "request_type": "complaint",
        "category_code": "06010",
        "content": f"来电 {call_id}",
    }
    fields.update(overrides)
    return hotline_report(HotlineIntake.model_validate(fields), user(session, "hotline"))


def run_group(reports: list[Report]) -> list[Receipt | BaseException]:
    futures: list[Future[Receipt]] = [Future() for _ in reports]
    commit_group(list(zip(reports, futures, strict=True)))
    answers: list[Receipt | BaseException] = []
    for future in futures:
        error = future.exception()
        answers.append(error if error is not None else future.result())
    return answers


def count_commits() -> tuple[list[int], Callable[[], None]]:
    commits: list[int] = []

    def on_commit(_connection: object) -> None:
        commits.append(1)

    engine = get_engine()
    event.listen(engine, "commit", on_commit)
    return commits, lambda: event.remove(engine, "commit", on_commit)


def test_a_group_is_one_transaction_and_each_report_gets_its_own_answer(
    session: Session, redis_db: Redis
) -> None:
    stored = hotline(session, call_id="GC-STORED")
    reports = [
        call(session, "GC-0001"),
        call(session, "GC-STORED"),  # stored before: its ticket, not a new one
        call(session, "GC-0002", category_code="99"),  # unknown category: refused alone
        call(session, "GC-0003", lon=120.0, lat=30.0),  # outside the district: refused alone
        call(session, "GC-0001"),  # the same call twice in one group: the first one's ticket
        call(session, "GC-0004"),
    ]
    commits, stop = count_commits()
    try:
        answers = run_group(reports)
    finally:
        stop()
    assert len(commits) == 1
    first, again, unknown, outside, repeat, last = answers
    assert isinstance(first, Receipt) and first.created and first.state is TicketState.NEW
    assert isinstance(again, Receipt) and not again.created and again.ticket_id == stored.id
    assert isinstance(unknown, InvalidInput) and unknown.field == "category_code"
    assert isinstance(outside, InvalidInput) and outside.field == "lon"
    assert isinstance(repeat, Receipt) and not repeat.created and repeat.ticket_id == first.ticket_id
    assert isinstance(last, Receipt) and last.created and last.number.startswith("RX")
    with new_session() as s:
        ids = [first.ticket_id, last.ticket_id]
        tickets = s.exec(select(Ticket).where(col(Ticket.id).in_(ids))).all()
        assert {t.number for t in tickets} == {first.number, last.number}
        assert s.exec(select(func.count()).select_from(Event).where(col(Event.ticket_id).in_(ids))).one() == 2
        intakes = s.exec(
            select(TicketLog.ticket_id).where(
                col(TicketLog.ticket_id).in_(ids), TicketLog.action == Action.INTAKE
            )
        ).all()
        assert sorted(intakes) == sorted(ids)
        assert s.exec(select(func.count()).select_from(Ticket)).one() == 3  # stored + 2 new
    assert get_queue(ROUTING_QUEUE).count == 1  # one routing wake-up for the group


def test_a_group_that_fails_is_accepted_one_by_one(
    session: Session, redis_db: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process stores the same call id between the group's look-up and its insert: the unique
    index fails the group's transaction; every report is then accepted alone and the late duplicate
    answers with the ticket that won."""
    winner = hotline(session, call_id="GC-RACE")
    monkeypatch.setattr(service, "_existing_many", lambda _session, _keys: {})  # the look-up missed it
    reports = [call(session, "GC-A"), call(session, "GC-RACE"), call(session, "GC-B")]
    a, race, b = run_group(reports)
    assert isinstance(a, Receipt) and a.created
    assert isinstance(race, Receipt) and not race.created and race.ticket_id == winner.id
    assert isinstance(b, Receipt) and b.created
    with new_session() as s:
        assert s.exec(select(func.count()).select_from(Ticket)).one() == 3
        assert s.exec(select(func.count()).select_from(Event)).one() == 3


def test_concurrent_posts_over_http_keep_call_ids_exact(
    client: TestClient, login: Callable[[str], dict[str, str]], session: Session
) -> None:
    """60 requests from 12 threads, every call id posted three times: 20 tickets, each call answered
    201 once and 200 twice, every answer naming a committed ticket."""
    headers = login("hotline")
    lon, lat = inside(grids_in("140213050")[0])
    answers: list[tuple[str, int, int]] = []
    lock = threading.Lock()

    def post(indexes: range) -> None:
        for n in indexes:
            call_id = f"GC-HTTP-{n % 20:04d}"
            body = {
                "call_id": call_id,
                "caller_name": "张女士",
                "caller_phone": "13912345678",
                "lon": lon,
                "lat": lat,
                "request_type": "complaint",
                "category_code": "06010",
                "content": "并发来电",
            }
            answer = client.post("/api/intake/hotline", json=body, headers=headers)
            with lock:
                answers.append((call_id, answer.status_code, answer.json().get("ticket_id", 0)))

    threads = [threading.Thread(target=post, args=(range(t, 60, 12),)) for t in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(answers) == 60
    statuses = Counter((call_id, status) for call_id, status, _ in answers)
    assert all(statuses[(f"GC-HTTP-{n:04d}", 201)] == 1 for n in range(20)), statuses
    assert all(statuses[(f"GC-HTTP-{n:04d}", 200)] == 2 for n in range(20)), statuses
    ticket_of: dict[str, set[int]] = {}
    for call_id, _, ticket_id in answers:
        ticket_of.setdefault(call_id, set()).add(ticket_id)
    assert all(len(ids) == 1 for ids in ticket_of.values()), ticket_of
    with new_session() as s:
        stored = s.exec(select(Ticket.id)).all()
    assert sorted(stored) == sorted(next(iter(ids)) for ids in ticket_of.values())


def test_the_per_event_mode_answers_the_same(
    client: TestClient, login: Callable[[str], dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from dispatch.config import get_settings

    monkeypatch.setattr(get_settings(), "intake_group_commit", False)
    headers = login("hotline")
    lon, lat = inside(grids_in("140213050")[0])
    body = {
        "call_id": "GC-SINGLE",
        "caller_name": "张女士",
        "caller_phone": "13912345678",
        "lon": lon,
        "lat": lat,
        "request_type": "complaint",
        "category_code": "06010",
        "content": "来电",
    }
    first = client.post("/api/intake/hotline", json=body, headers=headers)
    again = client.post("/api/intake/hotline", json=body, headers=headers)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["ticket_id"] == first.json()["ticket_id"]
