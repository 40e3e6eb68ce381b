"""End to end across process boundaries: a real API process, a real RQ worker process, a websocket client.

A patrol report and a 12345 call are received as dispatched on the console; then the API is killed,
a change happens while it is down, and a console reconnecting with its last sequence number gets it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import Redis
from websockets.sync.client import ClientConnection, connect

from dispatch.db import new_session
from dispatch.tickets.models import Ticket, TicketState
from tests.helpers import grids_in, inside

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Processes:
    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        self.running[name] = subprocess.Popen(
            [sys.executable, "-m", "dispatch.cli", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(os.environ),
        )

    def stop(self, name: str, sig: signal.Signals = signal.SIGTERM) -> None:
        process = self.running.pop(name)
        process.send_signal(sig)
        process.wait(timeout=20)

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name, signal.SIGKILL)


@pytest.fixture
def processes(database_url: str, redis_db: Redis, tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path)
    yield procs
    procs.stop_all()
    for log in sorted(tmp_path.glob("*.log")):  # shown by pytest only when the test fails
        print(f"----- {log.name}\n{log.read_text(errors='replace')[-4000:]}")


def wait_healthy(base: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"API at {base} did not become healthy")


def token(base: str, username: str) -> str:
    answer = httpx.post(f"{base}/api/auth/token", data={"username": username, "password": "demo1234"})
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def receive(ws: ClientConnection, timeout_s: float = 20) -> dict[str, Any]:
    return dict(json.loads(ws.recv(timeout=timeout_s)))


def receive_until(ws: ClientConnection, done: Any, limit: int = 50) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while not done(messages):
        assert len(messages) < limit, messages
        messages.append(receive(ws))
    return messages


def states(messages: list[dict[str, Any]]) -> dict[int, str]:
    latest: dict[int, str] = {}
    for m in messages:
        latest[m["ticket"]["id"]] = m["to_state"]
    return latest


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
