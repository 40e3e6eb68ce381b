"""End-to-end pipeline throughput: a real API process and RQ worker processes, concurrent HTTP intake,
time until every event is dispatched. Uses a scratch database (SQLite file by default, or a fresh
PostgreSQL database with --postgres) and Redis database 15 on 127.0.0.1:6379.

Run: .venv/bin/python -m bench.pipeline [--events 2000] [--concurrency 32] [--workers 2] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psycopg
from redis import Redis

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _prepare(env: dict[str, str]) -> None:
    for command in (["migrate"], ["seed-demo"]):
        subprocess.run(
            [sys.executable, "-m", "dispatch.cli", *command],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


async def _post_all(
    base: str, token: str, points: list[tuple[float, float]], n: int, concurrency: int
) -> float:
    headers = {"Authorization": f"Bearer {token}"}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                lon, lat = points[i % len(points)]
                body = {
                    "call_id": f"BENCH-{i:07d}",
                    "caller_name": "测试",
                    "caller_phone": "13800000000",
                    "lon": lon,
                    "lat": lat,
                    "request_type": "complaint",
                    "category_code": "06010",
                    "content": "基准测试",
                }
                answer = await client.post("/api/intake/hotline", json=body)
                answer.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="gd-pipeline-"))
    env = {
        **os.environ,
        "GRID_DATA_DIR": str(scratch),
        "REDIS_URL": "redis://127.0.0.1:6379/15",
        "GRID_SECRET_KEY": secrets.token_urlsafe(48),  # the API refuses the public default
    }
    database = None
    if args.postgres:
        database = f"gd_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
        env["DATABASE_URL"] = f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"
    Redis.from_url(env["REDIS_URL"]).flushdb()
    _prepare(env)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "dispatch.cli", "api", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    procs += [
        subprocess.Popen(
            [sys.executable, "-m", "dispatch.cli", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(args.workers)
    ]
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        token = httpx.post(
            f"{base}/api/auth/token", data={"username": "hotline", "password": "demo1234"}
        ).json()["access_token"]
        dispatcher = httpx.post(
            f"{base}/api/auth/token", data={"username": "dispatcher", "password": "demo1234"}
        ).json()["access_token"]
        from tests.helpers import demo_areas, inside

        points = [inside(a) for a in demo_areas() if a.level == "grid"]
        started = time.perf_counter()
        intake_s = asyncio.run(_post_all(base, token, points, args.events, args.concurrency))
        while True:
            page = httpx.get(
                f"{base}/api/tickets",
                params={"state": "new", "limit": 1},
                headers={"Authorization": f"Bearer {dispatcher}"},
            ).json()
            if not page["items"]:
                break
            time.sleep(0.2)
        total_s = time.perf_counter() - started
        backend = "PostgreSQL" if args.postgres else "SQLite"
        print(f"{backend}: {args.events} events, concurrency {args.concurrency}, {args.workers} worker(s)")
        print(
            f"  intake (HTTP, durable before 201): {args.events / intake_s:7.0f} events/s ({intake_s:.1f} s)"
        )
        print(f"  end to end (until all routed):     {args.events / total_s:7.0f} events/s ({total_s:.1f} s)")
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=20)
        if database:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


if __name__ == "__main__":
    main()
