"""Stopping the background processes: `up`, compose and systemd send SIGTERM and wait a few seconds
before SIGKILL. A worker or scheduler must stop within that time whatever Redis is doing: answering,
gone since before the start, or gone while the process was waiting for work."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from dispatch.embedded import start_redis
from tests.processes import Processes, free_port

pytestmark = pytest.mark.e2e

STOP_WITHIN_S = 5.0


def stop_time(processes: Processes, name: str) -> float:
    """Seconds from SIGTERM to exit (fails if the process is still running after 20 s)."""
    process = processes.running.pop(name)
    assert process.poll() is None, f"{name} died before it was asked to stop"
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=20)
    return time.monotonic() - started


@pytest.mark.parametrize("role", ["worker", "scheduler"])
def test_stops_on_sigterm_with_redis_up(processes: Processes, role: str) -> None:
    processes.start(role, role)
    time.sleep(2)
    assert stop_time(processes, role) < STOP_WITHIN_S


@pytest.mark.parametrize("role", ["worker", "scheduler"])
def test_stops_on_sigterm_when_redis_was_never_there(processes: Processes, role: str) -> None:
    processes.extra_env = {"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    processes.start(role, role)
    time.sleep(4)  # a few reconnection attempts
    assert stop_time(processes, role) < STOP_WITHIN_S


@pytest.mark.parametrize("role", ["worker", "scheduler"])
def test_stops_on_sigterm_after_redis_went_away(processes: Processes, role: str, tmp_path: Path) -> None:
    port = free_port()
    redis = start_redis(port=port, data_dir=tmp_path / "redis")
    try:
        processes.extra_env = {"REDIS_URL": f"redis://127.0.0.1:{port}/0"}
        processes.start(role, role)
        time.sleep(2)  # connected and waiting for work
        redis.kill()
        redis.wait(timeout=10)
        time.sleep(4)  # the process notices and retries
        assert stop_time(processes, role) < STOP_WITHIN_S
    finally:
        if redis.poll() is None:
            redis.kill()
