"""Intake and routing throughput on a scratch database (SQLite by default, or DATABASE_URL).

Measures: (1) intake through the HTTP API, one commit and one enqueue per request (sequential, in process);
(2) routing jobs of 1 and of 500 tickets per job (the worker's own code path, no Redis in between).
Run: .venv/bin/python -m bench.intake   [DATABASE_URL=postgresql+psycopg://... for PostgreSQL]
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from dispatch.config import get_settings


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="gd-bench-"))
    os.environ.setdefault("GRID_DATA_DIR", str(scratch))
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")  # jobs are enqueued, no worker takes them
    get_settings.cache_clear()
    from dispatch.queues import redis_connection

    redis_connection().flushdb()

    from fastapi.testclient import TestClient

    from dispatch.app import create_app
    from dispatch.db import new_session
    from dispatch.demo.geometry import generate_district
    from dispatch.demo.seed import seed_demo
    from dispatch.migrate import upgrade_to_head
    from dispatch.tickets.tasks import route_tickets

    upgrade_to_head()
    with new_session() as session:
        seed_demo(session)
        session.commit()
    grids = [s for s in generate_district() if s.level == "grid"]
    points = [(g.polygon.representative_point().x, g.polygon.representative_point().y) for g in grids]
    print(f"database: {get_settings().effective_database_url.split('@')[-1]}")

    with TestClient(create_app()) as client:
        token = client.post("/api/auth/token", data={"username": "hotline", "password": "demo1234"}).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        n = 1000
        started = time.perf_counter()
        for i in range(n):
            lon, lat = points[i % len(points)]
            client.post(
                "/api/intake/hotline",
                headers=headers,
                json={
                    "call_id": f"BENCH-{i:06d}",
                    "caller_name": "测试",
                    "caller_phone": "13800000000",
                    "lon": lon,
                    "lat": lat,
                    "request_type": "complaint",
                    "category_code": "06010",
                    "content": "基准测试",
                },
            )
        elapsed = time.perf_counter() - started
        print(f"intake over HTTP (sequential, 1 commit/request): {n / elapsed:7.0f} events/s")

    ids = list(range(1, n + 1))
    started = time.perf_counter()
    for ticket_id in ids[:200]:
        route_tickets([ticket_id])
    one_rate = 200 / (time.perf_counter() - started)
    started = time.perf_counter()
    for start in range(200, n, 500):
        route_tickets(ids[start : start + 500])
    batch_rate = (n - 200) / (time.perf_counter() - started)
    print(f"routing, 1 ticket per job:    {one_rate:7.0f} tickets/s")
    print(f"routing, 500 tickets per job: {batch_rate:7.0f} tickets/s")
    with new_session() as session:
        from sqlmodel import func, select

        from dispatch.tickets.models import Ticket, TicketState

        left = session.exec(select(func.count()).where(Ticket.state == TicketState.NEW)).one()
    print(f"tickets left unrouted: {left}")


if __name__ == "__main__":
    main()
