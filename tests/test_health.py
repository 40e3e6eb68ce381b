"""Health shows a routing backlog: how many jobs wait on each queue and how old the oldest is, so an
operator sees routing falling behind before citizens do."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.helpers import grids_in, inside


def test_health_reports_queue_depth_and_oldest_age(
    client: TestClient, login: Callable[[str], dict[str, str]]
) -> None:
    empty = client.get("/api/health").json()["queues"]
    assert empty["routing"] == {"depth": 0, "oldest_age_s": None, "retrying": 0, "failed": 0}
    lon, lat = inside(grids_in("140213050")[0])
    officer = login("wgy0001")
    for n in range(3):  # no worker runs: the routing jobs wait
        answer = client.post(
            "/api/intake/patrol",
            headers=officer,
            data={"lon": str(lon), "lat": str(lat), "category_code": "06010", "description": f"垃圾{n}"},
        )
        assert answer.status_code == 201, answer.text
    queues = client.get("/api/health").json()["queues"]
    assert queues["routing"]["depth"] == 3
    assert queues["routing"]["oldest_age_s"] is not None and queues["routing"]["oldest_age_s"] >= 0
    assert queues["maintenance"]["depth"] == 0
