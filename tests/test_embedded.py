"""The embedded Redis that `grid-dispatch up` starts when no REDIS_URL is set."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis import Redis

from dispatch.embedded import start_redis
from tests.processes import free_port


def test_embedded_redis_starts_with_a_relative_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    port = free_port()
    process = start_redis(port=port, data_dir=Path("data") / "redis")
    try:
        client = Redis(host="127.0.0.1", port=port)
        assert client.ping()
        client.rpush("q", "job")  # RQ needs list and stream commands of a real server
        assert client.lpop("q") == b"job"
        assert (tmp_path / "data" / "redis" / "redis.log").exists()
    finally:
        process.terminate()
        process.wait(timeout=10)
