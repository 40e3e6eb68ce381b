"""End to end across process boundaries: a real API process, a real RQ worker process, a websocket client.

A patrol report and a 12345 call are received as dispatched on the console; then the API is killed,
a change happens while it is down, and a console reconnecting with its last sequence number gets it.
"""

from __future__ import annotations

import signal
import time

import httpx
import pytest
from websockets.sync.client import connect

from dispatch.db import new_session
from dispatch.tickets.models import Ticket, TicketState
from tests.helpers import grids_in, inside
from tests.processes import (
    Processes,
    free_port,
    receive,
    receive_until,
    states,
    token,
    wait_healthy,
)

pytestmark = pytest.mark.e2e


def test_intake_to_console_across_processes_and_api_restart(processes: Processes) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    ws_url = f"ws://127.0.0.1:{port}/api/console/ws"
    processes.start("api", "api", "--port", str(port))
    processes.start("worker", "worker")
    wait_healthy(base)
    dispatcher = token(base, "dispatcher")
    lon, lat = inside(grids_in("140213050")[0])

    with connect(f"{ws_url}?token={dispatcher}&since=0") as ws:
        patrol = httpx.post(
            f"{base}/api/intake/patrol",
            headers={"Authorization": f"Bearer {token(base, 'wgy0001')}"},
            data={
                "lon": str(lon),
                "lat": str(lat),
                "category_code": "06010",
                "description": "人行道暴露垃圾",
            },
        )
        call = httpx.post(
            f"{base}/api/intake/hotline",
            headers={"Authorization": f"Bearer {token(base, 'hotline')}"},
            json={
                "call_id": "E2E-CALL-1",
                "caller_name": "周女士",
                "caller_phone": "13600001111",
                "address": "永泰街道",
                "lon": lon,
                "lat": lat,
                "request_type": "complaint",
                "category_code": "09009",
                "content": "小区门口车辆乱停",
            },
        )
        assert (patrol.status_code, call.status_code) == (201, 201)
        ids = {patrol.json()["ticket_id"], call.json()["ticket_id"]}
        seen = receive_until(ws, lambda ms: all(states(ms).get(i) == "dispatched" for i in ids))
        by_ticket = {m["ticket"]["id"]: m for m in seen if m["to_state"] == "dispatched"}
        assert by_ticket[patrol.json()["ticket_id"]]["ticket"]["department_name"] == "区城市管理局"
        assert by_ticket[call.json()["ticket_id"]]["ticket"]["department_name"] == "市公安局平城分局"
        seqs = [m["seq"] for m in seen]
        assert seqs == sorted(set(seqs))  # increasing, no duplicates

        # Stop the worker so the next ticket waits, and see its intake live.
        processes.stop("worker")
        third = httpx.post(
            f"{base}/api/intake/hotline",
            headers={"Authorization": f"Bearer {token(base, 'hotline')}"},
            json={
                "call_id": "E2E-CALL-2",
                "caller_name": "吴先生",
                "caller_phone": "13600002222",
                "address": "永泰街道",
                "lon": lon,
                "lat": lat,
                "request_type": "report",
                "category_code": "06010",
                "content": "垃圾未清运",
            },
        ).json()["ticket_id"]
        intake = receive(ws)
        assert (intake["ticket"]["id"], intake["to_state"]) == (third, "new")
        last_seq = intake["seq"]

    # Kill the API; while it is down the worker comes back and routes the waiting ticket.
    processes.stop("api", signal.SIGKILL)
    processes.start("worker", "worker")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # watch the database, not the API (it is down)
        with new_session() as session:
            ticket = session.get(Ticket, third)
            if ticket is not None and ticket.state is TicketState.DISPATCHED:
                break
        time.sleep(0.2)
    else:
        raise AssertionError("worker did not route the waiting ticket while the API was down")

    processes.start("api", "api", "--port", str(port))
    wait_healthy(base)
    with connect(f"{ws_url}?token={token(base, 'dispatcher')}&since={last_seq}") as ws:
        missed = receive(ws)
        assert missed["seq"] > last_seq
        assert (missed["ticket"]["id"], missed["action"], missed["to_state"]) == (
            third,
            "route",
            "dispatched",
        )
        with pytest.raises(TimeoutError):
            ws.recv(timeout=3)  # nothing else happened: no replay of what the client already had
