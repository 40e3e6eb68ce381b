"""The system under test as real processes, started the way compose runs them: a scratch PostgreSQL
database, a private Redis, API processes, RQ workers and the scheduler. Also what the benchmark reads
about them from /proc (CPU seconds per role, resident memory) and from the database (routing progress)."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import psycopg
from redis import Redis

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def process_cpu_s(pid: int) -> tuple[str, float] | None:
    """(command name, user + system CPU seconds) of a process, None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    return name, (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_PER_S  # utime, stime


def rss_kib(pid: int) -> int:
    """Resident memory of a process (VmRSS), 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def machine_busy_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def _postgres_pids() -> Iterable[int]:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            found = process_cpu_s(int(entry.name))
            if found and found[0] == "postgres":
                yield int(entry.name)


@dataclass
class CpuSnapshot:
    """CPU seconds by role (api, worker, scheduler, redis, postgres, client) and the machine's ticks."""

    by_pid: dict[int, tuple[str, float]]
    machine: tuple[int, int]
    at: float = field(default_factory=time.perf_counter)


class Stack:
    """Scratch database + private Redis + API/worker/scheduler processes; `stop()` undoes all of it."""

    def __init__(
        self, *, api_procs: int, workers: int, redis_url: str | None, extra_env: dict[str, str]
    ) -> None:
        self.api_procs = api_procs
        self.workers = workers
        self.scratch = Path(tempfile.mkdtemp(prefix="gd-bench-"))
        self.logs = self.scratch / "logs"
        self.logs.mkdir()
        self.database = f"gd_bench_{uuid.uuid4().hex[:8]}"
        self.database_url = f"postgresql://postgres@127.0.0.1:5432/{self.database}"
        self.redis_url = redis_url or ""
        self.extra_env = extra_env
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.bases: list[str] = []
        self._created_database = False
        self._monitor: psycopg.Connection[tuple[Any, ...]] | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Create the database, start Redis, migrate and seed, start every process, wait until ready."""
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.database}"')
        self._created_database = True
        if not self.redis_url:
            port = free_port()
            self._spawn(
                "redis",
                [
                    "redis-server",
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
            )
            self.redis_url = f"redis://127.0.0.1:{port}/0"
            _wait(lambda: Redis.from_url(self.redis_url).ping(), "private redis-server", timeout_s=10)
        Redis.from_url(self.redis_url).flushdb()
        for command in (["migrate"], ["seed-demo"]):
            subprocess.run(
                [sys.executable, "-m", "dispatch.cli", *command],
                env=self.env,
                check=True,
                stdout=(self.logs / "setup.log").open("ab"),
                stderr=subprocess.STDOUT,
            )
        for n in range(self.api_procs):
            port = free_port()
            self._cli(f"api-{n + 1}", "api", "--port", str(port), "--host", "127.0.0.1")
            self.bases.append(f"http://127.0.0.1:{port}")
        for n in range(self.workers):
            self._cli(f"worker-{n + 1}", "worker")
        self._cli("scheduler", "scheduler")
        for base in self.bases:
            _wait(partial(_is_ready, base), base)

    def stop(self) -> None:
        """SIGTERM every process (SIGKILL after 20 s), drop the database, remove the scratch folder."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        self.processes.clear()
        if self._monitor is not None:
            self._monitor.close()
            self._monitor = None
        if self._created_database:
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            self._created_database = False
        shutil.rmtree(self.scratch, ignore_errors=True)

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DATABASE_URL": self.database_url.replace("postgresql://", "postgresql+psycopg://"),
            "REDIS_URL": self.redis_url,
            "GRID_DATA_DIR": str(self.scratch / "data"),
            "GRID_SECRET_KEY": _SECRET,
            **self.extra_env,
        }

    def _cli(self, name: str, *args: str) -> None:
        self._spawn(name, [sys.executable, "-m", "dispatch.cli", *args])

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(argv, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def check_alive(self) -> None:
        """Raise when a process of the stack has exited (its log tail in the message)."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                tail = (self.logs / f"{name}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{tail}")

    # -- what the benchmark reads ---------------------------------------------------------------
    def api_pids(self) -> list[int]:
        return [p.pid for name, p in self.processes.items() if name.startswith("api-")]

    def cpu_snapshot(self) -> CpuSnapshot:
        pids = {p.pid for p in self.processes.values()} | {os.getpid(), *_postgres_pids()}
        by_pid = {pid: found for pid in pids if (found := process_cpu_s(pid)) is not None}
        return CpuSnapshot(by_pid=by_pid, machine=machine_busy_ticks())

    def cpu_use(self, before: CpuSnapshot, after: CpuSnapshot) -> dict[str, float]:
        """Per role, the share of one core used between the snapshots (1.0 = one core busy); plus
        `machine`, the share of all cores. Postgres counts every backend of the server, ours or not."""
        roles = {p.pid: name.split("-")[0] for name, p in self.processes.items()}
        roles[os.getpid()] = "client"
        wall_s = after.at - before.at
        use: dict[str, float] = {}
        for pid, (command, cpu_s) in after.by_pid.items():
            role = roles.get(pid, "postgres" if command == "postgres" else command)
            start_s = before.by_pid.get(pid, (command, 0.0))[1]
            use[role] = use.get(role, 0.0) + (cpu_s - start_s) / wall_s
        busy = after.machine[0] - before.machine[0]
        total = max(1, after.machine[1] - before.machine[1])
        use["machine"] = busy / total
        return {role: round(share, 3) for role, share in sorted(use.items())}

    def sql(self, query: str, *params: object) -> list[tuple[Any, ...]]:
        """Run a query on the scratch database over one kept connection (polling must not fork a
        PostgreSQL backend per call: that would load the server being measured)."""
        if self._monitor is None:
            self._monitor = psycopg.connect(self.database_url, autocommit=True)
        return list(self._monitor.execute(query, params).fetchall())

    def unrouted(self, ticket_ids: list[int]) -> int:
        """How many of these tickets still wait for routing (state `new`)."""
        rows = self.sql("SELECT count(*) FROM ticket WHERE state = 'new' AND id = ANY(%s)", ticket_ids)
        return int(rows[0][0])

    def last_seq(self) -> int:
        """The newest ticket log sequence: a console joining `since` it gets only what follows."""
        rows = self.sql("SELECT coalesce(max(id), 0) FROM ticket_log")
        return int(rows[0][0])


_SECRET = secrets.token_urlsafe(48)  # the API refuses the public default; one per harness run


def _is_ready(base: str) -> bool:
    return httpx.get(f"{base}/api/health/ready", timeout=2).status_code == 200


def _wait(ready: Callable[[], object], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except Exception:  # not up yet: connection refused, 503, ...
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not become ready within {timeout_s:.0f} s")
