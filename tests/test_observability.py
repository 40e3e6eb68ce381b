"""What an operator relies on, seen from outside the running API process: a 500 that keeps the
connection usable and names a request id found in the logs, JSON logs, Prometheus metrics of the whole
system (HTTP, websocket clients, queues, routing latency, periodic passes), and liveness vs readiness."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest
from sqlalchemy import text
from websockets.sync.client import connect

from dispatch.db import new_session
from tests.processes import Processes, free_port, report_patrol, token, wait_healthy

pytestmark = pytest.mark.e2e


def _raw_get(
    sock: socket.socket, path: str, request_id: str, *extra: str
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 GET on an open keep-alive socket: status, headers, body (by Content-Length)."""
    lines = [f"GET {path} HTTP/1.1", "Host: test", f"X-Request-ID: {request_id}", *extra]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"the server closed the connection instead of answering {path}")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in header_lines)}
    while len(body) < int(headers["content-length"]):
        body += sock.recv(65536)
    return int(status_line.split()[1]), headers, body


def _rename_ticket_table(old: str, new: str) -> None:
    with new_session() as session:
        session.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))
        session.commit()


def test_a_server_error_keeps_the_connection_and_names_its_request_in_json_logs(processes: Processes) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    processes.extra_env = {"GRID_LOG_FORMAT": "json"}
    processes.start("api", "api", "--port", str(port))
    wait_healthy(base)
    secret = token(base, "dispatcher")
    _rename_ticket_table("ticket", "ticket_away")  # the database breaks under the running API
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            status, headers, body = _raw_get(
                sock, "/api/tickets", "broken-list-1", f"Authorization: Bearer {secret}"
            )
            assert status == 500
            assert headers["x-request-id"] == "broken-list-1"
            answer = json.loads(body)
            assert answer["request_id"] == "broken-list-1" and "broken-list-1" in answer["detail"]
            assert "Traceback" not in answer["detail"] and "SELECT" not in answer["detail"]
            # The same connection answers the next request.
            status, headers, body = _raw_get(sock, "/api/health/live", "after-the-error-2")
            assert (status, json.loads(body)) == (200, {"status": "ok"})
            assert headers["x-request-id"] == "after-the-error-2"
    finally:
        _rename_ticket_table("ticket_away", "ticket")
    assert httpx.get(f"{base}/api/tickets", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    processes.stop("api")
    records = [
        json.loads(line) for line in (processes.logs / "api.log").read_text().splitlines() if line.strip()
    ]
    error = [r for r in records if r["level"] == "ERROR" and r["request_id"] == "broken-list-1"]
    assert error and "ticket" in error[0]["exception"]  # the traceback, findable by the id the user saw
    access = [
        r for r in records if r["logger"] == "grid-dispatch.access" and r["request_id"] == "broken-list-1"
    ]
    assert [(a["status"], a["route"]) for a in access] == [(500, "/api/tickets")]
    assert any(r["logger"].startswith("uvicorn") for r in records)  # the server's own lines are JSON too


def _metric(page: str, name: str, **labels: str) -> float | None:
    """The value of one sample of the Prometheus text page, None when absent."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    prefix = f"{name}{{{wanted}}}" if labels else name
    for line in page.splitlines():
        if line.startswith(prefix + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_metrics_show_the_whole_system(processes: Processes) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    processes.extra_env = {
        "GRID_METRICS_TOKEN": "prometheus-scrape-token-for-the-test",
        "GRID_SUPERVISE_INTERVAL_S": "1",
        "GRID_SWEEP_INTERVAL_S": "1",
    }
    processes.start("api", "api", "--port", str(port))
    wait_healthy(base)
    assert httpx.get(f"{base}/metrics").status_code == 401
    dispatcher = {"Authorization": f"Bearer {token(base, 'dispatcher')}"}
    assert httpx.get(f"{base}/metrics", headers=dispatcher).status_code == 403
    scraper = {"Authorization": "Bearer prometheus-scrape-token-for-the-test"}
    ticket = report_patrol(base, "06010", "占道经营")
    assert httpx.get(f"{base}/api/tickets/{ticket}", headers=dispatcher).status_code == 200
    page = httpx.get(f"{base}/metrics", headers=scraper).text
    assert _metric(page, "grid_queue_jobs", queue="routing") == 1  # no worker yet: the job waits
    assert (_metric(page, "grid_queue_oldest_job_age_seconds", queue="routing") or -1) >= 0
    assert _metric(page, "grid_tickets_waiting_routing") == 1
    processes.start("worker", "worker")
    processes.start("scheduler", "scheduler")
    with connect(f"ws://127.0.0.1:{port}/api/console/ws?token={token(base, 'dispatcher')}") as ws:
        ws.ping().wait(5)
        deadline = time.monotonic() + 30
        while True:
            page = httpx.get(
                f"{base}/metrics", headers={"Authorization": f"Bearer {token(base, 'admin')}"}
            ).text
            done = _metric(page, "grid_periodic_last_ok", job="supervise") == 1
            if (done and _metric(page, "grid_routed_tickets_5m")) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert _metric(page, "grid_websocket_clients") == 1
    assert _metric(page, "grid_periodic_last_ok", job="supervise") == 1
    assert _metric(page, "grid_periodic_last_ok", job="sweep_unrouted") == 1
    assert (_metric(page, "grid_periodic_last_duration_seconds", job="supervise") or -1) >= 0
    assert _metric(page, "grid_routed_tickets_5m") == 1 and _metric(page, "grid_tickets_waiting_routing") == 0
    assert (_metric(page, "grid_routing_latency_seconds", quantile="0.5") or 0) > 0
    assert _metric(page, "grid_queue_jobs", queue="routing") == 0
    assert _metric(page, "grid_redis_up") == 1 and _metric(page, "grid_database_up") == 1
    by_route = _metric(
        page, "grid_http_requests_total", method="GET", route="/api/tickets/{ticket_id}", status="200"
    )
    assert by_route == 1  # one label per route template, not per ticket id
    assert _metric(
        page, "grid_http_request_duration_seconds_count", method="POST", route="/api/intake/patrol"
    )


def test_liveness_and_readiness(processes: Processes) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    processes.start("api", "api", "--port", str(port))
    wait_healthy(base)
    assert httpx.get(f"{base}/api/health/ready").json() == {"status": "ok", "database": "ok", "schema": "ok"}
    with new_session() as session:
        head = session.execute(text("SELECT version_num FROM alembic_version")).scalar()
        session.execute(text("UPDATE alembic_version SET version_num = 'c1_older'"))
        session.commit()
    try:
        ready = httpx.get(f"{base}/api/health/ready")
        assert ready.status_code == 503 and "grid-dispatch migrate" in ready.json()["schema"]
        assert httpx.get(f"{base}/api/health/live").status_code == 200  # alive: do not restart it
    finally:
        with new_session() as session:
            session.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": head})
            session.commit()
    assert httpx.get(f"{base}/api/health/ready").status_code == 200
