"""The console websocket: replay after `since`, live changes, per-viewer visibility and masking."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import grids_in, inside

Login = Callable[[str], dict[str, str]]


def token(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def post_call(client: TestClient, login: Login, call_id: str, **extra: Any) -> int:
    body = {
        "call_id": call_id,
        "caller_name": "赵先生",
        "caller_phone": "13712345678",
        "address": "古城街道",
        "request_type": "complaint",
        "category_code": "06028",
        "content": "噪声",
        **extra,
    }
    answer = client.post("/api/intake/hotline", json=body, headers=login("hotline"))
    assert answer.status_code == 201, answer.text
    return int(answer.json()["ticket_id"])


def test_replay_after_since_then_live(client: TestClient, login: Login) -> None:
    first = post_call(client, login, "CALL-A")
    second = post_call(client, login, "CALL-B")
    headers = login("dispatcher")
    page = client.get("/api/tickets", headers=headers).json()
    with client.websocket_connect(f"/api/console/ws?token={token(headers)}&since=0") as ws:
        replay = [ws.receive_json() for _ in range(2)]
        assert [(m["ticket"]["id"], m["action"], m["to_state"]) for m in replay] == [
            (first, "intake", "new"),
            (second, "intake", "new"),
        ]
        assert replay[0]["seq"] < replay[1]["seq"] == page["last_seq"]
        third = post_call(client, login, "CALL-C")
        live = ws.receive_json()
        assert (live["ticket"]["id"], live["action"]) == (third, "intake")
        assert live["seq"] > replay[1]["seq"]
    # Resuming from the last sequence seen replays only what came after it.
    with client.websocket_connect(f"/api/console/ws?token={token(headers)}&since={replay[0]['seq']}") as ws:
        assert [ws.receive_json()["ticket"]["id"] for _ in range(2)] == [second, third]


def test_phone_masked_except_for_hotline_staff(client: TestClient, login: Login) -> None:
    post_call(client, login, "CALL-M")
    phones = {}
    for username in ("dispatcher", "hotline"):
        with client.websocket_connect(f"/api/console/ws?token={token(login(username))}") as ws:
            phones[username] = ws.receive_json()["ticket"]["caller_phone"]
    assert phones == {"dispatcher": "137****5678", "hotline": "13712345678"}


def test_department_sees_only_its_own_tickets(client: TestClient, login: Login, run_worker) -> None:  # type: ignore[no-untyped-def]
    lon, lat = inside(grids_in("140213050")[0])
    officer = login("wgy0001")
    for category in ("06010", "09009"):  # 城管, then 公安
        data = {"lon": lon, "lat": lat, "category_code": category, "description": "巡查发现"}
        assert client.post("/api/intake/patrol", data=data, headers=officer).status_code == 201
    run_worker()
    with client.websocket_connect(f"/api/console/ws?token={token(login('ga1'))}") as ws:
        # Replay: the 公安 ticket's intake and route rows, never the 城管 ticket's.
        replay = [ws.receive_json() for _ in range(2)]
        assert [(m["action"], m["ticket"]["category_code"]) for m in replay] == [
            ("intake", "09009"),
            ("route", "09009"),
        ]
        assert {m["ticket"]["department_name"] for m in replay} == {"市公安局平城分局"}
        post_call(client, login, "CALL-X", category_code="06028", lon=lon, lat=lat)  # 城管: not for ga
        call = post_call(client, login, "CALL-Y", category_code="09009", lon=lon, lat=lat)
        run_worker()
        seen = []
        while not seen or seen[-1]["action"] != "route":
            seen.append(ws.receive_json())
        assert {m["ticket"]["id"] for m in seen} == {call}
        assert seen[-1]["ticket"]["caller_phone"] == "137****5678"


def test_department_sees_a_ticket_leave_and_co_handled_tickets(
    client: TestClient, login: Login, run_worker
) -> None:  # type: ignore[no-untyped-def]
    from tests.workflow_helpers import Desk, department_id

    desk = Desk(client, login)
    ticket = desk.patrol("06010")
    run_worker()
    with (
        client.websocket_connect(f"/api/console/ws?token={token(desk.headers('cg1'))}&since=0") as cg,
        client.websocket_connect(f"/api/console/ws?token={token(desk.headers('zj1'))}&since=0") as zj,
    ):
        assert [cg.receive_json()["action"] for _ in range(2)] == ["intake", "route"]
        deadline = "2030-01-01T00:00:00+08:00"
        desk.act(
            "dispatcher",
            ticket,
            "assists",
            {"department_id": department_id("zj"), "part": "协助", "deadline_at": deadline},
        )
        # zj saw nothing of the ticket before; from now on it co-handles it and gets its changes.
        assert zj.receive_json()["action"] == "add_assist"
        assert cg.receive_json()["action"] == "add_assist"
        desk.act("cg1", ticket, "return", {"reason": "非本部门"})
        desk.act("dispatcher", ticket, "redispatch", {"department_id": department_id("ga")})
        assert [cg.receive_json()["action"] for _ in range(2)] == ["return", "redispatch"]  # sees it leave


def test_replay_after_redispatch_tells_the_old_department_nothing_later(
    client: TestClient, login: Login, run_worker
) -> None:  # type: ignore[no-untyped-def]
    """ga held the ticket, it was sent to cg, cg worked on it: ga replaying from 0 learns only that it
    left (to whom, in which state), never cg's feedback, the caller or the ticket's later state."""
    from tests.workflow_helpers import Desk, department_id

    desk = Desk(client, login)
    ticket = desk.patrol("09009")  # 公安
    run_worker()
    desk.act("dispatcher", ticket, "redispatch", {"department_id": department_id("cg"), "note": "属城管"})
    desk.act("cg1", ticket, "sign")
    feedback = {"text": "城管已拆除违建"}
    answer = client.post(f"/api/tickets/{ticket}/feedback", headers=desk.headers("cg1"), data=feedback)
    assert answer.status_code == 200, answer.text
    sentinel = desk.patrol("09009")  # a later 公安 ticket marks the end of the replay
    run_worker()
    with client.websocket_connect(f"/api/console/ws?token={token(desk.headers('ga1'))}&since=0") as ws:
        seen = []
        while not seen or seen[-1]["ticket"]["id"] != sentinel or seen[-1]["action"] != "route":
            seen.append(ws.receive_json())
    about = [m for m in seen if m["ticket"]["id"] == ticket]
    # Rows from before the move would carry the ticket as it is now, so ga gets only the move itself.
    assert [m["action"] for m in about] == ["redispatch"]
    left = about[-1]
    assert left["note"] == "属城管"
    assert left["ticket"]["department_id"] == department_id("cg")
    assert left["ticket"]["state"] == "dispatched"  # as the move left it, not "feedback" now
    assert "城管已拆除违建" not in str(seen)
    assert set(left["ticket"]) == {"id", "number", "state", "department_id", "department_name"}


def test_consoles_catching_up_do_not_hold_up_live_delivery(client: TestClient, login: Login) -> None:
    """Three consoles join with since=0 over a backlog of thousands of rows while a dispatcher's
    console is live: the dispatcher gets the next change at once, and each joining console still gets
    the whole backlog and then the live change, in order, each exactly once."""
    import time

    from sqlmodel import col, select

    from dispatch.db import new_session
    from dispatch.tickets.models import TicketLog

    ticket = post_call(client, login, "CALL-BACKLOG")
    with new_session() as session:
        intake = session.exec(select(TicketLog).where(col(TicketLog.ticket_id) == ticket)).one()
        fields = intake.model_dump(exclude={"id", "note"})
        session.add_all(TicketLog(**fields, note=f"积压 {n}") for n in range(4_500))
        session.commit()
    headers = login("dispatcher")
    last = client.get("/api/tickets", headers=headers).json()["last_seq"]
    url = f"/api/console/ws?token={token(headers)}"
    with client.websocket_connect(f"{url}&since={last}") as live:
        warm = post_call(client, login, "CALL-WARM")  # the hub has read up to here
        assert live.receive_json()["ticket"]["id"] == warm
        with (
            client.websocket_connect(f"{url}&since=0") as joining,
            client.websocket_connect(f"{url}&since=0"),
            client.websocket_connect(f"{url}&since=0"),
        ):
            new = post_call(client, login, "CALL-LIVE")
            sent = time.monotonic()  # the call is committed: from here it is delivery alone
            message = live.receive_json()
            waited = time.monotonic() - sent
            assert message["ticket"]["id"] == new
            replay = [joining.receive_json() for _ in range(4_503)]
    print(f"live change reached the live console {waited * 1000:.0f} ms after the call was accepted")
    assert waited < 0.75, f"live delivery waited {waited:.1f} s for consoles catching up"
    seqs = [m["seq"] for m in replay]
    assert seqs == sorted(set(seqs)) and seqs[-1] == message["seq"]
    assert [m["ticket"]["id"] for m in replay[:2]] == [ticket, ticket]


def test_a_console_too_far_behind_is_told_to_reload(
    client: TestClient, login: Login, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beyond the replay bound a console gets one `reset` (reload the list), then the live stream."""
    from dispatch.console import hub

    monkeypatch.setattr(hub, "MAX_BACKLOG", 3)
    for n in range(4):
        post_call(client, login, f"CALL-OLD-{n}")
    headers = login("dispatcher")
    last = client.get("/api/tickets", headers=headers).json()["last_seq"]
    with client.websocket_connect(f"/api/console/ws?token={token(headers)}&since=0") as ws:
        assert ws.receive_json() == {"type": "reset", "seq": last}
        new = post_call(client, login, "CALL-NEW")
        live = ws.receive_json()
        assert live["ticket"]["id"] == new
    with client.websocket_connect(f"/api/console/ws?token={token(headers)}&since={live['seq'] - 3}") as ws:
        assert [ws.receive_json()["seq"] for _ in range(3)] == [live["seq"] - 2, live["seq"] - 1, live["seq"]]


def test_a_console_closes_when_its_token_expires(client: TestClient) -> None:
    """A token that expires while its console is open ends the stream with 4401 (log in again)."""
    import time

    import jwt
    from sqlmodel import select
    from starlette.websockets import WebSocketDisconnect

    from dispatch.auth.models import User
    from dispatch.config import get_settings
    from dispatch.db import new_session

    with new_session() as session:
        user = session.exec(select(User).where(User.username == "dispatcher")).one()
    claims = {"sub": str(user.id), "exp": int(time.time()) + 2}
    short = jwt.encode(claims, get_settings().secret_key, algorithm="HS256")
    with client.websocket_connect(f"/api/console/ws?token={short}") as ws:
        started = time.monotonic()
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 4401
    assert time.monotonic() - started < 10


def test_a_console_ahead_of_the_log_is_told_to_reload(client: TestClient, login: Login) -> None:
    """After a restore from backup the log's sequence is lower than what open consoles saw: one joining
    with such a `since` is told to reload and then gets new changes (it used to get nothing until the
    log passed its old number)."""
    post_call(client, login, "CALL-BEFORE")
    headers = login("dispatcher")
    last = client.get("/api/tickets", headers=headers).json()["last_seq"]
    with client.websocket_connect(f"/api/console/ws?token={token(headers)}&since={last + 500}") as ws:
        assert ws.receive_json() == {"type": "reset", "seq": last}
        new = post_call(client, login, "CALL-AFTER-RESTORE")
        message = ws.receive_json()
        assert (message["ticket"]["id"], message["seq"]) == (new, last + 1)


def test_a_console_too_slow_to_keep_up_reloads_and_stays_live(
    client: TestClient, login: Login, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A burst bigger than a console's queue may hold (here 1; 50,000 in production, a laptop waking
    from sleep) drops that backlog and tells it to reload, once; it stays live on the same connection."""
    from sqlmodel import col, select

    from dispatch.console import hub
    from dispatch.db import new_session
    from dispatch.tickets.models import TicketLog

    monkeypatch.setattr(hub, "MAX_QUEUE", 1)
    ticket = post_call(client, login, "CALL-BURST")
    headers = login("dispatcher")
    with client.websocket_connect(f"/api/console/ws?token={token(headers)}&since=0") as ws:
        assert ws.receive_json()["ticket"]["id"] == ticket
        with new_session() as session:  # three changes committed at once, read by the hub in one batch
            intake = session.exec(select(TicketLog).where(col(TicketLog.ticket_id) == ticket)).one()
            session.add_all(
                TicketLog(**intake.model_dump(exclude={"id", "note"}), note=f"批量 {n}") for n in range(3)
            )
            session.commit()
        burst_end = post_call(client, login, "CALL-BURST-END")  # wakes the hub
        reset = ws.receive_json()
        assert reset["type"] == "reset"
        assert reset["seq"] == client.get("/api/tickets", headers=headers).json()["last_seq"]
        after = post_call(client, login, "CALL-AFTER-RESET")
        live = ws.receive_json()
        assert live["type"] == "change" and live["ticket"]["id"] == after != burst_end


def test_batch_consoles_get_waiting_changes_as_one_array_in_order(
    client: TestClient, login: Login, run_worker: Callable[[], None]
) -> None:
    """batch=1 (what the pages ask for): the changes waiting for a console come in one frame, as an
    array, in sequence order, the same messages a one-per-frame console gets; a reset still comes alone."""
    calls = [post_call(client, login, f"CALL-BATCH-{n}") for n in range(5)]
    run_worker()  # five route (or manual) rows after the five intake rows
    headers = login("dispatcher")
    base = f"/api/console/ws?token={token(headers)}"
    url = f"{base}&since=0"
    with client.websocket_connect(url) as single:
        one_by_one = [single.receive_json() for _ in range(10)]
    with client.websocket_connect(f"{url}&batch=1") as batched:
        frame = batched.receive_json()
        assert isinstance(frame, list)
        got = list(frame)
        while len(got) < 10:  # the replay is read in pages: a page or more per frame
            got += batched.receive_json()
        assert got == one_by_one
        assert [m["seq"] for m in got] == sorted(m["seq"] for m in got)
        assert {m["ticket"]["id"] for m in got} == set(calls)
        live = post_call(client, login, "CALL-BATCH-LIVE")
        (change,) = batched.receive_json()
        assert (change["ticket"]["id"], change["action"]) == (live, "intake")
    with client.websocket_connect(f"{base}&batch=1&since={got[-1]['seq'] + 10_000}") as ahead:
        assert ahead.receive_json()["type"] == "reset"  # a control message, not in an array
