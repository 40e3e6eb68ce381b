"""Batch intake of 12345 calls (a call-centre system catching up after an outage): each call is judged
on its own — accepted, already received, or refused with its field named — in the answer's order,
everything accepted is committed before the answer, and re-sending the batch creates nothing twice."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import col, func, select

from dispatch.db import new_session
from dispatch.tickets.models import Ticket, TicketState
from tests.helpers import grids_in, inside

Login = Callable[[str], dict[str, str]]
URL = "/api/intake/hotline/batch"


def a_call(call_id: str, **overrides: Any) -> dict[str, Any]:
    lon, lat = inside(grids_in("140213050")[0])
    return {
        "call_id": call_id,
        "caller_name": "孙女士",
        "caller_phone": "13900001111",
        "lon": lon,
        "lat": lat,
        "request_type": "complaint",
        "category_code": "06010",
        "content": f"来电 {call_id}：垃圾未清运",
        **overrides,
    }


def tickets_for(call_ids: list[str]) -> dict[str, int]:
    """call id → tickets holding it (from the intake record)."""
    with new_session() as session:
        rows = session.exec(
            select(Ticket.description, func.count())
            .where(col(Ticket.description).in_([f"来电 {c}：垃圾未清运" for c in call_ids]))
            .group_by(col(Ticket.description))
        ).all()
    return {description.split("：")[0].removeprefix("来电 "): count for description, count in rows}


def test_each_call_is_judged_alone_and_everything_accepted_is_committed(
    client: TestClient, login: Login, run_worker: Callable[[], None]
) -> None:
    headers = login("hotline")
    earlier = client.post("/api/intake/hotline", json=a_call("BATCH-OLD-1"), headers=headers)
    assert earlier.status_code == 201
    calls = [
        a_call("BATCH-NEW-1"),
        a_call("BATCH-BAD-PHONE", caller_phone="12345"),  # not a phone number
        a_call("BATCH-OLD-1"),  # received before the batch
        a_call("BATCH-NEW-2", category_code="99999"),  # no such category
        a_call("BATCH-NEW-3"),
        a_call("BATCH-NEW-1"),  # the same call twice in one batch
        a_call("BATCH-FAR", lon=116.4, lat=39.9),  # outside the district
    ]
    answer = client.post(URL, json={"calls": calls}, headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    statuses = [(r["index"], r["status"]) for r in body["results"]]
    assert statuses == [(0, 201), (1, 422), (2, 200), (3, 422), (4, 201), (5, 200), (6, 422)]
    assert (body["accepted"], body["already_received"], body["refused"]) == (2, 2, 3)
    results = body["results"]
    assert results[1]["field"] == "calls.1.caller_phone" and results[1]["ticket_id"] is None
    assert results[3]["field"] == "calls.3.category_code"
    assert results[6]["field"] == "calls.6.lon"
    assert results[2]["ticket_id"] == earlier.json()["ticket_id"] and results[2]["duplicate_of_call"]
    assert results[5]["ticket_id"] == results[0]["ticket_id"]
    # Committed when answered: one ticket per accepted call id, none for the refused ones.
    assert tickets_for(["BATCH-NEW-1", "BATCH-NEW-3", "BATCH-OLD-1", "BATCH-BAD-PHONE", "BATCH-NEW-2"]) == {
        "BATCH-NEW-1": 1,
        "BATCH-NEW-3": 1,
        "BATCH-OLD-1": 1,
    }
    run_worker()
    for result in (results[0], results[4]):
        detail = client.get(f"/api/tickets/{result['ticket_id']}", headers=login("dispatcher")).json()
        assert detail["state"] == TicketState.DISPATCHED

    # The system sending it did not hear the answer and sends the whole batch again: nothing twice.
    again = client.post(URL, json={"calls": calls}, headers=headers).json()
    assert [(r["index"], r["status"]) for r in again["results"]] == [
        (0, 200),
        (1, 422),
        (2, 200),
        (3, 422),
        (4, 200),
        (5, 200),
        (6, 422),
    ]
    assert [r["ticket_id"] for r in again["results"]] == [r["ticket_id"] for r in results]
    assert tickets_for(["BATCH-NEW-1", "BATCH-NEW-3"]) == {"BATCH-NEW-1": 1, "BATCH-NEW-3": 1}


def test_a_batch_is_bounded_and_needs_hotline_staff(client: TestClient, login: Login) -> None:
    calls = [a_call(f"BATCH-LIMIT-{n}") for n in range(501)]
    too_many = client.post(URL, json={"calls": calls}, headers=login("hotline"))
    assert too_many.status_code == 422 and too_many.json()["field"] == "calls"
    empty = client.post(URL, json={"calls": []}, headers=login("hotline"))
    assert empty.status_code == 422
    not_objects = client.post(URL, json={"calls": ["x"]}, headers=login("hotline"))
    assert not_objects.status_code == 422 and not_objects.json()["field"] == "calls.0"
    assert client.post(URL, json={"calls": calls[:1]}).status_code == 401
    assert client.post(URL, json={"calls": calls[:1]}, headers=login("dispatcher")).status_code == 403
    assert tickets_for(["BATCH-LIMIT-0"]) == {}
