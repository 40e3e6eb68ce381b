"""Health shows a routing backlog: how many jobs wait on each queue and how old the oldest is, so an
operator sees routing falling behind before citizens do."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.helpers import grids_in, inside


def test_health_reports_queue_depth_and_oldest_age(
    client: TestClient, login: Callable[[str], dict[str, str]]
) -> None:
    idle = client.get("/api/health").json()
    assert idle["routing_backlog"] == {"tickets_waiting": 0, "oldest_waiting_s": None}
    empty = idle["queues"]
    assert empty["routing"] == {"depth": 0, "oldest_age_s": None, "retrying": 0, "failed": 0}
    lon, lat = inside(grids_in("140213050")[0])
    officer = login("wgy0001")
    for n in range(3):  # no worker runs: the tickets wait, and one routing job for all three
        answer = client.post(
            "/api/intake/patrol",
            headers=officer,
            data={"lon": str(lon), "lat": str(lat), "category_code": "06010", "description": f"垃圾{n}"},
        )
        assert answer.status_code == 201, answer.text
    health = client.get("/api/health").json()
    queues = health["queues"]
    assert queues["routing"]["depth"] == 1
    assert health["routing_backlog"]["tickets_waiting"] == 3
    assert health["routing_backlog"]["oldest_waiting_s"] >= 0
    assert queues["routing"]["oldest_age_s"] is not None and queues["routing"]["oldest_age_s"] >= 0
    assert queues["maintenance"]["depth"] == 0


def test_an_expired_periodic_pass_in_the_queue_breaks_neither_health_nor_metrics(
    client: TestClient, login: Callable[[str], dict[str, str]]
) -> None:
    """Workers down longer than a periodic pass's ttl leave its id in the queue with its data gone:
    health and /metrics must still answer — that outage is what they are for."""
    import time

    from dispatch.periodic import run_periodic
    from dispatch.queues import MAINTENANCE_QUEUE, enqueue_periodic, get_queue

    enqueue_periodic(run_periodic, "supervise", ttl_s=1)
    enqueue_periodic(run_periodic, "sweep_unrouted", ttl_s=60)
    time.sleep(1.5)
    assert len(get_queue(MAINTENANCE_QUEUE).get_job_ids()) == 2  # the first one's data has expired
    health = client.get("/api/health")
    assert health.status_code == 200 and health.json()["redis"] == "ok"
    assert health.json()["queues"]["maintenance"]["oldest_age_s"] is not None  # the live one's age
    metrics = client.get("/metrics", headers=login("admin"))
    assert metrics.status_code == 200
    assert "grid_redis_up 1.0" in metrics.text
    assert 'grid_queue_jobs{queue="maintenance"}' in metrics.text


def test_metrics_labels_only_known_methods(
    client: TestClient, login: Callable[[str], dict[str, str]]
) -> None:
    """Any token is a method to the server: made-up ones share one label, so nobody can grow the
    metrics without bound."""
    for n in range(3):
        client.request(f"FOO{n}", "/api/health")
    page = client.get("/metrics", headers=login("admin")).text
    assert "FOO" not in page
    assert 'method="OTHER"' in page
