"""Running the system's processes the way `grid-dispatch up` and compose do, for end-to-end tests:
API, worker and scheduler as real subprocesses, optionally under a faked wall clock (libfaketime)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import ClientConnection


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Processes:
    """`grid-dispatch` subprocesses with this test's environment (database, Redis), logs in files."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self.extra_env: dict[str, str] = {}

    def start(self, name: str, *args: str) -> None:
        """`grid-dispatch <args>` as `name`."""
        self.start_module(name, "dispatch.cli", *args)

    def start_module(self, name: str, module: str, *args: str) -> None:
        """`python -m <module> <args>` as `name` (a stand-in for another system, say)."""
        log = (self.logs / f"{name}.log").open("ab")
        self.running[name] = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.extra_env},
        )

    def stop(self, name: str, sig: signal.Signals = signal.SIGTERM) -> None:
        process = self.running.pop(name)
        process.send_signal(sig)
        process.wait(timeout=20)

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name, signal.SIGKILL)


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


def libfaketime_path() -> Path:
    """Debian's libfaketime (package libfaketime; .ci/run installs it)."""
    found = sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))
    assert found, "libfaketime is not installed: apt-get install faketime"
    return found[0]


class FakeClock:
    """The wall clock of every process started with `env()`: libfaketime adds an offset it re-reads from
    a file every second, so the test moves the running processes' time forward without restarting
    them. Monotonic time stays real (timeouts and waits behave); this test process keeps real time."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "faketime.rc"
        self.path.write_text("+0\n")

    def env(self) -> dict[str, str]:
        return {
            "LD_PRELOAD": str(libfaketime_path()),
            "FAKETIME_TIMESTAMP_FILE": str(self.path),
            "FAKETIME_CACHE_DURATION": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        }

    def set(self, moment: datetime) -> None:
        """From now on the processes' wall clock reads `moment` (and runs on from there)."""
        offset_s = (moment - datetime.now(UTC)).total_seconds()
        self.path.write_text(f"{offset_s:+.0f}\n")
        time.sleep(1.5)  # every process has re-read the file


def report_patrol(base: str, category_code: str, description: str, *, officer: str = "wgy0001") -> int:
    """A grid officer's report inside the first grid of 永泰街道, through the API; its ticket id."""
    from tests.helpers import grids_in, inside

    lon, lat = inside(grids_in("140213050")[0])
    answer = httpx.post(
        f"{base}/api/intake/patrol",
        headers={"Authorization": f"Bearer {token(base, officer)}"},
        data={"lon": str(lon), "lat": str(lat), "category_code": category_code, "description": description},
    )
    assert answer.status_code == 201, answer.text
    return int(answer.json()["ticket_id"])
