"""Webhooks in the running system (API, worker and scheduler as processes): a subscription filtered by
category receives its tickets' moves, signed with its own secret, each once; one whose URL keeps
failing is paused with the reason, gets no more messages, and can be resumed."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.processes import Processes, free_port, report_patrol, token, wait_healthy
from tests.test_city12345_e2e import until

pytestmark = pytest.mark.e2e


def test_subscribers_get_their_moves_and_a_failing_one_is_paused(
    processes: Processes, tmp_path: Path
) -> None:
    processes.extra_env = {
        "GRID_OUTBOX_INTERVAL_S": "1",
        "GRID_OUTBOX_RETRY_BASE_S": "0.2",
        "GRID_OUTBOX_MAX_ATTEMPTS": "2",
        "GRID_WEBHOOK_PAUSE_AFTER": "2",
    }
    port, receiver_port, dead_port = free_port(), free_port(), free_port()
    api = f"http://127.0.0.1:{port}"
    processes.start("api", "api", "--port", str(port))
    processes.start("worker", "worker")
    processes.start("scheduler", "scheduler")
    wait_healthy(api)
    admin = {"Authorization": f"Bearer {token(api, 'admin')}"}

    def subscribe(**body: Any) -> dict[str, Any]:
        answer = httpx.post(f"{api}/api/admin/webhooks", json=body, headers=admin)
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    bad = httpx.post(
        f"{api}/api/admin/webhooks", json={"name": "x", "url": "ftp://nowhere", "actions": []}, headers=admin
    )
    assert bad.status_code == 422 and bad.json()["field"] == "url"
    garbage = subscribe(
        name="区环卫调度系统", url=f"http://127.0.0.1:{receiver_port}/hook", category_codes=["06010"]
    )
    assert len(garbage["secret"]) >= 32
    broken = subscribe(name="失联的系统", url=f"http://127.0.0.1:{dead_port}/hook", actions=["route"])
    received = tmp_path / "received.jsonl"
    processes.start_module(
        "receiver", "tests.fakes.receiver", str(receiver_port), garbage["secret"], str(received)
    )

    collected = report_patrol(api, "06010", "路边垃圾")
    report_patrol(api, "09006", "占道经营")  # another category: not this subscriber's
    lines = until(
        lambda: received.exists() and len(r := received.read_text().splitlines()) >= 2 and r, "two deliveries"
    )
    time.sleep(1.5)  # anything else (a repeat, the other category) would arrive meanwhile
    records = [json.loads(line) for line in received.read_text().splitlines()]
    assert [(r["body"]["event"], r["body"]["ticket"]["id"]) for r in records] == [
        ("intake", collected),
        ("route", collected),
    ], lines
    assert all(r["valid"] and not r["repeat"] for r in records)
    assert records[1]["body"]["ticket"]["number"].startswith("WG") and "phone" not in json.dumps(records)

    # The broken subscriber's two route messages are given up: it is paused, with the reason.
    paused = until(
        lambda: (w := _hook(api, admin, broken["id"])) and not w["active"] and w,
        "the broken subscription paused",
        30,
    )
    assert paused["failures_in_a_row"] == 2 and "暂停" in paused["pause_reason"]
    before = len(
        httpx.get(f"{api}/api/admin/deliveries", params={"channel": "webhook"}, headers=admin).json()
    )
    report_patrol(api, "06012", "道路不洁")  # routed: no message for the paused subscription
    time.sleep(2)
    after = httpx.get(f"{api}/api/admin/deliveries", params={"channel": "webhook"}, headers=admin).json()
    assert len(after) == before  # 06012 matches neither the garbage filter nor a paused subscription
    resumed = httpx.post(f"{api}/api/admin/webhooks/{broken['id']}/resume", headers=admin).json()
    assert resumed["active"] and resumed["failures_in_a_row"] == 0


def _hook(api: str, admin: dict[str, str], hook_id: int) -> dict[str, Any]:
    hooks = httpx.get(f"{api}/api/admin/webhooks", headers=admin).json()
    return dict(next(h for h in hooks if h["id"] == hook_id))
